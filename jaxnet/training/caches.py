"""Every cache of the training engine, in one place: bounded, and emptied by ``jn.clear_caches()``.

Two kinds. A ``Cache`` remembers what was computed for a hashable key (a model's structure
and shapes). An ``IdentityCache`` remembers what was computed for an object that does not
change (a key array, an objective), found by identity; it holds the object weakly where Python
allows, so an entry dies with its object and an id is never matched to a newer object, and it
never keeps a user's array alive after a call. The compiled programs are ``jax.jit`` functions,
registered here so that ``clear_caches`` empties their caches too.
"""

from __future__ import annotations

import collections
import weakref
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

_ALL: list[Any] = []


class Cache:
    """The last ``size`` values computed, by hashable key (least recently used dropped)."""

    def __init__(self, size: int = 64):
        self.size = size
        self.entries: collections.OrderedDict = collections.OrderedDict()
        _ALL.append(self)

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        value = compute()
        self.entries[key] = value
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self.entries.clear()


class IdentityCache:
    """What was computed for each of the last ``size`` objects, found by identity."""

    def __init__(self, size: int = 64):
        self.size = size
        self.entries: collections.OrderedDict = collections.OrderedDict()
        _ALL.append(self)

    def get(self, obj: Any, compute: Callable[[Any], Any]) -> Any:
        """``compute(obj)``, or what it gave the last time for this very object."""
        entry = self.entries.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1]
        value = compute(obj)
        self.put(obj, value)
        return value

    def put(self, obj: Any, value: Any) -> None:
        key = id(obj)
        try:
            ref = weakref.ref(obj, lambda _, key=key: self._drop(key))
        except TypeError:  # tuples, NamedTuples (optax's transformations): held, bounded
            ref = _Strong(obj)
        self.entries[key] = (ref, value)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def _drop(self, key: int) -> None:
        entry = self.entries.get(key)
        if entry is not None and entry[0]() is None:
            del self.entries[key]

    def clear(self) -> None:
        self.entries.clear()


class _Strong:
    """A reference that holds its object (for objects that take no weak reference)."""

    def __init__(self, obj: Any):
        self.obj = obj

    def __call__(self) -> Any:
        return self.obj


def compiled(fn: Any) -> Any:
    """Registers a ``jax.jit`` function, so that ``clear_caches`` empties its cache."""
    _ALL.append(fn)
    return fn


def clear_caches() -> None:
    """Empties every cache of jaxnet's training engine: remembered checks, key words, model
    structures and the compiled programs (the next call compiles again).

    Example:
        >>> import jaxnet as jn
        >>> jn.clear_caches()
    """
    for cache in _ALL:
        (cache.clear_cache if hasattr(cache, "clear_cache") else cache.clear)()


def signature(tree: Any) -> tuple:
    """The structure, shapes and dtypes of ``tree`` (Python numbers by their type), hashable."""
    leaves, structure = jax.tree.flatten(tree)
    return structure, tuple((np.shape(leaf), getattr(leaf, "dtype", None) or type(leaf))
                            for leaf in leaves)


# Each key's words, read to the host once (key_seed).
KEY_WORDS = IdentityCache()
# Optimizers with the computation their update traces to, per parameter shapes
# (hyperparams.optimizer_in_structure), and the last computation seen of each kind.
OPTIMIZERS = IdentityCache()
OPTIMIZER_KINDS = Cache()
OPTIMIZER_SEEN = Cache()
# Recipes whose numbers were found to trace (hyperparams.traceable).
TRACEABLE = Cache()
# Whether a model convolves, by model and shapes (epoch.runs_on_host).
CONVOLVES = Cache()
# Data found valid, by the ids of the data's arrays (held weakly, to tell a reused id) and the
# model's shapes (checks.check_data).
CHECKED_DATA = Cache(size=32)
# Optimizer states found to belong to their optimizer (checks.check_opt_state).
OPT_STATES = Cache(size=32)
