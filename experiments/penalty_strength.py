"""Penalty strength: the decision boundary, test accuracy and weight sparsity against lambda, for
the L2 and the L1 penalty.

A network 2 -> Dense(128), tanh -> Dense(2), wide enough to over-fit, is trained by full-batch
Adam (learning rate decayed to 0 by a cosine schedule) on a small noisy training set (60 points of
the two moons with noise 0.3) with the loss plus lambda * penalty on its weight matrices (never the
biases): L2 = 1/2 sum w^2 or L1 = sum |w|. Both penalties at every strength are the
configurations of one `jn.sweep` call, all from the same initialisation; the strengths of one
penalty train at once, as one program vmapped over lambda. A small lambda smooths the over-fitted
boundary and raises test accuracy; a large one flattens the network into under-fitting. L1 drives
most weights to zero (sparse), L2 only shrinks them.

    python experiments/penalty_strength.py               # 2 penalties x 9 strengths, minutes

Writes to --out (default runs/penalty_strength/): boundaries.png (L2 and L1 boundaries for
several lambdas), accuracy.png (training and test accuracy against lambda), sparsity.png (the
fraction of near-zero weights against lambda, and a histogram of the weights' magnitudes) and
metrics.json (per penalty and lambda: accuracies, losses, sparsity, weight norms).
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

GRID = 150  # grid points per axis for the boundary pictures
PENALTIES = {"l2": jn.regularizers.l2, "l1": jn.regularizers.l1}
STRENGTHS = [0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1]
SHOWN = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)  # strengths whose boundaries are drawn, where trained
HISTOGRAM_STRENGTH = 1e-3  # the lambda whose weights the histogram compares
FLOOR = 1e-8  # magnitudes below this are counted in the histogram's first bin


def build_model(width: int) -> jn.Sequential:
    """One hidden layer of ``width`` tanh neurons, two classes."""
    return jn.Sequential([jn.Dense(width), jn.tanh, jn.Dense(2)])


def make_setup(width: int, x_example: jax.Array, steps: int, learning_rate: float,
               key: jax.Array):
    """``setup(penalty, strength)`` for ``jn.sweep``: every configuration starts from the same
    initialisation (from ``key``) and takes ``steps`` full-batch Adam steps with a
    cosine-decayed learning rate, so the weights L1 pushes to zero settle there."""
    model = build_model(width)
    params, state = model.init(key, x_example)

    def setup(penalty: str, strength: float) -> jn.Trial:
        objective = jn.objective(model, jn.losses.softmax_cross_entropy,
                                 PENALTIES[penalty](strength))
        optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
        return jn.Trial(objective, optimizer, params, state, key)

    return setup


def train_all(setup, strengths: list[float], train: tuple, steps: int) -> jn.SweepResult:
    """Both penalties at every strength as one ``jn.sweep`` (an epoch is one full-batch step):
    the strengths of one penalty form one program vmapped over lambda."""
    return jn.sweep(setup, jn.grid(penalty=list(PENALTIES), strength=strengths), train,
                    epochs=steps, batch_size=len(train[0]), verbose=False)


def measure(result: jn.SweepResult, setup, data: tuple) -> dict[str, np.ndarray]:
    """Each configuration's loss (penalty included) and accuracy on ``data`` in evaluation
    mode, as arrays over the configurations."""
    measured: dict[str, list[float]] = {}
    for config, params, state in zip(result.configs, result.params, result.state):
        for name, value in jn.evaluate(setup(**config).objective, params, state, data).items():
            measured.setdefault(name, []).append(value)
    return {name: np.asarray(values) for name, values in measured.items()}


def summarize(train_metrics: dict, test_metrics: dict, weights: np.ndarray,
              threshold: float) -> list[dict]:
    """One record per strength: accuracies, losses (penalty included), sparsity, weight norms."""
    magnitudes = np.abs(weights)
    records = []
    for i in range(len(weights)):
        record = {f"train_{k}": float(v[i]) for k, v in train_metrics.items()}
        record.update((f"test_{k}", float(v[i])) for k, v in test_metrics.items())
        record.update(near_zero_fraction=float(np.mean(magnitudes[i] < threshold)),
                      l1_norm=float(magnitudes[i].sum()),
                      l2_norm=float(np.sqrt(np.sum(magnitudes[i] ** 2))),
                      max_abs_weight=float(magnitudes[i].max()))
        records.append(record)
    return records


def plot_against_strength(ax, strengths, results: dict, key: str, ylabel: str) -> None:
    """``key`` against lambda for each penalty on a log axis; lambda = 0 as a dotted line."""
    for penalty, colour in (("l2", "C0"), ("l1", "C3")):
        values = [r[key] for r in results[penalty]]
        ax.plot(strengths[1:], values[1:], marker="o", color=colour, label=penalty.upper())
    ax.axhline(results["l2"][0][key], color="grey", linestyle=":", label="no penalty")
    ax.set_xscale("log")
    ax.set_xlabel("penalty strength lambda")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()


def plot_accuracy(strengths, results: dict, title: str, path) -> None:
    figure = Figure(figsize=(10, 3.8))
    train_ax, test_ax = figure.subplots(1, 2, sharey=True)
    plot_against_strength(train_ax, strengths, results, "train_accuracy", "training accuracy")
    plot_against_strength(test_ax, strengths, results, "test_accuracy", "test accuracy")
    train_ax.set_title("training accuracy")
    test_ax.set_title("test accuracy")
    test_ax.yaxis.set_tick_params(labelleft=True)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80, bbox_inches="tight")


def plot_sparsity(strengths, results: dict, weights: dict, threshold: float, title: str,
                  path) -> None:
    figure = Figure(figsize=(10, 3.8))
    fraction_ax, histogram_ax = figure.subplots(1, 2)
    plot_against_strength(fraction_ax, strengths, results, "near_zero_fraction",
                          f"fraction of weights with |w| < {threshold:g}")
    fraction_ax.set_title("near-zero weights")
    shown = strengths.index(HISTOGRAM_STRENGTH) if HISTOGRAM_STRENGTH in strengths else -1
    bins = np.linspace(np.log10(FLOOR), 1.0, 46)
    for label, w, colour in (("no penalty", weights["l2"][0], "grey"),
                             ("L2", weights["l2"][shown], "C0"),
                             ("L1", weights["l1"][shown], "C3")):
        histogram_ax.hist(np.log10(np.maximum(np.abs(w), FLOOR)), bins=bins, histtype="step",
                          linewidth=1.5, color=colour, label=label)
    histogram_ax.axvline(np.log10(threshold), color="black", linestyle="--", linewidth=0.8,
                         label=f"|w| = {threshold:g}")
    histogram_ax.set_xlabel(f"log10 |w| (values below {FLOOR:g} in the first bin)")
    histogram_ax.set_ylabel("number of weights")
    histogram_ax.set_yscale("log")
    histogram_ax.set_ylim(top=histogram_ax.get_ylim()[1] * 30)  # room for the legend
    histogram_ax.set_title(f"weight magnitudes at lambda {strengths[shown]:g}")
    histogram_ax.legend(loc="upper left", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80, bbox_inches="tight")


def main(argv=None) -> dict:
    parser = _common.parser("penalty_strength", __doc__)
    parser.add_argument("--dataset", choices=["moons", "circles", "xor"], default="moons")
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--n-train", type=int, default=60, help="training points")
    parser.add_argument("--width", type=int, default=128, help="hidden neurons")
    parser.add_argument("--steps", type=int, default=3000, help="full-batch Adam steps")
    parser.add_argument("--learning-rate", type=float, default=0.01, help="before the decay")
    parser.add_argument("--threshold", type=float, default=1e-3,
                        help="weights smaller than this in magnitude count as zero")
    args = parser.parse_args(argv)
    _common.start_jax(args, every_core=True)
    start = time.perf_counter()
    strengths, steps = ([0.0, 1e-3, 1e-2, 1e-1], 600) if args.quick else (STRENGTHS, args.steps)
    args.out.mkdir(parents=True, exist_ok=True)

    # As in the hidden-width study: the first n_train of 2,000 candidates train, 500 points test.
    data = jn.data.load(args.dataset, n_samples=2500, noise=args.noise, seed=args.seed)
    train = (jnp.asarray(data.x_train[:args.n_train]), jnp.asarray(data.y_train[:args.n_train]))
    test = (jnp.asarray(data.x_test), jnp.asarray(data.y_test))
    grid = jn.viz.boundary_grid(np.asarray(train[0]), GRID)
    setup = make_setup(args.width, train[0][:1], steps, args.learning_rate,
                       jax.random.key(args.seed))
    swept = time.perf_counter()
    result = train_all(setup, strengths, train, steps)
    sweep_time = time.perf_counter() - swept
    train_metrics, test_metrics = measure(result, setup, train), measure(result, setup, test)
    model = build_model(args.width)
    results, weights, grids = {}, {}, {}
    for penalty in PENALTIES:
        mine = [i for i, c in enumerate(result.configs) if c["penalty"] == penalty]
        weights[penalty] = np.stack([
            np.concatenate([np.ravel(result.params[i][layer]["w"])
                            for layer in ("dense_0", "dense_1")]) for i in mine])
        grids[penalty] = np.stack([
            np.asarray(model.apply(result.params[i], result.state[i],
                                   jnp.asarray(grid.reshape(-1, 2)))[0]).reshape(GRID, GRID, 2)
            for i in mine])
        results[penalty] = summarize({k: v[mine] for k, v in train_metrics.items()},
                                     {k: v[mine] for k, v in test_metrics.items()},
                                     weights[penalty], args.threshold)
        for strength, r in zip(strengths, results[penalty]):
            r["strength"] = strength
            print(f"{penalty} lambda {strength:<7g}: train accuracy {r['train_accuracy']:.3f}, "
                  f"test accuracy {r['test_accuracy']:.3f}, "
                  f"near-zero weights {r['near_zero_fraction']:.3f}")

    setting = (f"{args.n_train} training points ({args.dataset}, noise {args.noise}), "
               f"{args.width} tanh neurons, {steps} steps")
    shown = [s for s in SHOWN if s in strengths]
    figure = Figure(figsize=(3.2 * len(shown), 6.4))
    panels = figure.subplots(2, len(shown), squeeze=False)
    for row, penalty in zip(panels, PENALTIES):
        for ax, strength in zip(row, shown):
            r = results[penalty][strengths.index(strength)]
            name = "no penalty" if strength == 0 else f"{penalty.upper()}, lambda {strength:g}"
            jn.viz.decision_boundary(
                grids[penalty][strengths.index(strength)], np.asarray(train[0]),
                np.asarray(train[1]), ax=ax, resolution=GRID,
                title=f"{name}\ntrain {r['train_accuracy']:.2f}, test {r['test_accuracy']:.2f}")
    figure.suptitle(f"decision boundaries against penalty strength: {setting}")
    figure.tight_layout()
    figure.savefig(args.out / "boundaries.png", dpi=80, bbox_inches="tight")
    plot_accuracy(strengths, results, setting, args.out / "accuracy.png")
    plot_sparsity(strengths, results, weights, args.threshold, setting, args.out / "sparsity.png")

    settings = {"dataset": args.dataset, "noise": args.noise, "n_train": args.n_train,
                "n_test": len(data.x_test), "width": args.width, "activation": "tanh",
                "strengths": strengths, "steps": steps, "optimizer": "adam, cosine decay",
                "learning_rate": args.learning_rate, "threshold": args.threshold,
                "seed": args.seed, "quick": args.quick}
    metrics = _common.write_metrics(args.out, "penalty_strength", settings, start,
                                    penalties=results, sweep_time_s=sweep_time)
    print(f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


if __name__ == "__main__":
    main()
