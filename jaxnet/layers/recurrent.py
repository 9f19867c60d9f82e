"""Recurrent layers over sequences: SimpleRNN, GRU and LSTM scanned over time, and Bidirectional.

Inputs are ``(batch, time, features)``. The input projection ``x_t W + b`` of every step is one
matrix product before the loop; only the recurrent part runs inside ``jax.lax.scan``.

``apply`` follows the layer contract: it starts from a zero state and reads every step, or with
``lengths=`` (which a Sequential passes on) each example up to its own length. For more control,
``run(params, x, initial_state=..., lengths=...)`` is the same computation as a pure function: it
starts from a given state, stops each example after its own length, and returns both the whole
output sequence and the final state.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from jax.nn.initializers import Initializer

from jaxnet.core import (
    Layer,
    LayerError,
    ShapeError,
    along_last_axis,
    check_entries,
    float_input,
    input_features,
    shape_of,
)
from jaxnet.validation import positive_int

Carry = Any  # an array (batch, features), or for LSTM a pair (c, h) of them


@dataclasses.dataclass(frozen=True)
class _Recurrent(Layer):
    """A recurrent cell scanned over time; subclasses give the gates and the step."""

    features: int
    return_sequences: bool = False
    reverse: bool = False
    kernel_init: Initializer = jax.nn.initializers.glorot_uniform()
    recurrent_init: Initializer = jax.nn.initializers.orthogonal()
    bias_init: Initializer = jax.nn.initializers.zeros
    name: str | None = None

    # Suffixes of the per-gate parameters "w<g>", "u<g>", "b<g>", in the order the step splits
    # their stacked projections.
    gates: ClassVar[tuple[str, ...]]

    def __post_init__(self):
        features = positive_int(self.features, f"{type(self).__name__} features")
        object.__setattr__(self, "features", features)

    @property
    def param_shapes(self) -> dict[str, tuple[int | str, ...]]:
        """Each parameter's shape, ``"in_features"`` standing for the input's width."""
        f = self.features
        shapes = {"w": ("in_features", f), "u": (f, f), "b": (f,)}
        return {kind + gate: shapes[kind] for gate in self.gates for kind in ("w", "u", "b")}

    def init(self, key, x):
        x = shape_of(x)
        if len(x.shape) != 3:
            raise ShapeError(
                f"expected inputs of shape (batch, time, features), got shape {x.shape}"
            )
        in_features = input_features(x.shape, "(batch, time, features)")
        shapes = {"w": (in_features, self.features), "u": (self.features,) * 2,
                  "b": (self.features,)}
        inits = {"w": self.kernel_init, "u": self.recurrent_init, "b": self.bias_init}
        names = [kind + gate for gate in self.gates for kind in ("w", "u", "b")]
        keys = jax.random.split(key, len(names))
        params = {
            name: inits[name[0]](k, shapes[name[0]], jnp.float32)
            for name, k in zip(names, keys, strict=True)
        }
        return params, {}

    def apply(self, params, state, x, *, key=None, train=False, lengths=None):
        outputs, carry = self.run(params, x, lengths=lengths)
        return (outputs if self.return_sequences else self.output_of(carry)), state

    def run(
        self,
        params: dict,
        x: jax.Array,
        *,
        initial_state: Carry | None = None,
        lengths: jax.Array | None = None,
    ) -> tuple[jax.Array, Carry]:
        """Runs the layer over ``x`` from ``initial_state``, each example up to its length.

        Args:
            params: the layer's parameters, from ``init``.
            x: the input sequences, shape ``(batch, time, in_features)``.
            initial_state: the state before the first step: an array ``(batch, features)``, or
                for LSTM the pair ``(c, h)`` of them (Flax's carry). Zeros by default.
            lengths: the number of valid steps of each example, integers of shape ``(batch,)``
                (clipped to ``[0, time]``); every step is valid by default. Steps at and after
                an example's length leave its state unchanged and output zeros, so padding does
                not change the result. With ``reverse=True`` each example is read backwards
                from its last valid step.

        Returns:
            ``(outputs, final_state)``: the output of every step ``(batch, time, features)`` in
            the input's order (also when reversed), and the state after each example's last
            valid step, shaped like ``initial_state``.
        """
        check_entries(params, self.param_shapes)
        w = self._stacked(params, "w")
        x = float_input(x, w.dtype)
        if x.ndim != 3 or x.shape[-1] != w.shape[0]:
            raise ShapeError(
                f"expected inputs of shape (batch, time, {w.shape[0]}) for an input kernel of "
                f"shape {w.shape}, got shape {x.shape}"
            )
        batch, steps = x.shape[:2]
        lengths = self._checked_lengths(lengths, batch, steps)
        time = jnp.arange(steps, dtype=jnp.int32)[None, :]
        valid = time < lengths[:, None]  # (batch, time)
        if self.reverse:
            # Reverses each example's valid prefix and leaves its padding in place; applying
            # the same permutation to the outputs restores the input's order.
            order = jnp.where(valid, lengths[:, None] - 1 - time, time)[:, :, None]
            x = jnp.take_along_axis(x, order, axis=1)
        projected = x @ w + along_last_axis(self._stacked(params, "b"), 3)
        carry = self._checked_state(initial_state, batch, projected.dtype)
        u = self._stacked(params, "u")

        def step(carry, inputs):
            xw, keep = inputs
            keep = keep[:, None]
            new_carry, h = self.step(params, u, carry, xw)
            carry = jax.tree.map(lambda new, old: jnp.where(keep, new, old), new_carry, carry)
            return carry, jnp.where(keep, h, jnp.zeros_like(h))

        carry, outputs = jax.lax.scan(step, carry, (jnp.swapaxes(projected, 0, 1), valid.T))
        outputs = jnp.swapaxes(outputs, 0, 1)
        if self.reverse:
            outputs = jnp.take_along_axis(outputs, order, axis=1)
        return outputs, carry

    def step(self, params: dict, u: jax.Array, carry: Carry, xw: jax.Array):
        """One time step: ``(carry, h)`` from the previous carry and the projected input.

        ``u`` is the recurrent kernels stacked per gate, ``xw`` the input projection
        ``x_t W + b`` of this step for all gates, ``(batch, gates * features)``.
        """
        raise NotImplementedError

    def zero_state(self, batch: int, dtype) -> Carry:
        """The default initial state: zeros ``(batch, features)``."""
        return jnp.zeros((batch, self.features), dtype)

    def output_of(self, carry: Carry) -> jax.Array:
        """The layer's output ``h`` ``(batch, features)`` held in a state."""
        return carry

    def _stacked(self, params: dict, kind: str) -> jax.Array:
        return jnp.concatenate([params[kind + gate] for gate in self.gates], axis=-1)

    def _checked_lengths(self, lengths, batch: int, steps: int) -> jax.Array:
        if lengths is None:
            return jnp.full((batch,), steps, jnp.int32)
        lengths = jnp.asarray(lengths)
        if lengths.shape != (batch,) or not jnp.issubdtype(lengths.dtype, jnp.integer):
            raise LayerError(
                f"lengths must be integers of shape ({batch},), one per example; got "
                f"{lengths.dtype} of shape {lengths.shape}"
            )
        return jnp.clip(lengths.astype(jnp.int32), 0, steps)

    def _checked_state(self, initial_state, batch: int, dtype) -> Carry:
        zeros = self.zero_state(batch, dtype)
        if initial_state is None:
            return zeros
        expected = jax.tree.map(jnp.shape, zeros)
        given = jax.tree.map(jnp.shape, initial_state)
        if given != expected:
            raise ShapeError(f"expected an initial state of shape {expected}, got {given}")
        return jax.tree.map(lambda s: jnp.asarray(s, dtype), initial_state)


_RNN_ARGS = """
    Args:
        features: the width of the hidden state ``h`` (and of the output).
        return_sequences: return the state after every step, ``(batch, time, features)``,
            instead of only the last one, ``(batch, features)``.
        reverse: read the sequence from its end (each example from its last valid step); the
            outputs keep the input's order.
        kernel_init: initializer of the input kernels ``w*``; Glorot uniform by default.
        recurrent_init: initializer of the recurrent kernels ``u*``; orthogonal by default.
        bias_init: initializer of the biases ``b*``; zeros by default.
        name: overrides the automatic name inside a Sequential.

    ``apply`` starts from zeros and reads every step, or each example up to its ``lengths=``
    (integers ``(batch,)``, as for ``run``); ``run`` also takes an initial state. Integer and
    boolean inputs are cast to the kernels' dtype (float32), as in Keras.
"""


@dataclasses.dataclass(frozen=True)
class SimpleRNN(_Recurrent):
    __doc__ = (
        """The simple (Elman) recurrent layer: ``h_t = tanh(x_t W + h_{t-1} U + b)``.

    The last state summarises the sequence.
"""
        + _RNN_ARGS
        + """
    Input ``(batch, time, in_features)``. Parameters ``{"w": (in_features, features), "u":
    (features, features), "b": (features,)}``.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.SimpleRNN(128)
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 10, 256)))
        >>> jn.count_params(params)
        49280
        >>> layer.apply(params, state, jnp.ones((4, 10, 256)))[0].shape
        (4, 128)
    """
    )

    gates: ClassVar[tuple[str, ...]] = ("",)

    def step(self, params, u, carry, xw):
        h = jnp.tanh(xw + carry @ u)
        return h, h


@dataclasses.dataclass(frozen=True)
class GRU(_Recurrent):
    __doc__ = (
        """Gated recurrent unit, with the equations of ``flax.linen.GRUCell`` (and PyTorch's GRU)::

        r = sigmoid(x_t W_r + h U_r + b_r)                 reset gate
        z = sigmoid(x_t W_z + h U_z + b_z)                 update gate
        n = tanh(x_t W_n + b_n + r * (h U_n + b_un))       candidate
        h_t = (1 - z) * n + z * h

    PyTorch's two biases of the r and z gates add up to one here.
"""
        + _RNN_ARGS
        + """
    Input ``(batch, time, in_features)``. Parameters ``w_r, w_z, w_n`` ``(in_features,
    features)``, ``u_r, u_z, u_n`` ``(features, features)`` and ``b_r, b_z, b_n, b_un``
    ``(features,)``.

    References:
        Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for Statistical
        Machine Translation", 2014.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.GRU(6, return_sequences=True)
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 40, 1)))
        >>> sorted(params)
        ['b_n', 'b_r', 'b_un', 'b_z', 'u_n', 'u_r', 'u_z', 'w_n', 'w_r', 'w_z']
        >>> layer.apply(params, state, jnp.ones((2, 40, 1)))[0].shape
        (2, 40, 6)
    """
    )

    gates: ClassVar[tuple[str, ...]] = ("_r", "_z", "_n")

    @property
    def param_shapes(self) -> dict[str, tuple[int | str, ...]]:
        return {**super().param_shapes, "b_un": (self.features,)}

    def init(self, key, x):
        params, state = super().init(key, x)
        b_un = self.bias_init(jax.random.fold_in(key, len(params)), (self.features,), jnp.float32)
        return {**params, "b_un": b_un}, state

    def step(self, params, u, carry, xw):
        xr, xz, xn = jnp.split(xw, 3, axis=-1)
        hr, hz, hn = jnp.split(carry @ u, 3, axis=-1)
        r = jax.nn.sigmoid(xr + hr)
        z = jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * (hn + along_last_axis(params["b_un"], hn.ndim)))
        h = (1.0 - z) * n + z * carry
        return h, h


