"""The source material's MNIST network, end to end.

784 -> Dense 512, ReLU, Dropout 0.2 -> Dense 512 (L2 0.001 on its kernel), BatchNorm, ReLU,
Dropout 0.2 -> Dense 10, softmax cross-entropy on one-hot labels, Adam, batch 128, the test set as
validation. The input width comes from the data: scikit-learn's 8x8 digits by default (offline,
64 inputs), or MNIST / Fashion-MNIST (784 inputs) when their files are in the cache.

    python experiments/mnist_mlp.py                  # digits, 30 epochs, about 10 s on a laptop
    python experiments/mnist_mlp.py --dataset mnist  # the source's 4 epochs on 60,000 images
    python experiments/mnist_mlp.py --dataset mnist --stream   # the same, read from the files

Writes metrics.json, curves.png and first_images.png to --out (default runs/mnist_mlp/).
"""

from __future__ import annotations

import argparse
import functools
import math
import time

import _common
import jax
import numpy as np
import optax

import jaxnet as jn

# Epochs each data set needs: the source's 4 are for 60,000 MNIST images; 1,437 digits need ~30.
EPOCHS = {"digits": 30, "mnist": 4, "fashion_mnist": 4}
NUM_CLASSES = 10  # in each of them


def build_model(dropout: float = 0.2) -> jn.Sequential:
    """The source's MLP; the L2 penalty on the second Dense kernel lives in the objective."""
    return jn.Sequential([
        jn.Dense(512), jn.relu, jn.Dropout(dropout),
        jn.Dense(512), jn.BatchNorm(), jn.relu, jn.Dropout(dropout),
        jn.Dense(10),
    ])


def parse_args(argv=None) -> argparse.Namespace:
    parser = _common.parser("mnist_mlp", __doc__)
    _common.add_image_data_options(parser, list(EPOCHS))
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: 30 for digits, 4 for MNIST and Fashion-MNIST")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--stream", action="store_true",
                        help="read the examples from the data set's files batch by batch "
                             "(jn.data.source) instead of loading them into memory")
    return parser.parse_args(argv)


def flat_one_hot(x, y, num_classes):
    """The source's preprocessing of a batch: each image one row, labels one-hot."""
    return x.reshape(len(x), -1), np.eye(num_classes, dtype=np.float32)[y]


def streamed(args, split: str, size: int | None) -> jn.data.ArraySource:
    """The split as a source over the data set's files, preprocessed batch by batch."""
    source = jn.data.source(args.dataset, split, data_dir=args.data_dir)
    if size is not None:
        source = jn.data.ArraySource(source.x[:size], source.y[:size],
                                     transform=source.transform)
    return source.map(functools.partial(flat_one_hot, num_classes=NUM_CLASSES))


def main(argv=None) -> dict:
    args = parse_args(argv)
    _common.start_jax(args)
    start = time.perf_counter()
    epochs = 3 if args.quick else (args.epochs or EPOCHS[args.dataset])
    args.out.mkdir(parents=True, exist_ok=True)

    if args.stream:
        first_images = jn.data.source(args.dataset, "train", data_dir=args.data_dir).read(
            np.arange(9))
        train, test = streamed(args, "train", args.train_size), streamed(args, "test",
                                                                         args.test_size)
        example, n_train, n_test = train.read(np.arange(1))[0], len(train), len(test)
    else:
        data = jn.data.load(args.dataset, data_dir=args.data_dir)
        first_images = data.x_train[:9], data.y_train[:9]
        # As in the source: each image flattened to a vector (pixels already scaled to [0, 1])
        # and labels one-hot encoded.
        x_train = data.x_train[:args.train_size].reshape(-1, math.prod(data.input_shape))
        x_test = data.x_test[:args.test_size].reshape(-1, math.prod(data.input_shape))
        y_train = np.asarray(jn.data.one_hot(data.y_train[:args.train_size], NUM_CLASSES))
        y_test = np.asarray(jn.data.one_hot(data.y_test[:args.test_size], NUM_CLASSES))
        train, test = (x_train, y_train), (x_test, y_test)
        example, n_train, n_test = x_train[:1], len(x_train), len(x_test)
    jn.viz.image_grid(*first_images, title=f"first 9 {args.dataset} images",
                      path=args.out / "first_images.png")

    model = build_model()
    init_key, fit_key = jax.random.split(jax.random.key(args.seed))
    params, state = model.init(init_key, example)
    jn.summary(model, params, state, example)
    # Keras's l2(0.001) is 0.001 * sum(w^2); jaxnet's l2 is strength * 1/2 * sum(w^2).
    penalty = jn.regularizers.l2(0.002, where="dense_1")
    objective = jn.objective(model, jn.losses.softmax_cross_entropy, penalty)
    result = jn.fit(
        objective, params, state, optax.adam(args.learning_rate), train,
        epochs=epochs, batch_size=args.batch_size, key=fit_key, validation_data=test,
        verbose=False,
    )
    print_table(result.history)
    test = jn.evaluate(objective, result.params, result.state, test)
    jn.viz.training_curves(result.history, title=f"source MLP on {args.dataset}",
                           path=args.out / "curves.png")

    settings = {
        "epochs": epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "seed": args.seed, "optimizer": "adam", "dropout": 0.2, "l2_dense_1": 0.002,
        "n_train": n_train, "n_test": n_test, "quick": args.quick, "stream": args.stream,
    }
    metrics = _common.write_metrics(
        args.out, "mnist_mlp", settings, start,
        dataset=args.dataset,
        test_accuracy=test["accuracy"],
        test_loss=test["loss"],
        trainable_params=jn.count_params(result.params),
        state_params=jn.count_params(result.state),
        epochs_run=len(result.history["loss"]),
        stop_reason=result.stop_reason,
        train_time_s=sum(result.history["time"]),
        history=result.history,
    )
    print(f"test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f}, "
          f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


def print_table(history: dict) -> None:
    columns = ["loss", "accuracy", "val_loss", "val_accuracy", "time"]
    print("epoch " + " ".join(f"{c:>12}" for c in columns))
    for epoch in range(len(history["loss"])):
        print(f"{epoch + 1:5d} " + " ".join(f"{history[c][epoch]:12.4f}" for c in columns))


if __name__ == "__main__":
    main()
