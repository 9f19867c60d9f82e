"""BatchNorm and LayerNorm: normalise, then scale by gamma and shift by beta."""

from __future__ import annotations

import dataclasses
import math
import warnings

import jax
import jax.numpy as jnp

from jaxnet.core import (
    Layer,
    ShapeError,
    along_last_axis,
    check_entries,
    float_input,
    shape_of,
)
from jaxnet.validation import is_concrete, nonnegative_number


def _check_features(x, params, state=None) -> None:
    """Checks the entries of ``params`` (and ``state``) and that ``x`` has their feature count."""
    per_feature = {"scale": ("features",), "bias": ("features",)}
    features = check_entries(params, per_feature)["features"]
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != features:
        raise ShapeError(
            f"expected inputs of shape (..., {features}) as at init, got shape {jnp.shape(x)}"
        )
    if state is not None:
        check_entries(state, {"mean": (features,), "var": (features,)}, "state")


def _check_epsilon(layer) -> None:
    nonnegative_number(layer.epsilon, f"{type(layer).__name__} epsilon", positive=True)


def _scale_and_bias(features: int) -> dict:
    return {"scale": jnp.ones((features,), jnp.float32),
            "bias": jnp.zeros((features,), jnp.float32)}


def _affine(y, params) -> jax.Array:
    scale, bias = (params[name].astype(y.dtype) for name in ("scale", "bias"))
    return y * along_last_axis(scale, y.ndim) + along_last_axis(bias, y.ndim)


def _wide(x) -> jax.Array:
    """``x`` in at least float32: statistics of bfloat16 or float16 inputs are computed (and
    running statistics kept) in float32, as Flax does, and the output is cast back."""
    x = jnp.asarray(x)
    narrow = jnp.issubdtype(x.dtype, jnp.floating) and jnp.finfo(x.dtype).bits < 32
    return x.astype(jnp.float32) if narrow else x


@dataclasses.dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalization over every axis but the last (the features or channels).

    In training, ``y = scale * (x - mean) / sqrt(var + epsilon) + bias`` with the mean and (biased)
    variance of the batch, and the running statistics in ``state`` move towards them:
    ``running = momentum * running + (1 - momentum) * batch``. In evaluation the running
    statistics are used instead and the state is returned unchanged. This is the behaviour of
    ``flax.linen.BatchNorm`` and Keras's ``BatchNormalization``; the defaults are Flax's.

    Args:
        momentum: decay of the running statistics, in ``[0, 1]``.
        epsilon: added to the variance for numerical stability, ``> 0``.
        name: overrides the automatic name inside a Sequential.

    Parameters ``{"scale", "bias"}`` (gamma and beta), shape ``(features,)``; state ``{"mean",
    "var"}``, shape ``(features,)``, starting at 0 and 1. Integer and boolean inputs are cast to
    the parameters' dtype (float32), as in Keras.

    Training statistics need more than one value per feature: with one (a batch of one example
    of shape ``(1, features)``) the batch variance is 0, the output is ``bias`` whatever the
    input, and the running variance drifts to 0; this is a ``UserWarning`` when ``apply`` is
    traced. An empty batch is a ShapeError, since its statistics are NaN and would poison the
    running ones.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> bn = jn.BatchNorm(momentum=0.9)
        >>> x = jnp.array([[1.0, 10.0], [3.0, 30.0]])
        >>> params, state = bn.init(jax.random.key(0), x)
        >>> y, state = bn.apply(params, state, x, train=True)
        >>> y.round(3)
        Array([[-1., -1.],
               [ 1.,  1.]], dtype=float32)
        >>> state["mean"]
        Array([0.2, 2. ], dtype=float32)
    """

    momentum: float = 0.99
    epsilon: float = 1e-5
    name: str | None = None

    def __post_init__(self):
        nonnegative_number(self.momentum, "BatchNorm momentum")
        if is_concrete(self.momentum) and not self.momentum <= 1.0:
            raise ValueError(f"BatchNorm momentum must lie in [0, 1], got {self.momentum!r}")
        _check_epsilon(self)

    def init(self, key, x):
        features = shape_of(x).shape[-1]
        state = {"mean": jnp.zeros((features,), jnp.float32),
                 "var": jnp.ones((features,), jnp.float32)}
        return _scale_and_bias(features), state

    def apply(self, params, state, x, *, key=None, train=False):
        _check_features(x, params, state)
        x = float_input(x, params["scale"].dtype)
        dtype, x = x.dtype, _wide(x)
        if train:
            _check_batch(jnp.shape(x))
            axes = tuple(range(jnp.ndim(x) - 1))
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x - along_last_axis(mean, x.ndim)), axis=axes)
            state = {
                "mean": self.momentum * state["mean"] + (1.0 - self.momentum) * mean,
                "var": self.momentum * state["var"] + (1.0 - self.momentum) * var,
            }
        else:
            mean, var = state["mean"], state["var"]
        y = (x - along_last_axis(mean, x.ndim)) * along_last_axis(
            jax.lax.rsqrt(var + self.epsilon), x.ndim
        )
        return _affine(y, params).astype(dtype), state


def _check_batch(shape: tuple[int, ...]) -> None:
    """Refuses an empty batch and warns of a batch with one value per feature (trace time)."""
    count = math.prod(shape[:-1])
    if count == 0:
        raise ShapeError(
            f"BatchNorm in training needs a non-empty batch, got inputs of shape {shape}: the "
            "statistics of no examples are NaN and would poison the running statistics"
        )
    if count == 1:
        warnings.warn(
            f"BatchNorm in training got inputs of shape {shape}, one value per feature: the "
            "batch variance is 0, every output equals the bias and the running statistics will "
            "be wrong; train with a batch size > 1 (or use LayerNorm)",
            UserWarning,
            stacklevel=4,
        )


@dataclasses.dataclass(frozen=True)
class LayerNorm(Layer):
    """Layer normalization over the last axis of each example, the same in training and evaluation.

    ``y = scale * (x - mean) / sqrt(var + epsilon) + bias`` with the mean and variance of each
    example's features (no running statistics). The defaults are ``flax.linen.LayerNorm``'s.

    Args:
        epsilon: added to the variance for numerical stability, ``> 0``.
        name: overrides the automatic name inside a Sequential.

    Parameters ``{"scale", "bias"}``, shape ``(features,)``. Integer and boolean inputs are cast
    to the parameters' dtype (float32), as in Keras.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> ln = jn.LayerNorm()
        >>> x = jnp.array([[1.0, 3.0], [10.0, 30.0]])
        >>> params, state = ln.init(jax.random.key(0), x)
        >>> ln.apply(params, state, x)[0].round(3)
        Array([[-1.,  1.],
               [-1.,  1.]], dtype=float32)
    """

    epsilon: float = 1e-6
    name: str | None = None

    def __post_init__(self):
        _check_epsilon(self)

    def init(self, key, x):
        return _scale_and_bias(shape_of(x).shape[-1]), {}

    def apply(self, params, state, x, *, key=None, train=False):
        _check_features(x, params)
        x = float_input(x, params["scale"].dtype)
        dtype, x = x.dtype, _wide(x)
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
        return _affine(y, params).astype(dtype), state
