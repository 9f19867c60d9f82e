"""The source's MLP on the digits: `jn.fit` against the same network written in plain JAX.

Both train 784-style MLP (Dense 512, ReLU, Dropout 0.2, Dense 512, BatchNorm, ReLU, Dropout 0.2,
Dense 10; softmax cross-entropy, L2 on the second kernel, Adam 1e-3, batch 128, 30 epochs) on the
1,437 training digits. The plain version is what one writes by hand: a jitted step over
parameters in a dict and a Python loop over shuffled batches. jaxnet runs each epoch as one
compiled `lax.scan`. Reported: compile time (the first epoch), the median epoch after it, the
total after compiling, and the final test accuracy; the runs alternate, median of --repeats.

    python benchmarks/mlp_fit_vs_plain_jax.py            # about a minute
    python benchmarks/mlp_fit_vs_plain_jax.py --quick    # a smoke test

Writes benchmarks/results/mlp_fit_vs_plain_jax.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnet as jn

BATCH, LEARNING_RATE, DROPOUT, L2 = 128, 1e-3, 0.2, 0.002


def jaxnet_run(x, y, x_test, y_test, epochs: int, seed: int) -> dict:
    model = jn.Sequential([
        jn.Dense(512), jn.relu, jn.Dropout(DROPOUT),
        jn.Dense(512), jn.BatchNorm(), jn.relu, jn.Dropout(DROPOUT),
        jn.Dense(10),
    ])
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    params, state = model.init(init_key, x[:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy,
                             jn.regularizers.l2(L2, where="dense_1"))
    result = jn.fit(objective, params, state, optax.adam(LEARNING_RATE), (x, y), epochs=epochs,
                    batch_size=BATCH, key=fit_key, verbose=False)
    accuracy = jn.evaluate(objective, result.params, result.state, (x_test, y_test))["accuracy"]
    return {"epoch_times": result.history["time"], "test_accuracy": accuracy}


def plain_init(key, n_in: int) -> tuple[dict, dict]:
    glorot = jax.nn.initializers.glorot_uniform()
    k0, k1, k2 = jax.random.split(key, 3)
    params = {
        "w0": glorot(k0, (n_in, 512)), "b0": jnp.zeros(512),
        "w1": glorot(k1, (512, 512)), "b1": jnp.zeros(512),
        "gamma": jnp.ones(512), "beta": jnp.zeros(512),
        "w2": glorot(k2, (512, 10)), "b2": jnp.zeros(10),
    }
    return params, {"mean": jnp.zeros(512), "var": jnp.ones(512)}


def plain_forward(params, stats, x, key, train: bool):
    def dropout(h, k):
        if not train:
            return h
        keep = jax.random.bernoulli(k, 1 - DROPOUT, h.shape)
        return jnp.where(keep, h / (1 - DROPOUT), 0.0)

    k0, k1 = jax.random.split(key)
    h = dropout(jax.nn.relu(x @ params["w0"] + params["b0"]), k0)
    h = h @ params["w1"] + params["b1"]
    if train:
        mean, var = h.mean(0), h.var(0)
        stats = {"mean": 0.99 * stats["mean"] + 0.01 * mean,
                 "var": 0.99 * stats["var"] + 0.01 * var}
    else:
        mean, var = stats["mean"], stats["var"]
    h = (h - mean) / jnp.sqrt(var + 1e-5) * params["gamma"] + params["beta"]
    h = dropout(jax.nn.relu(h), k1)
    return h @ params["w2"] + params["b2"], stats


def plain_run(x, y, x_test, y_test, epochs: int, seed: int) -> dict:
    init_key, key = jax.random.split(jax.random.key(seed))
    params, stats = plain_init(init_key, x.shape[1])
    optimizer = optax.adam(LEARNING_RATE)
    opt_state = optimizer.init(params)

    def loss_fn(params, stats, xb, yb, k):
        logits, stats = plain_forward(params, stats, xb, k, train=True)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        return loss + L2 * 0.5 * jnp.sum(params["w1"] ** 2), stats

    @jax.jit
    def step(params, stats, opt_state, xb, yb, k):
        (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, xb, yb, k)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), stats, opt_state

    x_device, y_device = jnp.asarray(x), jnp.asarray(y)
    n_batches = len(x) // BATCH
    epoch_times = []
    for _ in range(epochs):
        start = time.perf_counter()
        key, order_key = jax.random.split(key)
        order = np.asarray(jax.random.permutation(order_key, len(x)))
        for i in range(n_batches):
            idx = order[i * BATCH:(i + 1) * BATCH]
            key, step_key = jax.random.split(key)
            params, stats, opt_state = step(params, stats, opt_state, x_device[idx],
                                            y_device[idx], step_key)
        jax.block_until_ready(params)
        epoch_times.append(time.perf_counter() - start)
    logits, _ = plain_forward(params, stats, jnp.asarray(x_test), key, train=False)
    accuracy = float(jnp.mean(jnp.argmax(logits, -1) == y_test))
    return {"epoch_times": epoch_times, "test_accuracy": accuracy}


def summarise(runs: list[dict]) -> dict:
    return {
        "compile_and_first_epoch_s": statistics.median(r["epoch_times"][0] for r in runs),
        "median_epoch_s": statistics.median(statistics.median(r["epoch_times"][1:]) for r in runs),
        "total_after_compile_s": statistics.median(sum(r["epoch_times"][1:]) for r in runs),
        "test_accuracy": [r["test_accuracy"] for r in runs],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 epochs, 1 repeat")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "mlp_fit_vs_plain_jax.json")
    args = parser.parse_args(argv)
    epochs, repeats = (3, 1) if args.quick else (args.epochs, args.repeats)

    data = jn.data.load("digits")
    x, x_test = (a.reshape(len(a), -1) for a in (data.x_train, data.x_test))
    runs = {"jaxnet_fit": [], "plain_jax": []}
    for seed in range(repeats):  # alternate, so that load changes hit both
        runs["jaxnet_fit"].append(jaxnet_run(x, data.y_train, x_test, data.y_test, epochs, seed))
        runs["plain_jax"].append(plain_run(x, data.y_train, x_test, data.y_test, epochs, seed))
    results = {name: summarise(r) for name, r in runs.items()}
    speedup = (results["plain_jax"]["total_after_compile_s"]
               / results["jaxnet_fit"]["total_after_compile_s"])
    report = {
        "benchmark": "mlp_fit_vs_plain_jax",
        "command": "python benchmarks/mlp_fit_vs_plain_jax.py" + (" --quick" if args.quick else ""),
        "problem": {"data": "digits", "n_train": len(x), "n_test": len(x_test), "epochs": epochs,
                    "batch_size": BATCH, "repeats": repeats},
        "machine": {"cpu_count": os.cpu_count(), "device": str(jax.devices()[0]),
                    "python": platform.python_version(), "jax": jax.__version__},
        "results": results,
        "fit_speedup_after_compile": speedup,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for name, r in results.items():
        print(f"{name:11s} compile+first epoch {r['compile_and_first_epoch_s']:.2f} s, "
              f"median epoch {1e3 * r['median_epoch_s']:.1f} ms, "
              f"{epochs - 1} epochs after compiling {r['total_after_compile_s']:.2f} s, "
              f"test accuracy {np.round(r['test_accuracy'], 4).tolist()}")
    print(f"jn.fit is {speedup:.2f}x the plain loop's speed after compiling; wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
