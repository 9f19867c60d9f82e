"""One sigmoid neuron trained by gradient descent until every parameter changes less than epsilon.

The source material's training recipe on the smallest network there is: logistic regression
(``Dense(1)`` and binary cross-entropy from the logit) on two Gaussian blobs in 2-D, trained with
full-batch gradient descent (``optax.sgd(alpha)``) until one step changes every parameter by less
than epsilon, then the same run under Adam with the same step size. Each iteration is one epoch
of one full batch, so the per-epoch history is the per-step loss. The exact minimiser, found by
Newton's method in float64, shows how far from it each rule stopped.

    python experiments/one_neuron.py            # alpha 0.1, epsilon 1e-4, about 15 s
    python experiments/one_neuron.py --quick    # epsilon 1e-3, a few seconds

Writes metrics.json and one_neuron.png to --out (default runs/one_neuron/).
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

CENTRES = np.array([[-1.0, -0.5], [1.0, 0.5]])


def make_blobs(n_samples: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs around ``CENTRES``, half the points each, class 0 then class 1.

    Args:
        n_samples: points in all (an even number).
        spread: the standard deviation of each coordinate around its centre.
        seed: seeds the points.

    Returns:
        ``x`` float32 of shape ``(n_samples, 2)`` and labels ``y`` int32 of shape ``(n_samples,)``.
    """
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(2, dtype=np.int32), n_samples // 2)
    x = CENTRES[y] + spread * rng.standard_normal((len(y), 2))
    return x.astype(np.float32), y


def newton_minimiser(x: np.ndarray, y: np.ndarray, steps: int = 25) -> tuple[np.ndarray, float]:
    """The weights ``[w1, w2, b]`` that minimise the mean binary cross-entropy, and that minimum.

    Newton's method in float64 from zero: the loss is convex and, as long as no line separates
    the classes exactly, it has one minimiser, which Newton's method reaches to rounding error.
    """
    features = np.concatenate([x, np.ones((len(x), 1))], axis=1).astype(np.float64)
    theta = np.zeros(features.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-features @ theta))
        gradient = features.T @ (p - y) / len(y)
        hessian = (features * (p * (1 - p))[:, None]).T @ features / len(y)
        theta = theta - np.linalg.solve(hessian, gradient)
    z = features @ theta
    loss = np.mean(np.logaddexp(0.0, z) - y * z)
    return theta, float(loss)


def flat(params: dict) -> np.ndarray:
    """The neuron's parameters as ``[w1, w2, b]``."""
    layer = params["dense_0"]
    return np.concatenate([np.ravel(layer["w"]), np.ravel(layer["b"])]).astype(np.float64)


