"""MaxPool, AvgPool and GlobalAvgPool over the spatial axes of channels-last inputs.

One implementation serves sequences ``(batch, length, channels)`` and images ``(batch, height,
width, channels)``: the number of spatial axes is the input's rank minus two, and an int window
pools every one of them (``MaxPool(2)`` halves a sequence, and both sides of an image).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet.core import Layer, ShapeError, float_input
from jaxnet.layers.windows import (
    Padding,
    check_window_fits,
    layout,
    pads,
    per_axis,
    positive_sizes,
)


@dataclasses.dataclass(frozen=True)
class _Pool(Layer):
    """A window reduced to one value per channel, slid over the spatial axes."""

    window: int | Sequence[int]
    strides: int | Sequence[int] | None = None
    padding: Padding = "VALID"
    name: str | None = None

    def __post_init__(self):
        kind = type(self).__name__
        object.__setattr__(self, "window", positive_sizes(self.window, f"{kind} window"))
        if self.strides is not None:
            object.__setattr__(self, "strides", positive_sizes(self.strides, f"{kind} strides"))
        padding = pads(self.padding, 1)
        if not isinstance(self.padding, (str, Sequence)):
            # One int pads every spatial axis, whose number only the input tells: keep it an int.
            padding = padding[0][0]
        object.__setattr__(self, "padding", padding)

    def _pooled(self, x, init: float | int | bool, reduce: Callable) -> jax.Array:
        """``reduce`` over each window of ``x``, padding with ``init``."""
        given = jnp.shape(x)
        n = len(given) - 2
        if n < 1:
            raise ShapeError(
                f"expected inputs of shape {layout(1)} or {layout(2)}, got shape {given}"
            )
        window = per_axis(self.window, n)
        strides = window if self.strides is None else per_axis(self.strides, n)
        padding = pads(self.padding, n)
        for what, value in (("window", window), ("strides", strides), ("padding", padding)):
            if value not in ("SAME", "VALID") and len(value) != n:
                raise ShapeError(
                    f"{what} {value} is for {len(value)} spatial axes, so it expects inputs of "
                    f"shape {layout(len(value))}; got shape {given}"
                )
        check_window_fits(given[1:-1], window, padding)
        if padding not in ("SAME", "VALID"):
            padding = ((0, 0), *padding, (0, 0))
        # A concrete (NumPy) initial value lets JAX recognise max and sum windows, which it can
        # differentiate; a traced one would not be.
        return jax.lax.reduce_window(
            x, np.asarray(init, x.dtype), reduce, (1, *window, 1), (1, *strides, 1), padding
        )


_POOL_ARGS = """
    Args:
        window: the window's extent, an int (the same on every spatial axis of the input) or
            one int per spatial axis (which fixes the input's rank).
        strides: the step between windows, an int or one per spatial axis; the window by
            default, so windows do not overlap.
        padding: ``"VALID"`` (the default), ``"SAME"`` (output size ``ceil(size / stride)``), an
            int padding both sides of every axis, or one int or ``(low, high)`` pair per axis.
        name: overrides the automatic name inside a Sequential.
"""


@dataclasses.dataclass(frozen=True)
class MaxPool(_Pool):
    __doc__ = (
        """The largest value in each window, per channel.

    Padded cells are ``-inf`` (for integer inputs, which keep their dtype, the dtype's minimum),
    so they never win. Inputs ``(batch, length, channels)`` or ``(batch, height, width,
    channels)`` (any number of spatial axes).
"""
        + _POOL_ARGS
        + """
    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> x = jnp.array([1.0, 3.0, 2.0, 5.0, 4.0]).reshape(1, 5, 1)
        >>> jn.MaxPool(2).apply({}, {}, x)[0][0, :, 0]
        Array([3., 5.], dtype=float32)
        >>> jn.MaxPool(2, padding="SAME").apply({}, {}, x)[0][0, :, 0]
        Array([3., 5., 4.], dtype=float32)
    """
    )

    def apply(self, params, state, x, *, key=None, train=False):
        x = jnp.asarray(x)
        return self._pooled(x, _lowest(x.dtype), jax.lax.max), state


def _lowest(dtype) -> float | int | bool:
    """The value no input of ``dtype`` is below, which padding takes."""
    if jnp.issubdtype(dtype, jnp.inexact):
        return -jnp.inf
    return False if dtype == jnp.bool_ else jnp.iinfo(dtype).min


@dataclasses.dataclass(frozen=True)
class AvgPool(_Pool):
    __doc__ = (
        """The mean of each window, per channel.

    Padded cells do not count: a window overlapping the padding is the mean of the input cells
    it covers (as Keras's ``AveragePooling`` does, and ``flax.linen.avg_pool`` with
    ``count_include_pad=False``; Flax's and PyTorch's defaults divide by the full window size).
    Inputs ``(batch, length, channels)`` or ``(batch, height, width, channels)``; integer and
    boolean inputs are cast to float32, as in Keras.
"""
        + _POOL_ARGS
        + """
    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> x = jnp.array([1.0, 3.0, 2.0, 5.0, 4.0]).reshape(1, 5, 1)
        >>> jn.AvgPool(2, padding="SAME").apply({}, {}, x)[0][0, :, 0]
        Array([2. , 3.5, 4. ], dtype=float32)
    """
    )

    def apply(self, params, state, x, *, key=None, train=False):
        x = float_input(x, jnp.float32)
        sums = self._pooled(x, 0.0, jax.lax.add)
        # Counting the input cells in each window with the same pooling excludes the padding.
        cells = jnp.ones((1, *jnp.shape(x)[1:-1], 1), x.dtype)
        return sums / self._pooled(cells, 0.0, jax.lax.add), state


@dataclasses.dataclass(frozen=True)
class GlobalAvgPool(Layer):
    """The mean over all spatial axes: ``(batch, *spatial, channels) -> (batch, channels)``.

    Integer and boolean inputs are cast to float32, as in Keras.

    Args:
        name: overrides the automatic name inside a Sequential.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.GlobalAvgPool().apply({}, {}, jnp.ones((2, 7, 7, 16)))[0].shape
        (2, 16)
    """

    name: str | None = None

    def apply(self, params, state, x, *, key=None, train=False):
        given = jnp.shape(x)
        if len(given) < 3:
            raise ShapeError(
                f"expected inputs of shape {layout(1)} or {layout(2)}, got shape {given}"
            )
        return jnp.mean(float_input(x, jnp.float32), axis=tuple(range(1, len(given) - 1))), state
