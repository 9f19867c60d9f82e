"""MNIST-1D: logistic regression, an MLP, a 1-D CNN and a bidirectional GRU, over several seeds.

The four models and the recipe of the MNIST-1D paper's notebooks (greydanus/mnist1d): Adam with
learning rate 1e-2, batches of 100, 6,000 steps (150 epochs of the 4,000 training signals),
softmax cross-entropy, test accuracy at the end. Architectures, on signals of length 40:

    logistic  Dense(10)                                                          410 parameters
    mlp       h = relu(Dense(100)(x)); h = h + relu(Dense(100)(h)); Dense(10)   15,210
    cnn       3 x [Conv1D(25, kernel 5/3/3, stride 2, padding 1), relu],
              flatten (5 x 25), Dense(10)                                        5,210
    gru       bidirectional GRU(6) over the 40 steps, all outputs flattened
              (40 x 12), Dense(10)                                               5,110

Differences from the PyTorch originals, on purpose: jaxnet's default initialisation (Glorot
uniform kernels, zero biases, orthogonal recurrent kernels; PyTorch draws weights and biases
uniformly in +-1/sqrt(fan_in)); batches reshuffled every epoch (the notebooks cycle through the
data in a fixed order); channels-last convolutions (the same model, its flatten order permuted);
and a GRU whose reset and update gates have one bias each where PyTorch has two that add up
(24 fewer parameters, the same functions). The authors' notebooks printed test accuracies of
31.7 / 64.6 / 92.5 / 91.1 % (2020) and 31.5 / 65.1 / 92.3 / 89.1 % (2024), from one seed.

    python experiments/mnist1d_models.py           # 5 seeds x 4 models, 6,000 steps: ~8 min
    python experiments/mnist1d_models.py --quick   # 2 seeds, 80 steps: a smoke test

Writes metrics.json (test accuracy and training time per model: mean, standard deviation, each
seed) and accuracy.png to --out (default runs/mnist1d_models/).
"""

from __future__ import annotations

import os
import time

import jax
import numpy as np
import optax
from _common import parser, start_jax, write_metrics
from matplotlib.figure import Figure

import jaxnet as jn

# The final test accuracies printed by the authors' notebooks (PyTorch, seed 42).
REFERENCE = {
    "2020 quickstart": {"logistic": 0.317, "mlp": 0.646, "cnn": 0.925, "gru": 0.911},
    "2024 classification": {"logistic": 0.315, "mlp": 0.651, "cnn": 0.923, "gru": 0.891},
}


def build_models() -> dict[str, jn.Sequential]:
    """The four MNIST-1D models, taking signals ``(batch, 40)`` to 10 class scores."""
    def conv(kernel_size):
        return jn.Conv1D(25, kernel_size, strides=2, padding=1)

    return {
        "logistic": jn.Sequential([jn.Dense(10)]),
        "mlp": jn.Sequential([
            jn.Dense(100), jn.relu,
            jn.Residual([jn.Dense(100), jn.relu]),
            jn.Dense(10),
        ]),
        "cnn": jn.Sequential([
            jn.Reshape((40, 1)),
            conv(5), jn.relu, conv(3), jn.relu, conv(3), jn.relu,
            jn.Flatten(), jn.Dense(10),
        ]),
        "gru": jn.Sequential([
            jn.Reshape((40, 1)),
            jn.Bidirectional(jn.GRU(6, return_sequences=True)),
            jn.Flatten(), jn.Dense(10),
        ]),
    }


def train_once(model: jn.Sequential, train, test, *, seed: int, epochs: int, batch_size: int,
               learning_rate: float) -> dict:
    """Trains ``model`` from the initialisation drawn by ``seed``; returns its measurements."""
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    params, state = model.init(init_key, train[0][:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy,
                             metrics={"accuracy": jn.metrics.accuracy})
    start = time.perf_counter()
    result = jn.fit(objective, params, state, optax.adam(learning_rate), train, epochs=epochs,
                    batch_size=batch_size, key=fit_key, validation_data=test, verbose=False)
    train_time = time.perf_counter() - start
    final = jn.evaluate(objective, result.params, result.state, test)
    return {
        "params": jn.count_params(params),
        "test_accuracy": final["accuracy"],
        "test_loss": final["loss"],
        "train_accuracy": result.history["accuracy"][-1],
        "train_time_s": train_time,
        "epoch_time_s": float(np.median(result.history["time"][1:] or result.history["time"])),
        "val_accuracy_per_epoch": result.history["val_accuracy"],
    }


def summarise(runs: list[dict]) -> dict:
    """Mean, standard deviation (over seeds, ddof=1), min and max, and each seed's value."""
    summary = {"params": runs[0]["params"]}
    for name in ("test_accuracy", "train_accuracy", "train_time_s", "epoch_time_s"):
        values = np.array([run[name] for run in runs])
        summary[name] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max()),
            "per_seed": values.tolist(),
        }
    summary["val_accuracy_per_epoch_seed0"] = runs[0]["val_accuracy_per_epoch"]
    return summary


