"""The networks every implementation trains, their hyperparameters, and the synthetic data.

    mlp        the source's MLP: 784-512-512-10, ReLU, Dropout 0.2 after each hidden ReLU,
               BatchNorm after the second Dense, L2 (1/2 sum w^2) on the second kernel,
               Adam 1e-3, batch 128, 468 steps a round (60,000 examples)
    small_mlp  40-100-100-10, ReLU, Adam 1e-2, batch 100, 40 steps an epoch (4,000 examples)
    cnn        MNIST-1D's CNN (experiments/mnist1d_models.py): 3 x [Conv1D(25, kernel 5/3/3,
               stride 2, padding 1), ReLU], flatten (5 x 25), Dense(10); Adam 1e-2, batch 100
    gru        MNIST-1D's bidirectional GRU(6) over the 40 steps, all outputs flattened
               (40 x 12), Dense(10); Adam 1e-2, batch 100

The loss is softmax cross-entropy on integer labels everywhere.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Network:
    """One benchmark network and how much of it a round trains.

    Attributes:
        name: ``"mlp"``, ``"small_mlp"``, ``"cnn"`` or ``"gru"``.
        kind: the architecture, ``"mlp"``, ``"cnn"`` or ``"gru"``.
        n_in: input features (signal length for ``cnn`` and ``gru``).
        hidden: the MLP's hidden widths.
        batch_size, steps_per_epoch: an epoch is ``steps_per_epoch`` full batches.
        epochs_per_round: epochs each implementation trains in one timed round.
        dropout, batchnorm, l2: the source MLP's extras (0 / False: none).
    """

    name: str
    kind: str
    n_in: int
    batch_size: int
    steps_per_epoch: int
    epochs_per_round: int
    learning_rate: float
    hidden: tuple[int, ...] = ()
    dropout: float = 0.0
    batchnorm: bool = False
    l2: float = 0.0
    n_classes: int = 10

    @property
    def n_examples(self) -> int:
        return self.batch_size * self.steps_per_epoch

    @property
    def steps_per_round(self) -> int:
        return self.steps_per_epoch * self.epochs_per_round

    def train_flops_per_step(self) -> float | None:
        """3x the forward matmul FLOPs of one batch (forward, and the two products of the
        backward pass); None for the convolutional and recurrent networks."""
        if self.kind != "mlp":
            return None
        widths = (self.n_in, *self.hidden, self.n_classes)
        forward = sum(2 * self.batch_size * a * b for a, b in zip(widths[:-1], widths[1:]))
        return 3.0 * forward


CONV_KERNELS = (5, 3, 3)   # the CNN's kernel sizes; 25 channels, stride 2, padding 1
CONV_CHANNELS = 25
GRU_UNITS = 6

NETWORKS = {
    "mlp": Network("mlp", "mlp", 784, batch_size=128, steps_per_epoch=468, epochs_per_round=1,
                   learning_rate=1e-3, hidden=(512, 512), dropout=0.2, batchnorm=True, l2=2e-3),
    "small_mlp": Network("small_mlp", "mlp", 40, batch_size=100, steps_per_epoch=40,
                         epochs_per_round=25, learning_rate=1e-2, hidden=(100, 100)),
    "cnn": Network("cnn", "cnn", 40, batch_size=100, steps_per_epoch=40, epochs_per_round=5,
                   learning_rate=1e-2),
    "gru": Network("gru", "gru", 40, batch_size=100, steps_per_epoch=40, epochs_per_round=2,
                   learning_rate=1e-2),
}


def quick(net: Network) -> Network:
    """The same network on a few steps: 4 steps an epoch, 2 epochs a round."""
    return dataclasses.replace(net, steps_per_epoch=4, epochs_per_round=2)


def synthetic_data(net: Network, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: standard normal float32 inputs ``(n_examples, n_in)`` and uniform int32
    labels in ``[0, n_classes)``, the same for a given seed."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((net.n_examples, net.n_in), dtype=np.float32)
    y = rng.integers(0, net.n_classes, net.n_examples).astype(np.int32)
    return x, y


def batched(net: Network, x, y) -> list[tuple]:
    """The data cut into ``steps_per_epoch`` consecutive batches, in order."""
    b = net.batch_size
    return [(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b]) for i in range(net.steps_per_epoch)]
