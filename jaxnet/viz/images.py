"""Image figures: a grid of labelled images and a confusion matrix."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from jaxnet.viz._figure import new_figure, save_figure


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
    figure = new_figure(figsize=(2.0 * columns, 2.0 * rows + (0.4 if title else 0)))
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
    return save_figure(figure, path)


def confusion_matrix(
    counts: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str | None = None,
    path: str | os.PathLike | None = None,
):
    """Draws a confusion matrix as a heat map with its counts, and the accuracy it implies.

    Args:
        counts: ``(C, C)`` integer counts, true classes down and predicted classes across (as
            ``jn.classic.confusion_matrix`` and scikit-learn give them).
        class_names: one name per class.
        title: a title; the accuracy is shown below it.
        path: where to save the figure.

    Returns:
        The matplotlib ``Figure``.
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or len(class_names) != len(counts):
        raise ValueError(f"counts must be (C, C) with one class name per row; got counts of "
                         f"shape {counts.shape} and {len(class_names)} names")
    size = len(class_names)
    figure = new_figure(figsize=(1.0 + 0.55 * size, 0.6 + 0.55 * size))
    ax = figure.subplots()
    image = ax.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(size)
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    dark = counts > counts.max() / 2
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                color="white" if dark[i, j] else "black")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{title + chr(10) if title else ''}accuracy {accuracy:.3f}")
    figure.tight_layout()
    return save_figure(figure, path)
