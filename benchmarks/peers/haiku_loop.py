"""Haiku as its docs teach: modules inside a function turned pure by ``hk.transform_with_state``
(BatchNorm statistics as state), and a jitted update over each batch in a Python loop."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import optax

from peers.networks import CONV_CHANNELS, CONV_KERNELS, GRU_UNITS, Network, batched


def _mlp(net: Network, x):
    for i, width in enumerate(net.hidden):
        x = hk.Linear(width, name=f"linear_{i}")(x)
        if net.batchnorm and i == len(net.hidden) - 1:
            x = hk.BatchNorm(True, True, decay_rate=0.99, eps=1e-5)(x, is_training=True)
        x = jax.nn.relu(x)
        if net.dropout:
            x = hk.dropout(hk.next_rng_key(), net.dropout, x)
    return hk.Linear(net.n_classes, name="out")(x)


def _cnn(net: Network, x):
    x = x[..., None]
    for k in CONV_KERNELS:
        x = jax.nn.relu(hk.Conv1D(CONV_CHANNELS, k, stride=2, padding=[(1, 1)])(x))
    return hk.Linear(net.n_classes)(hk.Flatten()(x))


def _gru(net: Network, x):
    x = jnp.swapaxes(x[..., None], 0, 1)  # time-major, as hk.dynamic_unroll expects
    outputs = []
    for direction, reverse in (("forward", False), ("backward", True)):
        core = hk.GRU(GRU_UNITS, name=f"gru_{direction}")
        hs, _ = hk.dynamic_unroll(core, x, core.initial_state(x.shape[1]), reverse=reverse)
        outputs.append(hs)
    hs = jnp.swapaxes(jnp.concatenate(outputs, axis=-1), 0, 1)
    return hk.Linear(net.n_classes)(hk.Flatten()(hs))


def make(net: Network, data, seed: int):
    body = {"mlp": _mlp, "cnn": _cnn, "gru": _gru}[net.kind]
    forward = hk.transform_with_state(lambda x: body(net, x))
    init_key, key = jax.random.split(jax.random.key(seed))
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    params, state = forward.init(init_key, x[:1])
    optimizer = optax.adam(net.learning_rate)
    opt_state = optimizer.init(params)
    batches = batched(net, x, y)

    def loss_fn(params, state, key, xb, yb):
        logits, state = forward.apply(params, state, key, xb)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        if net.l2:
            loss = loss + net.l2 * 0.5 * jnp.sum(params[f"linear_{len(net.hidden) - 1}"]["w"] ** 2)
        return loss, state

    @jax.jit
    def update(params, state, opt_state, key, xb, yb):
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, key, xb,
                                                                         yb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    run = {"carry": (params, state, opt_state), "rng": hk.PRNGSequence(key)}

    def run_round():
        params, state, opt_state = run["carry"]
        for _ in range(net.epochs_per_round):
            for xb, yb in batches:
                params, state, opt_state, loss = update(params, state, opt_state,
                                                        next(run["rng"]), xb, yb)
        run["carry"] = (params, state, opt_state)
        jax.block_until_ready((run["carry"], loss))

    return run_round
