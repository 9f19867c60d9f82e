"""Flax linen as its docs teach: an ``nn.Module``, a ``TrainState`` carrying the BatchNorm
statistics, and a jitted step over each batch in a Python loop (the dropout key folded with the
step number inside the step, as in Flax's dropout guide)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from peers.networks import CONV_CHANNELS, CONV_KERNELS, GRU_UNITS, Network, batched


class MLP(nn.Module):
    net: Network

    @nn.compact
    def __call__(self, x, train: bool):
        net = self.net
        for i, width in enumerate(net.hidden):
            x = nn.Dense(width, name=f"dense_{i}")(x)
            if net.batchnorm and i == len(net.hidden) - 1:
                x = nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-5)(x)
            x = nn.relu(x)
            if net.dropout:
                x = nn.Dropout(net.dropout, deterministic=not train)(x)
        return nn.Dense(net.n_classes)(x)


class CNN(nn.Module):
    net: Network

    @nn.compact
    def __call__(self, x, train: bool):
        x = x[..., None]
        for k in CONV_KERNELS:
            x = nn.relu(nn.Conv(CONV_CHANNELS, (k,), strides=2, padding=[(1, 1)])(x))
        return nn.Dense(self.net.n_classes)(x.reshape(x.shape[0], -1))


class GRU(nn.Module):
    net: Network

    @nn.compact
    def __call__(self, x, train: bool):
        rnn = nn.Bidirectional(nn.RNN(nn.GRUCell(GRU_UNITS)), nn.RNN(nn.GRUCell(GRU_UNITS)))
        x = rnn(x[..., None])
        return nn.Dense(self.net.n_classes)(x.reshape(x.shape[0], -1))


class TrainState(train_state.TrainState):
    batch_stats: Any
    key: jax.Array


def make(net: Network, data, seed: int):
    module = {"mlp": MLP, "cnn": CNN, "gru": GRU}[net.kind](net)
    init_key, dropout_key = jax.random.split(jax.random.key(seed))
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    variables = module.init(init_key, x[:1], train=False)
    state = TrainState.create(apply_fn=module.apply, params=variables["params"],
                              tx=optax.adam(net.learning_rate),
                              batch_stats=variables.get("batch_stats", {}), key=dropout_key)
    batches = batched(net, x, y)

    @jax.jit
    def train_step(state, xb, yb):
        step_key = jax.random.fold_in(state.key, state.step)

        def loss_fn(params):
            logits, updates = state.apply_fn(
                {"params": params, "batch_stats": state.batch_stats}, xb, train=True,
                rngs={"dropout": step_key}, mutable=["batch_stats"])
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
            if net.l2:
                kernel = params[f"dense_{len(net.hidden) - 1}"]["kernel"]
                loss = loss + net.l2 * 0.5 * jnp.sum(kernel ** 2)
            return loss, (logits, updates)

        (loss, (_, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        state = state.apply_gradients(grads=grads)
        return state.replace(batch_stats=updates.get("batch_stats", {})), loss

    run = {"state": state}

    def run_round():
        state = run["state"]
        for _ in range(net.epochs_per_round):
            for xb, yb in batches:
                state, loss = train_step(state, xb, yb)
        run["state"] = state
        jax.block_until_ready((state, loss))

    return run_round
