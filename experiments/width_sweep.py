"""Width sweep: training and test accuracy against the hidden width, widths 1 to 512, one sweep.

Networks 40 -> Dense(width), ReLU -> Dense(10) with widths 1, 2, 4, ..., 512 are trained on
MNIST-1D (4,000 training signals, 1,000 test signals) by Adam, batches of 100, each width with
several seeds (initialisation and batch order). Every width and seed is one configuration of a
single `jn.sweep` call; configurations of one width form one vmapped program, each exactly the
narrow network it describes (no masked units). After training, each network is measured in
evaluation mode on the whole training set and on the test set (the test set is also the sweep's
validation data, so its accuracy is recorded after every epoch). Narrow networks under-fit
(training and test accuracy low and close); wide ones fit the training set far better than the
test set.

    python experiments/width_sweep.py                  # 10 widths x 3 seeds, 40 epochs
    python experiments/width_sweep.py --quick          # widths 1 and 256, 2 seeds, 3 epochs

Writes to --out (default runs/width_sweep/): accuracy.png (training and test accuracy against
width, mean and min-max band over seeds; test accuracy per epoch for each width) and
metrics.json (per width: each metric's mean, min, max and per-seed values, the gap).
"""

from __future__ import annotations

import time

import _common
import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

import jaxnet as jn


def build_model(width: int) -> jn.Sequential:
    """One hidden layer of ``width`` ReLU neurons, ten classes."""
    return jn.Sequential([jn.Dense(width), jn.relu, jn.Dense(10)])


def make_setup(x_example: jax.Array, learning_rate: float):
    """``setup(width, seed)`` for ``jn.sweep``."""

    def setup(width: int, seed: int) -> jn.Trial:
        model = build_model(width)
        init_key, run_key = jax.random.split(jax.random.key(seed))
        params, state = model.init(init_key, x_example)
        objective = jn.objective(model, jn.losses.softmax_cross_entropy)
        return jn.Trial(objective, optax.adam(learning_rate), params, state, run_key)

    return setup


def measure(result: jn.SweepResult, setup, train, test) -> list[dict]:
    """Each configuration's final accuracy and loss on the training and the test set, in
    evaluation mode: the rows of ``result.table()`` with ``train_*`` and ``test_*`` added."""
    rows = []
    for row, params, state in zip(result.table(), result.params, result.state):
        objective = setup(width=row["width"], seed=row["seed"]).objective
        measured = {f"train_{k}": v for k, v in jn.evaluate(objective, params, state,
                                                             train).items()}
        measured.update((f"test_{k}", v) for k, v in
                        jn.evaluate(objective, params, state, test).items())
        rows.append({**row, **measured})
    return rows


def summarize(rows: list[dict], widths: list[int]) -> dict:
    """Per width: each metric's mean, min, max and per-seed values, and the accuracy gap."""
    summary = {}
    for width in widths:
        mine = [row for row in rows if row["width"] == width]
        entry = {}
        for name in ("train_accuracy", "test_accuracy", "train_loss", "test_loss"):
            values = [row[name] for row in mine]
            entry[name] = {"mean": float(np.mean(values)), "min": float(np.min(values)),
                           "max": float(np.max(values)), "per_seed": values}
        entry["gap"] = entry["train_accuracy"]["mean"] - entry["test_accuracy"]["mean"]
        summary[str(width)] = entry
    return summary


def plot(result: jn.SweepResult, rows: list[dict], widths: list[int], title: str, path) -> None:
    """Accuracy against width (``jn.viz.sweep_curve``) beside the test accuracy per epoch."""
    figure = Figure(figsize=(11, 4))
    curve_ax, epoch_ax = figure.subplots(1, 2)
    jn.viz.sweep_curve(rows, x="width", metric=["train_accuracy", "test_accuracy"],
                       ax=curve_ax, title="final accuracy (mean, min-max over seeds)")
    curve_ax.set_xlabel("hidden width (neurons)")
    curve_ax.set_ylabel("accuracy")
    _common.plot_mean_histories(epoch_ax, result, "width", widths, "val_accuracy", "width")
    epoch_ax.set_ylabel("test accuracy")
    epoch_ax.set_title("test accuracy per epoch (mean over seeds)")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80, bbox_inches="tight")


def main(argv=None) -> dict:
    parser = _common.parser("width_sweep", __doc__)
    parser.add_argument("--max-width", type=int, default=512,
                        help="widths are the powers of 2 up to this")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per width")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    _common.start_jax(args, every_core=True)
    start = time.perf_counter()
    widths = [2**k for k in range(int(np.log2(args.max_width)) + 1)]
    seeds, epochs, n_train = args.seeds, args.epochs, None
    if args.quick:
        widths, seeds, epochs, n_train = [1, 256], 2, 3, 1000
    args.out.mkdir(parents=True, exist_ok=True)

    data = jn.data.load("mnist1d")
    train = (jnp.asarray(data.x_train[:n_train]), jnp.asarray(data.y_train[:n_train]))
    test = (jnp.asarray(data.x_test), jnp.asarray(data.y_test))
    setup = make_setup(train[0][:1], args.learning_rate)
    configs = jn.grid(width=widths, seed=[args.seed + s for s in range(seeds)])
    swept = time.perf_counter()
    result = jn.sweep(setup, configs, train, epochs=epochs, batch_size=args.batch_size,
                      validation_data=test, verbose=False)
    sweep_time = time.perf_counter() - swept
    rows = measure(result, setup, train, test)
    summary = summarize(rows, widths)
    for width, entry in summary.items():
        print(f"width {width:>4}: train accuracy {entry['train_accuracy']['mean']:.3f}, "
              f"test accuracy {entry['test_accuracy']['mean']:.3f}")

    title = (f"MNIST-1D, 40 -> width -> 10 (ReLU), Adam {args.learning_rate:g}, batch "
             f"{args.batch_size}, {epochs} epochs, {seeds} seeds")
    plot(result, rows, widths, title, args.out / "accuracy.png")
    settings = {"dataset": "mnist1d", "n_train": len(train[0]), "n_test": len(test[0]),
                "widths": widths, "seeds": seeds, "epochs": epochs,
                "batch_size": args.batch_size, "optimizer": "adam",
                "learning_rate": args.learning_rate, "activation": "relu", "seed": args.seed,
                "quick": args.quick}
    metrics = _common.write_metrics(args.out, "width_sweep", settings, start, widths=summary,
                                    configurations=len(configs), sweep_time_s=sweep_time)
    print(f"wall time {metrics['wall_time_s']:.1f} s (the sweep {sweep_time:.1f} s); "
          f"results in {args.out}")
    return metrics


if __name__ == "__main__":
    main()
