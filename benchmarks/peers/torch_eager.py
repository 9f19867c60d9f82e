"""PyTorch as its docs teach, eagerly on the CPU: an ``nn.Sequential``, ``torch.optim.Adam`` and
the usual loop (zero_grad, forward, backward, step) over each batch.

``make_one_thread`` runs on one thread; ``make`` keeps PyTorch's default intra-op threads (one per
core). On a loaded machine the default is many times slower on these small networks: each
operation ends at a barrier of its threads, and one thread that the system has descheduled holds
up the others (20x on the small MLP at a load average of 6 on two cores).
"""

from __future__ import annotations

import torch
from torch import nn

from peers.networks import CONV_CHANNELS, CONV_KERNELS, GRU_UNITS, Network, batched


class BiGRU(nn.Module):
    def __init__(self, net: Network):
        super().__init__()
        self.gru = nn.GRU(1, GRU_UNITS, batch_first=True, bidirectional=True)
        self.out = nn.Linear(net.n_in * 2 * GRU_UNITS, net.n_classes)

    def forward(self, x):
        hs, _ = self.gru(x[..., None])
        return self.out(hs.flatten(1))


def model(net: Network) -> nn.Module:
    if net.kind == "gru":
        return BiGRU(net)
    if net.kind == "cnn":
        layers, channels, length = [nn.Unflatten(1, (1, net.n_in))], 1, net.n_in
        for k in CONV_KERNELS:
            layers += [nn.Conv1d(channels, CONV_CHANNELS, k, stride=2, padding=1), nn.ReLU()]
            channels, length = CONV_CHANNELS, (length + 2 - k) // 2 + 1
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(length * channels, net.n_classes))
    layers, width = [], net.n_in
    for i, hidden in enumerate(net.hidden):
        layers.append(nn.Linear(width, hidden))
        if net.batchnorm and i == len(net.hidden) - 1:
            layers.append(nn.BatchNorm1d(hidden, eps=1e-5, momentum=0.01))
        layers.append(nn.ReLU())
        if net.dropout:
            layers.append(nn.Dropout(net.dropout))
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, net.n_classes))


def make(net: Network, data, seed: int, threads: int | None = None):
    torch.manual_seed(seed)
    m = model(net)
    m.train()
    penalised = [layer for layer in m.modules() if isinstance(layer, nn.Linear)]
    penalised = penalised[len(net.hidden) - 1] if net.l2 else None
    optimizer = torch.optim.Adam(m.parameters(), lr=net.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    batches = batched(net, torch.from_numpy(data[0]), torch.from_numpy(data[1]).long())

    def run_round():
        default = torch.get_num_threads()
        torch.set_num_threads(threads or default)
        try:
            train_round()
        finally:
            torch.set_num_threads(default)

    def train_round():
        for _ in range(net.epochs_per_round):
            for xb, yb in batches:
                optimizer.zero_grad()
                loss = loss_fn(m(xb), yb)
                if penalised is not None:
                    loss = loss + net.l2 * 0.5 * penalised.weight.pow(2).sum()
                loss.backward()
                optimizer.step()

    return run_round


def make_one_thread(net: Network, data, seed: int):
    return make(net, data, seed, threads=1)
