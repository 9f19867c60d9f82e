"""Losses side by side: their shapes, and what the choice does to training.

1. Each loss of ``jn.losses`` as a function of one prediction for a fixed target, with its
   derivative (what gradient descent follows): MSE and MAE against a regression prediction
   (target 0); binary cross-entropy, hinge and 0-1 against a score (label 1); softmax
   cross-entropy, the multi-class SVM loss and 0-1 against the true class's score (class 0 of
   scores ``[s, 0, 0]``).
2. A straight line ``y = 2x + 0.5`` fitted by one ``Dense(1)`` to 100 noisy points, 10 of them
   outliers pulled far up: MSE against MAE, judged on clean test points from the true line.
3. An MLP (2 -> 32 -> 32 -> 1, ReLU) on the moons toy set: binary cross-entropy against hinge,
   test accuracy per epoch and the margins ``t * score`` (``t = +-1``) each loss leaves on the
   training set.

    python experiments/loss_functions.py            # about 20 s
    python experiments/loss_functions.py --quick    # 200 line steps, 10 epochs

Writes metrics.json, loss_shapes.png, regression_outliers.png and classification.png to --out
(default runs/loss_functions/).
"""

from __future__ import annotations

import argparse
import time

import _common
import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

import jaxnet as jn

SLOPE, INTERCEPT = 2.0, 0.5


