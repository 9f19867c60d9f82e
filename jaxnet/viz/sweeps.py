"""Sweep figures: a final metric against one swept value, or over a grid of two."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jaxnet.viz._figure import new_figure, save_figure


def sweep_curve(
    result: Any,
    x: str = "lr",
    metric: str | Sequence[str] = "val_accuracy",
    over: str | Sequence[str] | None = "seed",
    *,
    lines: Sequence[str] | None = None,
    band: str | None = "minmax",
    log_x: bool | None = None,
    ax: Any = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
):
    """Plots a sweep's final metric against a swept value: for each setting of the other swept
    values, a line through the means over ``over`` (e.g. the seeds), with a band around it.

    Args:
        result: a ``jn.SweepResult`` (its ``table()``: each configuration's values and final
            metrics), or rows like those of the table, one dict per configuration (e.g. with
            metrics of your own added).
        x: the swept value across (a number).
        metric: the value up, or several (e.g. ``("accuracy", "val_accuracy")``), each with its
            own lines.
        over: the configuration values averaged over, one name or several; None for none.
        lines: the configuration values that tell lines apart. By default, for a
            ``SweepResult``, every configuration value other than ``x`` and ``over``; for rows,
            none (rows of one ``x`` are then all averaged).
        band: ``"minmax"`` (from the smallest to the largest value), ``"std"`` (the mean plus
            and minus one standard deviation) or None. NaN values (a diverged configuration's
            loss) are left out of the mean and the band.
        log_x: a logarithmic axis across (for rates and widths); by default when every value is
            positive and they span at least a factor of 10.
        ax: a matplotlib ``Axes`` to draw into; a new figure if None.
        title: the axes' title.
        path: where to save the figure.

    Returns:
        The matplotlib ``Figure``.
    """
    if band not in ("minmax", "std", None):
        raise ValueError(f"band must be 'minmax', 'std' or None, got {band!r}")
    rows, configs = _sweep_rows(result)
    metrics = [metric] if isinstance(metric, str) else list(metric)
    averaged = {over} if isinstance(over, str) else set(over or ())
    if lines is None:
        lines = [k for k in configs if k != x and k not in averaged]
    _check_columns(rows, [x, *metrics, *lines])
    groups: dict[tuple, dict[float, list[float]]] = {}
    for row in rows:
        for name in metrics:
            line = groups.setdefault((name, *(_key(row[k]) for k in lines)), {})
            line.setdefault(float(row[x]), []).append(float(row[name]))
    if ax is None:
        ax = new_figure(figsize=(5.5, 3.8)).subplots()
    for (name, *setting), points in groups.items():
        xs = np.array(sorted(points))
        values = [np.array(points[v]) for v in xs]
        mean = np.array([_nan_stat(np.mean, v) for v in values])
        label = ", ".join([name] * (len(metrics) > 1) +
                          [f"{k}={_label(v)}" for k, v in zip(lines, setting)]) or name
        drawn = ax.plot(xs, mean, marker="o", markersize=3, label=label)[0]
        if band == "minmax":
            low = [_nan_stat(np.min, v) for v in values]
            high = [_nan_stat(np.max, v) for v in values]
        elif band == "std":
            spread = np.array([_nan_stat(np.std, v) for v in values])
            low, high = mean - spread, mean + spread
        if band is not None:
            ax.fill_between(xs, low, high, color=drawn.get_color(), alpha=0.2, linewidth=0)
    xs = np.unique([float(row[x]) for row in rows])
    if log_x if log_x is not None else (xs.min() > 0 and xs.max() >= 10 * xs.min()):
        ax.set_xscale("log")
        if len(xs) <= 12:
            ax.set_xticks(xs, [_label(v) for v in xs], rotation=45 if len(xs) > 6 else 0)
            ax.xaxis.set_minor_locator(_null_locator())
    ax.set_xlabel(x)
    ax.set_ylabel(metrics[0] if len(metrics) == 1 else "value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return save_figure(ax.figure, path)


def sweep_heatmap(
    result: Any,
    x: str = "lr",
    y: str = "l2",
    metric: str = "val_accuracy",
    *,
    mode: str | None = None,
    annotate: bool = True,
    ax: Any = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
):
    """Shows a final metric for every pair of two swept values, as a grid of coloured cells.

    Each cell is the mean of ``metric`` over the configurations with that pair of values (e.g.
    over the seeds, and over any other swept value); NaN values are left out, and a pair that
    was not trained is left blank. The best cell is outlined.

    Args:
        result: a ``jn.SweepResult``, or rows as for ``sweep_curve``.
        x: the swept value across; its distinct values, sorted, are the columns.
        y: the swept value up; its distinct values are the rows, the smallest at the bottom.
        metric: the value shown.
        mode: ``"max"`` or ``"min"``: which cell is best; by default ``"max"`` for accuracies
            and ``"min"`` otherwise (as ``SweepResult.best``).
        annotate: write each cell's value in it.
        ax: a matplotlib ``Axes`` to draw into; a new figure if None.
        title: the axes' title.
        path: where to save the figure.

    Returns:
        The matplotlib ``Figure``.
    """
    mode = mode or ("max" if "accuracy" in metric else "min")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    rows, _ = _sweep_rows(result)
    _check_columns(rows, [x, y, metric])
    columns = sorted({_key(row[x]) for row in rows}, key=_order)
    levels = sorted({_key(row[y]) for row in rows}, key=_order)
    cells: dict[tuple[int, int], list[float]] = {}
    for row in rows:
        cell = (levels.index(_key(row[y])), columns.index(_key(row[x])))
        cells.setdefault(cell, []).append(float(row[metric]))
    grid = np.full((len(levels), len(columns)), np.nan)
    for cell, values in cells.items():
        grid[cell] = _nan_stat(np.mean, np.array(values))
    if ax is None:
        ax = new_figure(figsize=(1.6 + 0.75 * len(columns), 1.2 + 0.55 * len(levels))).subplots()
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap="viridis")
    ax.figure.colorbar(image, ax=ax, label=metric)
    ax.set_xticks(range(len(columns)), [_label(v) for v in columns])
    ax.set_yticks(range(len(levels)), [_label(v) for v in levels])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if annotate:
        middle = np.nanmean(grid) if np.isfinite(grid).any() else 0.0
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=8,
                        color="black" if value > middle else "white")
    if np.isfinite(grid).any():
        best = np.nanargmax(grid) if mode == "max" else np.nanargmin(grid)
        i, j = np.unravel_index(best, grid.shape)
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red",
                               linewidth=2, label=f"best {metric}"))
    if title:
        ax.set_title(title)
    return save_figure(ax.figure, path)


def _sweep_rows(result: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of a sweep (a ``SweepResult``'s table, or rows as given) and its configuration keys
    (none for rows)."""
    if hasattr(result, "table") and hasattr(result, "configs"):
        configs = list(dict.fromkeys(k for config in result.configs for k in config))
        return result.table(), configs
    rows = [dict(row) for row in result]
    if not rows:
        raise ValueError("the sweep has no rows to plot")
    return rows, []


def _check_columns(rows: list[dict[str, Any]], names: Sequence[str]) -> None:
    for name in names:
        if any(name not in row for row in rows):
            raise KeyError(f"{name!r} is not in every row of the sweep; the rows hold "
                           f"{sorted(rows[0])}")


def _key(value: Any) -> Any:
    """A configuration value as a dictionary key (unhashable values by their repr)."""
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _order(value: Any) -> tuple:
    """Numbers in numeric order, before anything else in the order of its text."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)


def _nan_stat(stat: Callable, values: np.ndarray) -> float:
    """``stat`` over the finite values; NaN when there is none."""
    finite = values[np.isfinite(values)]
    return float(stat(finite)) if finite.size else math.nan


def _null_locator():
    from matplotlib.ticker import NullLocator

    return NullLocator()
