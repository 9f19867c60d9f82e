"""Training curves: each metric per epoch, training beside validation."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from jaxnet.viz._figure import new_figure, save_figure


def training_curves(
    history: Mapping[str, Sequence[float]],
    metrics: Sequence[str] = ("loss", "accuracy"),
    *,
    title: str | None = None,
    path: str | os.PathLike | None = None,
):
    """Plots each metric per epoch, training beside validation (``val_`` entries), one panel each.

    Args:
        history: ``FitResult.history``, a dict of per-epoch lists.
        metrics: which entries to plot; those missing from ``history`` are skipped.
        title: a title over the panels.
        path: where to save the figure (PNG, SVG... by extension).

    Returns:
        The matplotlib ``Figure``.
    """
    names = [m for m in metrics if m in history]
    if not names:
        raise ValueError(f"none of {list(metrics)} is in the history (it has {sorted(history)})")
    figure = new_figure(figsize=(4.5 * len(names), 3.5))
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", markersize=3, label="training")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", markersize=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)
