"""Dense: the fully connected layer, y = x W + b."""

from __future__ import annotations

import dataclasses

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
from jaxnet.validation import positive_int


@dataclasses.dataclass(frozen=True)
class Dense(Layer):
    """Fully connected layer: ``y = x @ w + b`` over the last axis of ``x``.

    Args:
        features: the output width (a Python or NumPy integer, stored as a Python int).
        use_bias: whether to add the bias ``b`` (the neuron's always-1 input).
        kernel_init: initializer of ``w``, shape ``(in_features, features)``; Glorot uniform by
            default, as in Keras (use ``jax.nn.initializers.he_normal()`` before ReLUs if you like).
        bias_init: initializer of ``b``, shape ``(features,)``; zeros by default.
        name: overrides the automatic name inside a Sequential.

    Input ``(..., in_features)``, output ``(..., features)``. Parameters ``{"w": (in_features,
    features), "b": (features,)}``; ``apply`` checks them against ``features`` and the input.
    Integer and boolean inputs (uint8 pixels, 0/1 features) are cast to the kernel's dtype
    (float32), as in Keras; their values are not rescaled.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.Dense(3)
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 4)))
        >>> params["w"].shape, params["b"].shape
        ((4, 3), (3,))
    """

    features: int
    use_bias: bool = True
    kernel_init: Initializer = jax.nn.initializers.glorot_uniform()
    bias_init: Initializer = jax.nn.initializers.zeros
    name: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "features", positive_int(self.features, "Dense features"))

    def init(self, key, x):
        x = shape_of(x)
        if len(x.shape) < 1:
            raise ShapeError(f"expected inputs of shape (..., in_features), got shape {x.shape}")
        in_features = input_features(x.shape, "(..., in_features)")
        w_key, b_key = jax.random.split(key)
        params = {"w": self.kernel_init(w_key, (in_features, self.features), jnp.float32)}
        if self.use_bias:
            params["b"] = self.bias_init(b_key, (self.features,), jnp.float32)
        return params, {}

    def apply(self, params, state, x, *, key=None, train=False):
        expected = {"w": ("in_features", self.features)}
        if self.use_bias:
            expected["b"] = (self.features,)
        check_entries(params, expected)
        w = params["w"]
        if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != w.shape[0]:
            raise ShapeError(
                f"expected inputs of shape (..., {w.shape[0]}) for a kernel of shape {w.shape}, "
                f"got shape {jnp.shape(x)}"
            )
        y = float_input(x, w.dtype) @ w
        if self.use_bias:
            y = y + along_last_axis(params["b"], y.ndim)
        return y, state