@dataclasses.dataclass(frozen=True)
class LSTM(_Recurrent):
    __doc__ = (
        """Long short-term memory, with the equations of ``flax.linen.LSTMCell``::

        i = sigmoid(x_t W_i + h U_i + b_i)       input gate
        f = sigmoid(x_t W_f + h U_f + b_f)       forget gate
        g = tanh(x_t W_g + h U_g + b_g)          cell candidate
        o = sigmoid(x_t W_o + h U_o + b_o)       output gate
        c_t = f * c + i * g
        h_t = o * tanh(c_t)

    The state is the pair ``(c, h)``, as Flax's carry; the output is ``h``. Keras initialises
    the forget bias to 1 (``unit_forget_bias``); here every bias starts at ``bias_init``.
"""
        + _RNN_ARGS
        + """
    Input ``(batch, time, in_features)``. Parameters ``w_i, w_f, w_g, w_o`` ``(in_features,
    features)``, ``u_i, u_f, u_g, u_o`` ``(features, features)`` and ``b_i, b_f, b_g, b_o``
    ``(features,)``.

    References:
        Hochreiter and Schmidhuber, "Long Short-Term Memory", 1997.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.LSTM(8)
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 5, 3)))
        >>> outputs, (c, h) = layer.run(params, jnp.ones((2, 5, 3)), lengths=jnp.array([5, 2]))
        >>> outputs.shape, c.shape, h.shape
        ((2, 5, 8), (2, 8), (2, 8))
    """
    )

    gates: ClassVar[tuple[str, ...]] = ("_i", "_f", "_g", "_o")

    def step(self, params, u, carry, xw):
        c, h = carry
        xi, xf, xg, xo = jnp.split(xw + h @ u, 4, axis=-1)
        c = jax.nn.sigmoid(xf) * c + jax.nn.sigmoid(xi) * jnp.tanh(xg)
        h = jax.nn.sigmoid(xo) * jnp.tanh(c)
        return (c, h), h

    def zero_state(self, batch, dtype):
        """The default initial state: the pair ``(c, h)`` of zeros ``(batch, features)``."""
        return (jnp.zeros((batch, self.features), dtype),) * 2

    def output_of(self, carry):
        return carry[1]


