"""Windows slid over the spatial axes of channels-last inputs, as convolution and pooling do.

Sizes given once or per axis, paddings (``"SAME"``, ``"VALID"`` or explicit, Flax's conventions),
the check that a window fits the padded input, and the expected layout in words for messages.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from jaxnet.core import ShapeError
from jaxnet.validation import positive_int

Padding = str | int | Sequence[int | tuple[int, int]]
Pads = str | tuple[tuple[int, int], ...]

_AXIS_NAMES = {1: ("length",), 2: ("height", "width")}


def layout(spatial_dims: int, channels: int | str = "channels") -> str:
    """The expected input shape in words, e.g. ``(batch, length, 3)``, for error messages."""
    axes = _AXIS_NAMES.get(spatial_dims, tuple(f"d{i}" for i in range(spatial_dims)))
    return "(" + ", ".join(("batch", *axes, str(channels))) + ")"


def per_axis(value: int | Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    """``value`` for each spatial axis: an int is repeated, a sequence is taken as it is."""
    return (value,) * spatial_dims if isinstance(value, numbers.Integral) else tuple(value)


def positive_sizes(value: int | Sequence[int], what: str) -> int | tuple[int, ...]:
    """``value`` with Python ints for NumPy ones: a positive int or a non-empty sequence of them.

    Raises:
        TypeError: for anything else (floats, strings...).
        ValueError: for sizes below 1.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{what} takes a positive int or a sequence of them, got {value!r}")
        return int(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise TypeError(f"{what} takes a positive int or a sequence of them, got {value!r}")
    return tuple(positive_int(v, what) for v in value)


def pads(padding: Padding, spatial_dims: int) -> Pads:
    """``"SAME"``, ``"VALID"``, or ``(low, high)`` pairs, one per axis of a sequence.

    An int pads both sides of every axis by that much; a sequence gives, per axis, an int (both
    sides) or a ``(low, high)`` pair. These are Flax's conventions. The caller checks that a
    sequence has one entry per spatial axis.

    Raises:
        ValueError: a string other than "SAME" or "VALID", or negative or malformed sizes.
    """
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f'padding must be "SAME", "VALID" or explicit sizes, got {padding!r}')
        return padding.upper()
    message = (
        "explicit padding takes a non-negative int, or one int or (low, high) pair per spatial "
        f"axis, got {padding!r}"
    )
    if not isinstance(padding, (numbers.Integral, Sequence)) or isinstance(padding, bool):
        raise ValueError(message)
    entries = per_axis(padding, spatial_dims)
    pairs = tuple((e, e) if isinstance(e, numbers.Integral) else e for e in entries)
    if not pairs or any(
        not isinstance(pair, Sequence)
        or len(pair) != 2
        or any(not _is_int(v) or v < 0 for v in pair)
        for pair in pairs
    ):
        raise ValueError(message)
    return tuple((int(low), int(high)) for low, high in pairs)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_window_fits(spatial_shape: Sequence[int], window: Sequence[int], padding: Pads) -> None:
    """Raises a ShapeError when a (dilated) window is larger than the padded input.

    Args:
        spatial_shape: the input's spatial sizes, e.g. ``(length,)`` or ``(height, width)``.
        window: the window's extent on each axis, dilation included: ``(k - 1) * d + 1``.
        padding: as returned by ``pads``. "SAME" always fits.
    """
    if padding == "SAME":
        return
    low_high = ((0, 0),) * len(spatial_shape) if padding == "VALID" else padding
    padded = tuple(
        size + low + high for size, (low, high) in zip(spatial_shape, low_high, strict=True)
    )
    if any(p < w for p, w in zip(padded, window, strict=True)):
        raise ShapeError(
            f"a window spanning {tuple(window)} does not fit inputs of spatial shape "
            f"{tuple(spatial_shape)} with padding {padding} (padded: {padded})"
        )
