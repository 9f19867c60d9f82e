"""Figures of searches: a PBT population's hyperparameters over training, with its copies."""

from __future__ import annotations

import os
from typing import Any

from jaxnet.viz._figure import new_figure, save_figure


def pbt_lineage(result: Any, name: str = "lr", *, log_y: bool | None = None, ax: Any = None,
                title: str | None = None, path: str | os.PathLike | None = None):
    """Plots each member of a population-based-training sweep: its value of ``name`` against
    the epoch, as steps, with a dotted line from the member it copied at each exchange.

    Args:
        result: a ``jn.SweepResult`` of ``jn.sweep(..., schedule=jn.pbt(...))``.
        name: a perturbed value (one of the schedule's ``perturb``).
        log_y: a logarithmic axis up; by default when the values span a factor of 10.
        ax: a matplotlib ``Axes`` to draw into; a new figure if None.
        title: the axes' title.
        path: where to save the figure.

    Returns:
        The matplotlib ``Figure``.
    """
    lineage = getattr(result, "lineage", None)
    if not lineage:
        raise ValueError("pbt_lineage plots a sweep trained with schedule=jn.pbt(...); this "
                         "result has no lineage")
    if name not in lineage[0][0]:
        perturbed = sorted(k for k in lineage[0][0] if k not in ("epoch", "copied"))
        raise KeyError(f"{name!r} is not perturbed by the schedule; the lineage holds "
                       f"{perturbed}")
    if ax is None:
        ax = new_figure(figsize=(6, 3.8)).subplots()
    epochs = [len(history.get("loss", [])) for history in result.histories]
    lines = []
    for member, events in enumerate(lineage):
        xs = [event["epoch"] for event in events] + [epochs[member]]
        ys = [event[name] for event in events] + [events[-1][name]]
        lines.append(ax.step(xs, ys, where="post", label=f"member {member}")[0])
    for member, events in enumerate(lineage):
        for event in events[1:]:
            source = [e for e in lineage[event["copied"]] if e["epoch"] < event["epoch"]][-1]
            ax.plot([event["epoch"]] * 2, [source[name], event[name]], linestyle=":",
                    color=lines[member].get_color(), marker="o", markersize=3)
    values = [event[name] for events in lineage for event in events]
    if log_y if log_y is not None else (min(values) > 0 and max(values) >= 10 * min(values)):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(name)
    ax.grid(alpha=0.3)
    if len(lineage) <= 10:
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return save_figure(ax.figure, path)
