"""MultiHeadAttention: scaled dot-product attention over several heads, with a causal option."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.nn.initializers import Initializer

from jaxnet.core import (
    Layer,
    LayerError,
    ShapeError,
    check_entries,
    float_input,
    input_features,
    is_one_array,
    shape_text,
)
from jaxnet.validation import is_concrete, nonnegative_number, positive_int

PROJECTIONS = ("query", "key", "value")


@dataclasses.dataclass(frozen=True)
class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (Vaswani et al.), as ``flax.linen``'s.

    For each head ``h``: ``q = x W_q[h] + b_q[h]``, ``k = c W_k[h] + b_k[h]``, ``v = c W_v[h] +
    b_v[h]``, ``o[h] = softmax(q k^T / sqrt(head_dim)) v``; the output is ``sum_h o[h] W_o[h] +
    b_o``. ``c`` is ``x`` itself (self-attention) or a second input (cross-attention). With
    ``causal=True`` position ``t`` attends only to positions ``<= t``.

    Args:
        num_heads: the number of heads.
        qkv_features: the width of queries, keys and values over all heads (``num_heads *
            head_dim``), divisible by ``num_heads``; the query input's width by default.
        out_features: the output width; the query input's width by default.
        causal: mask attention to later positions (for autoregressive models).
        dropout_rate: probability to drop each attention weight in training (inverted
            dropout, each weight of each head and example drawn independently; needs a key).
        use_bias: whether the four projections have biases.
        kernel_init: initializer of the kernels, each drawn as a ``(in, out)`` matrix (Glorot
            uniform by default, as Keras's ``MultiHeadAttention``) and reshaped per head.
        bias_init: initializer of the biases; zeros by default.
        name: overrides the automatic name inside a Sequential.

    Inputs: ``x`` of shape ``(batch, time, features)`` for self-attention, or a pair ``(x,
    context)`` with ``context`` ``(batch, context_time, context_features)`` for
    cross-attention (keys and values from ``context``). Output ``(batch, time, out_features)``.
    Integer and boolean inputs are cast to the kernels' dtype (float32), as in Keras.

    ``apply(..., lengths=)`` (integers ``(batch,)``, which a Sequential passes on) masks the
    keys at and after each example's length; in self-attention the outputs at those positions
    are zeros, as a recurrent layer's, so padding changes nothing.

    Parameters, with ``head_dim = qkv_features // num_heads``: ``query``, ``key``, ``value``,
    each ``{"w": (in, num_heads, head_dim), "b": (num_heads * head_dim,)}``, and ``out``,
    ``{"w": (num_heads, head_dim, out_features), "b": (out_features,)}``: Flax's layout, but
    for biases of one axis, so that penalties (which read arrays of two or more axes by
    default) leave every bias alone as they do in the other layers.

    References:
        Vaswani et al., "Attention Is All You Need", 2017.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> layer = jn.MultiHeadAttention(num_heads=4, causal=True)
        >>> params, state = layer.init(jax.random.key(0), jnp.zeros((1, 10, 32)))
        >>> sorted(params), params["query"]["w"].shape
        (['key', 'out', 'query', 'value'], (32, 4, 8))
        >>> layer.apply(params, state, jnp.ones((2, 10, 32)))[0].shape
        (2, 10, 32)
    """

    num_heads: int
    qkv_features: int | None = None
    out_features: int | None = None
    causal: bool = False
    dropout_rate: float = 0.0
    use_bias: bool = True
    kernel_init: Initializer = jax.nn.initializers.glorot_uniform()
    bias_init: Initializer = jax.nn.initializers.zeros
    name: str | None = None

    multi_input: ClassVar[bool] = True  # (queries, context) for cross-attention

    def __post_init__(self):
        heads = positive_int(self.num_heads, "MultiHeadAttention num_heads")
        object.__setattr__(self, "num_heads", heads)
        for field in ("qkv_features", "out_features"):
            if getattr(self, field) is not None:
                value = positive_int(getattr(self, field), f"MultiHeadAttention {field}")
                object.__setattr__(self, field, value)
        if self.qkv_features is not None and self.qkv_features % heads:
            raise ValueError(
                f"MultiHeadAttention qkv_features ({self.qkv_features}) must be divisible by "
                f"num_heads ({heads})"
            )
        nonnegative_number(self.dropout_rate, "MultiHeadAttention dropout_rate")
        if is_concrete(self.dropout_rate) and not self.dropout_rate < 1.0:
            raise ValueError(
                f"MultiHeadAttention dropout_rate must lie in [0, 1), got {self.dropout_rate!r}"
            )

    def init(self, key, x):
        queries, context = _split(x)
        width = input_features(queries.shape, "(batch, time, features)")
        context_width = input_features(context.shape, "(batch, context_time, context_features)")
        qkv = width if self.qkv_features is None else self.qkv_features
        if qkv % self.num_heads:
            raise ShapeError(
                f"the query width {qkv} (qkv_features defaults to the input's width) must be "
                f"divisible by num_heads ({self.num_heads})"
            )
        heads, head_dim = self.num_heads, qkv // self.num_heads
        out = width if self.out_features is None else self.out_features
        keys = jax.random.split(key, 8)
        inputs = {"query": width, "key": context_width, "value": context_width}
        params = {}
        for i, (name, fan_in) in enumerate(inputs.items()):
            params[name] = self._dense(keys[2 * i: 2 * i + 2], fan_in, (heads, head_dim))
        w = self.kernel_init(keys[6], (qkv, out), jnp.float32).reshape(heads, head_dim, out)
        params["out"] = {"w": w}
        if self.use_bias:
            params["out"]["b"] = self.bias_init(keys[7], (out,), jnp.float32)
        return params, {}

    def _dense(self, keys, fan_in: int, features: tuple[int, int]) -> dict:
        """A kernel ``(fan_in, *features)`` drawn as a matrix, and a bias ``features``."""
        flat = features[0] * features[1]
        params = {"w": self.kernel_init(keys[0], (fan_in, flat), jnp.float32)
                  .reshape(fan_in, *features)}
        if self.use_bias:
            params["b"] = self.bias_init(keys[1], (flat,), jnp.float32)
        return params

    def apply(self, params, state, x, *, key=None, train=False, lengths=None):
        queries, context = _split(x)
        self_attention = is_one_array(x)
        head_dim = self._check_params(params, queries.shape[-1], context.shape[-1])
        dtype = params["query"]["w"].dtype
        queries, context = float_input(queries, dtype), float_input(context, dtype)
        q, k, v = (self._project(params[name], inputs)
                   for name, inputs in zip(PROJECTIONS, (queries, context, context)))
        valid_keys = kv_lengths = None
        if lengths is not None:
            valid_keys = _valid(lengths, context.shape[:2])
            kv_lengths = jnp.clip(jnp.asarray(lengths, jnp.int32), 0, context.shape[1])
        if train and not (is_concrete(self.dropout_rate) and self.dropout_rate == 0.0):
            o = self._attention_with_dropout(q, k, v, valid_keys, head_dim, key)
        else:
            o = jax.nn.dot_product_attention(q, k, v, is_causal=self.causal,
                                             key_value_seq_lengths=kv_lengths)
        y = jnp.einsum("bthd,hdo->bto", o, params["out"]["w"])
        if self.use_bias:
            y = y + jnp.reshape(params["out"]["b"], (1, 1, -1))
        if self_attention and valid_keys is not None:
            y = jnp.where(valid_keys[:, :, None], y, jnp.zeros_like(y))
        return y, state

    def _check_params(self, params, query_width: int, context_width: int) -> int:
        """Checks the entries against the inputs' widths; returns ``head_dim``."""
        check_entries(params, dict.fromkeys((*PROJECTIONS, "out")))
        heads = self.num_heads
        head_dim = "head_dim" if self.qkv_features is None else self.qkv_features // heads
        for name, width in zip(PROJECTIONS, (query_width, context_width, context_width)):
            sizes = check_entries(params[name], {"w": (width, heads, head_dim)})
            head_dim = sizes.get("head_dim", head_dim)
            if self.use_bias:
                check_entries(params[name], {"b": (heads * head_dim,)})
        out = self.out_features or query_width
        expected = {"w": (heads, head_dim, out), "b": (out,)}
        check_entries(params["out"], _without_bias(expected, self.use_bias))
        return head_dim

    def _project(self, params, inputs):
        y = jnp.einsum("btf,fhd->bthd", inputs, params["w"])
        if self.use_bias:
            y = y + jnp.reshape(params["b"], (1, 1, *y.shape[2:]))
        return y

    def _attention_with_dropout(self, q, k, v, valid_keys, head_dim, key):
        if key is None:
            raise LayerError(
                "attention dropout draws random masks in training and needs a key: call "
                "apply(..., key=jax.random.key(seed), train=True)"
            )
        logits = jnp.einsum("bthd,bshd->bhts", q, k) * head_dim**-0.5
        t, s = logits.shape[-2:]
        mask = jnp.ones((1, 1, t, s), bool)
        if self.causal:
            mask = mask & jnp.tril(jnp.ones((t, s), bool))[None, None]
        if valid_keys is not None:
            mask = mask & valid_keys[:, None, None, :]
        logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
        weights = jax.nn.softmax(logits, axis=-1)
        keep = jax.random.bernoulli(key, 1.0 - self.dropout_rate, weights.shape)
        scale = jnp.asarray(1.0 - self.dropout_rate).astype(weights.dtype)  # as in Dropout
        weights = jnp.where(keep, weights / scale, jnp.zeros_like(weights))
        return jnp.einsum("bhts,bshd->bthd", weights, v)


