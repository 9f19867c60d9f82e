"""Conv1D and Conv2D: a kernel slid along the spatial axes of channels-last inputs.

Both are one N-dimensional convolution (``jax.lax.conv_general_dilated``) fixed to one or two
spatial axes. The helpers that expand per-axis sizes and paddings are shared with pooling.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp

from jaxnet.core import Layer, ShapeError, along_last_axis, check_entries, shape_of
from jaxnet.layers.dense import Initializer
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
        padding: as returned by :func:`pads`. "SAME" always fits.
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


@dataclasses.dataclass(frozen=True)
class _Conv(Layer):
    """The N-dimensional convolution that Conv1D and Conv2D fix to one or two spatial axes."""

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "VALID"
    dilation: int | Sequence[int] = 1
    feature_group_count: int = 1
    use_bias: bool = True
    kernel_init: Initializer = jax.nn.initializers.glorot_uniform()
    bias_init: Initializer = jax.nn.initializers.zeros
    name: str | None = None

    spatial_dims: ClassVar[int]

    def __post_init__(self):
        kind = type(self).__name__
        features = positive_int(self.features, f"{kind} features")
        object.__setattr__(self, "features", features)
        groups = positive_int(self.feature_group_count, f"{kind} feature_group_count")
        if features % groups:
            raise ValueError(
                f"{kind} feature_group_count must be a positive divisor of features="
                f"{features}, got {groups!r}"
            )
        object.__setattr__(self, "feature_group_count", groups)
        n = self.spatial_dims
        for field in ("kernel_size", "strides", "dilation"):
            value = getattr(self, field)
            sizes = per_axis(positive_sizes(value, f"{kind} {field}"), n)
            if len(sizes) != n:
                raise ValueError(f"{kind} {field} takes an int or {n} ints, got {value!r}")
            object.__setattr__(self, field, sizes)
        padding = pads(self.padding, n)
        if padding not in ("SAME", "VALID") and len(padding) != n:
            raise ValueError(
                f"{kind} padding takes an int, or one int or (low, high) pair per spatial axis "
                f"({n}), got {self.padding!r}"
            )
        object.__setattr__(self, "padding", padding)

    @property
    def window(self) -> tuple[int, ...]:
        """The extent of the dilated kernel on each spatial axis, ``(k - 1) * d + 1``."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True))

    def init(self, key, x):
        x = shape_of(x)
        n, groups = self.spatial_dims, self.feature_group_count
        if len(x.shape) != n + 2:
            raise ShapeError(f"expected inputs of shape {layout(n)}, got shape {x.shape}")
        channels = x.shape[-1]
        if channels % groups:
            raise ShapeError(
                f"inputs of shape {x.shape} have {channels} channels, which do not split into "
                f"feature_group_count={groups} groups"
            )
        w_key, b_key = jax.random.split(key)
        shape = (*self.kernel_size, channels // groups, self.features)
        params = {"w": self.kernel_init(w_key, shape, jnp.float32)}
        if self.use_bias:
            params["b"] = self.bias_init(b_key, (self.features,), jnp.float32)
        return params, {}

    def apply(self, params, state, x, *, key=None, train=False):
        expected = {"w": (*self.kernel_size, "in_channels // feature_group_count", self.features)}
        if self.use_bias:
            expected["b"] = (self.features,)
        check_entries(params, expected)
        w = params["w"]
        n = self.spatial_dims
        channels = w.shape[-2] * self.feature_group_count
        given = jnp.shape(x)
        if len(given) != n + 2 or given[-1] != channels:
            raise ShapeError(
                f"expected inputs of shape {layout(n, channels)} for a kernel of shape "
                f"{w.shape}, got shape {given}"
            )
        check_window_fits(given[1:-1], self.window, self.padding)
        channels_last = (0, n + 1, *range(1, n + 1))
        y = jax.lax.conv_general_dilated(
            jnp.asarray(x),
            w,
            window_strides=self.strides,
            padding=self.padding,
            rhs_dilation=self.dilation,
            dimension_numbers=jax.lax.ConvDimensionNumbers(
                lhs_spec=channels_last, rhs_spec=(n + 1, n, *range(n)), out_spec=channels_last
            ),
            feature_group_count=self.feature_group_count,
        )
        if self.use_bias:
            y = y + along_last_axis(params["b"], y.ndim)
        return y, state


_CONV_ARGS = """
    Args:
        features: the number of output channels (kernels).
        kernel_size: the kernel's extent, an int or one int per spatial axis.
        strides: the step between kernel positions, an int or one per spatial axis.
        padding: ``"VALID"`` (no padding, the default, as in Keras and PyTorch), ``"SAME"``
            (output size ``ceil(size / stride)``), an int padding both sides of every axis, or one
            int or ``(low, high)`` pair per spatial axis.
        dilation: the kernel dilation (the dilated, or atrous, convolution): kernel taps are
            ``dilation`` steps apart, so the kernel spans ``(kernel_size - 1) * dilation + 1``.
        feature_group_count: splits the input channels and the kernels into this many groups,
            each group of kernels seeing only its group of channels (``in_channels`` for a
            depthwise convolution). Must divide ``features`` and the input channels.
        use_bias: whether to add the bias ``b``.
        kernel_init: initializer of ``w``; Glorot uniform by default (fan-in and fan-out include
            the kernel's spatial extent).
        bias_init: initializer of ``b``; zeros by default.
        name: overrides the automatic name inside a Sequential.
"""


@dataclasses.dataclass(frozen=True)
class Conv1D(_Conv):
    __doc__ = (
        """1-D convolution over sequences ``(batch, length, in_channels)``, e.g. signals or text.

    ``y[n, t, f] = b[f] + sum_{k, c} x[n, t * stride + k * dilation - pad_low, c] * w[k, c, f]``,
    the cross-correlation that deep-learning libraries call convolution.
"""
        + _CONV_ARGS
        + """
    Input ``(batch, length, in_channels)``, output ``(batch, out_length, features)``. Parameters
    ``{"w": (kernel_size, in_channels // feature_group_count, features), "b": (features,)}``.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.Conv1D(8, kernel_size=5, strides=2, padding=1)
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 40, 3)))
        >>> params["w"].shape
        (5, 3, 8)
        >>> layer.apply(params, state, jnp.ones((4, 40, 3)))[0].shape
        (4, 19, 8)
    """
    )

    spatial_dims: ClassVar[int] = 1


@dataclasses.dataclass(frozen=True)
class Conv2D(_Conv):
    __doc__ = (
        """2-D convolution over images ``(batch, height, width, in_channels)`` (NHWC).

    Each output pixel is the bias plus the sum of a ``kernel_size`` patch of the input times the
    kernel ``w``, over all input channels of its group; the same kernel slides over the image.
"""
        + _CONV_ARGS
        + """
    Input ``(batch, height, width, in_channels)``, output ``(batch, out_height, out_width,
    features)``. Parameters ``{"w": (kh, kw, in_channels // feature_group_count, features),
    "b": (features,)}``.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.Conv2D(16, kernel_size=3, padding="SAME", dilation=2)
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
        >>> params["w"].shape, params["b"].shape
        ((3, 3, 1, 16), (16,))
        >>> layer.apply(params, state, jnp.ones((2, 28, 28, 1)))[0].shape
        (2, 28, 28, 16)
    """
    )

    spatial_dims: ClassVar[int] = 2
