"""Decision boundaries of 2-D classifiers: the grid they are evaluated on, a figure and an
animated GIF."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxnet.viz._figure import MATPLOTLIB_MISSING, new_figure, save_figure

Predict = Callable[[np.ndarray], Any]


def boundary_grid(x: np.ndarray, resolution: int = 200, margin: float = 0.1) -> np.ndarray:
    """The points where the decision-boundary figures evaluate a model: a grid over the data.

    The grid spans the data's bounding box, widened on each side by ``margin`` times its extent.
    Precompute a model's outputs on it (e.g. for each snapshot of an animation) with
    ``model.apply(params, state, grid.reshape(-1, 2))``.

    Args:
        x: the data, ``(N, 2)``.
        resolution: points along each axis.
        margin: the widening on each side, as a fraction of the data's extent.

    Returns:
        Float32 points of shape ``(resolution, resolution, 2)``; ``grid[i, j]`` lies in row ``i``
        from the bottom (second coordinate) and column ``j`` from the left (first coordinate).

    Example:
        >>> import numpy as np, jaxnet as jn
        >>> grid = jn.viz.boundary_grid(np.array([[0.0, 0.0], [1.0, 2.0]]), resolution=3, margin=0)
        >>> grid[:, :, 0].tolist(), grid[:, 0, 1].tolist()
        ([[0.0, 0.5, 1.0], [0.0, 0.5, 1.0], [0.0, 0.5, 1.0]], [0.0, 1.0, 2.0])
    """
    x0, x1, y0, y1 = _extent(x, margin)
    xs, ys = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    return np.stack([xs, ys], axis=-1).astype(np.float32)


def decision_boundary(
    predict_fn: Predict | np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    ax: Any = None,
    resolution: int = 200,
    margin: float = 0.1,
    shading: str = "class",
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
):
    """Colours the plane by a model's predicted class over a grid covering the data, and shows
    the data points on top.

    Args:
        predict_fn: maps points ``(M, 2)`` to the model's outputs: logits ``(M, C)`` for ``C``
            classes, one logit ``(M,)`` or ``(M, 1)`` for two classes (class 1 where it is
            positive), or integer class labels ``(M,)`` (e.g. a nearest-neighbour classifier).
            For a jaxnet model: ``lambda p: model.apply(params, state, p)[0]``. Or those
            outputs already computed on ``boundary_grid(x, resolution, margin)``, shaped
            ``(resolution, resolution)`` or ``(resolution, resolution, C)``.
        x: the points to show, ``(N, 2)``; the grid covers them (see ``boundary_grid``).
        y: their integer labels, ``(N,)``.
        ax: a matplotlib ``Axes`` to draw into (e.g. one panel of a side-by-side figure); a new
            figure if None.
        resolution: grid points along each axis.
        margin: how far the grid extends beyond the data, as a fraction of its extent.
        shading: ``"class"`` colours each grid point by its predicted class; ``"probability"``
            mixes the class colours by the predicted probabilities (softmax or sigmoid of the
            logits), so uncertain regions fade to grey.
        class_names: legend names indexed by label; ``"class k"`` if None.
        title: the axes' title.
        path: where to save the figure (PNG, SVG... by extension).

    Returns:
        The matplotlib ``Figure`` (the one holding ``ax`` when it is given).
    """
    x, y = np.asarray(x), np.asarray(y)
    grid = boundary_grid(x, resolution, margin)
    outputs = _grid_outputs(predict_fn, grid)
    if ax is None:
        figure = new_figure(figsize=(4.5, 4.0))
        ax = figure.subplots()
    _draw_boundary(ax, _colours(outputs, y, shading), _extent(x, margin), x, y, class_names)
    if title:
        ax.set_title(title)
    return save_figure(ax.figure, path)


def boundary_animation(
    frames: Sequence[Predict | np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike,
    *,
    captions: Sequence[str] | None = None,
    title: str | None = None,
    resolution: int = 100,
    margin: float = 0.1,
    shading: str = "class",
    class_names: Sequence[str] | None = None,
    fps: float = 8.0,
    size: float = 3.5,
    dpi: int = 80,
) -> Path:
    """Writes an animated GIF of a decision boundary moving, one frame per snapshot.

    Each frame is drawn as ``decision_boundary`` draws its figure, on the same axes, so only
    the colours (and the caption) change from frame to frame. The last frame is held for an
    extra second before the GIF loops. A frame identical to the one before it is stored, as GIF
    writers do, as a longer showing of that frame.

    Args:
        frames: one entry per snapshot, in order: a prediction function or precomputed
            outputs, as ``predict_fn`` in ``decision_boundary``.
        x: the points to show, ``(N, 2)``.
        y: their integer labels, ``(N,)``.
        path: where to write the GIF.
        captions: one line per frame shown above it (e.g. ``"step 100, accuracy 0.85"``).
        title: a line over every frame, above the caption (e.g. the model).
        resolution: grid points along each axis.
        margin: how far the grid extends beyond the data, as a fraction of its extent.
        shading: ``"class"`` or ``"probability"``, as in ``decision_boundary``.
        class_names: legend names indexed by label.
        fps: frames per second.
        size: the width and height of each frame in inches (``size * dpi`` pixels).
        dpi: pixels per inch.

    Returns:
        The GIF's path.
    """
    if not frames:
        raise ValueError("frames is empty: pass one prediction function or grid per snapshot")
    if captions is not None and len(captions) != len(frames):
        raise ValueError(f"got {len(captions)} captions for {len(frames)} frames")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from PIL import Image
    except ImportError:
        raise ImportError(MATPLOTLIB_MISSING) from None
    x, y = np.asarray(x), np.asarray(y)
    grid = boundary_grid(x, resolution, margin)
    figure = new_figure(figsize=(size, size), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    ax = figure.subplots()
    colours = [_colours(_grid_outputs(frame, grid), y, shading) for frame in frames]
    image = _draw_boundary(ax, colours[0], _extent(x, margin), x, y, class_names)
    pictures = []
    for i, rgb in enumerate(colours):
        image.set_data(rgb)
        caption = captions[i] if captions is not None else None
        ax.set_title("\n".join(filter(None, (title, caption))), fontsize="medium")
        if i == 0:
            figure.tight_layout()
        canvas.draw()
        pictures.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]))
    frame_ms = round(1000 / fps)
    path = Path(path)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], loop=0,
                     duration=[frame_ms] * (len(pictures) - 1) + [frame_ms + 1000])
    return path


def _extent(x: np.ndarray, margin: float) -> tuple[float, float, float, float]:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"decision boundaries need 2-D points of shape (N, 2), got {x.shape}")
    low, high = x.min(axis=0), x.max(axis=0)
    pad = margin * np.maximum(high - low, 1e-6)
    (x0, y0), (x1, y1) = low - pad, high + pad
    return float(x0), float(x1), float(y0), float(y1)


def _grid_outputs(frame: Predict | np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A prediction function's (or a precomputed frame's) outputs as ``(R, R, C)``."""
    resolution = grid.shape[0]
    if callable(frame):
        outputs = np.asarray(frame(grid.reshape(-1, 2)))
        if outputs.shape[0] != resolution * resolution or outputs.ndim > 2:
            raise ValueError(
                f"predict_fn must map points (M, 2) to outputs (M,) or (M, C); for M = "
                f"{resolution * resolution} it returned shape {outputs.shape}"
            )
    else:
        outputs = np.asarray(frame)
        if outputs.shape[:2] != (resolution, resolution) or outputs.ndim > 3:
            raise ValueError(
                f"precomputed outputs must have shape ({resolution}, {resolution}) or "
                f"({resolution}, {resolution}, C) for resolution {resolution}, got {outputs.shape}"
            )
    return outputs.reshape(resolution, resolution, -1)


