"""Flax NNX as its docs teach: an ``nnx.Module`` holding its own parameters, state and dropout
stream, an ``nnx.Optimizer``, and a step under ``nnx.jit`` that updates them in place."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from peers.networks import CONV_CHANNELS, CONV_KERNELS, GRU_UNITS, Network, batched


class MLP(nnx.Module):
    def __init__(self, net: Network, rngs: nnx.Rngs):
        widths = (net.n_in, *net.hidden)
        self.dense = nnx.List([nnx.Linear(a, b, rngs=rngs)
                               for a, b in zip(widths[:-1], widths[1:])])
        self.bn = nnx.BatchNorm(net.hidden[-1], momentum=0.99, epsilon=1e-5, rngs=rngs) \
            if net.batchnorm else None
        self.dropout = nnx.Dropout(net.dropout, rngs=rngs) if net.dropout else None
        self.out = nnx.Linear(net.hidden[-1], net.n_classes, rngs=rngs)

    def __call__(self, x):
        for i, layer in enumerate(self.dense):
            x = layer(x)
            if self.bn is not None and i == len(self.dense) - 1:
                x = self.bn(x)
            x = nnx.relu(x)
            if self.dropout is not None:
                x = self.dropout(x)
        return self.out(x)


class CNN(nnx.Module):
    def __init__(self, net: Network, rngs: nnx.Rngs):
        channels, length, convs = 1, net.n_in, []
        for k in CONV_KERNELS:
            convs.append(nnx.Conv(channels, CONV_CHANNELS, (k,), strides=2, padding=[(1, 1)],
                                  rngs=rngs))
            channels, length = CONV_CHANNELS, (length + 2 - k) // 2 + 1
        self.convs = nnx.List(convs)
        self.out = nnx.Linear(length * channels, net.n_classes, rngs=rngs)

    def __call__(self, x):
        x = x[..., None]
        for conv in self.convs:
            x = nnx.relu(conv(x))
        return self.out(x.reshape(x.shape[0], -1))


class GRU(nnx.Module):
    def __init__(self, net: Network, rngs: nnx.Rngs):
        def rnn():
            return nnx.RNN(nnx.GRUCell(1, GRU_UNITS, rngs=rngs))

        self.rnn = nnx.Bidirectional(rnn(), rnn())
        self.out = nnx.Linear(net.n_in * 2 * GRU_UNITS, net.n_classes, rngs=rngs)

    def __call__(self, x):
        x = self.rnn(x[..., None])
        return self.out(x.reshape(x.shape[0], -1))


def make(net: Network, data, seed: int):
    model = {"mlp": MLP, "cnn": CNN, "gru": GRU}[net.kind](
        net, nnx.Rngs(params=seed, dropout=seed + 1))
    model.train()
    optimizer = nnx.Optimizer(model, optax.adam(net.learning_rate), wrt=nnx.Param)
    batches = batched(net, jnp.asarray(data[0]), jnp.asarray(data[1]))

    @nnx.jit
    def train_step(model, optimizer, xb, yb):
        def loss_fn(model):
            logits = model(xb)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
            if net.l2:
                loss = loss + net.l2 * 0.5 * jnp.sum(model.dense[-1].kernel[...] ** 2)
            return loss

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    def run_round():
        for _ in range(net.epochs_per_round):
            for xb, yb in batches:
                loss = train_step(model, optimizer, xb, yb)
        jax.block_until_ready((nnx.state(model), loss))

    return run_round
