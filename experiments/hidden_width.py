"""Hidden width and over-fitting: train and test accuracy against the width of one hidden layer.

Networks 2 -> Dense(width), ReLU -> Dense(2) with widths 1, 2, 4, ..., 512 are trained by
full-batch Adam, without any penalty, on a small noisy training set (60 points of the two moons
with noise 0.3), and measured on 500 test points. For each width, several seeds (the
initialisation) train at once: every width and seed is one configuration of a single `jn.sweep`
call, the seeds of one width one program vmapped over them. Narrow networks under-fit
(training and test accuracy low and close); wide ones fit the training set perfectly, noise
included, and the gap between training and test accuracy grows.

    python experiments/hidden_width.py                   # 10 widths x 5 seeds, a few minutes
    python experiments/hidden_width.py --n-train 200     # more data: a smaller gap

Writes to --out (default runs/hidden_width/): accuracy.png (accuracy and loss against width,
mean and spread over seeds), boundaries.png (the boundaries of a few widths on the training
points) and metrics.json (per width: the mean, the spread and each seed's values).
"""

from __future__ import annotations

import time

import _common
import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

import jaxnet as jn

GRID = 150  # grid points per axis for the boundary pictures
SHOWN = (1, 4, 32, 512)  # widths whose boundaries are drawn, where trained


def build_model(width: int) -> jn.Sequential:
    """One hidden layer of ``width`` ReLU neurons, two classes."""
    return jn.Sequential([jn.Dense(width), jn.relu, jn.Dense(2)])


def make_setup(x_example: jax.Array, learning_rate: float, init_keys: jax.Array):
    """``setup(width, seed)`` for ``jn.sweep``: the network of that width initialised from the
    seed-th of ``init_keys``, full-batch Adam."""

    def setup(width: int, seed: int) -> jn.Trial:
        model = build_model(width)
        params, state = model.init(init_keys[seed], x_example)
        objective = jn.objective(model, jn.losses.softmax_cross_entropy)
        return jn.Trial(objective, optax.adam(learning_rate), params, state, init_keys[seed])

    return setup


def train_all(setup, widths: list[int], seeds: int, train: tuple, steps: int) -> jn.SweepResult:
    """Every width and seed as one ``jn.sweep``: an epoch is one full-batch step, so ``steps``
    epochs. The seeds of one width train as one program vmapped over them; each width is its
    own program (a network exactly that wide)."""
    return jn.sweep(setup, jn.grid(width=widths, seed=list(range(seeds))), train, epochs=steps,
                    batch_size=len(train[0]), verbose=False)


def measure(result: jn.SweepResult, setup, data: tuple) -> dict[str, list[float]]:
    """Each configuration's loss and accuracy on ``data`` in evaluation mode, as lists over the
    configurations."""
    measured: dict[str, list[float]] = {}
    for config, params, state in zip(result.configs, result.params, result.state):
        for name, value in jn.evaluate(setup(**config).objective, params, state, data).items():
            measured.setdefault(name, []).append(value)
    return measured


def summarize(train_metrics: dict, test_metrics: dict) -> dict:
    """Each metric's mean, spread and per-seed values, and the mean accuracy gap."""
    measured = {f"train_{k}": v for k, v in train_metrics.items()}
    measured.update((f"test_{k}", v) for k, v in test_metrics.items())
    summary = {name: {"mean": float(np.mean(v)), "std": float(np.std(v)),
                      "per_seed": np.asarray(v)} for name, v in measured.items()}
    summary["gap"] = summary["train_accuracy"]["mean"] - summary["test_accuracy"]["mean"]
    return summary


def plot_accuracy(widths, results: dict, title: str, path) -> None:
    """Accuracy and loss against width: means over seeds, with their spread (one standard
    deviation) shaded, and the gap between training and test accuracy filled."""
    figure = Figure(figsize=(10, 3.8))
    acc_ax, loss_ax = figure.subplots(1, 2)
    for ax, metric in ((acc_ax, "accuracy"), (loss_ax, "loss")):
        for split, colour in (("train", "C0"), ("test", "C1")):
            mean = np.array([results[str(w)][f"{split}_{metric}"]["mean"] for w in widths])
            std = np.array([results[str(w)][f"{split}_{metric}"]["std"] for w in widths])
            ax.plot(widths, mean, marker="o", color=colour,
                    label=f"{'training' if split == 'train' else 'test'} {metric}")
            ax.fill_between(widths, mean - std, mean + std, color=colour, alpha=0.2)
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.set_xlabel("hidden width (neurons)")
        ax.set_ylabel(metric if metric == "accuracy" else "cross-entropy loss")
        ax.grid(alpha=0.3)
    train_mean = [results[str(w)]["train_accuracy"]["mean"] for w in widths]
    test_mean = [results[str(w)]["test_accuracy"]["mean"] for w in widths]
    acc_ax.fill_between(widths, test_mean, train_mean, color="C3", alpha=0.15,
                        label="gap (over-fitting)")
    acc_ax.set_title("training and test accuracy")
    loss_ax.set_yscale("log")
    loss_ax.yaxis.set_minor_formatter(NullFormatter())
    loss_ax.set_title("training and test loss")
    acc_ax.legend()
    loss_ax.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80, bbox_inches="tight")


