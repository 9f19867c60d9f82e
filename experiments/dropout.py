"""Dropout against over-fitting: training and test curves of a wide MLP with and without dropout.

An MLP far larger than its data needs (40 -> 512 -> 512 -> 10, ReLU) on MNIST-1D (4,000 training
and 1,000 test signals, generated offline), where an MLP learns the training set perfectly and
the test set much less well. The same network is trained with dropout rates 0 (none), 0.2 (the
source's MNIST network) and 0.5 after each hidden ReLU, from the same initial weights and batch
order. After every epoch both sets are evaluated in evaluation mode (dropout off), so the
training curves measure the network itself, not the noise dropout adds while training.

    python experiments/dropout.py            # 100 epochs per rate, about a minute
    python experiments/dropout.py --quick    # 8 epochs

Writes metrics.json and curves.png to --out (default runs/dropout/).
"""

from __future__ import annotations

import argparse
import time

import _common
import jax
import numpy as np
import optax
from matplotlib.figure import Figure

import jaxnet as jn


def build_model(rate: float, width: int) -> jn.Sequential:
    """Two hidden ReLU layers of ``width`` units, each followed by ``Dropout(rate)``."""
    return jn.Sequential([
        jn.Dense(width), jn.relu, jn.Dropout(rate),
        jn.Dense(width), jn.relu, jn.Dropout(rate),
        jn.Dense(10),
    ])


def train(rate: float, train_data, test_data, args, epochs: int) -> dict[str, list[float]]:
    """Trains one network with Adam through ``jn.fit``, which measures both sets in evaluation
    mode after each epoch (``evaluate_train=True`` and the test set as validation data).

    Returns:
        The history: per-epoch lists ``train_loss``, ``train_accuracy``, ``test_loss``,
        ``test_accuracy`` and ``time``.
    """
    model = build_model(rate, args.width)
    init_key, train_key = jax.random.split(jax.random.key(args.seed))
    params, state = model.init(init_key, train_data[0][:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    result = jn.fit(objective, params, state, optax.adam(args.learning_rate), train_data,
                    epochs=epochs, batch_size=args.batch_size, key=train_key,
                    validation_data=test_data, evaluate_train=True, verbose=False)
    names = {"train_loss": "train_loss", "train_accuracy": "train_accuracy",
             "test_loss": "val_loss", "test_accuracy": "val_accuracy", "time": "time"}
    return {name: result.history[key] for name, key in names.items()}


def parse_args(argv=None) -> argparse.Namespace:
    parser = _common.parser("dropout", __doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.2, 0.5],
                        help="dropout rates to compare (the probability to drop a unit)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--data-dir", default=None, help="data cache folder (MNIST-1D)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    _common.start_jax(args)
    start = time.perf_counter()
    epochs = 8 if args.quick else args.epochs
    args.out.mkdir(parents=True, exist_ok=True)

    data = jn.data.load("mnist1d", data_dir=args.data_dir)
    train_data, test_data = (data.x_train, data.y_train), (data.x_test, data.y_test)
    runs = {}
    for rate in args.rates:
        history = train(rate, train_data, test_data, args, epochs)
        final = {name: values[-1] for name, values in history.items() if name != "time"}
        runs[f"{rate:g}"] = {
            "rate": rate,
            **final,
            "accuracy_gap": final["train_accuracy"] - final["test_accuracy"],
            "loss_gap": final["test_loss"] - final["train_loss"],
            "best_test_accuracy": max(history["test_accuracy"]),
            "history": history,
        }
        print(f"dropout {rate:g}: train accuracy {final['train_accuracy']:.3f}, test accuracy "
              f"{final['test_accuracy']:.3f} (gap {runs[f'{rate:g}']['accuracy_gap']:.3f}); "
              f"train loss {final['train_loss']:.3f}, test loss {final['test_loss']:.3f}")

    plot(runs, args.width).savefig(args.out / "curves.png", dpi=100, bbox_inches="tight")
    settings = {
        "rates": args.rates, "epochs": epochs, "width": args.width,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate, "optimizer": "adam",
        "seed": args.seed, "n_train": len(data.x_train), "n_test": len(data.x_test),
        "quick": args.quick,
    }
    metrics = _common.write_metrics(
        args.out, "dropout", settings, start, dataset="mnist1d",
        test_accuracy={rate: run["test_accuracy"] for rate, run in runs.items()},
        accuracy_gap={rate: run["accuracy_gap"] for rate, run in runs.items()}, runs=runs)
    print(f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


def plot(runs: dict, width: int) -> Figure:
    """Loss and accuracy on both sets (training dashed, test solid), and the accuracy gap."""
    figure = Figure(figsize=(14, 4.2))
    loss_ax, accuracy_ax, gap_ax = figure.subplots(1, 3)
    colors = ["C0", "C1", "C2", "C3", "C4", "C5"]
    for (label, run), color in zip(runs.items(), colors):
        history = run["history"]
        epochs = np.arange(1, len(history["train_loss"]) + 1)
        for ax, metric in ((loss_ax, "loss"), (accuracy_ax, "accuracy")):
            ax.plot(epochs, history[f"train_{metric}"], "--", color=color,
                    label=f"dropout {label}, training")
            ax.plot(epochs, history[f"test_{metric}"], "-", color=color,
                    label=f"dropout {label}, test")
        gap = np.asarray(history["train_accuracy"]) - np.asarray(history["test_accuracy"])
        gap_ax.plot(epochs, gap, color=color, label=f"dropout {label}")
    loss_ax.set_ylabel("cross-entropy loss")
    loss_ax.set_title("loss (training dashed, test solid)")
    accuracy_ax.set_ylabel("accuracy")
    accuracy_ax.set_title("accuracy (training dashed, test solid)")
    gap_ax.set_ylabel("training accuracy - test accuracy")
    gap_ax.set_title("generalization gap")
    for ax in (loss_ax, accuracy_ax, gap_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    accuracy_ax.legend(fontsize=8, loc="lower right")
    gap_ax.legend(fontsize=8, loc="lower right")
    figure.suptitle(f"MLP 40-{width}-{width}-10 on MNIST-1D, with and without dropout "
                    "(both sets measured with dropout off)")
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    main()
