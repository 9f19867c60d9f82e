"""Hyperparameters as arguments: an objective or optimizer split into its structure and its numbers.

``optax.adam(1e-3)`` and ``optax.adam(1e-2)`` are two closures with the same code and different
numbers; ``jn.regularizers.l2(1e-4)`` and ``l2(1e-3)`` likewise, and ``Dropout(0.2)`` and
``Dropout(0.5)`` are two descriptions with the same fields. :func:`split` walks such an object
(functions and their closures, ``functools.partial``, dataclasses, tuples, lists and dicts) and
replaces every float by a numbered slot, giving a hashable *skeleton* and the list of floats.
:func:`merge` builds the object again from a skeleton and values, which may be traced: inside
``jax.jit`` the floats become arguments, so one compilation serves every value of them, and under
``jax.vmap`` a stacked list of values is a sweep.

A dataclass may list attributes that only name or describe it in a class attribute
``__cosmetic__`` (``Composable`` lists its display name): they are left out of the structure.
Integers, booleans, strings and other objects stay part of the structure (they may size arrays
or steer Python code); lists (which code may append to) and objects this module does not know are
kept as they are and compared by identity. A float that the code uses in Python control flow
cannot be traced: the caller then falls back to the object with its numbers as constants (see
:class:`Program`).
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import types
from typing import Any

import jax
import numpy as np

from jaxnet.training import caches


class _Slot(int):
    """The position of a float in the values list."""


@dataclasses.dataclass(frozen=True, eq=False)
class _Same:
    """An object kept as it is, equal only to itself (hashable or not)."""

    obj: Any

    def __eq__(self, other):
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)


@dataclasses.dataclass(frozen=True, eq=False)
class _Free:
    """An attribute that does not change what the code computes (a display name, a docstring):
    equal to any other, so that ``l2(1e-3)`` and ``l2(1e-2)``, named after their strengths,
    share one structure. A merge gives back the value of the object that was split first."""

    obj: Any

    def __eq__(self, other):
        return isinstance(other, _Free)

    def __hash__(self):
        return 0


class Skeleton:
    """The structure of an object with its floats taken out; hashable, with the hash cached
    (``jax.jit`` hashes its static arguments at every call)."""

    def __init__(self, node: Any):
        self.node = node
        self._hash = hash(node)

    def __eq__(self, other):
        return self is other or (isinstance(other, Skeleton) and self._hash == other._hash
                                 and self.node == other.node)

    def __hash__(self):
        return self._hash


_LITERALS = (int, bool, str, bytes, type(None), type, types.CodeType, np.dtype,
             types.BuiltinFunctionType, types.ModuleType, jax.sharding.Mesh,
             jax.sharding.Sharding)


def split(obj: Any) -> tuple[Skeleton, list[float]]:
    """The skeleton of ``obj`` and its floats, in the order of the slots.

    Example:
        >>> import optax
        >>> a, values_a = split(optax.adam(1e-3))
        >>> b, values_b = split(optax.adam(1e-2))
        >>> a == b, -1e-3 in values_a, -1e-2 in values_b  # optax scales by -rate
        (True, True, True)
    """
    skeleton, values, read = caches.SPLITS.get(obj, _split_object)
    if any(_globals_read(fn) != snapshot for fn, snapshot in read):
        skeleton, values, read = _split_object(obj)  # a global it reads has changed since
        caches.SPLITS.put(obj, (skeleton, values, read))
    return skeleton, list(values)


def _split_object(obj: Any) -> tuple[Skeleton, tuple, tuple]:
    values: list[float] = []
    read: list = []
    skeleton = Skeleton(_split(obj, values, set(), read))
    return skeleton, tuple(values), tuple(read)


@dataclasses.dataclass(frozen=True)
class _Globals:
    """The module globals a function reads, with the values they hold when it is split: a
    function reading a global that has since changed (``W = 1.0`` in a notebook) has another
    structure, so no compiled program traced with the old value is reused for it."""

    namespace: _Same
    values: tuple


def _globals_read(fn: types.FunctionType, active: frozenset = frozenset()) -> tuple:
    """``(name, value)`` for each global that ``fn``'s code (nested code included) reads:
    numbers and strings by value, functions of the same module by the globals they read in
    turn, anything else by identity."""
    namespace = fn.__globals__
    snapshot = []
    for name in sorted(_names_read(fn.__code__)):
        if name not in namespace:
            continue
        value = namespace[name]
        if isinstance(value, (int, float, complex, str, bytes, type(None))):
            snapshot.append((name, type(value), value))
        elif (isinstance(value, types.FunctionType) and value.__globals__ is namespace
              and value not in active):
            snapshot.append((name, _Same(value), _globals_read(value, active | {fn})))
        elif not isinstance(value, (types.ModuleType, type)):
            snapshot.append((name, _Same(value)))
    return tuple(snapshot)


def _names_read(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_read(const)
    return names


def merge(skeleton: Skeleton, values: Any) -> Any:
    """The object of ``skeleton`` with ``values`` (floats, or traced arrays) in its slots."""
    return _merge(skeleton.node, values)


def _is_float(obj: Any) -> bool:
    if isinstance(obj, bool):
        return False
    if isinstance(obj, (float, np.floating)):
        return True
    return (isinstance(obj, (np.ndarray, jax.Array)) and obj.shape == ()
            and np.issubdtype(obj.dtype, np.floating)
            and not isinstance(obj, jax.core.Tracer))


def _split(obj: Any, values: list, active: set, read: list) -> Any:
    if _is_float(obj):
        values.append(obj)
        return ("slot", _Slot(len(values) - 1))
    if isinstance(obj, _LITERALS) or isinstance(obj, numbers.Integral):
        return ("literal", obj if _hashable(obj) else _Same(obj))
    if id(obj) in active:  # a cycle (a closure that refers to itself): keep the object
        return ("same", _Same(obj))
    active.add(id(obj))
    try:
        return _split_container(obj, values, active, read)
    finally:
        active.discard(id(obj))


def _split_container(obj: Any, values: list, active: set, read: list) -> Any:
    # Lists are kept as they are (by identity): code appends to the lists it closed over, and a
    # copy made when merging would take those changes away from the caller. Dicts of settings
    # (``optax.inject_hyperparams`` keeps its numbers in one) are read, so they are walked.
    if type(obj) is tuple:
        return (tuple, tuple(_split(item, values, active, read) for item in obj))
    if type(obj) is dict and all(_hashable(key) for key in obj):
        return (dict, _split_items(obj, values, active, read))
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a NamedTuple
        return ("namedtuple", type(obj), tuple(_split(item, values, active, read) for item in obj))
    if type(obj) is functools.partial:
        return ("partial", _split(obj.func, values, active, read),
                _split(obj.args, values, active, read),
                _split(obj.keywords, values, active, read))
    if isinstance(obj, types.FunctionType) and (obj.__closure__ or "<locals>" in obj.__qualname__):
        return _split_function(obj, values, active, read)
    if (dataclasses.is_dataclass(obj) and not isinstance(obj, type)
            and hasattr(obj, "__dict__") and not hasattr(type(obj), "__slots__")):
        cosmetic = getattr(type(obj), "__cosmetic__", ())
        attributes = tuple((name, ("free", _Free(item)) if name in cosmetic
                            else _split(item, values, active, read))
                           for name, item in vars(obj).items())
        return ("dataclass", type(obj), attributes)
    if isinstance(obj, types.FunctionType):  # a module's function: kept, with what it reads
        snapshot = _globals_read(obj)
        read.append((obj, snapshot))
        return ("same", _Same(obj), snapshot)
    return ("same", _Same(obj))


def _split_function(fn: types.FunctionType, values: list, active: set, read: list) -> Any:
    cells = tuple(_split_cell(cell, values, active, read) for cell in fn.__closure__ or ())
    snapshot = _globals_read(fn)
    read.append((fn, snapshot))
    return ("function", fn.__code__, _Globals(_Same(fn.__globals__), snapshot), fn.__name__,
            _split(fn.__defaults__, values, active, read),
            _split_items(fn.__kwdefaults__, values, active, read),
            _split_items(fn.__dict__, values, active, read), cells)


def _split_items(mapping: dict | None, values: list, active: set, read: list) -> Any:
    """A function's own dict (its attributes, its keyword defaults), which it does not share."""
    if mapping is None:
        return None
    return tuple((key, _split(item, values, active, read)) for key, item in mapping.items())


