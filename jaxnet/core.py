"""The layer contract, Sequential, parameter naming, shape inference and summary.

A layer is an immutable description (a frozen dataclass holding hyperparameters only) with two pure
functions:

* ``init(key, x) -> (params, state)`` builds the parameter and state pytrees from an example input
  ``x`` (an array or a ``jax.ShapeDtypeStruct``; only its shape and dtype are read);
* ``apply(params, state, x, *, key=None, train=False) -> (y, state)`` maps inputs to outputs and the
  new state, mutating nothing.

Any plain function ``x -> y`` (``jax.nn.relu``, a lambda) is a valid layer inside
:class:`Sequential`.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

PyTree = Any
Params = dict[str, Any]
State = dict[str, Any]


class LayerError(ValueError):
    """A layer was called with inputs it cannot take (wrong shape, missing key...)."""


class ShapeError(LayerError):
    """An input's shape does not fit the layer; the message names the layer and both shapes."""


@dataclasses.dataclass(frozen=True)
class Layer:
    """Base class of layer descriptions.

    Subclasses override :meth:`init` (when they hold parameters or state) and :meth:`apply`.
    ``name`` overrides the automatic name (``dense_0``, ``batchnorm_1``...) inside a Sequential.

    Every subclass must itself be a frozen dataclass (``@dataclasses.dataclass(frozen=True)``):
    a model is a static argument of ``jax.jit`` and the key of compile caches, so two layers
    must compare equal only when their hyperparameters are equal. An undecorated subclass would
    inherit the base's empty field list and every instance would equal every other, so it is a
    TypeError at instantiation.
    """

    def __new__(cls, *args, **kwargs):
        del args, kwargs
        own = vars(cls)
        if "__dataclass_fields__" not in own or "__eq__" not in own:
            raise TypeError(
                f"{cls.__name__} must be decorated with @dataclasses.dataclass(frozen=True) (with "
                "eq left on): layers compare and hash by their fields, and without the decorator "
                f"every {cls.__name__} would equal every other, whatever its hyperparameters"
            )
        return super().__new__(cls)

    @property
    def kind(self) -> str:
        """The lower-case kind that automatic names count by, e.g. ``"dense"``."""
        return type(self).__name__.lower()

    def init(self, key: jax.Array, x: Any) -> tuple[Params, State]:
        del key, x
        return {}, {}

    def apply(
        self,
        params: Params,
        state: State,
        x: jax.Array,
        *,
        key: jax.Array | None = None,
        train: bool = False,
    ) -> tuple[jax.Array, State]:
        raise NotImplementedError


def as_layer(layer: Layer | Callable[[jax.Array], jax.Array]) -> Layer:
    """Returns ``layer`` itself, or a plain function wrapped as an activation layer."""
    if isinstance(layer, Layer):
        return layer
    if isinstance(layer, type):
        raise TypeError(
            f"a layer must be a jaxnet Layer or a function x -> y, got the class "
            f"{layer.__name__} itself; create an instance, e.g. {layer.__name__}(...)"
        )
    if callable(layer):
        from jaxnet.layers.activation import Activation

        return Activation(layer)
    raise TypeError(f"a layer must be a jaxnet Layer or a function x -> y, got {layer!r}")


def shape_of(x: Any) -> jax.ShapeDtypeStruct:
    """The abstract value (shape and dtype) of an array, a ShapeDtypeStruct or a NumPy array."""
    return jax.ShapeDtypeStruct(np.shape(x), x.dtype if hasattr(x, "dtype") else np.float32)


def output_shape(
    layer: Layer, params: Params, state: State, x: Any
) -> jax.ShapeDtypeStruct:
    """The output shape and dtype of ``layer`` in evaluation mode, computed without running it."""

    def forward(p, s, xs):
        return layer.apply(p, s, xs, train=False)[0]

    return jax.eval_shape(forward, params, state, shape_of(x))


def along_last_axis(v: jax.Array, ndim: int) -> jax.Array:
    """Reshapes a per-feature vector ``(features,)`` to ``(1, ..., 1, features)`` of rank ``ndim``.

    Broadcasting made explicit, so layers also work under ``jax_numpy_rank_promotion="raise"``.
    """
    return jax.numpy.reshape(v, (1,) * (ndim - 1) + v.shape)


