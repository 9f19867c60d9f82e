"""Conv1D and Conv2D: a kernel slid along the spatial axes of channels-last inputs.

Both are one N-dimensional convolution (``jax.lax.conv_general_dilated``) fixed to one or two
spatial axes. Sizes per axis, paddings and the check that a window fits are
``jaxnet.layers.windows``'s, shared with pooling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.nn.initializers import Initializer

from jaxnet.core import (
    Layer,
    ShapeError,
    along_last_axis,
    check_entries,
    float_input,
    input_features,
    shape_of,
)
from jaxnet.layers.windows import (
    Padding,
    check_window_fits,
    layout,
    pads,
    per_axis,
    positive_sizes,
)
from jaxnet.validation import positive_int


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
        channels = input_features(x.shape, layout(n))
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
            float_input(x, w.dtype),
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

    Integer and boolean inputs (uint8 images) are cast to the kernel's dtype (float32), as in
    Keras; their values are not rescaled.
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
