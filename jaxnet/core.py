"""The layer contract, Sequential, parameter naming, shape inference and summary.

A layer is an immutable description (a frozen dataclass holding hyperparameters only) with two pure
functions:

* ``init(key, x) -> (params, state)`` builds the parameter and state pytrees from an example input
  ``x`` (an array or a ``jax.ShapeDtypeStruct``; only its shape and dtype are read);
* ``apply(params, state, x, *, key=None, train=False) -> (y, state)`` maps inputs to outputs and the
  new state, mutating nothing.

Any plain function ``x -> y`` (``jax.nn.relu``, a lambda) is a valid layer inside
:class:`Sequential`.

``x`` is one array, or for the layers that say so (``multi_input``) a pytree of arrays: a tuple,
list or dict of inputs. Containers (Sequential and the combinators of ``jaxnet.layers``) name
their layers, derive each one's key from its name and pass ``lengths`` to the layers that read
them, with the helpers below.
"""

from __future__ import annotations

import dataclasses
import inspect
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

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

    ``multi_input`` (a class attribute) says whether ``x`` may be a pytree of arrays (a tuple,
    list or dict); inside a Sequential, any other layer given several arrays is a ShapeError
    naming it. A layer whose ``apply`` takes a ``lengths=`` keyword reads per-example sequence
    lengths, which a Sequential passes on to it (:attr:`reads_lengths`).
    """

    multi_input: ClassVar[bool] = False

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

    @property
    def reads_lengths(self) -> bool:
        """Whether ``apply`` takes ``lengths=`` (containers: whether a layer inside does)."""
        return "lengths" in inspect.signature(self.apply).parameters

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


def shape_of(x: Any) -> Any:
    """The abstract value (shape and dtype) of an array, a ShapeDtypeStruct or a NumPy array.

    For a pytree of them (a tuple, list or dict of inputs), the same pytree of abstract values.
    """
    return jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype if hasattr(a, "dtype") else np.float32),
        x,
    )


def is_one_array(x: Any) -> bool:
    """Whether ``x`` is one array (or ShapeDtypeStruct, or scalar), not a tuple, list or dict."""
    return jax.tree_util.treedef_is_leaf(jax.tree.structure(x))


def shape_text(x: Any) -> str:
    """The shape of an array, e.g. ``(2, 3)``, or the pytree of shapes of several inputs."""
    shapes = jax.tree.map(lambda a: tuple(np.shape(a)), shape_of(x))
    return str(shapes)


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


def layer_names(layers: Sequence[Layer]) -> tuple[str, ...]:
    """Each layer's name, in order: its own ``name``, else its kind and a per-kind count."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        own = getattr(layer, "name", None)
        if own is not None:
            names.append(own)
            continue
        index = counts.get(layer.kind, 0)
        counts[layer.kind] = index + 1
        names.append(f"{layer.kind}_{index}")
    return tuple(names)


def check_names(names: Sequence[str], container: str) -> None:
    """Refuses repeated names, and names whose hashes (so whose random keys) coincide."""
    names = list(names)
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"layer names must be unique within a {container}; repeated: {duplicates}")
    hashes = [zlib.crc32(name.encode()) for name in names]
    if len(set(hashes)) != len(hashes):
        clash = [n for n, h in zip(names, hashes) if hashes.count(h) > 1]
        raise ValueError(f"layer names {clash} hash to the same random key; rename one of them")


def check_known_entries(tree: Mapping[str, Any], names: Sequence[str], what: str,
                        container: str) -> None:
    """Refuses entries of ``params`` (or ``state``) that name no layer of a container."""
    unknown = sorted(set(tree) - set(names))
    if unknown:
        raise LayerError(
            f"{what} has entries {unknown} that name no layer of this {container} "
            f"(its layers: {list(names)}); was it built by another model?"
        )


def init_layer(name: str, layer: Layer, key: jax.Array, x: Any) -> tuple[Params, State, Any]:
    """Initialises the layer called ``name`` inside a container (a Sequential, a Parallel...).

    Its key is ``key`` folded with a hash of ``name``, and a LayerError raised inside it starts
    with its name.

    Returns:
        ``(params, state, y)``: the layer's parameters and state, and the shape and dtype of its
        output for inputs like ``x`` (a ``ShapeDtypeStruct``, or a pytree of them).
    """
    with _named(name, layer):
        _check_input(layer, x)
        params, state = layer.init(_name_key(key, name), x)
        return params, state, output_shape(layer, params, state, x)


