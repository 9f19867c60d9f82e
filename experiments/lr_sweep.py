"""Learning rate: validation accuracy against the learning rate, over seeds, as one sweep.

An MLP 40 -> Dense(100), ReLU -> Dense(100), ReLU -> Dense(10) is trained on MNIST-1D by SGD with
momentum 0.9, batches of 100, at learning rates from 1e-4 to 3 on a log grid, each with several
seeds (the seed draws the initialisation and the batch order). All the configurations train as
one `jn.sweep` call: one compiled program, vmapped over the rates and seeds. 500 of the 4,000
training signals are held out for validation; the configuration with the best final validation
accuracy is then measured once on the 1,000 test signals. Too small a rate barely moves in the
epochs given; too large a rate diverges, and that configuration alone stops (its last finite
parameters kept) while the others go on.

    python experiments/lr_sweep.py                          # 10 rates x 3 seeds, 30 epochs
    python experiments/lr_sweep.py --quick                  # 4 rates x 2 seeds, 3 epochs
    python experiments/lr_sweep.py --rates 0.01 0.1 --seeds 5

Writes to --out (default runs/lr_sweep/): accuracy.png (final training and validation accuracy
against the rate, mean and min-max band over seeds; validation loss per epoch for each rate) and
metrics.json (per rate: the mean, min and max of the final metrics, and how each seed stopped;
the best configuration and its test accuracy).
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

RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0]
VALIDATION = 500  # training signals held out to choose the rate


def build_model() -> jn.Sequential:
    """Two hidden layers of 100 ReLU neurons, ten classes."""
    return jn.Sequential([jn.Dense(100), jn.relu, jn.Dense(100), jn.relu, jn.Dense(10)])


def make_setup(x_example: jax.Array, momentum: float):
    """``setup(lr, seed)`` for ``jn.sweep``: the model initialised from the seed, SGD at ``lr``."""
    model = build_model()
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)

    def setup(lr: float, seed: int) -> jn.Trial:
        init_key, run_key = jax.random.split(jax.random.key(seed))
        params, state = model.init(init_key, x_example)
        return jn.Trial(objective, optax.sgd(lr, momentum=momentum), params, state, run_key)

    return setup


def summarize(result: jn.SweepResult, rates: list[float]) -> dict:
    """Per rate: each final metric's mean, min and max over the seeds, and the stop reasons."""
    rows = result.table()
    summary = {}
    for lr in rates:
        mine = [row for row in rows if row["lr"] == lr]
        entry = {name: {"mean": float(np.nanmean(v)), "min": float(np.nanmin(v)),
                        "max": float(np.nanmax(v)), "per_seed": v}
                 for name in ("accuracy", "val_accuracy", "val_loss")
                 if np.isfinite(v := [float(row[name]) for row in mine]).any()}
        entry["stop_reasons"] = [row["stop_reason"] for row in mine]
        entry["epochs"] = [row["epochs"] for row in mine]
        summary[f"{lr:g}"] = entry
    return summary


def plot(result: jn.SweepResult, rates: list[float], title: str, path) -> None:
    """Final accuracies against the rate (``jn.viz.sweep_curve``) beside the validation loss per
    epoch, the mean over seeds for each rate."""
    figure = Figure(figsize=(11, 4))
    curve_ax, loss_ax = figure.subplots(1, 2)
    jn.viz.sweep_curve(result, x="lr", metric=["accuracy", "val_accuracy"], over="seed",
                       ax=curve_ax, title="final accuracy (mean, min-max over seeds)")
    curve_ax.set_xlabel("learning rate")
    curve_ax.set_ylabel("accuracy")
    _common.plot_mean_histories(loss_ax, result, "lr", rates, "val_loss", "learning rate",
                                label=lambda lr: f"{lr:g}")
    loss_ax.set_ylabel("validation loss")
    loss_ax.set_title("validation loss (mean over seeds)")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80, bbox_inches="tight")


def main(argv=None) -> dict:
    parser = _common.parser("lr_sweep", __doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=RATES,
                        help="learning rates (default: 1e-4 to 3, two a decade)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per rate")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    _common.start_jax(args, every_core=True)
    start = time.perf_counter()
    rates, seeds, epochs, n_train = args.rates, args.seeds, args.epochs, None
    if args.quick:
        rates, seeds, epochs, n_train = [1e-3, 1e-2, 0.1, 3.0], 2, 3, 1500
    args.out.mkdir(parents=True, exist_ok=True)

    data = jn.data.load("mnist1d")
    (x, y), (x_val, y_val) = jn.data.split(data.x_train, data.y_train,
                                           VALIDATION / len(data.x_train), seed=args.seed)
    train = (jnp.asarray(x[:n_train]), jnp.asarray(y[:n_train]))
    validation = (jnp.asarray(x_val), jnp.asarray(y_val))
    configs = jn.grid(lr=rates, seed=[args.seed + s for s in range(seeds)])
    setup = make_setup(train[0][:1], args.momentum)
    swept = time.perf_counter()
    result = jn.sweep(setup, configs, train, epochs=epochs, batch_size=args.batch_size,
                      validation_data=validation, verbose=False)
    sweep_time = time.perf_counter() - swept
    summary = summarize(result, rates)
    for lr, entry in summary.items():
        accuracy = entry.get("val_accuracy", {}).get("mean", float("nan"))
        print(f"lr {lr:>6}: validation accuracy {accuracy:.3f} "
              f"({', '.join(sorted(set(entry['stop_reasons'])))})")

    best = result.best("val_accuracy")
    trial = setup(**configs[best])
    test = jn.evaluate(trial.objective, result.params[best], result.state[best],
                       (jnp.asarray(data.x_test), jnp.asarray(data.y_test)))
    print(f"best: {configs[best]}, validation accuracy "
          f"{result.histories[best]['val_accuracy'][-1]:.3f}, test accuracy "
          f"{test['accuracy']:.3f}")

    title = (f"MNIST-1D MLP 40-100-100-10, SGD momentum {args.momentum:g}, batch "
             f"{args.batch_size}, {epochs} epochs, {seeds} seeds")
    plot(result, rates, title, args.out / "accuracy.png")
    settings = {"dataset": "mnist1d", "n_train": len(train[0]), "n_validation": VALIDATION,
                "n_test": len(data.x_test), "model": "40-100-100-10 relu", "rates": rates,
                "seeds": seeds, "epochs": epochs, "batch_size": args.batch_size,
                "optimizer": f"sgd, momentum {args.momentum:g}", "seed": args.seed,
                "quick": args.quick}
    metrics = _common.write_metrics(
        args.out, "lr_sweep", settings, start, rates=summary,
        best={"config": configs[best], "val_accuracy": result.histories[best]["val_accuracy"][-1],
              "test_accuracy": test["accuracy"], "test_loss": test["loss"]},
        configurations=len(configs), sweep_time_s=sweep_time)
    print(f"wall time {metrics['wall_time_s']:.1f} s (the sweep {sweep_time:.1f} s); "
          f"results in {args.out}")
    return metrics


if __name__ == "__main__":
    main()