def plot(results: dict, seeds: int, steps: int) -> Figure:
    """Bars: mean test accuracy (error bar: standard deviation) and training time per model."""
    figure = Figure(figsize=(10, 4))
    accuracy_ax, time_ax = figure.subplots(1, 2)
    names = list(results)
    positions = np.arange(len(names))
    accuracy = [results[n]["test_accuracy"] for n in names]
    accuracy_ax.bar(positions, [100 * a["mean"] for a in accuracy],
                    yerr=[100 * a["std"] for a in accuracy], capsize=4, color="tab:blue",
                    label=f"jaxnet, mean of {seeds} seeds (+- std)")
    for marker, (label, reference) in zip("ox", REFERENCE.items(), strict=True):
        accuracy_ax.scatter(positions, [100 * reference[n] for n in names], marker=marker,
                            color="black", zorder=3, label=f"authors' {label} notebook")
    accuracy_ax.set_ylabel("test accuracy (%)")
    accuracy_ax.set_ylim(0, 100)
    accuracy_ax.legend(fontsize=8, loc="upper left")
    times = [results[n]["train_time_s"] for n in names]
    time_ax.bar(positions, [t["mean"] for t in times], yerr=[t["std"] for t in times],
                capsize=4, color="tab:orange")
    time_ax.set_ylabel("training time per seed (s, compilation included)")
    for ax, title in ((accuracy_ax, "test accuracy"), (time_ax, "training time")):
        ax.set_xticks(positions, names)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    figure.suptitle(f"MNIST-1D, Adam 1e-2, batch 100, {steps:,} steps")
    figure.tight_layout()
    return figure


def main(argv=None) -> dict:
    cli = parser("mnist1d_models", __doc__)
    cli.add_argument("--seeds", type=int, default=5, help="runs per model, seeds --seed, +1, ...")
    cli.add_argument("--steps", type=int, default=6000, help="optimizer steps (the notebooks')")
    cli.add_argument("--batch-size", type=int, default=100)
    cli.add_argument("--learning-rate", type=float, default=1e-2)
    args = cli.parse_args(argv)
    start_jax(args)
    if args.quick:
        args.seeds, args.steps = 2, 80
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)

    data = jn.data.load("mnist1d")
    train, test = (data.x_train, data.y_train), (data.x_test, data.y_test)
    steps_per_epoch = len(train[0]) // args.batch_size
    epochs = max(1, round(args.steps / steps_per_epoch))

    results = {}
    for name, model in build_models().items():
        runs = [
            train_once(model, train, test, seed=args.seed + i, epochs=epochs,
                       batch_size=args.batch_size, learning_rate=args.learning_rate)
            for i in range(args.seeds)
        ]
        results[name] = summarise(runs)
        accuracy, seconds = results[name]["test_accuracy"], results[name]["train_time_s"]
        print(f"{name:>8}: test accuracy {100 * accuracy['mean']:.1f} +- "
              f"{100 * accuracy['std']:.1f} % ({args.seeds} seeds), "
              f"{seconds['mean']:.1f} s per run, {results[name]['params']:,} parameters",
              flush=True)

    plot(results, args.seeds, epochs * steps_per_epoch).savefig(
        args.out / "accuracy.png", dpi=100, bbox_inches="tight")
    settings = {
        "quick": args.quick, "seeds": list(range(args.seed, args.seed + args.seeds)),
        "steps": epochs * steps_per_epoch, "epochs": epochs, "batch_size": args.batch_size,
        "optimizer": "adam", "learning_rate": args.learning_rate,
        "loss": "softmax_cross_entropy", "shuffle": "new permutation every epoch",
        "init": "jaxnet defaults (Glorot uniform kernels, zero biases, orthogonal recurrent)",
        "n_train": len(train[0]), "n_test": len(test[0]),
        "device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
    }
    return write_metrics(
        args.out, "mnist1d", settings, start,
        test_accuracy={name: r["test_accuracy"]["mean"] for name, r in results.items()},
        test_accuracy_std={name: r["test_accuracy"]["std"] for name, r in results.items()},
        reference_test_accuracy=REFERENCE, models=results,
    )


if __name__ == "__main__":
    main()
