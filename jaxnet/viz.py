"""Figures: training curves, image grids, decision boundaries and sweeps (matplotlib, an optional
dependency).

Every function builds a ``matplotlib.figure.Figure`` without pyplot, so nothing global changes
(no backend is selected, no window opens); pass ``path`` to save it, or show the returned figure
in a notebook. :func:`boundary_animation` writes an animated GIF (with Pillow, which matplotlib
brings).
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _figure(**kwargs) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "jaxnet.viz needs matplotlib: pip install 'jaxnet-fn[examples]' (or matplotlib)"
        ) from None
    return _shown_in_notebooks(Figure)(**kwargs)


@functools.cache
def _shown_in_notebooks(figure_class: type) -> type:
    """A Figure class whose figures a notebook shows as PNG images on their own, without
    ``%matplotlib inline`` or pyplot (which this module never imports)."""

    class Figure(figure_class):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            return buffer.getvalue()

    Figure.__module__, Figure.__qualname__ = figure_class.__module__, figure_class.__qualname__
    return Figure


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
        x: the points to show, ``(N, 2)``; the grid covers them (see :func:`boundary_grid`).
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
        figure = _figure(figsize=(4.5, 4.0))
        ax = figure.subplots()
    _draw_boundary(ax, _colours(outputs, y, shading), _extent(x, margin), x, y, class_names)
    if title:
        ax.set_title(title)
    return _save(ax.figure, path)


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

    Each frame is drawn as :func:`decision_boundary` draws its figure, on the same axes, so only
    the colours (and the caption) change from frame to frame. The last frame is held for an
    extra second before the GIF loops. A frame identical to the one before it is stored, as GIF
    writers do, as a longer showing of that frame.

    Args:
        frames: one entry per snapshot, in order: a prediction function or precomputed
            outputs, as ``predict_fn`` in :func:`decision_boundary`.
        x: the points to show, ``(N, 2)``.
        y: their integer labels, ``(N,)``.
        path: where to write the GIF.
        captions: one line per frame shown above it (e.g. ``"step 100, accuracy 0.85"``).
        title: a line over every frame, above the caption (e.g. the model).
        resolution: grid points along each axis.
        margin: how far the grid extends beyond the data, as a fraction of its extent.
        shading: ``"class"`` or ``"probability"``, as in :func:`decision_boundary`.
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
        raise ImportError(
            "jaxnet.viz needs matplotlib: pip install 'jaxnet-fn[examples]' (or matplotlib)"
        ) from None
    x, y = np.asarray(x), np.asarray(y)
    grid = boundary_grid(x, resolution, margin)
    figure = _figure(figsize=(size, size), dpi=dpi)
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
    figure = _figure(figsize=(1.0 + 0.55 * size, 0.6 + 0.55 * size))
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
    return _save(figure, path)


Rows = Sequence[Mapping[str, Any]]


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
        ax = _figure(figsize=(5.5, 3.8)).subplots()
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
    return _save(ax.figure, path)


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
        result: a ``jn.SweepResult``, or rows as for :func:`sweep_curve`.
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
        ax = _figure(figsize=(1.6 + 0.75 * len(columns), 1.2 + 0.55 * len(levels))).subplots()
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
    return _save(ax.figure, path)


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
