"""Activation functions (the ``jax.nn`` ones) and the Activation layer that applies one.

Advice from the source material: ReLU in hidden layers; sigmoid for a binary output, softmax for a
multi-class output, identity for regression. Sigmoid and tanh saturate, so their gradients vanish
through deep stacks; ReLU does not saturate for positive inputs but its units can die; Leaky ReLU
keeps a small slope (0.01) for negative inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp

from jaxnet.core import Layer, ShapeError, along_last_axis, check_entries, is_one_array

sigmoid = jax.nn.sigmoid
tanh = jax.nn.tanh
relu = jax.nn.relu
leaky_relu = jax.nn.leaky_relu
elu = jax.nn.elu
gelu = jax.nn.gelu
swish = jax.nn.swish
softplus = jax.nn.softplus
softmax = jax.nn.softmax


def identity(x: jax.Array) -> jax.Array:
    """The identity, ``f(x) = x``: the output activation for regression.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.identity(jnp.array([-1.0, 2.0]))
        Array([-1.,  2.], dtype=float32)
    """
    return x


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "gelu": gelu,
    "swish": swish,
    "softplus": softplus,
    "softmax": softmax,
    "identity": identity,
}


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation function called ``name``; a clear error for an unknown one."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)} "
            "or a function x -> y"
        ) from None


def _function_name(fn: Callable) -> str:
    for name, known in ACTIVATIONS.items():
        if fn is known:
            return name
    name = getattr(fn, "__name__", type(fn).__name__)
    return "lambda" if name == "<lambda>" else name.lower()


@dataclasses.dataclass(frozen=True)
class Activation(Layer):
    """Applies an element-wise (or softmax) function, by name or as any function ``x -> y``.

    Inside a Sequential, plain functions are wrapped in this layer automatically, so
    ``jn.Sequential([jn.Dense(8), jn.relu])`` and ``jn.Sequential([jn.Dense(8),
    jn.Activation("relu")])`` are the same model. It holds no parameters. The function may take
    several inputs (a tuple or dict), e.g. ``lambda xs: xs["image"]`` selects one of them.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.Activation("relu").apply({}, {}, jnp.array([-1.0, 2.0]))[0]
        Array([0., 2.], dtype=float32)
    """

    fn: str | Callable[[jax.Array], jax.Array]
    name: str | None = None

    multi_input: ClassVar[bool] = True  # a function may select from, or join, several inputs

    def __post_init__(self):
        if isinstance(self.fn, str):
            object.__setattr__(self, "fn", get_activation(self.fn))
        elif not callable(self.fn):
            raise TypeError(f"Activation takes a name or a function x -> y, got {self.fn!r}")

    @property
    def kind(self) -> str:
        return _function_name(self.fn)

    def apply(self, params, state, x, *, key=None, train=False):
        return self.fn(jnp.asarray(x) if is_one_array(x) else x), state


@dataclasses.dataclass(frozen=True)
class PReLU(Layer):
    """Parametric ReLU: ``max(x, 0) + alpha * min(x, 0)`` with one learned ``alpha`` per feature.

    Args:
        alpha_init: starting slope for negative inputs (0.25, as in the PReLU paper).
        name: overrides the automatic name inside a Sequential.

    Parameters ``{"alpha"}``, shape ``(features,)``.

    References:
        He et al., "Delving Deep into Rectifiers", 2015.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> prelu = jn.PReLU()
        >>> params, state = prelu.init(jax.random.key(0), jnp.zeros((1, 2)))
        >>> prelu.apply(params, state, jnp.array([[-2.0, 3.0]]))[0]
        Array([[-0.5,  3. ]], dtype=float32)
    """

    alpha_init: float = 0.25
    name: str | None = None

    def init(self, key, x):
        return {"alpha": jnp.full((x.shape[-1],), self.alpha_init, jnp.float32)}, {}

    def apply(self, params, state, x, *, key=None, train=False):
        features = check_entries(params, {"alpha": ("features",)})["features"]
        if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != features:
            raise ShapeError(
                f"expected inputs of shape (..., {features}) as at init, got shape {jnp.shape(x)}"
            )
        return jnp.where(x >= 0, x, along_last_axis(params["alpha"], x.ndim) * x), state
