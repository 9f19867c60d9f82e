"""Combinators: a residual connection around a block, and branches whose outputs are merged.

Both are containers, like [`Sequential`][jaxnet.layers.sequential.Sequential], and name, key,
initialise and apply the layers inside by the same rule (``jaxnet.layers.containers``): their
kind and a per-kind count, or their own ``name``; their parameters sit under those names, each
one's key is the container's key folded with its name, and errors inside them start with their
name. Several inputs and several outputs are pytrees (tuples or dicts) of arrays.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import jax.numpy as jnp

from jaxnet.core import Layer, ShapeError, is_one_array, output_shape, shape_of, shape_text
from jaxnet.layers.containers import (
    apply_layer,
    as_layer,
    check_known_entries,
    check_lengths_read,
    check_names,
    init_layer,
    layer_names,
)
from jaxnet.layers.sequential import Sequential

MERGES = (None, "concat", "sum")


@dataclasses.dataclass(frozen=True)
class Residual(Layer):
    """A skip connection: ``y = x + block(x)``, or ``projection(x) + block(x)``.

    Args:
        block: the layers of the residual branch: a list of layers (or functions ``x -> y``),
            one layer, or a Sequential. It is held as a Sequential.
        projection: an optional layer on the skip path (e.g. ``jn.Dense(width)``), for blocks
            whose output shape differs from their input's; without it the shapes must agree.
        name: overrides the automatic name inside a Sequential.

    Input ``x`` of any shape the block takes; output the block's shape. Parameters and state
    are the block's own entries (``dense_0``...), named as in a Sequential, and the projection's
    under ``"projection"``; the block's layers get this layer's key folded with their names as
    in a Sequential, the projection the key folded with ``"projection"``.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.Residual([jn.Dense(16), jn.relu, jn.Dense(8)], projection=jn.Dense(8))
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 4)))
        >>> sorted(params)
        ['dense_0', 'dense_1', 'projection']
        >>> layer.apply(params, state, jnp.ones((3, 4)))[0].shape
        (3, 8)
    """

    block: Sequential | Layer | Sequence[Layer | Callable] | Callable
    projection: Layer | Callable | None = None
    name: str | None = None

    def __post_init__(self):
        block = self.block
        if not isinstance(block, Sequential):
            block = Sequential(block if isinstance(block, (list, tuple)) else [block])
        object.__setattr__(self, "block", block)
        if self.projection is not None:
            object.__setattr__(self, "projection", as_layer(self.projection))
            if "projection" in block.names:
                raise ValueError(
                    "Residual names its projection 'projection'; rename the block's layer of "
                    "that name"
                )

    @property
    def reads_lengths(self) -> bool:
        return self.block.reads_lengths or (
            self.projection is not None and self.projection.reads_lengths
        )

    def init(self, key, x):
        x = shape_of(x)
        params, state = self.block.init(key, x)
        y = output_shape(self.block, params, state, x)
        if self.projection is None:
            skip = x
        else:
            p, s, skip = init_layer("projection", self.projection, key, x)
            params, state = _with(params, "projection", p), _with(state, "projection", s)
        _check_same_shape(y, skip, self.projection)
        return params, state

    def apply(self, params, state, x, *, key=None, train=False, lengths=None):
        check_lengths_read(self, lengths)
        own, own_state = params, state
        if self.projection is not None:
            own = {k: v for k, v in params.items() if k != "projection"}
            own_state = {k: v for k, v in state.items() if k != "projection"}
        y, new_state = self.block.apply(own, own_state, x, key=key, train=train,
                                        lengths=lengths if self.block.reads_lengths else None)
        if self.projection is None:
            skip = x
        else:
            skip, s = apply_layer("projection", self.projection, params, state, x, key=key,
                                  train=train, lengths=lengths)
            new_state = _with(new_state, "projection", s)
        _check_same_shape(y, skip, self.projection)
        return skip + y, new_state


def _is_named(branches: Sequence) -> bool:
    return all(isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], str) for b in branches)


def _with(tree: dict, name: str, entry: dict) -> dict:
    return {**tree, name: entry} if entry else tree


def _check_same_shape(y, skip, projection) -> None:
    if jnp.shape(y) != jnp.shape(skip):
        path = "input" if projection is None else "projection's output"
        hint = (" (give a projection, e.g. projection=jn.Dense(width), to change the width)"
                if projection is None else "")
        raise ShapeError(
            f"the block's output has shape {shape_text(y)} but the {path} has shape "
            f"{shape_text(skip)}; they must agree to be added{hint}"
        )


@dataclasses.dataclass(frozen=True)
class Parallel(Layer):
    """Branches applied side by side, their outputs kept apart or merged.

    Every branch reads the same input, or with ``split=True`` its own part of the input: then
    ``x`` is a tuple (or list) of one input per branch, or a dict with the branches' names as
    keys. The outputs are a tuple (a dict, for branches given as a dict), or merged into one
    array: ``"concat"`` joins them on the last axis (Keras's ``Concatenate``), ``"sum"`` adds
    them (Keras's ``Add``; their shapes must agree).

    Args:
        branches: a list of layers (or functions ``x -> y``), named as in a Sequential
            (``dense_0``, ``dense_1``...), or a dict of them, named by its keys (held as a
            tuple of ``(name, layer)`` pairs, which may also be given).
        merge: ``None`` (several outputs), ``"concat"`` or ``"sum"``.
        split: each branch reads its own input instead of the same one.
        name: overrides the automatic name inside a Sequential.

    Parameters and state: each branch's entries under its name. Each branch's key is this
    layer's key folded with its name.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.Parallel([jn.Dense(3), jn.Dense(5)], merge="concat")
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 4)))
        >>> sorted(params), layer.apply(params, state, jnp.ones((2, 4)))[0].shape
        (['dense_0', 'dense_1'], (2, 8))
        >>> two_inputs = jn.Parallel({"image": jn.Flatten(), "meta": jn.Dense(2)}, split=True)
        >>> x = {"image": jnp.zeros((1, 3, 3)), "meta": jnp.zeros((1, 4))}
        >>> params, state = two_inputs.init(jax.random.key(0), x)
        >>> y, _ = two_inputs.apply(params, state, x)
        >>> {name: out.shape for name, out in y.items()}
        {'image': (1, 9), 'meta': (1, 2)}
    """

    branches: Sequence[Layer | Callable] | Mapping[str, Layer | Callable]
    merge: str | None = None
    split: bool = False
    name: str | None = None

    multi_input: ClassVar[bool] = True

    def __post_init__(self):
        branches = self.branches
        if isinstance(branches, Mapping):
            if not all(isinstance(name, str) for name in branches):
                raise TypeError(f"Parallel branch names must be strings, got {list(branches)}")
            branches = tuple(branches.items())  # hashable, in the dict's order
        elif isinstance(branches, (Layer, str)) or not isinstance(branches, Sequence):
            raise TypeError(
                f"Parallel takes a list or dict of branches, got {branches!r}; write "
                "Parallel([layer, ...])"
            )
        if not branches:
            raise ValueError("Parallel needs at least one branch")
        if _is_named(branches):
            branches = tuple((name, as_layer(layer)) for name, layer in branches)
        else:
            branches = tuple(as_layer(layer) for layer in branches)
        object.__setattr__(self, "branches", branches)
        check_names(self.names, "Parallel")
        if self.merge not in MERGES:
            raise ValueError(f"Parallel merge must be one of {MERGES}, got {self.merge!r}")
        if not isinstance(self.split, bool):
            raise TypeError(f"Parallel split must be True or False, got {self.split!r}")

    @property
    def named(self) -> bool:
        """Whether the branches were given as a dict (held as ``(name, layer)`` pairs)."""
        return _is_named(self.branches)

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The branches' layers, in order."""
        return tuple(b[1] for b in self.branches) if self.named else self.branches

    @property
    def names(self) -> tuple[str, ...]:
        """Each branch's name: the dict's keys, else as in a Sequential."""
        return tuple(b[0] for b in self.branches) if self.named else layer_names(self.branches)

    @property
    def reads_lengths(self) -> bool:
        return any(layer.reads_lengths for layer in self.layers)

    def init(self, key, x):
        params, state, outputs = {}, {}, []
        for name, branch, part in zip(self.names, self.layers, self._inputs(shape_of(x))):
            p, s, y = init_layer(name, branch, key, part)
            params, state = _with(params, name, p), _with(state, name, s)
            outputs.append(y)
        self._check_mergeable(outputs)
        return params, state

    def apply(self, params, state, x, *, key=None, train=False, lengths=None):
        check_known_entries(params, self.names, "params", "Parallel")
        check_known_entries(state, self.names, "state", "Parallel")
        check_lengths_read(self, lengths)
        new_state, outputs = {}, []
        for name, branch, part in zip(self.names, self.layers, self._inputs(x)):
            y, s = apply_layer(name, branch, params, state, part, key=key, train=train,
                               lengths=lengths)
            new_state = _with(new_state, name, s)
            outputs.append(y)
        return self._merged(outputs), new_state

    def _inputs(self, x: Any) -> list:
        """Each branch's input: ``x`` itself, or with ``split`` its part of ``x``."""
        count = len(self.branches)
        if not self.split:
            return [x] * count
        if self.named:
            if not isinstance(x, Mapping) or set(x) != set(self.names):
                got = sorted(x) if isinstance(x, Mapping) else shape_text(x)
                raise ShapeError(
                    f"split branches {list(self.names)} expect a dict of inputs with those "
                    f"keys, got {got}"
                )
            return [x[name] for name in self.names]
        if not isinstance(x, (tuple, list)) or len(x) != count:
            raise ShapeError(
                f"split branches expect a tuple of {count} inputs, one per branch, got "
                f"{shape_text(x)}"
            )
        return list(x)

    def _merged(self, outputs: list) -> Any:
        if self.merge is None:
            return dict(zip(self.names, outputs)) if self.named else tuple(outputs)
        self._check_mergeable(outputs)
        if self.merge == "sum":
            return functools.reduce(operator.add, outputs)
        return jnp.concatenate(outputs, axis=-1)

    def _check_mergeable(self, outputs: list) -> None:
        if self.merge is None:
            return
        described = ", ".join(f"{n}: {shape_text(y)}" for n, y in zip(self.names, outputs))
        if not all(is_one_array(y) for y in outputs):
            raise ShapeError(
                f"merge={self.merge!r} takes one array from each branch, got {described}"
            )
        shapes = [tuple(jnp.shape(y)) for y in outputs]
        if self.merge == "sum":
            fits, rule = all(s == shapes[0] for s in shapes), "the same shape"
        else:
            fits = all(len(s) >= 1 and s[:-1] == shapes[0][:-1] for s in shapes)
            rule = "the same shape but for the last axis"
        if not fits:
            raise ShapeError(
                f"merge={self.merge!r} needs branch outputs of {rule}, got {described}"
            )
