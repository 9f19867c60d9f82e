"""Trees of several configurations: stacked along a leading configuration axis, and split back.

One configuration's goes through one compiled call (no per-leaf dispatch); several go through
the host (no compilation per count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from jaxnet.training import caches


def stack(trees: Sequence[Any]) -> Any:
    """The trees' leaves stacked along a new leading axis: one configuration's by one compiled
    call, several on the host (no compilation)."""
    if len(trees) == 1:
        return with_axis(trees[0])

    def stack(*leaves):
        first = leaves[0]
        if isinstance(first, jax.Array) and jax.dtypes.issubdtype(first.dtype,
                                                                  jax.dtypes.prng_key):
            data = np.stack([np.asarray(jax.random.key_data(key)) for key in leaves])
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(first))
        return np.stack([np.asarray(leaf) for leaf in leaves])

    return jax.tree.map(stack, *trees)


@caches.compiled
@jax.jit
def with_axis(tree: Any) -> Any:
    return jax.tree.map(lambda a: a[None], tree)


@caches.compiled
@jax.jit
def without_axis(tree: Any) -> Any:
    return jax.tree.map(lambda a: a[0], tree)


def unstack(tree: Any, count: int) -> list[Any]:
    """The first ``count`` entries along the leading axis of ``tree``'s leaves, each a tree of
    device arrays; read through the host (no compilation) when this process holds them."""
    leaves, structure = jax.tree.flatten(tree)
    local = [getattr(leaf, "is_fully_addressable", True) for leaf in leaves]
    if count == 1 and all(local):
        return [without_axis(tree)]

    def entries(leaf):
        if not getattr(leaf, "is_fully_addressable", True):
            return [leaf[c] for c in range(count)]
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype,
                                                                 jax.dtypes.prng_key):
            impl = jax.random.key_impl(leaf)
            return [jax.random.wrap_key_data(words, impl=impl)
                    for words in entries(jax.random.key_data(leaf))]
        host = np.asarray(leaf)
        return jax.device_put([host[c] for c in range(count)])  # one call: faster than each

    columns = [entries(leaf) for leaf in leaves]
    return [jax.tree.unflatten(structure, [column[c] for column in columns])
            for c in range(count)]