def check_entries(
    tree: Mapping[str, Any],
    expected: Mapping[str, tuple[int | str, ...] | None],
    what: str = "params",
) -> dict[str, int]:
    """Checks that a layer's ``params`` (or ``state``) hold the entries it reads, of their shapes.

    Run inside ``apply`` on shapes only, so it costs nothing at run time under ``jax.jit``.

    Args:
        tree: the layer's own entries, e.g. ``{"w": ..., "b": ...}``.
        expected: each entry's shape: ints are fixed by the layer's hyperparameters, strings
            name a size that is free but must agree wherever the same name occurs (e.g.
            ``("in_features", 8)``); ``None`` checks only that the entry exists.
        what: ``"params"`` or ``"state"``, for the messages.

    Returns:
        The size each string stands for, e.g. ``{"in_features": 4}``.

    Raises:
        LayerError: an entry is missing (the tree was built by another model, or not at all).
        ShapeError: an entry's shape differs, naming both shapes.
    """
    missing = [key for key in expected if key not in tree]
    if missing:
        raise LayerError(
            f"{what} {_has(what)} no entry {missing[0]!r} (entries: {sorted(tree)}, expected: "
            f"{list(expected)}); were the {what} built by another model?"
        )
    sizes: dict[str, int] = {}
    for key, shape in expected.items():
        if shape is None:
            continue
        given = tuple(np.shape(tree[key]))
        known = dict(sizes)  # the sizes fixed by earlier entries, shown as numbers
        fits = len(given) == len(shape) and all(
            size == want if isinstance(want, int) else sizes.setdefault(want, size) == size
            for size, want in zip(given, shape, strict=True)
        )
        if not fits:
            dims = [str(known.get(d, d)) if isinstance(d, str) else str(d) for d in shape]
            wanted = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
            raise ShapeError(
                f"{what}[{key!r}] has shape {given}, but this layer expects {wanted}; were the "
                f"{what} built for a layer of other sizes?"
            )
    return sizes


def _has(what: str) -> str:
    return "have" if what == "params" else "has"


def _layer_label(name: str, layer: Layer) -> str:
    return f"{name} ({type(layer).__name__})"


def _name_key(key: jax.Array, name: str) -> jax.Array:
    """The key of the layer called ``name``: the parent's key folded with a hash of the name."""
    return jax.random.fold_in(key, zlib.crc32(name.encode()))


