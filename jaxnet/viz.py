"""Figures: training curves and image grids (matplotlib, an optional dependency).

Every function builds a ``matplotlib.figure.Figure`` without pyplot, so nothing global changes
(no backend is selected, no window opens); pass ``path`` to save it, or show the returned figure
in a notebook.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _figure(**kwargs) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "jaxnet.viz needs matplotlib: pip install 'jaxnet-fn[examples]' (or matplotlib)"
        ) from None
    return Figure(**kwargs)


def _save(figure, path: str | os.PathLike | None):
    if path is not None:
        figure.savefig(path, dpi=100, bbox_inches="tight")
    return figure


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
    figure = _figure(figsize=(4.5 * len(names), 3.5))
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
    return _save(figure, path)


def image_grid(
    images: np.ndarray,
    labels: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    *,
    columns: int = 3,
    title: str | None = None,
    path: str | os.PathLike | None = None,
):
    """Shows images in a grid, each titled with its label (or its class name).

    Args:
        images: ``(N, H, W)``, ``(N, H, W, 1)`` (shown in grey) or ``(N, H, W, 3)``; float in
            ``[0, 1]`` or uint8.
        labels: one integer label per image, shown above it.
        class_names: names indexed by label, shown instead of the numbers.
        columns: images per row.
        title: a title over the grid.
        path: where to save the figure.

    Returns:
        The matplotlib ``Figure``.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
    n = len(images)
    rows = max(1, math.ceil(n / columns))
    figure = _figure(figsize=(2.0 * columns, 2.0 * rows + (0.4 if title else 0)))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray" if images.ndim == 3 else None)
        if labels is not None:
            label = int(labels[i])
            ax.set_title(class_names[label] if class_names is not None else f"label {label}")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)