def _colours(outputs: np.ndarray, y: np.ndarray, shading: str) -> np.ndarray:
    """RGB ``(R, R, 3)``: pale class colours, mixed by probability or taken by predicted class."""
    if shading not in ("class", "probability"):
        raise ValueError(f"shading must be 'class' or 'probability', got {shading!r}")
    if np.issubdtype(outputs.dtype, np.integer):
        num_classes = int(max(outputs.max(), y.max())) + 1
        probabilities = np.eye(num_classes)[outputs[..., 0]]
    else:
        logits = outputs.astype(np.float64)
        if logits.shape[-1] == 1:
            logits = np.concatenate([np.zeros_like(logits), logits], axis=-1)
        logits = logits - logits.max(axis=-1, keepdims=True)
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
        if shading == "class":
            probabilities = np.eye(logits.shape[-1])[probabilities.argmax(axis=-1)]
    pale = 1.0 - 0.45 * (1.0 - _class_colours(probabilities.shape[-1]))
    return np.clip(probabilities @ pale, 0.0, 1.0)


def _class_colours(num_classes: int) -> np.ndarray:
    from matplotlib import colormaps

    palette = np.asarray(colormaps["tab10"].colors)
    return palette[np.arange(num_classes) % len(palette)]


def _draw_boundary(ax, colours: np.ndarray, extent, x: np.ndarray, y: np.ndarray,
                   class_names: Sequence[str] | None):
    """Draws the coloured grid and the labelled points; returns the image (to update frames)."""
    image = ax.imshow(colours, origin="lower", extent=extent, aspect="auto",
                      interpolation="nearest")
    palette = _class_colours(int(y.max()) + 1)
    for label in np.unique(y):
        name = class_names[label] if class_names is not None else f"class {label}"
        points = x[y == label]
        ax.scatter(points[:, 0], points[:, 1], s=12, color=palette[label], edgecolors="black",
                   linewidths=0.3, label=name)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(loc="best", fontsize="small", framealpha=0.8)
    return image
