"""Dropout: inverted dropout, the identity at evaluation."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxnet.core import Layer, LayerError, float_input
from jaxnet.validation import is_concrete, nonnegative_number


@dataclasses.dataclass(frozen=True)
class Dropout(Layer):
    """Drops each unit with probability ``rate`` in training and scales survivors by ``1/(1-rate)``.

    The scaling keeps the expected output equal to the input, so evaluation (``train=False``) is
    the identity. ``rate`` is the probability to *drop*, as in Keras and PyTorch.

    Args:
        rate: drop probability in ``[0, 1)``.
        name: overrides the automatic name inside a Sequential.

    Training with ``rate > 0`` needs a ``key``; the same key gives the same mask. Integer and
    boolean inputs are cast to float32 (in training and evaluation alike), as in Keras.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> x = jnp.arange(1.0, 7.0)
        >>> y, _ = jn.Dropout(0.5).apply({}, {}, x, key=jax.random.key(0), train=True)
        >>> bool(jnp.all((y == 0) | (y == 2 * x)))
        True
    """

    rate: float
    name: str | None = None

    def __post_init__(self):
        try:
            nonnegative_number(self.rate, "Dropout rate")  # a TypeError for non-numbers
            in_range = not is_concrete(self.rate) or self.rate < 1.0
        except ValueError:
            in_range = False
        if not in_range:
            raise ValueError(
                f"Dropout rate is the probability to drop and must lie in [0, 1), got {self.rate!r}"
            )

    def apply(self, params, state, x, *, key=None, train=False):
        x = float_input(x, jnp.float32)
        if not train or (is_concrete(self.rate) and self.rate == 0.0):
            return x, state
        if key is None:
            raise LayerError(
                "dropout draws a random mask in training and needs a key: "
                "call apply(..., key=jax.random.key(seed), train=True)"
            )
        keep = jax.random.bernoulli(key, 1.0 - self.rate, jnp.shape(x))
        # The rate never sets the dtype: a sweep passes it as a float32 array, which would
        # promote bfloat16 activations where fit's Python float does not.
        scale = jnp.asarray(1.0 - self.rate).astype(jnp.result_type(x))
        return jnp.where(keep, x / scale, jnp.zeros_like(x)), state
