"""Keras 3 on the JAX backend as its docs teach: a ``keras.Sequential``, ``compile`` (XLA by
default on JAX) and ``model.fit`` on NumPy arrays, once a round over the round's epochs.

The backend is chosen when Keras is first imported: ``KERAS_BACKEND=jax`` must be set before.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

from peers.networks import CONV_CHANNELS, CONV_KERNELS, GRU_UNITS, Network  # noqa: E402

if keras.backend.backend() != "jax":
    raise ImportError(f"Keras runs on {keras.backend.backend()!r}, not JAX: set KERAS_BACKEND=jax")


def model(net: Network) -> keras.Sequential:
    layers = [keras.Input((net.n_in,))]
    if net.kind == "mlp":
        for i, width in enumerate(net.hidden):
            last = i == len(net.hidden) - 1
            # Keras's L2 has no 1/2: l2(a) here is the others' 1/2 * (2a) * sum w^2.
            regularizer = keras.regularizers.L2(net.l2 / 2) if net.l2 and last else None
            layers.append(keras.layers.Dense(width, kernel_regularizer=regularizer))
            if net.batchnorm and last:
                layers.append(keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-5))
            layers.append(keras.layers.ReLU())
            if net.dropout:
                layers.append(keras.layers.Dropout(net.dropout))
    elif net.kind == "cnn":
        layers.append(keras.layers.Reshape((net.n_in, 1)))
        for k in CONV_KERNELS:  # Keras pads only "valid" or "same": pad by one explicitly
            layers += [keras.layers.ZeroPadding1D(1),
                       keras.layers.Conv1D(CONV_CHANNELS, k, strides=2, activation="relu")]
        layers.append(keras.layers.Flatten())
    else:
        layers += [keras.layers.Reshape((net.n_in, 1)),
                   keras.layers.Bidirectional(keras.layers.GRU(GRU_UNITS, return_sequences=True)),
                   keras.layers.Flatten()]
    layers.append(keras.layers.Dense(net.n_classes))
    return keras.Sequential(layers)


def make(net: Network, data, seed: int):
    keras.utils.set_random_seed(seed)
    m = model(net)
    m.compile(optimizer=keras.optimizers.Adam(net.learning_rate),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data

    def run_round():
        m.fit(x, y, batch_size=net.batch_size, epochs=net.epochs_per_round, verbose=0)

    return run_round