def main(argv=None) -> dict:
    parser = _common.parser("hidden_width", __doc__)
    parser.add_argument("--dataset", choices=["moons", "circles", "xor"], default="moons")
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--n-train", type=int, default=60, help="training points")
    parser.add_argument("--max-width", type=int, default=512,
                        help="widths are the powers of 2 up to this")
    parser.add_argument("--seeds", type=int, default=5, help="initialisations per width")
    parser.add_argument("--steps", type=int, default=3000, help="full-batch Adam steps")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    args = parser.parse_args(argv)
    _common.start_jax(args, every_core=True)
    start = time.perf_counter()
    if args.quick:
        widths, seeds, steps = [1, 32, 512], 2, 600
    else:
        widths = [2**k for k in range(int(np.log2(args.max_width)) + 1)]
        seeds, steps = args.seeds, args.steps
    args.out.mkdir(parents=True, exist_ok=True)

    # 2,500 points give 2,000 training candidates and the 500 test points; the first n_train
    # candidates are the training set.
    data = jn.data.load(args.dataset, n_samples=2500, noise=args.noise, seed=args.seed)
    train = (jnp.asarray(data.x_train[:args.n_train]), jnp.asarray(data.y_train[:args.n_train]))
    test = (jnp.asarray(data.x_test), jnp.asarray(data.y_test))
    grid = jn.viz.boundary_grid(np.asarray(train[0]), GRID)
    setup = make_setup(train[0][:1], args.learning_rate,
                       jax.random.split(jax.random.key(args.seed), seeds))
    swept = time.perf_counter()
    result = train_all(setup, widths, seeds, train, steps)
    sweep_time = time.perf_counter() - swept
    train_metrics, test_metrics = measure(result, setup, train), measure(result, setup, test)
    results, grids = {}, {}
    for width in widths:
        mine = [i for i, c in enumerate(result.configs) if c["width"] == width]
        r = results[str(width)] = summarize(
            {k: np.take(v, mine) for k, v in train_metrics.items()},
            {k: np.take(v, mine) for k, v in test_metrics.items()})
        if width in SHOWN:
            model = build_model(width)
            outputs = model.apply(result.params[mine[0]], result.state[mine[0]],
                                  jnp.asarray(grid.reshape(-1, 2)))[0]
            grids[width] = np.asarray(outputs).reshape(GRID, GRID, 2)
        print(f"width {width:4d}: train accuracy {r['train_accuracy']['mean']:.3f}, "
              f"test accuracy {r['test_accuracy']['mean']:.3f}")

    title = (f"{args.n_train} training points ({args.dataset}, noise {args.noise}), "
             f"{seeds} seeds, {steps} steps")
    plot_accuracy(widths, results, title, args.out / "accuracy.png")
    shown = [w for w in SHOWN if w in grids]
    figure = Figure(figsize=(3.6 * len(shown), 3.6))
    for ax, width in zip(figure.subplots(1, len(shown), squeeze=False)[0], shown):
        r = results[str(width)]
        jn.viz.decision_boundary(
            grids[width], np.asarray(train[0]), np.asarray(train[1]), ax=ax, resolution=GRID,
            title=f"width {width}: train {r['train_accuracy']['per_seed'][0]:.2f}, "
                  f"test {r['test_accuracy']['per_seed'][0]:.2f}")
    figure.suptitle(f"decision boundaries on the {args.n_train} training points (seed 0)")
    figure.tight_layout()
    figure.savefig(args.out / "boundaries.png", dpi=80, bbox_inches="tight")

    settings = {"dataset": args.dataset, "noise": args.noise, "n_train": args.n_train,
                "n_test": len(data.x_test), "widths": widths, "seeds": seeds, "steps": steps,
                "activation": "relu", "optimizer": "adam", "learning_rate": args.learning_rate,
                "seed": args.seed, "quick": args.quick}
    metrics = _common.write_metrics(args.out, "hidden_width", settings, start, widths=results,
                                    sweep_time_s=sweep_time)
    print(f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


if __name__ == "__main__":
    main()