def _split_cell(cell: types.CellType, values: list, active: set, read: list) -> Any:
    try:
        contents = cell.cell_contents
    except ValueError:  # a variable the function never assigned: an empty cell
        return ("empty",)
    return _split(contents, values, active, read)


def _hashable(obj: Any) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True


def _merge(node: Any, values: Any) -> Any:
    kind = node[0]
    if kind == "slot":
        return values[node[1]]
    if kind == "literal":
        return node[1].obj if isinstance(node[1], _Same) else node[1]
    if kind in ("same", "free"):
        return node[1].obj
    if kind is tuple:
        return tuple(_merge(item, values) for item in node[1])
    if kind is dict:
        return _merge_items(node[1], values)
    if kind == "namedtuple":
        return node[1](*(_merge(item, values) for item in node[2]))
    if kind == "partial":
        return functools.partial(_merge(node[1], values), *_merge(node[2], values),
                                 **_merge(node[3], values))
    if kind == "function":
        return _merge_function(node, values)
    if kind == "dataclass":
        obj = object.__new__(node[1])
        for name, item in node[2]:
            object.__setattr__(obj, name, _merge(item, values))
        return obj
    raise AssertionError(f"unknown skeleton node {kind!r}")


def _merge_function(node: Any, values: Any) -> types.FunctionType:
    _, code, globals_, name, defaults, kwdefaults, attributes, cells = node
    closure = tuple(types.CellType() if cell == ("empty",) else types.CellType(_merge(cell, values))
                    for cell in cells) or None
    fn = types.FunctionType(code, globals_.namespace.obj, name, _merge(defaults, values), closure)
    fn.__kwdefaults__ = _merge_items(kwdefaults, values)
    fn.__dict__.update(_merge_items(attributes, values) or {})
    return fn


