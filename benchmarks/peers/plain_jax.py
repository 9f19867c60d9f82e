"""The reference: each network written by hand in plain JAX, the epoch one ``lax.scan``.

Parameters are a dict, the data are cut into batches once (``(steps, batch, ...)`` on the device,
in a fixed order), and one jitted call runs a whole epoch as a ``lax.scan`` over them: no Python
between steps, no shuffling, no checks. ``make_one_call`` scans over all the round's epochs in
one call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from peers.networks import CONV_CHANNELS, CONV_KERNELS, GRU_UNITS, Network

_glorot = jax.nn.initializers.glorot_uniform()
_orthogonal = jax.nn.initializers.orthogonal()


def init(net: Network, key: jax.Array) -> tuple[dict, dict]:
    """The parameters and the BatchNorm statistics (empty without BatchNorm)."""
    keys = iter(jax.random.split(key, 8))
    params, stats = {}, {}
    if net.kind == "mlp":
        widths = (net.n_in, *net.hidden, net.n_classes)
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            params[f"w{i}"], params[f"b{i}"] = _glorot(next(keys), (a, b)), jnp.zeros(b)
        if net.batchnorm:
            width = net.hidden[-1]
            params["gamma"], params["beta"] = jnp.ones(width), jnp.zeros(width)
            stats = {"mean": jnp.zeros(width), "var": jnp.ones(width)}
    elif net.kind == "cnn":
        channels, length = 1, net.n_in
        for i, k in enumerate(CONV_KERNELS):
            params[f"conv{i}"] = _glorot(next(keys), (k, channels, CONV_CHANNELS))
            params[f"conv{i}_b"] = jnp.zeros(CONV_CHANNELS)
            channels, length = CONV_CHANNELS, (length + 2 - k) // 2 + 1
        params["w"] = _glorot(next(keys), (length * channels, net.n_classes))
        params["b"] = jnp.zeros(net.n_classes)
    else:
        for direction in ("fwd", "bwd"):
            params[direction] = {
                "w": _glorot(next(keys), (1, 3 * GRU_UNITS)),
                "u": _orthogonal(next(keys), (GRU_UNITS, 3 * GRU_UNITS)),
                "b": jnp.zeros(3 * GRU_UNITS),
            }
        params["w"] = _glorot(next(keys), (net.n_in * 2 * GRU_UNITS, net.n_classes))
        params["b"] = jnp.zeros(net.n_classes)
    return params, stats


def _gru(p: dict, x: jax.Array, reverse: bool) -> jax.Array:
    """A GRU over ``x`` of shape (batch, time, 1); all outputs, (batch, time, units)."""
    inputs = jnp.swapaxes(x @ p["w"] + p["b"], 0, 1)  # the input products of all steps at once

    def cell(h, xs):
        xz, xr, xn = jnp.split(xs, 3, axis=-1)
        hz, hr, hn = jnp.split(h @ p["u"], 3, axis=-1)
        z, r = jax.nn.sigmoid(xz + hz), jax.nn.sigmoid(xr + hr)
        h = (1 - z) * jnp.tanh(xn + r * hn) + z * h
        return h, h

    h0 = jnp.zeros((x.shape[0], GRU_UNITS), x.dtype)
    _, hs = jax.lax.scan(cell, h0, inputs, reverse=reverse)
    return jnp.swapaxes(hs, 0, 1)


def forward(net: Network, params: dict, stats: dict, x: jax.Array, key: jax.Array):
    """Logits and the new BatchNorm statistics, in training mode."""
    if net.kind == "cnn":
        h = x[..., None]
        for i in range(len(CONV_KERNELS)):
            h = jax.lax.conv_general_dilated(h, params[f"conv{i}"], (2,), [(1, 1)],
                                             dimension_numbers=("NWC", "WIO", "NWC"))
            h = jax.nn.relu(h + params[f"conv{i}_b"])
        return h.reshape(len(x), -1) @ params["w"] + params["b"], stats
    if net.kind == "gru":
        h = jnp.concatenate([_gru(params["fwd"], x[..., None], False),
                             _gru(params["bwd"], x[..., None], True)], axis=-1)
        return h.reshape(len(x), -1) @ params["w"] + params["b"], stats
    keys = jax.random.split(key, len(net.hidden))
    h = x
    for i in range(len(net.hidden)):
        h = h @ params[f"w{i}"] + params[f"b{i}"]
        if net.batchnorm and i == len(net.hidden) - 1:
            mean, var = h.mean(0), h.var(0)
            stats = {"mean": 0.99 * stats["mean"] + 0.01 * mean,
                     "var": 0.99 * stats["var"] + 0.01 * var}
            h = (h - mean) * jax.lax.rsqrt(var + 1e-5) * params["gamma"] + params["beta"]
        h = jax.nn.relu(h)
        if net.dropout:
            keep = jax.random.bernoulli(keys[i], 1 - net.dropout, h.shape)
            h = jnp.where(keep, h / (1 - net.dropout), 0.0)
    last = len(net.hidden)
    return h @ params[f"w{last}"] + params[f"b{last}"], stats


def _epoch_fn(net: Network, optimizer):
    def loss_fn(params, stats, xb, yb, key):
        logits, stats = forward(net, params, stats, xb, key)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        if net.l2:
            loss = loss + net.l2 * 0.5 * jnp.sum(params[f"w{len(net.hidden) - 1}"] ** 2)
        return loss, stats

    def step(carry, inputs):
        params, stats, opt_state = carry
        xb, yb, key = inputs
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, xb, yb,
                                                                         key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), stats, opt_state), loss

    def epoch(carry, xs, ys, key):
        keys = jax.random.split(key, xs.shape[0])
        return jax.lax.scan(step, carry, (xs, ys, keys))

    return epoch


def _setup(net: Network, data, seed: int):
    x, y = data
    optimizer = optax.adam(net.learning_rate)
    params, stats = init(net, jax.random.key(seed))
    carry = (params, stats, optimizer.init(params))
    shape = (net.steps_per_epoch, net.batch_size)
    xs = jnp.asarray(x).reshape(*shape, *x.shape[1:])
    ys = jnp.asarray(y).reshape(shape)
    return _epoch_fn(net, optimizer), carry, xs, ys


def make(net: Network, data, seed: int):
    """A round: ``epochs_per_round`` calls of the jitted one-scan epoch."""
    epoch_fn, carry, xs, ys = _setup(net, data, seed)
    epoch = jax.jit(epoch_fn)
    key = jax.random.key(seed + 1)
    state = {"carry": carry, "epoch": 0}

    def run_round():
        carry = state["carry"]
        for _ in range(net.epochs_per_round):
            carry, losses = epoch(carry, xs, ys, jax.random.fold_in(key, state["epoch"]))
            state["epoch"] += 1
        state["carry"] = carry
        jax.block_until_ready((carry, losses))

    return run_round


def make_one_call(net: Network, data, seed: int):
    """A round: one jitted call that scans over all its epochs (each a scan over batches)."""
    epoch_fn, carry, xs, ys = _setup(net, data, seed)

    @jax.jit
    def round_fn(carry, xs, ys, key):
        def one_epoch(carry, epoch_key):
            return epoch_fn(carry, xs, ys, epoch_key)

        return jax.lax.scan(one_epoch, carry, jax.random.split(key, net.epochs_per_round))

    key = jax.random.key(seed + 1)
    state = {"carry": carry, "round": 0}

    def run_round():
        carry, losses = round_fn(state["carry"], xs, ys, jax.random.fold_in(key, state["round"]))
        state["carry"], state["round"] = carry, state["round"] + 1
        jax.block_until_ready((carry, losses))

    return run_round
