"""k-nearest neighbours on images: the source's first classifier, and why it fails.

Chooses k by cross-validation on the training set (L1 distance by default, as in the source),
measures the test accuracy of every candidate k from one search (the nearest neighbours for the
largest k contain those for every smaller one), and draws the confusion matrix, the
cross-validation curve, and test images beside their nearest training images: on CIFAR-10 these
share a background or a colour far more often than a class, which is why pixel distance fails.

    python experiments/knn.py                      # digits, about 10 s
    python experiments/knn.py --dataset cifar10    # 50,000 x 10,000 images, minutes on a CPU
    python experiments/knn.py --dataset cifar10 --train-size 5000 --test-size 500

Writes metrics.json, confusion.png, cross_validation.png and neighbours.png to --out (default
runs/knn/).
"""

from __future__ import annotations

import time

import _common
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import jaxnet as jn

KS = (1, 3, 5, 8, 10, 12, 15, 20, 50, 100)
QUICK_KS = (1, 3, 5, 10)
QUICK_SIZES = {"digits": (None, None), "cifar10": (1000, 200)}


def parse_args(argv=None):
    parser = _common.parser("knn", __doc__)
    _common.add_image_data_options(parser, ["digits", "cifar10"])
    parser.add_argument("--distance", choices=jn.classic.knn.DISTANCES, default="l1")
    parser.add_argument("--ks", type=int, nargs="+", default=KS, help="candidate values of k")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    _common.start_jax(args)
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    ks, folds = (QUICK_KS, 3) if args.quick else (tuple(sorted(set(args.ks))), args.folds)
    train_size, test_size = QUICK_SIZES[args.dataset] if args.quick else (args.train_size,
                                                                          args.test_size)
    data = jn.data.load(args.dataset, data_dir=args.data_dir)
    x_train, y_train = data.x_train[:train_size], data.y_train[:train_size]
    x_test, y_test = data.x_test[:test_size], data.y_test[:test_size]

    choice = jn.classic.choose_k(x_train, y_train, ks, folds=folds, distance=args.distance,
                                 seed=args.seed)
    for k, accuracy in zip(choice.ks, choice.mean_accuracy):
        print(f"k = {k:3d}: cross-validation accuracy {accuracy:.4f}")
    print(f"chosen k = {choice.k}")

    search_start = time.perf_counter()
    knn = jn.classic.KNN(max(choice.ks), args.distance).fit(x_train, y_train)
    _, neighbours = knn.kneighbors(x_test)
    votes = jn.classic.vote_counts(jnp.asarray(y_train)[neighbours], data.num_classes, choice.ks)
    predictions = np.asarray(jnp.argmax(votes, axis=-1))  # (test, len(ks))
    search_s = time.perf_counter() - search_start
    test_accuracy = {k: float(np.mean(predictions[:, i] == y_test))
                     for i, k in enumerate(choice.ks)}
    chosen = predictions[:, choice.ks.index(choice.k)]
    confusion = jn.classic.confusion_matrix(y_test, chosen, data.num_classes)
    print(f"test accuracy with k = {choice.k}: {test_accuracy[choice.k]:.4f}")

    name = f"{args.distance.upper()} k-NN on {args.dataset}"
    jn.viz.confusion_matrix(confusion, data.class_names, title=f"{name}, k = {choice.k}",
                            path=args.out / "confusion.png")
    cross_validation_figure(choice, name).savefig(
        args.out / "cross_validation.png", dpi=100, bbox_inches="tight")
    shown = np.asarray(neighbours[:5, :5])
    rows = [np.concatenate([x_test[i:i + 1], x_train[shown[i]]]) for i in range(5)]
    labels = [np.concatenate([y_test[i:i + 1], y_train[shown[i]]]) for i in range(5)]
    jn.viz.image_grid(np.concatenate(rows), np.concatenate(labels), data.class_names, columns=6,
                      title="each row: a test image, then its 5 nearest training images",
                      path=args.out / "neighbours.png")

    settings = {"dataset": args.dataset, "distance": args.distance, "ks": list(choice.ks),
                "folds": folds, "seed": args.seed, "n_train": len(x_train),
                "n_test": len(x_test), "quick": args.quick}
    metrics = _common.write_metrics(
        args.out, "knn", settings, start,
        chosen_k=choice.k,
        test_accuracy=test_accuracy[choice.k],
        test_accuracy_by_k={str(k): v for k, v in test_accuracy.items()},
        cross_validation_accuracy={str(k): v for k, v in zip(choice.ks, choice.mean_accuracy)},
        cross_validation_folds={str(k): row for k, row in zip(choice.ks, choice.accuracy)},
        confusion_matrix=confusion,
        test_search_s=search_s,
    )
    print(f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


def cross_validation_figure(choice, title: str) -> Figure:
    """Each fold's validation accuracy against k, with the mean and its standard deviation."""
    figure = Figure(figsize=(6.5, 4.2))
    ax = figure.subplots()
    for row, k in zip(choice.accuracy, choice.ks):
        ax.scatter([k] * len(row), row, color="tab:blue", alpha=0.4, s=14)
    ax.errorbar(choice.ks, choice.mean_accuracy, yerr=choice.accuracy.std(axis=1),
                color="tab:blue", marker="o", capsize=3, label="mean over folds")
    ax.axvline(choice.k, color="tab:red", linestyle="--", label=f"chosen k = {choice.k}")
    ax.set_xscale("log")
    ax.set_xticks(choice.ks, [str(k) for k in choice.ks])
    ax.minorticks_off()
    ax.set_xlabel("k")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{title}: {choice.accuracy.shape[1]}-fold cross-validation")
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    main()