def parse_args(argv=None) -> argparse.Namespace:
    parser = _common.parser("one_neuron", __doc__)
    parser.add_argument("--alpha", type=float, default=0.1,
                        help="step size of gradient descent and of Adam")
    parser.add_argument("--epsilon", type=float, default=None,
                        help="stop when every parameter changes less than this in one step "
                             "(default 1e-4, 1e-3 with --quick)")
    parser.add_argument("--max-iterations", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--spread", type=float, default=0.6,
                        help="standard deviation of each blob; at 0.6 a few points overlap")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    _common.start_jax(args)
    start = time.perf_counter()
    epsilon = args.epsilon if args.epsilon is not None else (1e-3 if args.quick else 1e-4)
    args.out.mkdir(parents=True, exist_ok=True)

    x, y = make_blobs(args.samples, args.spread, args.seed)
    model = jn.Sequential([jn.Dense(1)])
    params, state = model.init(jax.random.key(args.seed), x[:1])
    objective = jn.objective(model, jn.losses.binary_cross_entropy)
    best, best_loss = newton_minimiser(x, y)

    runs, histories = {}, {}
    for name, optimizer in (("gradient_descent", optax.sgd(args.alpha)),
                            ("adam", optax.adam(args.alpha))):
        result = jn.fit(objective, params, state, optimizer, (x, y), epochs=args.max_iterations,
                        batch_size=len(x), key=jax.random.key(args.seed), epsilon=epsilon,
                        verbose=False)
        final = jn.evaluate(objective, result.params, result.state, (x, y))
        theta = flat(result.params)
        runs[name] = {
            "iterations": result.steps,
            "stop_reason": result.stop_reason,
            "final_loss": final["loss"],
            "final_accuracy": final["accuracy"],
            "w": theta[:2].tolist(),
            "b": float(theta[2]),
            "largest_distance_to_minimiser": float(np.max(np.abs(theta - best))),
        }
        histories[name] = result.history["loss"]
        print(f"{name}: {result.steps} iterations ({result.stop_reason}), final loss "
              f"{final['loss']:.6f}, w = {np.round(theta[:2], 4)}, b = {theta[2]:.4f}")

    minimiser = {"w": best[:2].tolist(), "b": float(best[2]), "loss": best_loss}
    plot(x, y, runs, minimiser, histories, args, epsilon).savefig(
        args.out / "one_neuron.png", dpi=100, bbox_inches="tight")
    theta0 = flat(params)
    settings = {
        "alpha": args.alpha, "epsilon": epsilon, "max_iterations": args.max_iterations,
        "samples": args.samples, "spread": args.spread, "seed": args.seed,
        "batch_size": len(x), "quick": args.quick,
    }
    metrics = _common.write_metrics(
        args.out, "one_neuron", settings, start, **runs, minimiser=minimiser,
        initial={"w": theta0[:2].tolist(), "b": float(theta0[2])})
    print(f"minimiser: w = {np.round(best[:2], 4)}, b = {best[2]:.4f}, loss {best_loss:.6f}; "
          f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


def plot(x, y, runs: dict, minimiser: dict, histories: dict, args, epsilon: float) -> Figure:
    """Left: the data and each decision boundary; right: each run's loss above the minimum."""
    figure = Figure(figsize=(11, 4.2))
    data_ax, loss_ax = figure.subplots(1, 2)
    for label, marker in ((0, "o"), (1, "^")):
        data_ax.scatter(*x[y == label].T, s=14, marker=marker, alpha=0.6, label=f"class {label}")
    x1 = np.linspace(x[:, 0].min() - 0.3, x[:, 0].max() + 0.3, 2)
    lines = [("gradient descent", runs["gradient_descent"], "-"), ("Adam", runs["adam"], "-"),
             ("minimiser (Newton)", minimiser, ":")]
    for label, fit, style in lines:
        w, b = fit["w"], fit["b"]
        data_ax.plot(x1, -(w[0] * x1 + b) / w[1], style, linewidth=2, label=label)
    data_ax.set_ylim(x[:, 1].min() - 0.3, x[:, 1].max() + 0.3)
    data_ax.set_xlabel("$x_1$")
    data_ax.set_ylabel("$x_2$")
    data_ax.set_title("decision boundaries $w \\cdot x + b = 0$")
    data_ax.legend(loc="upper left", fontsize=8)

    for (name, losses), label in zip(histories.items(), ("gradient descent", "Adam")):
        steps = np.arange(1, len(losses) + 1)
        excess = np.maximum(np.asarray(losses) - minimiser["loss"], 1e-9)
        loss_ax.semilogy(steps, excess, label=f"{label}: {runs[name]['iterations']} iterations")
    loss_ax.set_xlabel("iteration (one full-batch step)")
    loss_ax.set_ylabel("loss - minimum loss")
    loss_ax.set_title(f"stopped when every step < epsilon = {epsilon:g} (alpha = {args.alpha:g})")
    loss_ax.grid(alpha=0.3, which="both")
    loss_ax.legend()
    figure.suptitle("one sigmoid neuron (logistic regression) on two blobs")
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    main()
