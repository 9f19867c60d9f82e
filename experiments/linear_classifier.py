"""The linear score function f(x) = W x + b: the multi-class SVM loss against softmax.

For each loss, trains the classifier with each L2 strength on 80% of the training images, keeps
the one of highest accuracy on the other 20% (the validation set) and measures its test
accuracy. Draws the validation accuracy against the strength, the confusion matrices, and the
learned templates: row c of W shown as an image, the picture that class c's score matches best.
Images are centred first by the mean training image (the source's advice to standardise
inputs; centring leaves the best W unchanged and moves only b).

    python experiments/linear_classifier.py                     # digits, about 20 s
    python experiments/linear_classifier.py --dataset cifar10   # CIFAR-10 from the cache

Writes metrics.json, validation.png, and for each loss confusion_<loss>.png and
templates_<loss>.png to --out (default runs/linear_classifier/).
"""

from __future__ import annotations

import time

import _common
import numpy as np
from matplotlib.figure import Figure

import jaxnet as jn

L2 = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
QUICK = {"l2": (0.0, 1e-2), "epochs": 10, "sizes": {"digits": (None, None),
                                                     "cifar10": (1000, 200)}}


def parse_args(argv=None):
    parser = _common.parser("linear_classifier", __doc__)
    _common.add_image_data_options(parser, ["digits", "cifar10"])
    parser.add_argument("--losses", nargs="+", choices=sorted(jn.classic.linear.LOSSES),
                        default=["svm", "softmax"])
    parser.add_argument("--l2", type=float, nargs="+", default=L2,
                        help="candidate strengths of the L2 penalty on W")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-2, help="Adam's step size")
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    _common.start_jax(args)
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    strengths = QUICK["l2"] if args.quick else tuple(sorted(set(args.l2)))
    epochs = QUICK["epochs"] if args.quick else args.epochs
    train_size, test_size = (QUICK["sizes"][args.dataset] if args.quick
                             else (args.train_size, args.test_size))
    data = jn.data.load(args.dataset, data_dir=args.data_dir)
    mean_image = data.x_train[:train_size].mean(axis=0, keepdims=True)
    x_train, y_train = data.x_train[:train_size] - mean_image, data.y_train[:train_size]
    x_test, y_test = data.x_test[:test_size] - mean_image, data.y_test[:test_size]
    (x_fit, y_fit), (x_val, y_val) = jn.data.split(x_train, y_train, args.validation_fraction,
                                                   seed=args.seed)

    results = {}
    for loss in args.losses:
        def classifier(l2, loss=loss):
            return jn.classic.LinearClassifier(loss, l2=l2, learning_rate=args.learning_rate,
                                               epochs=epochs, batch_size=args.batch_size,
                                               seed=args.seed)

        fitted, validation = {}, {}
        for l2 in strengths:
            fitted[l2] = classifier(l2).fit(x_fit, y_fit, data.num_classes)
            validation[l2] = float(np.mean(np.asarray(fitted[l2].predict(x_val)) == y_val))
            print(f"{loss:7s} l2 = {l2:g}: validation accuracy {validation[l2]:.4f}")
        chosen = max(strengths, key=lambda l2: (validation[l2], -l2))
        final = fitted[chosen]
        predictions = np.asarray(final.predict(x_test))
        confusion = jn.classic.confusion_matrix(y_test, predictions, data.num_classes)
        results[loss] = {"validation": validation, "chosen": chosen,
                         "test_accuracy": float(np.mean(predictions == y_test)),
                         "test_objective": float(final.loss_value(x_test, y_test)),
                         "confusion": confusion}
        print(f"{loss:7s} chosen l2 = {chosen:g}: test accuracy "
              f"{results[loss]['test_accuracy']:.4f}")
        title = f"linear {loss} classifier on {args.dataset}, l2 = {chosen:g}"
        jn.viz.confusion_matrix(confusion, data.class_names, title=title,
                                path=args.out / f"confusion_{loss}.png")
        jn.viz.image_grid(final.templates(), np.arange(data.num_classes), data.class_names,
                          columns=min(data.num_classes, 10),
                          title=f"templates learned with the {loss} loss (rows of W)",
                          path=args.out / f"templates_{loss}.png")
    validation_figure(strengths, results, args.dataset).savefig(
        args.out / "validation.png", dpi=100, bbox_inches="tight")

    settings = {"dataset": args.dataset, "losses": list(args.losses), "l2": list(strengths),
                "epochs": epochs, "batch_size": args.batch_size,
                "learning_rate": args.learning_rate, "optimizer": "adam",
                "validation_fraction": args.validation_fraction, "seed": args.seed,
                "n_train": len(x_train), "n_test": len(x_test), "centred": True,
                "quick": args.quick}
    metrics = _common.write_metrics(
        args.out, "linear_classifier", settings, start,
        test_accuracy={loss: r["test_accuracy"] for loss, r in results.items()},
        test_objective={loss: r["test_objective"] for loss, r in results.items()},
        chosen_l2={loss: r["chosen"] for loss, r in results.items()},
        validation_accuracy={loss: {f"{l2:g}": v for l2, v in r["validation"].items()}
                             for loss, r in results.items()},
        confusion_matrix={loss: r["confusion"] for loss, r in results.items()},
    )
    print(f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


def validation_figure(strengths, results: dict, dataset: str) -> Figure:
    """Validation accuracy against the L2 strength, one line per loss."""
    figure = Figure(figsize=(6.5, 4.2))
    ax = figure.subplots()
    positions = np.arange(len(strengths))
    for loss, result in results.items():
        ax.plot(positions, [result["validation"][l2] for l2 in strengths], marker="o",
                label=f"{loss} (chosen l2 = {result['chosen']:g})")
    ax.set_xticks(positions, [f"{l2:g}" for l2 in strengths])
    ax.set_xlabel("L2 strength lambda")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"linear classifier on {dataset}")
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    main()
