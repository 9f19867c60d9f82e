"""Activations and vanishing gradients: the gradient reaching each layer of a deep MLP.

A 10-layer MLP (nine hidden Dense layers of 32 units and a Dense output, ``dense_0`` .. ``dense_9``)
on scikit-learn's 8x8 digits, once with each hidden activation: sigmoid, tanh, ReLU and Leaky ReLU.
For each, the norm of the loss gradient with respect to every layer's weight matrix is measured on
the whole training set at initialization (Glorot uniform, the Dense default) and after training
with plain SGD. Sigmoid's derivative is at most 1/4, so its gradient shrinks layer by layer on the
way back to the input; the number of layers it takes to fall below 1% of the output layer's is
recorded.

    python experiments/vanishing_gradients.py           # 30 epochs per activation, about 30 s
    python experiments/vanishing_gradients.py --quick   # 2 epochs

Writes metrics.json, gradient_norms.png and training.png to --out (default
runs/vanishing_gradients/).
"""

from __future__ import annotations

import argparse
import functools
import time

import _common
import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

import jaxnet as jn

ACTIVATIONS = {"sigmoid": jn.sigmoid, "tanh": jn.tanh, "relu": jn.relu,
               "leaky_relu": jn.leaky_relu}
FRACTION = 0.01
INIT_SEEDS = 5


def build_model(activation, depth: int, width: int) -> jn.Sequential:
    """``depth`` Dense layers: ``depth - 1`` hidden ones of ``width`` units, then 10 outputs."""
    hidden = [layer for _ in range(depth - 1) for layer in (jn.Dense(width), activation)]
    return jn.Sequential([*hidden, jn.Dense(10)])


def layer_gradient_norms(objective: jn.Objective, params, state, batch) -> np.ndarray:
    """The Frobenius norm of the loss gradient for each Dense kernel, input layer first.

    Returns:
        A float array of shape ``(depth,)``: entry ``i`` is ``||dL/dW_i||`` for ``dense_i``.
    """
    grads = _gradients(objective, params, state, batch)
    depth = len(grads)
    return np.array([float(jnp.linalg.norm(grads[f"dense_{i}"]["w"])) for i in range(depth)])


@functools.partial(jax.jit, static_argnums=0)
def _gradients(objective: jn.Objective, params, state, batch):
    grads, _ = jax.grad(objective, has_aux=True)(params, state, batch, train=False)
    return grads


def layers_to_fraction(norms: np.ndarray, fraction: float = FRACTION) -> int | None:
    """How many layers back from the output the gradient norm first falls below ``fraction``
    of the output layer's: 1 for the layer just before the output, and so on.

    Returns:
        That count, or None when no layer's norm falls that low.
    """
    for back in range(1, len(norms)):
        if norms[-1 - back] < fraction * norms[-1]:
            return back
    return None