@dataclasses.dataclass(frozen=True)
class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards; concatenates their outputs.

    The backward copy has its own parameters and the opposite ``reverse``. With the wrapped
    layer's ``return_sequences=True`` the output is ``(batch, time, 2 * features)``, each step
    holding the forward state after reading up to it and the backward state after reading from
    the end down to it; otherwise it is ``(batch, 2 * features)``, the two final states.

    Args:
        layer: a SimpleRNN, GRU or LSTM (its ``name`` is not used).
        name: overrides the automatic name inside a Sequential.

    Parameters ``{"forward": ..., "backward": ...}``, each the wrapped layer's. ``run`` takes
    and returns the state as the pair ``(forward_state, backward_state)``.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.Bidirectional(jn.GRU(6, return_sequences=True))
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 40, 1)))
        >>> layer.apply(params, state, jnp.ones((2, 40, 1)))[0].shape
        (2, 40, 12)
    """

    layer: _Recurrent
    name: str | None = None

    def __post_init__(self):
        if not isinstance(self.layer, _Recurrent):
            raise TypeError(
                f"Bidirectional wraps a SimpleRNN, GRU or LSTM, got {self.layer!r}"
            )

    @property
    def directions(self) -> dict[str, _Recurrent]:
        """The forward and the backward layer."""
        backward = dataclasses.replace(self.layer, reverse=not self.layer.reverse)
        return {"forward": self.layer, "backward": backward}

    def init(self, key, x):
        keys = jax.random.split(key)
        params = {
            name: layer.init(k, x)[0]
            for (name, layer), k in zip(self.directions.items(), keys, strict=True)
        }
        return params, {}

    def apply(self, params, state, x, *, key=None, train=False, lengths=None):
        outputs, carries = self.run(params, x, lengths=lengths)
        if self.layer.return_sequences:
            return outputs, state
        return jnp.concatenate([self.layer.output_of(c) for c in carries], axis=-1), state

    def run(
        self,
        params: dict,
        x: jax.Array,
        *,
        initial_state: tuple[Carry, Carry] | None = None,
        lengths: jax.Array | None = None,
    ) -> tuple[jax.Array, tuple[Carry, Carry]]:
        """Both directions' ``run``; outputs concatenated on the feature axis.

        Args:
            params: ``{"forward": ..., "backward": ...}``, from ``init``.
            x: the input sequences, shape ``(batch, time, in_features)``.
            initial_state: the pair ``(forward_state, backward_state)``; zeros by default.
            lengths: the number of valid steps of each example, shape ``(batch,)``.

        Returns:
            ``(outputs, (forward_state, backward_state))``, outputs ``(batch, time, 2 *
            features)``.
        """
        check_entries(params, {"forward": None, "backward": None})
        states = (None, None) if initial_state is None else initial_state
        results = [
            layer.run(params[name], x, initial_state=s, lengths=lengths)
            for (name, layer), s in zip(self.directions.items(), states, strict=True)
        ]
        outputs = jnp.concatenate([out for out, _ in results], axis=-1)
        return outputs, tuple(carry for _, carry in results)