@dataclasses.dataclass(frozen=True)
class Sequential(Layer):
    """Layers applied one after the other.

    Parameters and state are dicts keyed by layer name. Names are counted per kind of layer
    (``dense_0``, ``dense_1``, ``batchnorm_0``...), so inserting an activation or a dropout renames
    nothing; layers without parameters or state have no entry. Each layer's key, in ``init`` and
    ``apply``, is the given key folded with a hash of its name, so inserting a layer changes no
    other layer's initial parameters or dropout masks either.

    Args:
        layers: a list of layers (``jn.Layer`` instances or functions ``x -> y``).
        name: overrides the automatic name inside an enclosing Sequential.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> model = jn.Sequential([jn.Dense(3), jn.relu, jn.Dense(2)])
        >>> params, state = model.init(jax.random.key(0), jnp.zeros((1, 4)))
        >>> sorted(params)
        ['dense_0', 'dense_1']
        >>> y, state = model.apply(params, state, jnp.ones((5, 4)))
        >>> y.shape
        (5, 2)
    """

    layers: Sequence[Layer | Callable] = ()
    name: str | None = None

    def __post_init__(self):
        layers = self.layers
        if isinstance(layers, (Layer, str)) or callable(layers) or not isinstance(layers, Iterable):
            raise TypeError(
                f"Sequential takes a list of layers, got {layers!r}; write Sequential([layer]) for "
                "a single layer"
            )
        object.__setattr__(self, "layers", tuple(as_layer(layer) for layer in layers))
        names = self.names
        if len(set(names)) != len(names):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(
                f"layer names must be unique within a Sequential; repeated: {duplicates}"
            )
        hashes = [zlib.crc32(name.encode()) for name in names]
        if len(set(hashes)) != len(hashes):
            clash = [n for n, h in zip(names, hashes) if hashes.count(h) > 1]
            raise ValueError(
                f"layer names {clash} hash to the same random key; rename one of them"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """Each layer's name, in order: its own ``name``, else its kind and a per-kind count."""
        counts: dict[str, int] = {}
        names = []
        for layer in self.layers:
            own = getattr(layer, "name", None)
            if own is not None:
                names.append(own)
                continue
            index = counts.get(layer.kind, 0)
            counts[layer.kind] = index + 1
            names.append(f"{layer.kind}_{index}")
        return tuple(names)

    def init(self, key: jax.Array, x: Any) -> tuple[Params, State]:
        params, state = {}, {}
        spec = shape_of(x)
        for name, layer in zip(self.names, self.layers):
            with _named(name, layer):
                p, s = layer.init(_name_key(key, name), spec)
                spec = output_shape(layer, p, s, spec)
            if p:
                params[name] = p
            if s:
                state[name] = s
        return params, state

    def apply(self, params, state, x, *, key=None, train=False):
        _check_entries(self, params, "params")
        _check_entries(self, state, "state")
        new_state = {}
        for name, layer in zip(self.names, self.layers):
            layer_key = None if key is None else _name_key(key, name)
            with _named(name, layer):
                if name not in params and type(layer).init is not Layer.init:
                    _check_has_no_params(layer, params, state, name, x)
                x, s = layer.apply(
                    params.get(name, {}), state.get(name, {}), x, key=layer_key, train=train
                )
            if s:
                new_state[name] = s
        return x, new_state

    def trace(self, params: Params, state: State, x: Any) -> list[tuple[str, Layer, Any]]:
        """Each layer's name, description and output shape (abstractly, in evaluation mode)."""
        rows = []
        spec = shape_of(x)
        for name, layer in zip(self.names, self.layers):
            with _named(name, layer):
                spec = output_shape(layer, params.get(name, {}), state.get(name, {}), spec)
            rows.append((name, layer, spec))
        return rows


def _check_entries(model: Sequential, tree: dict, what: str) -> None:
    unknown = sorted(set(tree) - set(model.names))
    if unknown:
        raise LayerError(
            f"{what} has entries {unknown} that name no layer of this Sequential "
            f"(its layers: {list(model.names)}); was it built by another model?"
        )


def _check_has_no_params(layer: Layer, params: Params, state: State, name: str, x: Any) -> None:
    """Raises a LayerError when ``params`` (or ``state``) lack the entry of a layer that has one.

    Runs ``layer.init`` abstractly, and only for a layer with its own ``init`` that has no entry:
    layers that hold no parameters (activations, dropout) never get here.
    """
    expected = jax.eval_shape(layer.init, jax.random.key(0), shape_of(x))
    for what, tree, entry in (("params", params, expected[0]), ("state", state, expected[1])):
        if entry and name not in tree:
            shapes = jax.tree.map(lambda leaf: tuple(leaf.shape), entry)
            raise LayerError(
                f"{what} {_has(what)} no entry {name!r} for this layer, which holds {shapes} "
                f"(entries: {sorted(tree)}); were the {what} built by another model?"
            )


class _named:
    """Context that prefixes a LayerError raised inside a layer with that layer's name."""

    def __init__(self, name: str, layer: Layer):
        self.label = _layer_label(name, layer)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is not None and isinstance(error, LayerError):
            raise type(error)(f"{self.label}: {error}").with_traceback(traceback) from None
        return False


def count_params(tree: PyTree) -> int:
    """The number of scalars in a pytree of arrays (parameters, state, or both).

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.count_params({"dense_0": {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}})
        8
    """
    return sum(int(np.size(leaf)) for leaf in jax.tree.leaves(tree))


def summary(model: Layer, params: Params, state: State, x: Any) -> str:
    """Prints and returns a table of the layers, their output shapes and parameter counts.

    ``x`` is an example input (an array or a ``jax.ShapeDtypeStruct``); only its shape is used,
    and nothing is computed. The batch dimension of output shapes is shown as given in ``x``.
    """
    model = model if isinstance(model, Sequential) else Sequential([model])
    rows = [("layer (type)", "output shape", "params", "state")]
    for name, layer, spec in model.trace(params, state, x):
        rows.append(
            (
                _layer_label(name, layer),
                str(tuple(spec.shape)),
                f"{count_params(params.get(name, {})):,}",
                f"{count_params(state.get(name, {})):,}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    rule = "-" * (sum(widths) + 6)

    def line(row):
        cells = zip(row, widths)
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(cells))

    n_params, n_state = count_params(params), count_params(state)
    text = "\n".join(
        [line(rows[0]), rule, *(line(row) for row in rows[1:]), rule,
         f"Total: {n_params + n_state:,}",
         f"Trainable params: {n_params:,}",
         f"Non-trainable state: {n_state:,}"]
    )
    print(text)
    return text