def apply_layer(name: str, layer: Layer, params: Params, state: State, x: Any, *,
                key: jax.Array | None = None, train: bool = False,
                lengths: jax.Array | None = None) -> tuple[Any, State]:
    """Applies the layer called ``name`` inside a container.

    Reads the layer's entries ``params[name]`` and ``state[name]`` (a missing entry of a layer
    that has parameters is a LayerError naming it), folds ``name`` into ``key``, and passes
    ``lengths`` on only when the layer reads them.

    Returns:
        ``(y, new_state)``: the layer's output and its new state (``{}`` when it has none).
    """
    layer_key = None if key is None else _name_key(key, name)
    with _named(name, layer):
        _check_input(layer, x)
        if name not in params and type(layer).init is not Layer.init:
            _check_has_no_params(layer, params, state, name, x)
        extra = {"lengths": lengths} if lengths is not None and layer.reads_lengths else {}
        return layer.apply(params.get(name, {}), state.get(name, {}), x, key=layer_key,
                           train=train, **extra)


def _check_input(layer: Layer, x: Any) -> None:
    if not layer.multi_input and not is_one_array(x):
        raise ShapeError(
            f"expected one array, got {type(x).__name__} of shapes {shape_text(x)}; select one "
            "with a function (e.g. lambda xs: xs[0]) or merge them first"
        )


def check_lengths_read(layer: Layer, lengths: Any) -> None:
    """Refuses ``lengths`` given to a container in which no layer reads them."""
    if lengths is not None and not layer.reads_lengths:
        raise LayerError(
            f"lengths were given, but no layer of this {type(layer).__name__} reads them (a "
            "layer reads them when its apply takes lengths=, as recurrent layers do)"
        )


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

    multi_input: ClassVar[bool] = True  # its first layer says what it takes

    def __post_init__(self):
        layers = self.layers
        if isinstance(layers, (Layer, str)) or callable(layers) or not isinstance(layers, Iterable):
            raise TypeError(
                f"Sequential takes a list of layers, got {layers!r}; write Sequential([layer]) for "
                "a single layer"
            )
        object.__setattr__(self, "layers", tuple(as_layer(layer) for layer in layers))
        check_names(self.names, "Sequential")

    @property
    def names(self) -> tuple[str, ...]:
        """Each layer's name, in order: its own ``name``, else its kind and a per-kind count."""
        return layer_names(self.layers)

    @property
    def reads_lengths(self) -> bool:
        return any(layer.reads_lengths for layer in self.layers)

    def init(self, key: jax.Array, x: Any) -> tuple[Params, State]:
        params, state = {}, {}
        spec = shape_of(x)
        for name, layer in zip(self.names, self.layers):
            p, s, spec = init_layer(name, layer, key, spec)
            if p:
                params[name] = p
            if s:
                state[name] = s
        return params, state

    def apply(self, params, state, x, *, key=None, train=False, lengths=None):
        """Applies the layers in order; ``lengths`` (per-example sequence lengths, ``(batch,)``)
        go to every layer that reads them (recurrent layers, and containers holding one)."""
        check_known_entries(params, self.names, "params", "Sequential")
        check_known_entries(state, self.names, "state", "Sequential")
        check_lengths_read(self, lengths)
        new_state = {}
        for name, layer in zip(self.names, self.layers):
            x, s = apply_layer(name, layer, params, state, x, key=key, train=train,
                               lengths=lengths)
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

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> model = jn.Sequential([jn.Dense(8), jn.relu, jn.Dense(2)])
        >>> params, state = model.init(jax.random.key(0), jnp.zeros((1, 4)))
        >>> table = jn.summary(model, params, state, jnp.zeros((1, 4)))
        layer (type)         output shape  params  state
        ------------------------------------------------
        dense_0 (Dense)      (1, 8)            40      0
        relu_0 (Activation)  (1, 8)             0      0
        dense_1 (Dense)      (1, 2)            18      0
        ------------------------------------------------
        Total: 58
        Trainable params: 58
        Non-trainable state: 0
    """
    model = model if isinstance(model, Sequential) else Sequential([model])
    rows = [("layer (type)", "output shape", "params", "state")]
    for name, layer, spec in model.trace(params, state, x):
        rows.append(
            (
                _layer_label(name, layer),
                shape_text(spec),
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
