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
from collections.abc import Callable, Sequence
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
    """

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


def _layer_label(name: str, layer: Layer) -> str:
    return f"{name} ({type(layer).__name__})"


@dataclasses.dataclass(frozen=True)
class Sequential(Layer):
    """Layers applied one after the other.

    Parameters and state are dicts keyed by layer name. Names are counted per kind of layer
    (``dense_0``, ``dense_1``, ``batchnorm_0``...), so inserting an activation or a dropout renames
    nothing; layers without parameters or state have no entry.

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
        object.__setattr__(self, "layers", tuple(as_layer(layer) for layer in self.layers))
        names = self.names
        if len(set(names)) != len(names):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(
                f"layer names must be unique within a Sequential; repeated: {duplicates}"
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
        keys = jax.random.split(key, max(len(self.layers), 1))
        for name, layer, layer_key in zip(self.names, self.layers, keys):
            with _named(name, layer):
                p, s = layer.init(layer_key, spec)
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
        for index, (name, layer) in enumerate(zip(self.names, self.layers)):
            layer_key = None if key is None else jax.random.fold_in(key, index)
            with _named(name, layer):
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
