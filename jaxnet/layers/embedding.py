"""Embedding: a learned vector for each integer id (a word, a token, a position)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.nn.initializers import Initializer

from jaxnet.checks import check_values
from jaxnet.core import Layer, LayerError, check_entries, shape_of
from jaxnet.validation import positive_int


@dataclasses.dataclass(frozen=True)
class Embedding(Layer):
    """A lookup table: integer ids ``(...)`` -> their rows ``(..., features)``.

    ``y[i, j, :] = embedding[ids[i, j], :]``, the product of one-hot vectors with the table,
    without building them. This is ``flax.linen.Embed``, Keras's ``Embedding`` and PyTorch's
    ``nn.Embedding``.

    Args:
        num_embeddings: the number of ids (the vocabulary size); ids lie in
            ``[0, num_embeddings)``.
        features: the width of each row.
        embedding_init: initializer of the table; by default Flax's, normal with variance
            ``1 / features``.
        name: overrides the automatic name inside a Sequential.

    Input: integer ids of any shape ``(...)``; output ``(..., features)``, float32. Parameters
    ``{"embedding": (num_embeddings, features)}``.

    Ids outside ``[0, num_embeddings)`` are a LayerError naming one when their values are known
    (an eager call); inside ``jit`` they give rows of NaN, which training's non-finite guard
    reports, and under ``jn.debug_checks`` a ``checkify`` error.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.Embedding(10, 4)
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 7), jnp.int32))
        >>> params["embedding"].shape
        (10, 4)
        >>> y, _ = layer.apply(params, state, jnp.array([[3, 1, 3]]))
        >>> y.shape, bool(jnp.all(y[0, 0] == params["embedding"][3]))
        ((1, 3, 4), True)
    """

    num_embeddings: int
    features: int
    embedding_init: Initializer = jax.nn.initializers.variance_scaling(
        1.0, "fan_in", "normal", out_axis=0
    )
    name: str | None = None

    def __post_init__(self):
        for field in ("num_embeddings", "features"):
            value = positive_int(getattr(self, field), f"Embedding {field}")
            object.__setattr__(self, field, value)

    def init(self, key, x):
        _check_ids_dtype(shape_of(x))
        shape = (self.num_embeddings, self.features)
        return {"embedding": self.embedding_init(key, shape, jnp.float32)}, {}

    def apply(self, params, state, x, *, key=None, train=False):
        check_entries(params, {"embedding": (self.num_embeddings, self.features)})
        ids = jnp.asarray(x)
        _check_ids_dtype(ids)
        try:
            check_values(x, lambda v: (v >= 0) & (v < self.num_embeddings),
                         f"ids must be integers in [0, {self.num_embeddings})")
        except ValueError as error:
            raise LayerError(str(error)) from None
        # Negative ids would wrap around; moved out of range, they give NaN like ids too large.
        ids = jnp.where(ids < 0, self.num_embeddings, ids)
        return jnp.take(params["embedding"], ids, axis=0, mode="fill"), state


def _check_ids_dtype(x) -> None:
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise LayerError(
            f"expected integer ids, got {x.dtype} inputs of shape {tuple(x.shape)}; embed "
            "tokens by their index, e.g. x.astype(jnp.int32)"
        )
