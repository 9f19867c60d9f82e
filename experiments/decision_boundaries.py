"""Decision boundaries while training: one hidden layer of 1, 2, 3 and many tanh neurons.

Each network (2 inputs -> Dense(width), tanh -> Dense(classes)) is trained by full-batch Adam on a
2-D toy problem (three spirals by default), and its decision boundary is drawn at snapshots
during training. One hidden neuron sees a point only through w.x + b, so its prediction is
constant along the lines w.x = c: every boundary it draws is a straight line (parallel lines for
three classes). Each added neuron adds a line to bend the boundary with; a wide layer draws
curves that follow the spirals.

    python experiments/decision_boundaries.py                      # about 30 s on a laptop
    python experiments/decision_boundaries.py --dataset circles

Writes to --out (default runs/decision_boundaries/): boundary_<width>.gif (the boundary moving
during training, one per width), boundaries.png (the final boundaries side by side), loss.png
(training loss against step) and metrics.json (accuracies per width; for the 1-neuron network, how
far its classes overlap along w, 0 for a straight-line boundary).
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


def build_model(width: int, num_classes: int) -> jn.Sequential:
    """One hidden layer of ``width`` tanh neurons."""
    return jn.Sequential([jn.Dense(width), jn.tanh, jn.Dense(num_classes)])


def snapshot_steps(steps: int, frames: int) -> np.ndarray:
    """Steps at which to draw the boundary, denser early, where it moves fastest; 0 and the end
    included."""
    return np.unique(np.round(steps * np.linspace(0.0, 1.0, frames) ** 2).astype(int))


def train(model, data, steps: int, learning_rate: float, snapshots: np.ndarray, key: jax.Array):
    """Full-batch Adam with a jitted step, measured at each snapshot step.

    Returns:
        The final parameters; the model's outputs on the boundary grid and its training accuracy
        at each snapshot; the final training and test metrics; the training loss at every step.
    """
    params, state = model.init(key, data.x_train[:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    optimizer = optax.adam(learning_rate)
    step = jn.train_step(objective, optimizer)
    opt_state = optimizer.init(params)
    batch = (jnp.asarray(data.x_train), jnp.asarray(data.y_train))
    test_batch = (jnp.asarray(data.x_test), jnp.asarray(data.y_test))
    grid = jnp.asarray(jn.viz.boundary_grid(data.x_train, GRID).reshape(-1, 2))

    @jax.jit
    def measure(params):
        outputs = model.apply(params, state, grid)[0].reshape(GRID, GRID, -1)
        _, (_, train_metrics) = objective(params, state, batch, train=False)
        _, (_, test_metrics) = objective(params, state, test_batch, train=False)
        return outputs, train_metrics, test_metrics

    grids, accuracies, losses = [], [], []
    for i in range(steps + 1):
        if i in snapshots:
            outputs, train_metrics, test_metrics = measure(params)
            grids.append(np.asarray(outputs))
            accuracies.append(float(train_metrics["accuracy"]))
        if i < steps:
            params, state, opt_state, metrics = step(params, state, opt_state, batch, None)
            losses.append(float(metrics["loss"]))
    final = {f"{split}_{name}": float(value)
             for split, metrics in (("train", train_metrics), ("test", test_metrics))
             for name, value in metrics.items()}
    return params, grids, accuracies, final, np.array(losses)


def class_overlap_along(direction: np.ndarray, points: np.ndarray, labels: np.ndarray) -> float:
    """How far the predicted classes overlap along ``direction``, as a fraction of the points'
    spread along it.

    The classes are ordered by their mean projection; the overlap sums, over neighbouring
    classes, how far the lower class reaches past the start of the next. It is 0 (up to rounding)
    exactly when lines perpendicular to ``direction`` separate the classes, i.e. when the
    prediction is constant along each line ``direction . x = c``.
    """
    s = points @ direction
    present = sorted(np.unique(labels), key=lambda k: s[labels == k].mean())
    overlap = sum(max(0.0, s[labels == low].max() - s[labels == high].min())
                  for low, high in zip(present[:-1], present[1:]))
    return float(overlap / (s.max() - s.min()))


def main(argv=None) -> dict:
    parser = _common.parser("decision_boundaries", __doc__)
    parser.add_argument("--dataset", choices=["spirals", "moons", "circles", "xor"],
                        default="spirals")
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 2, 3, 64],
                        help="hidden widths to train (default: 1 2 3 64)")
    parser.add_argument("--steps", type=int, default=3000, help="full-batch Adam steps")
    parser.add_argument("--learning-rate", type=float, default=0.03)
    parser.add_argument("--frames", type=int, default=40, help="snapshots per animation")
    args = parser.parse_args(argv)
    _common.start_jax(args)
    start = time.perf_counter()
    steps, frames, n_samples = (300, 8, 300) if args.quick else (args.steps, args.frames, 900)
    args.out.mkdir(parents=True, exist_ok=True)

    data = jn.data.load(args.dataset, n_samples=n_samples, seed=args.seed)
    snapshots = snapshot_steps(steps, frames)
    grid = jn.viz.boundary_grid(data.x_train, GRID).reshape(-1, 2)
    figure = Figure(figsize=(3.6 * len(args.widths), 3.6))
    panels = figure.subplots(1, len(args.widths), squeeze=False)[0]
    loss_figure = Figure(figsize=(5.5, 3.8))
    loss_ax = loss_figure.subplots()
    results = {}
    for width, ax in zip(args.widths, panels):
        params, grids, accuracies, final, losses = train(
            build_model(width, data.num_classes), data, steps, args.learning_rate, snapshots,
            jax.random.key(args.seed))
        name = f"{width} hidden neuron{'s' if width > 1 else ''}"
        jn.viz.boundary_animation(
            grids, data.x_train, data.y_train, args.out / f"boundary_{width}.gif",
            captions=[f"step {s}, train accuracy {a:.2f}" for s, a in zip(snapshots, accuracies)],
            title=name, resolution=GRID)
        jn.viz.decision_boundary(grids[-1], data.x_train, data.y_train, ax=ax, resolution=GRID,
                                 title=f"{name}: test accuracy {final['test_accuracy']:.2f}")
        loss_ax.plot(np.arange(1, steps + 1), losses, label=name)
        results[str(width)] = {**final, "parameters": jn.count_params(params),
                               "snapshot_steps": snapshots,
                               "train_accuracy_at_snapshots": accuracies}
        if width == 1:
            direction = np.asarray(params["dense_0"]["w"])[:, 0]
            labels = grids[-1].reshape(-1, data.num_classes).argmax(axis=-1)
            results["1"]["hidden_direction"] = direction
            results["1"]["class_overlap_along_direction"] = class_overlap_along(
                direction, grid, labels)
    figure.suptitle(f"decision boundaries after {steps} steps on {args.dataset}")
    figure.tight_layout()
    figure.savefig(args.out / "boundaries.png", dpi=80, bbox_inches="tight")
    loss_ax.set(xscale="log", yscale="log", xlabel="step", ylabel="training loss (cross-entropy)",
                title=f"training loss on {args.dataset}")
    loss_ax.grid(alpha=0.3)
    loss_ax.legend()
    loss_figure.tight_layout()
    loss_figure.savefig(args.out / "loss.png", dpi=80, bbox_inches="tight")

    settings = {"dataset": args.dataset, "n_samples": n_samples, "n_train": len(data.x_train),
                "n_test": len(data.x_test), "widths": args.widths, "activation": "tanh",
                "optimizer": "adam", "learning_rate": args.learning_rate, "steps": steps,
                "frames": len(snapshots), "seed": args.seed, "quick": args.quick}
    metrics = _common.write_metrics(args.out, "decision_boundaries", settings, start,
                                    widths=results)
    for width in args.widths:
        r = results[str(width)]
        print(f"{width:4d} hidden: train accuracy {r['train_accuracy']:.3f}, "
              f"test accuracy {r['test_accuracy']:.3f}")
    print(f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


if __name__ == "__main__":
    main()