def _split(x):
    """``(queries, context)``: ``x`` twice for self-attention, or the pair given."""
    if is_one_array(x):
        queries = context = x
    elif isinstance(x, (tuple, list)) and len(x) == 2 and all(map(is_one_array, x)):
        queries, context = x
    else:
        raise ShapeError(
            f"expected one array (batch, time, features), or a pair (queries, context) of them, "
            f"got {shape_text(x)}"
        )
    for name, a in (("queries", queries), ("context", context)):
        if len(a.shape) != 3:
            raise ShapeError(
                f"expected {name} of shape (batch, time, features), got shape {tuple(a.shape)}"
            )
    if queries.shape[0] != context.shape[0]:
        raise ShapeError(
            f"queries {tuple(queries.shape)} and context {tuple(context.shape)} must hold the "
            "same number of examples"
        )
    return queries, context


def _without_bias(expected: dict, use_bias: bool) -> dict:
    return expected if use_bias else {"w": expected["w"]}


def _valid(lengths, shape) -> jax.Array:
    """``(batch, time)``: whether each step lies before its example's length."""
    batch, steps = shape
    lengths = jnp.asarray(lengths)
    if lengths.shape != (batch,) or not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise LayerError(
            f"lengths must be integers of shape ({batch},), one per example; got "
            f"{lengths.dtype} of shape {lengths.shape}"
        )
    return jnp.arange(steps, dtype=jnp.int32)[None, :] < lengths.astype(jnp.int32)[:, None]
