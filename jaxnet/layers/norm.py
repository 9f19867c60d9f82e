"""BatchNorm and LayerNorm: normalise, then scale by gamma and shift by beta."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxnet.core import Layer, ShapeError, along_last_axis, shape_of


def _check_features(x, scale) -> None:
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != scale.shape[0]:
        raise ShapeError(
            f"expected inputs of shape (..., {scale.shape[0]}) as at init, got shape {jnp.shape(x)}"
        )


def _scale_and_bias(features: int) -> dict:
    return {"scale": jnp.ones((features,), jnp.float32),
            "bias": jnp.zeros((features,), jnp.float32)}


def _affine(y, params) -> jax.Array:
    return y * along_last_axis(params["scale"], y.ndim) + along_last_axis(params["bias"], y.ndim)


@dataclasses.dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalization over every axis but the last (the features or channels).

    In training, ``y = scale * (x - mean) / sqrt(var + epsilon) + bias`` with the mean and (biased)
    variance of the batch, and the running statistics in ``state`` move towards them:
    ``running = momentum * running + (1 - momentum) * batch``. In evaluation the running
    statistics are used instead and the state is returned unchanged. This is the behaviour of
    ``flax.linen.BatchNorm`` and Keras's ``BatchNormalization``; the defaults are Flax's.

    Args:
        momentum: decay of the running statistics.
        epsilon: added to the variance for numerical stability.
        name: overrides the automatic name inside a Sequential.

    Parameters ``{"scale", "bias"}`` (gamma and beta), shape ``(features,)``; state ``{"mean",
    "var"}``, shape ``(features,)``, starting at 0 and 1.
    """

    momentum: float = 0.99
    epsilon: float = 1e-5
    name: str | None = None

    def __post_init__(self):
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"BatchNorm momentum must lie in [0, 1], got {self.momentum!r}")

    def init(self, key, x):
        features = shape_of(x).shape[-1]
        state = {"mean": jnp.zeros((features,), jnp.float32),
                 "var": jnp.ones((features,), jnp.float32)}
        return _scale_and_bias(features), state

    def apply(self, params, state, x, *, key=None, train=False):
        _check_features(x, params["scale"])
        if train:
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
        return _affine(y, params), state


@dataclasses.dataclass(frozen=True)
class LayerNorm(Layer):
    """Layer normalization over the last axis of each example, the same in training and evaluation.

    ``y = scale * (x - mean) / sqrt(var + epsilon) + bias`` with the mean and variance of each
    example's features (no running statistics). The defaults are ``flax.linen.LayerNorm``'s.

    Args:
        epsilon: added to the variance for numerical stability.
        name: overrides the automatic name inside a Sequential.

    Parameters ``{"scale", "bias"}``, shape ``(features,)``.
    """

    epsilon: float = 1e-6
    name: str | None = None

    def init(self, key, x):
        return _scale_and_bias(shape_of(x).shape[-1]), {}

    def apply(self, params, state, x, *, key=None, train=False):
        _check_features(x, params["scale"])
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
        return _affine(y, params), state
