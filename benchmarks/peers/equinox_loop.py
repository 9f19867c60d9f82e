"""Equinox as its docs teach: an ``eqx.Module`` written for one example and ``vmap``-ed over the
batch (BatchNorm through ``eqx.nn.State`` and the ``"batch"`` axis name), the model partitioned
once into its arrays and the rest, and a step under ``eqx.filter_jit``."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from peers.networks import CONV_CHANNELS, CONV_KERNELS, GRU_UNITS, Network, batched


class MLP(eqx.Module):
    dense: list
    out: eqx.nn.Linear
    bn: eqx.nn.BatchNorm | None
    dropout: eqx.nn.Dropout | None

    def __init__(self, net: Network, key):
        widths = (net.n_in, *net.hidden)
        keys = jax.random.split(key, len(widths))
        self.dense = [eqx.nn.Linear(a, b, key=k)
                      for a, b, k in zip(widths[:-1], widths[1:], keys)]
        self.out = eqx.nn.Linear(widths[-1], net.n_classes, key=keys[-1])
        self.bn = eqx.nn.BatchNorm(widths[-1], "batch", momentum=0.99, mode="ema") \
            if net.batchnorm else None
        self.dropout = eqx.nn.Dropout(net.dropout) if net.dropout else None

    def __call__(self, x, state, key):
        keys = jax.random.split(key, len(self.dense))
        for i, layer in enumerate(self.dense):
            x = layer(x)
            if self.bn is not None and i == len(self.dense) - 1:
                x, state = self.bn(x, state)
            x = jax.nn.relu(x)
            if self.dropout is not None:
                x = self.dropout(x, key=keys[i])
        return self.out(x), state


class CNN(eqx.Module):
    convs: list
    out: eqx.nn.Linear

    def __init__(self, net: Network, key):
        keys = jax.random.split(key, len(CONV_KERNELS) + 1)
        channels, length, self.convs = 1, net.n_in, []
        for k, conv_key in zip(CONV_KERNELS, keys):
            self.convs.append(eqx.nn.Conv1d(channels, CONV_CHANNELS, k, stride=2, padding=1,
                                            key=conv_key))
            channels, length = CONV_CHANNELS, (length + 2 - k) // 2 + 1
        self.out = eqx.nn.Linear(length * channels, net.n_classes, key=keys[-1])

    def __call__(self, x, state, key):
        x = x[None, :]  # channels first: (1, length)
        for conv in self.convs:
            x = jax.nn.relu(conv(x))
        return self.out(x.reshape(-1)), state


class GRU(eqx.Module):
    forward: eqx.nn.GRUCell
    backward: eqx.nn.GRUCell
    out: eqx.nn.Linear

    def __init__(self, net: Network, key):
        k0, k1, k2 = jax.random.split(key, 3)
        self.forward = eqx.nn.GRUCell(1, GRU_UNITS, key=k0)
        self.backward = eqx.nn.GRUCell(1, GRU_UNITS, key=k1)
        self.out = eqx.nn.Linear(net.n_in * 2 * GRU_UNITS, net.n_classes, key=k2)

    def __call__(self, x, state, key):
        def run(cell, reverse):
            def step(h, xt):
                h = cell(xt, h)
                return h, h

            _, hs = jax.lax.scan(step, jnp.zeros(GRU_UNITS), x[:, None], reverse=reverse)
            return hs

        hs = jnp.concatenate([run(self.forward, False), run(self.backward, True)], axis=-1)
        return self.out(hs.reshape(-1)), state


def make(net: Network, data, seed: int):
    init_key, key = jax.random.split(jax.random.key(seed))
    model, state = eqx.nn.make_with_state({"mlp": MLP, "cnn": CNN, "gru": GRU}[net.kind])(
        net, init_key)
    params, static = eqx.partition(model, eqx.is_array)
    optimizer = optax.adam(net.learning_rate)
    opt_state = optimizer.init(params)
    batches = batched(net, jnp.asarray(data[0]), jnp.asarray(data[1]))

    def loss_fn(params, state, xb, yb, key):
        model = eqx.combine(params, static)
        batch_model = jax.vmap(model, axis_name="batch", in_axes=(0, None, 0),
                               out_axes=(0, None))
        logits, state = batch_model(xb, state, jax.random.split(key, xb.shape[0]))
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        if net.l2:
            loss = loss + net.l2 * 0.5 * jnp.sum(model.dense[-1].weight ** 2)
        return loss, state

    @eqx.filter_jit
    def train_step(params, state, opt_state, xb, yb, key):
        (loss, state), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(
            params, state, xb, yb, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return eqx.apply_updates(params, updates), state, opt_state, loss

    run = {"carry": (params, state, opt_state), "key": key}

    def run_round():
        params, state, opt_state = run["carry"]
        key = run["key"]
        for _ in range(net.epochs_per_round):
            for xb, yb in batches:
                key, step_key = jax.random.split(key)
                params, state, opt_state, loss = train_step(params, state, opt_state, xb, yb,
                                                            step_key)
        run["carry"], run["key"] = (params, state, opt_state), key
        jax.block_until_ready((run["carry"], loss))

    return run_round