def _merge_items(items: Any, values: Any) -> dict | None:
    return None if items is None else {key: _merge(item, values) for key, item in items}


Structure = tuple  # the skeletons of the objects a program is built from


def hyperparameters(*objects: Any) -> tuple[Structure, tuple[tuple[float, ...], ...]]:
    """The structure of ``objects`` (hashable: a static argument of ``jax.jit``) and their
    numbers, one tuple per object."""
    pieces = [split(obj) for obj in objects]
    return tuple(skeleton for skeleton, _ in pieces), tuple(tuple(v) for _, v in pieces)


def build(structure: Structure, values: Any) -> tuple:
    """The objects of ``structure`` with ``values`` (floats, or traced arrays) in their slots."""
    return tuple(merge(skeleton, part) for skeleton, part in zip(structure, values))


def as_arguments(values: Any) -> tuple:
    """One configuration's numbers as ``jit`` arguments: Python floats stay weakly typed, like
    the constants they replace, so they never promote a float16 or bfloat16 computation."""
    return tuple(tuple(float(v) if isinstance(v, (float, np.floating)) else v for v in part)
                 for part in values)


def stacked(configurations: list) -> tuple:
    """The numbers of several configurations of one structure, each slot stacked along a
    leading configuration axis (float32 arrays on the host)."""
    return tuple(tuple(np.array([config[part][k] for config in configurations], np.float32)
                       for k in range(len(configurations[0][part])))
                 for part in range(len(configurations[0])))
