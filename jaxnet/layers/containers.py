"""What every container shares: how it names, keys, initialises and applies the layers inside.

Containers ([`Sequential`][jaxnet.layers.sequential.Sequential], and the combinators
[`Residual`][jaxnet.layers.combinators.Residual] and
[`Parallel`][jaxnet.layers.combinators.Parallel]) hold layers under names. One rule for all of
them: a layer is named by its own ``name``, else by its kind and a per-kind count (``dense_0``,
``dense_1``...); its entries of ``params`` and ``state`` sit under that name; its key is the
container's key folded with a hash of the name; and a LayerError raised inside it starts with the
name. Plain functions ``x -> y`` become [`Activation`][jaxnet.layers.activation.Activation] layers.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jaxnet.core import (
    Layer,
    LayerError,
    Params,
    ShapeError,
    State,
    abstract_init,
    check_fits_in_memory,
    is_one_array,
    missing_entry_error,
    numbers_as_array,
    output_shape,
    shape_text,
)
from jaxnet.layers.activation import Activation


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
        return Activation(layer)
    raise TypeError(f"a layer must be a jaxnet Layer or a function x -> y, got {layer!r}")


def layer_label(name: str, layer: Layer) -> str:
    """How messages and tables show a layer: its name and type, e.g. ``dense_0 (Dense)``."""
    return f"{name} ({type(layer).__name__})"


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


def check_lengths_read(layer: Layer, lengths: Any) -> None:
    """Refuses ``lengths`` given to a container in which no layer reads them."""
    if lengths is not None and not layer.reads_lengths:
        raise LayerError(
            f"lengths were given, but no layer of this {type(layer).__name__} reads them (a "
            "layer reads them when its apply takes lengths=, as recurrent layers do)"
        )


def init_layer(name: str, layer: Layer, key: jax.Array, x: Any) -> tuple[Params, State, Any]:
    """Initialises the layer called ``name`` inside a container (a Sequential, a Parallel...).

    Its key is ``key`` folded with a hash of ``name``, and a LayerError raised inside it starts
    with its name. Its parameters and state are first made abstractly, so that a layer too large
    for the device is a LayerError (with the bytes it needs) before anything is allocated.

    Returns:
        ``(params, state, y)``: the layer's parameters and state, and the shape and dtype of its
        output for inputs like ``x`` (a ``ShapeDtypeStruct``, or a pytree of them).
    """
    layer_key = _name_key(key, name)
    with named_errors(name, layer):
        _check_input(layer, x)
        check_fits_in_memory(abstract_init(layer, layer_key, x))
        params, state = layer.init(layer_key, x)
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
    x = numbers_as_array(x)
    with named_errors(name, layer):
        _check_input(layer, x)
        if name not in params and type(layer).init is not Layer.init:
            _check_has_no_params(layer, params, state, name, x)
        extra = {"lengths": lengths} if lengths is not None and layer.reads_lengths else {}
        return layer.apply(params.get(name, {}), state.get(name, {}), x, key=layer_key,
                           train=train, **extra)


@contextlib.contextmanager
def named_errors(name: str, layer: Layer) -> Iterator[None]:
    """Prefixes a LayerError raised inside the layer called ``name`` with its label."""
    try:
        yield
    except LayerError as error:
        label = layer_label(name, layer)
        raise type(error)(f"{label}: {error}").with_traceback(error.__traceback__) from None


def _name_key(key: jax.Array, name: str) -> jax.Array:
    """The key of the layer called ``name``: the parent's key folded with a hash of the name."""
    return jax.random.fold_in(key, zlib.crc32(name.encode()))


def _check_input(layer: Layer, x: Any) -> None:
    if layer.multi_input or is_one_array(x):
        return
    leaves = jax.tree.leaves(x)
    if leaves and all(not np.shape(leaf) for leaf in leaves):  # a list of numbers, under jit
        raise ShapeError(
            f"expected one array, got a {type(x).__name__} of numbers, which jax.jit sees as "
            f"{len(leaves)} separate scalars; pass an array, e.g. jnp.asarray(x)"
        )
    raise ShapeError(
        f"expected one array, got {type(x).__name__} of shapes {shape_text(x)}; select one "
        "with a function (e.g. lambda xs: xs[0]) or merge them first"
    )


def _check_has_no_params(layer: Layer, params: Params, state: State, name: str, x: Any) -> None:
    """Raises a LayerError when ``params`` (or ``state``) lack the entry of a layer that has one.

    Runs ``layer.init`` abstractly, and only for a layer with its own ``init`` that has no entry:
    layers that hold no parameters (activations, dropout) never get here.
    """
    expected = abstract_init(layer, jax.random.key(0), x)
    for what, tree, entry in (("params", params, expected[0]), ("state", state, expected[1])):
        if entry and name not in tree:
            shapes = jax.tree.map(lambda leaf: tuple(leaf.shape), entry)
            raise missing_entry_error(
                what, name, f"for this layer, which holds {shapes} (entries: {sorted(tree)})"
            )