def parse_args(argv=None) -> argparse.Namespace:
    parser = _common.parser("vanishing_gradients", __doc__)
    parser.add_argument("--depth", type=int, default=10, help="Dense layers, the output included")
    parser.add_argument("--width", type=int, default=32, help="units of each hidden layer")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.1, help="plain SGD's step")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    _common.start_jax(args)
    start = time.perf_counter()
    epochs = 2 if args.quick else args.epochs
    args.out.mkdir(parents=True, exist_ok=True)

    data = jn.data.load("digits")
    train = (data.x_train.reshape(len(data.x_train), -1), data.y_train)
    test = (data.x_test.reshape(len(data.x_test), -1), data.y_test)

    results = {}
    for name, activation in ACTIVATIONS.items():
        model = build_model(activation, args.depth, args.width)
        objective = jn.objective(model, jn.losses.softmax_cross_entropy)
        init_key, fit_key = jax.random.split(jax.random.key(args.seed))
        params, state = model.init(init_key, train[0][:1])
        at_init = layer_gradient_norms(objective, params, state, train)
        result = jn.fit(objective, params, state, optax.sgd(args.learning_rate), train,
                        epochs=epochs, batch_size=args.batch_size, key=fit_key,
                        validation_data=test, verbose=False)
        trained = layer_gradient_norms(objective, result.params, result.state, train)
        final = jn.evaluate(objective, result.params, result.state, test)
        by_seed = [layers_to_fraction(layer_gradient_norms(
            objective, *model.init(jax.random.key(seed), train[0][:1]), train))
            for seed in range(INIT_SEEDS)]
        results[name] = {
            "gradient_norms_at_init": at_init.tolist(),
            "gradient_norms_trained": trained.tolist(),
            "layers_to_1pct_at_init": layers_to_fraction(at_init),
            "layers_to_1pct_trained": layers_to_fraction(trained),
            "layers_to_1pct_at_init_by_seed": by_seed,
            "test_accuracy": final["accuracy"],
            "test_loss": final["loss"],
            "history": result.history,
        }
        print(f"{name:>10}: first/last layer gradient {at_init[0] / at_init[-1]:.2e} at init, "
              f"{trained[0] / trained[-1]:.2e} trained; below 1% after "
              f"{results[name]['layers_to_1pct_at_init'] or 'no'} layers; test accuracy "
              f"{final['accuracy']:.3f}")

    plot_gradient_norms(results, epochs).savefig(
        args.out / "gradient_norms.png", dpi=100, bbox_inches="tight")
    plot_training(results).savefig(args.out / "training.png", dpi=100, bbox_inches="tight")
    settings = {
        "depth": args.depth, "width": args.width, "epochs": epochs,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate, "optimizer": "sgd",
        "seed": args.seed, "init": "glorot_uniform", "gradient_batch": "whole training set",
        "n_train": len(train[0]), "n_test": len(test[0]), "quick": args.quick,
    }
    metrics = _common.write_metrics(
        args.out, "vanishing_gradients", settings, start,
        sigmoid_layers_to_1pct=results["sigmoid"]["layers_to_1pct_at_init"],
        test_accuracy={name: r["test_accuracy"] for name, r in results.items()},
        activations=results)
    print(f"sigmoid's gradient falls below 1% of the output layer's after "
          f"{metrics['sigmoid_layers_to_1pct']} layers; wall time {metrics['wall_time_s']:.1f} s; "
          f"results in {args.out}")
    return metrics


def plot_gradient_norms(results: dict, epochs: int) -> Figure:
    """One panel per activation: gradient norm per layer, at initialization and trained."""
    figure = Figure(figsize=(10, 7))
    axes = figure.subplots(2, 2, sharex=True, sharey=True).ravel()
    for ax, (name, result) in zip(axes, results.items()):
        at_init = np.asarray(result["gradient_norms_at_init"])
        layers = np.arange(len(at_init))
        ax.semilogy(layers, at_init, marker="o", label="at initialization")
        ax.semilogy(layers, result["gradient_norms_trained"], marker="s",
                    label=f"after {epochs} epochs of SGD")
        ax.axhline(FRACTION * at_init[-1], color="grey", linestyle=":",
                   label="1% of the output layer (init)")
        ax.set_title(f"{name}: below 1% after {result['layers_to_1pct_at_init']} layers"
                     if result["layers_to_1pct_at_init"] else f"{name}: never below 1%")
        ax.set_xticks(layers)
        ax.grid(alpha=0.3, which="both")
    for ax in axes[2:]:
        ax.set_xlabel("layer i (0 = input side, last = output)")
    for ax in axes[::2]:
        ax.set_ylabel("gradient norm $||\\partial L / \\partial W_i||$")
    axes[0].legend(fontsize=8)
    figure.suptitle(f"gradient reaching each Dense layer of a {len(layers)}-layer MLP on digits")
    figure.tight_layout()
    return figure


def plot_training(results: dict) -> Figure:
    """Training loss and test accuracy per epoch, one line per activation."""
    figure = Figure(figsize=(10, 3.8))
    loss_ax, accuracy_ax = figure.subplots(1, 2)
    for name, result in results.items():
        history = result["history"]
        epochs = np.arange(1, len(history["loss"]) + 1)
        depth = len(result["gradient_norms_at_init"])
        loss_ax.plot(epochs, history["loss"], marker="o", markersize=3, label=name)
        accuracy_ax.plot(epochs, history["val_accuracy"], marker="o", markersize=3, label=name)
    loss_ax.set_ylabel("training loss (cross-entropy)")
    accuracy_ax.set_ylabel("test accuracy")
    for ax, title in ((loss_ax, "training loss"), (accuracy_ax, "test accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(f"the same {depth}-layer MLP trained by SGD with each activation")
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    main()
