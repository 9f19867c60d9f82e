"""Sequential, layers applied one after the other, and the summary table of a model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import jax

from jaxnet.core import Layer, Params, State, count_params, output_shape, shape_of, shape_text
from jaxnet.layers.containers import (
    apply_layer,
    as_layer,
    check_known_entries,
    check_lengths_read,
    check_names,
    init_layer,
    layer_label,
    layer_names,
    named_errors,
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
            with named_errors(name, layer):
                spec = output_shape(layer, params.get(name, {}), state.get(name, {}), spec)
            rows.append((name, layer, spec))
        return rows


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
                layer_label(name, layer),
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