def loss_curve(loss, prediction_of, target, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A loss and its derivative along one scalar, for a single example.

    Args:
        loss: ``loss(pred, target) -> scalar`` from ``jn.losses``.
        prediction_of: maps the scalar to the example's prediction (a batch of one).
        target: the example's target (a batch of one).
        values: the scalars, shape ``(K,)``.

    Returns:
        The loss and its derivative at each value, two arrays of shape ``(K,)``.
    """
    along = jax.vmap(jax.value_and_grad(lambda v: loss(prediction_of(v), target)))
    value, slope = along(jnp.asarray(values, jnp.float32))
    return np.asarray(value), np.asarray(slope)


def loss_shapes(values: np.ndarray) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Each panel's losses along ``values``: regression, binary and multi-class."""
    losses = jn.losses
    zero = jnp.zeros((), jnp.float32)
    panels = {
        "regression": (lambda v: v[None], jnp.zeros(1, jnp.float32),
                       {"MSE": losses.mse, "MAE": losses.mae}),
        "binary": (lambda v: v[None], jnp.ones(1, jnp.int32),
                   {"binary cross-entropy": losses.binary_cross_entropy,
                    "hinge": losses.hinge, "0-1": losses.zero_one}),
        "multi-class": (lambda v: jnp.stack([v, zero, zero])[None], jnp.zeros(1, jnp.int32),
                        {"softmax cross-entropy": losses.softmax_cross_entropy,
                         "multi-class SVM (hinge)": losses.multiclass_hinge,
                         "0-1": losses.zero_one}),
    }
    return {panel: {name: loss_curve(loss, prediction_of, target, values)
                    for name, loss in named.items()}
            for panel, (prediction_of, target, named) in panels.items()}


def line_with_outliers(n: int, n_outliers: int, seed: int):
    """Noisy points on ``y = 2x + 0.5``, ``n_outliers`` of them moved up by 3 to 6.

    Returns:
        ``x`` and ``y`` float32 of shape ``(n, 1)``, and the boolean outlier mask ``(n,)``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, 1))
    y = SLOPE * x + INTERCEPT + 0.1 * rng.standard_normal((n, 1))
    outlier = np.zeros(n, bool)
    outlier[rng.choice(n, n_outliers, replace=False)] = True
    y[outlier] += rng.uniform(3.0, 6.0, (n_outliers, 1))
    return x.astype(np.float32), y.astype(np.float32), outlier


def fit_line(loss, x, y, steps: int, seed: int) -> dict[str, float]:
    """One ``Dense(1)`` fitted by full-batch Adam (0.05) under ``loss``; its slope and intercept."""
    model = jn.Sequential([jn.Dense(1)])
    params, state = model.init(jax.random.key(seed), x[:1])
    result = jn.fit(jn.objective(model, loss, metrics={}), params, state, optax.adam(0.05),
                    (x, y), epochs=steps, batch_size=len(x), key=jax.random.key(seed),
                    verbose=False)
    layer = result.params["dense_0"]
    return {"slope": float(layer["w"][0, 0]), "intercept": float(layer["b"][0])}


def regression(args, steps: int) -> tuple[dict, tuple]:
    """MSE against MAE on the line with outliers, measured on clean points of the true line."""
    x, y, outlier = line_with_outliers(100, 10, args.seed)
    x_test = np.linspace(-1.0, 1.0, 201, dtype=np.float32)[:, None]
    y_test = SLOPE * x_test + INTERCEPT
    results = {}
    for name, loss in (("mse", jn.losses.mse), ("mae", jn.losses.mae)):
        line = fit_line(loss, x, y, steps, args.seed)
        pred = line["slope"] * x_test + line["intercept"]
        results[name] = {**line, "test_mse": float(np.mean((pred - y_test) ** 2)),
                         "test_mae": float(np.mean(np.abs(pred - y_test)))}
        print(f"line fitted under {name.upper()}: y = {line['slope']:.3f} x + "
              f"{line['intercept']:.3f}; clean test MAE {results[name]['test_mae']:.3f}")
    return results, (x, y, outlier)


def classification(args, epochs: int) -> tuple[dict, dict]:
    """Binary cross-entropy against hinge on the moons; test accuracy and training margins."""
    data = jn.data.load("moons", n_samples=1000, noise=0.2, seed=args.seed)
    model = jn.Sequential([jn.Dense(32), jn.relu, jn.Dense(32), jn.relu, jn.Dense(1)])
    init_key, fit_key = jax.random.split(jax.random.key(args.seed))
    params, state = model.init(init_key, data.x_train[:1])
    results, histories = {}, {}
    for name, loss in (("binary_cross_entropy", jn.losses.binary_cross_entropy),
                       ("hinge", jn.losses.hinge)):
        objective = jn.objective(model, loss)
        result = jn.fit(objective, params, state, optax.adam(0.01),
                        (data.x_train, data.y_train), epochs=epochs, batch_size=32, key=fit_key,
                        validation_data=(data.x_test, data.y_test), verbose=False)
        scores, _ = model.apply(result.params, result.state, data.x_train)
        margins = np.where(data.y_train == 1, 1.0, -1.0) * np.asarray(scores)[:, 0]
        test = jn.evaluate(objective, result.params, result.state,
                           (data.x_test, data.y_test))
        results[name] = {
            "test_accuracy": test["accuracy"],
            "train_accuracy": float(np.mean(margins > 0)),
            "median_margin": float(np.median(margins)),
            "fraction_margin_at_least_1": float(np.mean(margins >= 1.0)),
        }
        histories[name] = {"val_accuracy": result.history["val_accuracy"], "margins": margins}
        print(f"moons under {name}: test accuracy {test['accuracy']:.3f}, median training "
              f"margin {results[name]['median_margin']:.2f}")
    return results, histories


def parse_args(argv=None) -> argparse.Namespace:
    parser = _common.parser("loss_functions", __doc__)
    parser.add_argument("--line-steps", type=int, default=500,
                        help="full-batch Adam steps for each fitted line")
    parser.add_argument("--epochs", type=int, default=100, help="epochs on the moons")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    _common.start_jax(args)
    start = time.perf_counter()
    line_steps, epochs = (200, 10) if args.quick else (args.line_steps, args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)

    values = np.linspace(-3.0, 3.0, 241)
    plot_shapes(values, loss_shapes(values)).savefig(
        args.out / "loss_shapes.png", dpi=100, bbox_inches="tight")
    lines, points = regression(args, line_steps)
    plot_regression(lines, *points).savefig(
        args.out / "regression_outliers.png", dpi=100, bbox_inches="tight")
    classes, histories = classification(args, epochs)
    plot_classification(classes, histories).savefig(
        args.out / "classification.png", dpi=100, bbox_inches="tight")

    settings = {
        "line_steps": line_steps, "line_points": 100, "outliers": 10,
        "line_optimizer": "adam(0.05), full batch", "moons_epochs": epochs,
        "moons": {"n_samples": 1000, "noise": 0.2}, "moons_optimizer": "adam(0.01)",
        "batch_size": 32, "seed": args.seed, "quick": args.quick,
    }
    metrics = _common.write_metrics(
        args.out, "loss_functions", settings, start,
        regression={"true": {"slope": SLOPE, "intercept": INTERCEPT}, **lines},
        classification=classes)
    print(f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


def plot_shapes(values: np.ndarray, shapes: dict) -> Figure:
    """Top row: each loss against the prediction; bottom row: its derivative."""
    figure = Figure(figsize=(14, 7))
    axes = figure.subplots(2, 3, sharex=True)
    labels = {"regression": ("prediction (target 0)", "regression, target 0"),
              "binary": ("score s (label 1)", "binary, label 1"),
              "multi-class": ("true class score s (scores [s, 0, 0])",
                              "multi-class, true class 0 of 3")}
    for column, (panel, curves) in enumerate(shapes.items()):
        xlabel, title = labels[panel]
        for name, (value, slope) in curves.items():
            style = ":" if name == "0-1" else "-"
            axes[0, column].plot(values, value, style, linewidth=2, label=name)
            axes[1, column].plot(values, slope, style, linewidth=2, label=name)
        axes[0, column].set_title(title)
        axes[0, column].set_ylabel("loss")
        axes[1, column].set_ylabel("d loss / d prediction")
        axes[1, column].set_xlabel(xlabel)
        axes[0, column].legend(fontsize=8)
        for ax in axes[:, column]:
            ax.grid(alpha=0.3)
            ax.axhline(0.0, color="black", linewidth=0.5)
    figure.suptitle("losses against one prediction (top) and the gradient they give (bottom)")
    figure.tight_layout()
    return figure


def plot_regression(lines: dict, x, y, outlier) -> Figure:
    """The points, the true line and the lines fitted under MSE and MAE."""
    figure = Figure(figsize=(6.5, 4.5))
    ax = figure.subplots()
    ax.scatter(x[~outlier, 0], y[~outlier, 0], s=14, alpha=0.7, label="points")
    ax.scatter(x[outlier, 0], y[outlier, 0], s=30, marker="x", color="C3", label="outliers")
    grid = np.array([-1.0, 1.0])
    ax.plot(grid, SLOPE * grid + INTERCEPT, "k--", label=f"true: y = {SLOPE:g} x + {INTERCEPT:g}")
    for (name, line), color in zip(lines.items(), ("C1", "C2")):
        ax.plot(grid, line["slope"] * grid + line["intercept"], color=color, linewidth=2,
                label=f"{name.upper()} fit: y = {line['slope']:.2f} x + {line['intercept']:.2f}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("a line fitted under MSE and under MAE, 10 outliers of 100 points")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def plot_classification(results: dict, histories: dict) -> Figure:
    """Left: test accuracy per epoch; right: the training margins each loss leaves."""
    figure = Figure(figsize=(12, 4.2))
    accuracy_ax, margin_ax = figure.subplots(1, 2)
    names = {"binary_cross_entropy": "binary cross-entropy", "hinge": "hinge"}
    all_margins = np.concatenate([h["margins"] for h in histories.values()])
    bins = np.linspace(min(all_margins.min(), -2.0), np.percentile(all_margins, 99), 60)
    for name, history in histories.items():
        epochs = np.arange(1, len(history["val_accuracy"]) + 1)
        accuracy_ax.plot(epochs, history["val_accuracy"], marker="o", markersize=3,
                         label=f"{names[name]} (final {results[name]['test_accuracy']:.3f})")
        margin_ax.hist(np.clip(history["margins"], bins[0], bins[-1]), bins=bins, alpha=0.5,
                       label=f"{names[name]} (median {results[name]['median_margin']:.1f})")
    margin_ax.axvline(1.0, color="black", linestyle=":", label="hinge margin 1")
    accuracy_ax.set_xlabel("epoch")
    accuracy_ax.set_ylabel("test accuracy")
    accuracy_ax.set_title("moons: test accuracy while training")
    margin_ax.set_xlabel("margin t * score on the training set (t = +-1)")
    margin_ax.set_ylabel("training examples")
    margin_ax.set_title("margins after training")
    for ax in (accuracy_ax, margin_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle("MLP 2-32-32-1 on moons: binary cross-entropy against hinge")
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    main()
