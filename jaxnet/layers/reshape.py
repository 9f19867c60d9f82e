"""Flatten and Reshape: change the shape of each example, keeping the batch axis."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax.numpy as jnp

from jaxnet.core import Layer, ShapeError
from jaxnet.validation import positive_int


@dataclasses.dataclass(frozen=True)
class Flatten(Layer):
    """Flattens every axis but the first: ``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.Flatten().apply({}, {}, jnp.zeros((2, 8, 8, 3)))[0].shape
        (2, 192)
    """

    name: str | None = None

    def apply(self, params, state, x, *, key=None, train=False):
        if jnp.ndim(x) < 1:
            raise ShapeError(f"expected inputs with a batch axis, got shape {jnp.shape(x)}")
        return jnp.reshape(x, (jnp.shape(x)[0], -1)), state


@dataclasses.dataclass(frozen=True)
class Reshape(Layer):
    """Reshapes each example to ``shape`` (one size may be -1): ``(batch, ...) -> (batch, *shape)``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.Reshape((8, 8, 1)).apply({}, {}, jnp.zeros((2, 64)))[0].shape
        (2, 8, 8, 1)
    """

    shape: tuple[int, ...]
    name: str | None = None

    def __post_init__(self):
        if isinstance(self.shape, (str, bytes)) or not isinstance(self.shape, Sequence):
            raise TypeError(
                f"Reshape takes a tuple of sizes, e.g. Reshape((8, 8, 1)), got {self.shape!r}"
            )
        sizes = tuple(positive_int(d, "Reshape shape sizes", minimum=-1) for d in self.shape)
        object.__setattr__(self, "shape", sizes)
        if sum(d == -1 for d in self.shape) > 1 or any(d < -1 or d == 0 for d in self.shape):
            raise ValueError(
                f"Reshape shape takes positive sizes and at most one -1, got {self.shape}"
            )

    def apply(self, params, state, x, *, key=None, train=False):
        given = jnp.shape(x)
        size = math.prod(given[1:]) if given else 0
        known = math.prod(d for d in self.shape if d != -1)
        fits = size % known == 0 if -1 in self.shape else size == known
        if not given or not fits:
            raise ShapeError(
                f"cannot reshape examples of shape {given[1:]} ({size} values) to {self.shape}; "
                f"got inputs of shape {given}"
            )
        return jnp.reshape(x, (given[0], *self.shape)), state
