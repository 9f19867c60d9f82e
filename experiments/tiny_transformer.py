"""A tiny transformer learns whether a sequence of tokens is sorted.

The task is made here: sequences of 10 tokens drawn from a vocabulary of 10, half of them sorted
(non-decreasing) and half sorted but for one swapped pair of unequal neighbours, so that one
comparison of two neighbours decides the class. Both classes use the same tokens in the same
places, give or take one step: what separates them is how neighbours compare, which attention
looks up directly.

The model: token and learned position embeddings added (a Parallel of two Embeddings, merged by
sum), one pre-norm transformer block (LayerNorm and 4-head self-attention inside a Residual;
LayerNorm and a two-layer GELU MLP inside another), a final LayerNorm, the maximum over positions
(an inversion anywhere is enough), and Dense(2). Adam with a warmup-cosine schedule, trained by
jn.fit. The full run also trains the same model without its attention as a baseline: each
position is then processed alone, and only the maximum over positions combines them.

    python experiments/tiny_transformer.py            # 20,000 sequences, 30 epochs, + baseline
    python experiments/tiny_transformer.py --quick    # 8,000 sequences, 8 epochs

Writes metrics.json and curves.png to --out (default runs/tiny_transformer/).
"""

from __future__ import annotations

import os
import time

import _common
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnet as jn


def make_data(n: int, length: int, vocab: int, rng: np.random.Generator):
    """``n`` sequences ``(n, length)`` of int32 tokens and their labels (1: sorted, 0: one
    swapped pair of unequal neighbours), the two classes equally likely."""
    x = np.sort(rng.integers(0, vocab, (n, length)), axis=1)
    while (flat := x[:, 0] == x[:, -1]).any():  # all equal: no neighbours to swap
        x[flat] = np.sort(rng.integers(0, vocab, (int(flat.sum()), length)), axis=1)
    label = rng.random(n) < 0.5
    unequal = x[:, :-1] != x[:, 1:]
    swap = np.where(unequal, rng.random(unequal.shape), -1.0).argmax(axis=1)
    rows = np.flatnonzero(~label)
    left, right = x[rows, swap[rows]], x[rows, swap[rows] + 1]
    x[rows, swap[rows]], x[rows, swap[rows] + 1] = right, left
    return x.astype(np.int32), label.astype(np.int32)


def positions(ids: jax.Array) -> jax.Array:
    """Each token's position ``0, 1, ...``, shaped like the ids."""
    return jnp.broadcast_to(jnp.arange(ids.shape[-1]), ids.shape)


def max_over_positions(h: jax.Array) -> jax.Array:
    """``(batch, time, features)`` -> ``(batch, features)``."""
    return jnp.max(h, axis=1)


def build_model(length: int, vocab: int, width: int, heads: int, blocks: int,
                attention: bool = True) -> jn.Sequential:
    """The transformer classifier; without ``attention`` each position is processed alone."""
    layers = [jn.Parallel([jn.Embedding(vocab, width),
                           jn.Sequential([positions, jn.Embedding(length, width)])],
                          merge="sum")]
    for _ in range(blocks):
        if attention:
            layers.append(jn.Residual([jn.LayerNorm(), jn.MultiHeadAttention(heads)]))
        layers.append(jn.Residual([jn.LayerNorm(), jn.Dense(2 * width), jn.gelu,
                                   jn.Dense(width)]))
    return jn.Sequential([*layers, jn.LayerNorm(), max_over_positions, jn.Dense(2)])


def train(model: jn.Sequential, train_data, test_data, args) -> tuple[dict, dict, float]:
    """Trains ``model`` with ``jn.fit``; returns its history, final test metrics and seconds."""
    init_key, fit_key = jax.random.split(jax.random.key(args.seed))
    params, state = model.init(init_key, train_data[0][:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    steps = args.epochs * (len(train_data[0]) // args.batch_size)
    schedule = optax.warmup_cosine_decay_schedule(0.0, args.learning_rate,
                                                  max(1, steps // args.epochs), steps)
    start = time.perf_counter()
    result = jn.fit(objective, params, state, optax.adam(schedule), train_data,
                    epochs=args.epochs, batch_size=args.batch_size, key=fit_key,
                    validation_data=test_data, verbose=False)
    seconds = time.perf_counter() - start
    final = jn.evaluate(objective, result.params, result.state, test_data)
    return result.history, {"params": jn.count_params(params), **final}, seconds


def main(argv=None) -> dict:
    cli = _common.parser("tiny_transformer", __doc__)
    cli.add_argument("--length", type=int, default=10, help="tokens per sequence")
    cli.add_argument("--vocab", type=int, default=10, help="distinct tokens")
    cli.add_argument("--width", type=int, default=32, help="embedding and model width")
    cli.add_argument("--heads", type=int, default=4)
    cli.add_argument("--blocks", type=int, default=1, help="transformer blocks")
    cli.add_argument("--train-size", type=int, default=20_000)
    cli.add_argument("--test-size", type=int, default=5_000)
    cli.add_argument("--epochs", type=int, default=30)
    cli.add_argument("--batch-size", type=int, default=32)
    cli.add_argument("--learning-rate", type=float, default=5e-3, help="peak of the schedule")
    args = cli.parse_args(argv)
    _common.start_jax(args)
    if args.quick:
        args.train_size, args.test_size, args.epochs = 8_000, 2_000, 8
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(args.seed)
    train_data = make_data(args.train_size, args.length, args.vocab, rng)
    test_data = make_data(args.test_size, args.length, args.vocab, rng)
    model = build_model(args.length, args.vocab, args.width, args.heads, args.blocks)
    jn.summary(model, *model.init(jax.random.key(0), train_data[0][:1]), train_data[0][:2])

    history, final, seconds = train(model, train_data, test_data, args)
    print(f"transformer: test accuracy {100 * final['accuracy']:.1f} % after {args.epochs} "
          f"epochs, {seconds:.1f} s", flush=True)
    results = {"transformer": {**final, "train_time_s": seconds, "history": history}}
    if not args.quick:
        baseline = build_model(args.length, args.vocab, args.width, args.heads, args.blocks,
                               attention=False)
        base_history, base_final, base_seconds = train(baseline, train_data, test_data, args)
        print(f"no attention: test accuracy {100 * base_final['accuracy']:.1f} %", flush=True)
        results["no_attention"] = {**base_final, "train_time_s": base_seconds,
                                   "history": base_history}

    figure = jn.viz.training_curves(
        history, title=f"tiny transformer, is the sequence sorted? ({final['params']:,} params)")
    if "no_attention" in results:
        accuracy_ax = figure.axes[1]
        accuracy_ax.plot(np.arange(1, args.epochs + 1), base_history["val_accuracy"],
                         marker="o", markersize=3, label="validation, no attention")
        accuracy_ax.legend()
    figure.savefig(args.out / "curves.png", dpi=100, bbox_inches="tight")
    settings = {
        "quick": args.quick, "seed": args.seed, "length": args.length, "vocab": args.vocab,
        "width": args.width, "heads": args.heads, "blocks": args.blocks,
        "train_size": args.train_size, "test_size": args.test_size, "epochs": args.epochs,
        "batch_size": args.batch_size, "optimizer": "adam, warmup 1 epoch then cosine decay",
        "learning_rate": args.learning_rate, "loss": "softmax_cross_entropy",
        "device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
    }
    return _common.write_metrics(
        args.out, "tiny_transformer", settings, start,
        test_accuracy=final["accuracy"], test_loss=final["loss"], params=final["params"],
        train_time_s=seconds, models=results,
    )


if __name__ == "__main__":
    main()
