"""A pytree's leaves as a checkpoint stores them: a manifest entry per leaf (path, shape, dtype,
PRNG implementation, sha256) and the arrays Orbax writes (typed PRNG keys as their
``key_data``), and back; and the checks that keep metadata JSON."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jax
import numpy as np


def leaf_path(keys) -> str:
    """A leaf's path in its pytree, as ``params/dense/w``."""
    return jax.tree_util.keystr(keys, simple=True, separator="/")


def _is_key(dtype) -> bool:
    return jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def shape_dtype(leaf: Any, what: str) -> tuple[tuple[int, ...], Any]:
    """A leaf's shape and dtype; a ``TypeError`` naming ``what`` for a leaf no checkpoint
    holds."""
    if isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)):
        return tuple(leaf.shape), leaf.dtype
    if isinstance(leaf, (np.ndarray, np.generic, bool, int, float)):
        array = np.asarray(leaf)
        return array.shape, array.dtype
    raise TypeError(
        f"{what} is a {type(leaf).__name__}; a checkpoint holds JAX or NumPy arrays, NumPy "
        "scalars and Python bools, ints and floats"
    )


def encode(tree: Any) -> tuple[list[dict], dict[str, Any]]:
    """The manifest entries and the arrays Orbax writes (keys as their ``key_data``)."""
    entries, arrays, names = [], {}, set()
    for index, (keys, leaf) in enumerate(jax.tree.leaves_with_path(tree)):
        name = leaf_path(keys)
        shape, dtype = shape_dtype(leaf, f"leaf {name}")
        if name in names:
            raise ValueError(f"two leaves of the tree have the path {name}")
        names.add(name)
        if not isinstance(leaf, jax.Array):
            leaf = np.asarray(leaf)
        key_impl = None
        if _is_key(dtype):
            key_impl = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        entries.append({"path": name, "shape": list(shape), "dtype": str(dtype),
                        "key_impl": key_impl, "sha256": digest(leaf)})
        arrays[str(index)] = leaf
    return entries, arrays


def digest(array: Any) -> str | None:
    """The sha256 of an array's bytes in C order; ``None`` for an array spread over several
    processes, whose bytes no one process holds (so multi-host leaves are not verified)."""
    if isinstance(array, jax.Array) and not array.is_fully_addressable:
        return None
    host = np.ascontiguousarray(np.asarray(array))
    return hashlib.sha256(host.reshape(-1).view(np.uint8)).hexdigest()


def json_digest(value: Any) -> str:
    """The sha256 of a JSON value (its keys sorted)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def check_json(value: Any, where: str) -> None:
    """Refuses what JSON would not give back unchanged (tuples, NumPy numbers, int keys...)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r}: JSON keys must be strings")
            check_json(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_json(item, f"{where}[{i}]")
    elif not (value is None or type(value) in (str, bool, int, float)):
        raise TypeError(
            f"{where} is a {type(value).__name__}, not a JSON value (dict with string keys, "
            "list, str, int, float, bool or None); convert it first, e.g. float(x) or x.tolist()"
        )


def restore_target(leaf: Any) -> Any:
    """What Orbax restores a leaf as: NumPy for host leaves, else a JAX array placed as
    ``leaf`` is (a key as its ``key_data``, with one more, unsharded, axis)."""
    if not isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)):
        shape, dtype = shape_dtype(leaf, "leaf")
        return np.zeros(shape, dtype)
    sharding = getattr(leaf, "sharding", None)
    if sharding is None:
        sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.ShapeDtypeStruct(leaf.shape, leaf.dtype)
    if _is_key(leaf.dtype):
        abstract = jax.eval_shape(jax.random.key_data, abstract)
        if isinstance(sharding, jax.sharding.NamedSharding):
            spec = tuple(sharding.spec) + (None,) * (abstract.ndim - len(sharding.spec))
            sharding = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec(*spec))
    return jax.ShapeDtypeStruct(abstract.shape, abstract.dtype, sharding=sharding)


def decode(value: Any, like: Any, entry: dict) -> Any:
    """A restored array as the leaf ``like`` asks for: a typed key (as ``entry`` records), a
    Python number, a NumPy scalar or the array itself."""
    if entry["key_impl"] is not None:
        return jax.random.wrap_key_data(value, impl=entry["key_impl"])
    if isinstance(like, (bool, int, float)):
        return type(like)(value.item())
    if isinstance(like, np.generic):
        return value[()]
    return value
