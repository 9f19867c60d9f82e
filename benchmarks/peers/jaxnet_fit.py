"""jaxnet as its docs teach: ``jn.fit`` (each epoch one compiled ``lax.scan``), and
``jn.train_step`` in a Python loop.

``make`` calls ``fit`` once a round, over all the round's epochs; ``make_per_epoch`` calls it once
an epoch, carrying the parameters, state and optimizer state from one call to the next, as a
notebook that trains an epoch at a time does. The data are device arrays made once, so ``fit``'s
checks of them are remembered between calls.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import jaxnet as jn
from peers.networks import CONV_CHANNELS, CONV_KERNELS, GRU_UNITS, Network, batched


def model(net: Network) -> jn.Sequential:
    """The network as a jaxnet model (the MNIST-1D ones as in experiments/mnist1d_models.py)."""
    if net.kind == "cnn":
        layers = [jn.Reshape((net.n_in, 1))]
        for k in CONV_KERNELS:
            layers += [jn.Conv1D(CONV_CHANNELS, k, strides=2, padding=1), jn.relu]
        return jn.Sequential([*layers, jn.Flatten(), jn.Dense(net.n_classes)])
    if net.kind == "gru":
        return jn.Sequential([
            jn.Reshape((net.n_in, 1)),
            jn.Bidirectional(jn.GRU(GRU_UNITS, return_sequences=True)),
            jn.Flatten(), jn.Dense(net.n_classes),
        ])
    layers = []
    for i, width in enumerate(net.hidden):
        layers.append(jn.Dense(width))
        if net.batchnorm and i == len(net.hidden) - 1:
            layers.append(jn.BatchNorm())
        layers.append(jn.relu)
        if net.dropout:
            layers.append(jn.Dropout(net.dropout))
    return jn.Sequential([*layers, jn.Dense(net.n_classes)])


def _setup(net: Network, data, seed: int):
    m = model(net)
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    params, state = m.init(jax.random.key(seed), x[:1])
    penalty = None
    if net.l2:
        penalty = jn.regularizers.l2(net.l2, where=f"dense_{len(net.hidden) - 1}")
    objective = jn.objective(m, jn.losses.softmax_cross_entropy, penalty)
    return objective, params, state, optax.adam(net.learning_rate), (x, y)


def _make_fit(net: Network, data, seed: int, epochs_per_call: int):
    objective, params, state, optimizer, train = _setup(net, data, seed)
    run = {"params": params, "state": state, "opt_state": None, "call": 0}
    key = jax.random.key(seed + 1)

    def run_round():
        for _ in range(net.epochs_per_round // epochs_per_call):
            result = jn.fit(objective, run["params"], run["state"], optimizer, train,
                            epochs=epochs_per_call, batch_size=net.batch_size,
                            key=jax.random.fold_in(key, run["call"]),
                            opt_state=run["opt_state"], verbose=False)
            run.update(params=result.params, state=result.state, opt_state=result.opt_state,
                       call=run["call"] + 1)
        jax.block_until_ready((run["params"], run["opt_state"]))

    return run_round


def make(net: Network, data, seed: int):
    """A round: one ``fit`` call over the round's epochs."""
    return _make_fit(net, data, seed, net.epochs_per_round)


def make_per_epoch(net: Network, data, seed: int):
    """A round: one ``fit`` call per epoch."""
    return _make_fit(net, data, seed, 1)


def make_step(net: Network, data, seed: int):
    """A round: ``jn.train_step`` in a Python loop over the batches."""
    objective, params, state, optimizer, train = _setup(net, data, seed)
    step = jn.train_step(objective, optimizer)
    batches = batched(net, *train)
    run = {"model": (params, state, optimizer.init(params)), "step": 0}
    key = jax.random.key(seed + 1)

    def run_round():
        params, state, opt_state = run["model"]
        for _ in range(net.epochs_per_round):
            for batch in batches:
                params, state, opt_state, metrics = step(
                    params, state, opt_state, batch, jax.random.fold_in(key, run["step"]))
                run["step"] += 1
        run["model"] = (params, state, opt_state)
        jax.block_until_ready((run["model"], metrics))

    return run_round
