"""Hyperparameters as pytree leaves: jaxnet's layers, losses, penalties and objectives flatten to
their numbers.

A layer's rate, a penalty's strength, the scalar of ``0.1 * jn.losses.mae``: every float in a
jaxnet object is a leaf of its pytree, and everything else (sizes, names, functions) is its
structure. So ``jax.jit`` takes the numbers as arguments (one compilation serves every value)
and ``jax.vmap`` over stacked numbers is a sweep.

A function in the structure (a user's loss, an activation) is kept as it is, ``Opaque``:
equal to another when it is the same function and the module globals its code reads hold the
same values. A notebook that changes ``W = 1.0`` after a loss reading ``W`` was compiled
therefore gets a new structure, and a new compilation, as plain ``jax.jit`` of a new function
would. A float wrapped in ``Constant`` is kept in the structure too (a number its code uses
in Python, which cannot be traced).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np


def is_hyperparameter(value: Any) -> bool:
    """A float that belongs in the leaves: a Python or NumPy float, or a scalar float array
    (traced ones included); never a bool or an integer, which may size arrays."""
    if isinstance(value, (bool, int, np.integer)):
        return False
    if isinstance(value, (float, np.floating)):
        return True
    return (isinstance(value, (jax.Array, np.ndarray)) and np.shape(value) == ()
            and np.issubdtype(value.dtype, np.floating))


@dataclasses.dataclass(frozen=True)
class Constant:
    """A float kept in the structure, compiled in as a constant."""

    value: Any

    def __eq__(self, other):
        return isinstance(other, Constant) and _same_number(self.value, other.value)

    def __hash__(self):
        return hash(float(self.value))


def _same_number(a: Any, b: Any) -> bool:
    return float(a) == float(b) and np.result_type(a) == np.result_type(b)


class Opaque:
    """A callable in a pytree's structure: equal to another when it is the same callable (or
    an equal one) reading the same values of its module's globals."""

    __slots__ = ("fn", "reads")

    def __init__(self, fn: Any):
        self.fn = fn
        self.reads = globals_read(fn) if _users(fn) else ()

    def __eq__(self, other):
        if not isinstance(other, Opaque):
            return False
        same = self.fn is other.fn or (_hashable(self.fn) and self.fn == other.fn)
        return same and self.reads == other.reads

    def __hash__(self):
        return hash(self.fn) if _hashable(self.fn) else id(self.fn)

    def __repr__(self):
        return f"Opaque({self.fn!r})"


class Cosmetic:
    """An attribute that describes an object without changing what it computes (a display
    name): equal to any other, so ``l2(1e-3)`` and ``l2(1e-2)`` share one structure."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Cosmetic)

    def __hash__(self):
        return 0


# Libraries whose functions read no global a user changes: their snapshots are skipped.
_LIBRARIES = frozenset({"jaxnet", "jax", "jaxlib", "optax", "numpy", "flax", "chex"})


def _users(fn: Any) -> bool:
    """Whether ``fn`` is a Python function of the user's (not of a library's)."""
    return (isinstance(fn, types.FunctionType)
            and (fn.__module__ or "").partition(".")[0] not in _LIBRARIES)


def globals_read(fn: types.FunctionType, active: frozenset = frozenset()) -> tuple:
    """``(name, value)`` for each module global that ``fn``'s code (nested code included)
    reads: numbers and strings by value, functions of the same module by the globals they read
    in turn, anything else but modules and classes by identity."""
    namespace = fn.__globals__
    snapshot = []
    for name in sorted(_names_read(fn.__code__)):
        if name not in namespace:
            continue
        value = namespace[name]
        if isinstance(value, (int, float, complex, str, bytes, type(None))):
            snapshot.append((name, type(value), value))
        elif (_users(value) and value.__globals__ is namespace and value not in active):
            snapshot.append((name, _Same(value), globals_read(value, active | {fn})))
        elif not isinstance(value, (types.ModuleType, type)):
            snapshot.append((name, _Same(value)))
    return tuple(snapshot)


def _names_read(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_read(const)
    return names


class _Same:
    """An object compared by identity (hashable or not)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __eq__(self, other):
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)


def _hashable(obj: Any) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True


def is_node(value: Any) -> bool:
    """Whether ``value`` is flattened as a child: a jaxnet pytree, or a tuple, list or dict
    holding only such objects (a Sequential's layers)."""
    if type(value) in _REGISTERED:
        return True
    if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
        return bool(value) and all(is_node(v) for v in value)
    if type(value) is dict:
        return bool(value) and all(is_node(v) for v in value.values())
    return False


_REGISTERED: set[type] = set()


def _static(value: Any) -> Any:
    if isinstance(value, (Constant, Cosmetic)):
        return value
    if callable(value) and not isinstance(value, type):
        return Opaque(value)
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, (Opaque, Cosmetic)):
        return value.fn if isinstance(value, Opaque) else value.value
    return value.value if isinstance(value, Constant) else value


def register(cls: type, fields: Callable[[Any], Sequence[str]],
             cosmetic: Sequence[str] = ()) -> type:
    """Registers ``cls`` as a pytree whose attributes ``fields(obj)`` flatten to their
    hyperparameters and jaxnet objects (the children), the rest staying in the structure;
    ``cosmetic`` attributes are left out of the structure's equality."""

    def flatten(obj):
        children, static = [], []
        for name in fields(obj):
            value = getattr(obj, name)
            if name in cosmetic:
                static.append((name, Cosmetic(value)))
            elif is_hyperparameter(value) or is_node(value):
                children.append((jax.tree_util.GetAttrKey(name), value))
            else:
                static.append((name, _static(value)))
        names = tuple(key.name for key, _ in children)
        return children, (names, tuple(static))

    def unflatten(aux, children):
        names, static = aux
        obj = object.__new__(cls)
        for name, value in zip(names, children):
            object.__setattr__(obj, name, value)
        for name, value in static:
            object.__setattr__(obj, name, _unwrap(value))
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten, unflatten)
    _REGISTERED.add(cls)
    return cls


def dataclass_fields(obj: Any) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(obj))


def with_constant(tree: Any, path: tuple) -> Any:
    """``tree`` with the hyperparameter at ``path`` (a key path of ``jax.tree``) kept in the
    structure as a ``Constant``."""
    def replace(key_path, leaf):
        return Constant(leaf) if key_path == path else leaf

    return jax.tree_util.tree_map_with_path(replace, tree)
