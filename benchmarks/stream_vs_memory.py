"""The source's MLP on MNIST streamed from its files against the same data in memory.

`jn.fit` on arrays in memory, and on `jn.data.source(...)` (the IDX files memory-mapped, each
batch read on the host, `CHUNK` batches stacked and run through one compiled scan, read a few
chunks ahead by a thread), for several chunk sizes. One process; round *r* runs every variant
once, in an order rotated by *r*; each variant's steps/s is the number of steps over the time
of its epochs after the first (the first includes compilation), and the figure is the median
over rounds, with the ratio to the in-memory run of the same round.

    python benchmarks/stream_vs_memory.py                      # real MNIST (JAXNET_DATA)
    python benchmarks/stream_vs_memory.py --quick              # digits, a smoke run

Writes benchmarks/results/stream_vs_memory.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "experiments"))

import machine  # noqa: E402
from mnist_mlp import build_model  # noqa: E402

import jaxnet as jn  # noqa: E402
from jaxnet.training import streamed  # noqa: E402

CHUNKS = (1, 4, 16, 64)


def flat_one_hot(classes: int):
    """The source's preprocessing of a batch: each image one row, labels one-hot (NumPy)."""
    eye = np.eye(classes, dtype=np.float32)

    def transform(x, y):
        return x.reshape(len(x), -1), eye[y]

    return transform


def datasets(name: str) -> tuple:
    """The training set in memory (float32, as the source prepares it) and as a source over
    the files, with the same values."""
    data = jn.data.load(name)
    transform = flat_one_hot(data.num_classes)
    memory = transform(data.x_train, data.y_train)
    source = jn.data.source(name, "train").map(transform)
    return memory, source


def run(variant: str, train, epochs: int, batch_size: int) -> dict:
    model = build_model()
    x0 = train[0][:1] if isinstance(train, tuple) else train[0][0][None]
    params, state = model.init(jax.random.key(0), x0)
    objective = jn.objective(model, jn.losses.softmax_cross_entropy,
                             jn.regularizers.l2(0.002, where="dense_1"))
    start = time.perf_counter()
    result = jn.fit(objective, params, state, optax.adam(1e-3), train, epochs=epochs,
                    batch_size=batch_size, key=jax.random.key(1), verbose=False)
    wall = time.perf_counter() - start
    steps_per_epoch = result.steps // epochs
    later = result.history["time"][1:]
    return {"variant": variant, "wall_s": wall, "compile_s": result.compile_time,
            "epoch_s": result.history["time"], "loss": result.history["loss"][-1],
            "steps_per_s": steps_per_epoch * len(later) / sum(later)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--chunks", default=",".join(map(str, CHUNKS)))
    parser.add_argument("--quick", action="store_true", help="digits, 1 round, 2 epochs")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "stream_vs_memory.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.dataset, args.rounds, args.epochs, args.chunks = "digits", 1, 2, "1,16"
    chunks = [int(c) for c in args.chunks.split(",")]
    memory, source = datasets(args.dataset)
    variants = {"memory": (None, memory), **{f"stream_chunk_{c}": (c, source) for c in chunks}}
    load = {"start": machine.load_average()}
    rounds = []
    default_chunk = streamed.CHUNK
    try:
        for r in range(args.rounds):
            names = list(variants)
            names = names[r % len(names):] + names[:r % len(names)]
            results = {}
            for name in names:
                chunk, train = variants[name]
                streamed.CHUNK = chunk or default_chunk
                results[name] = run(name, train, args.epochs, args.batch_size)
                print(f"round {r + 1} {name}: {results[name]['steps_per_s']:.0f} steps/s, "
                      f"first epoch {results[name]['epoch_s'][0]:.2f} s", flush=True)
            rounds.append({"results": results, "load_average": machine.load_average()})
    finally:
        streamed.CHUNK = default_chunk
    summary = {}
    for name in variants:
        speeds = [r["results"][name]["steps_per_s"] for r in rounds]
        ratios = [r["results"][name]["steps_per_s"] / r["results"]["memory"]["steps_per_s"]
                  for r in rounds]
        summary[name] = {"steps_per_s": statistics.median(speeds),
                         "vs_memory": statistics.median(ratios),
                         "wall_s": statistics.median(r["results"][name]["wall_s"]
                                                     for r in rounds)}
    load["end"] = machine.load_average()
    report = {
        "command": "python benchmarks/stream_vs_memory.py " + " ".join(argv or sys.argv[1:]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine.describe_machine(), "versions": machine.versions(),
        "load_average": load,
        "settings": {"dataset": args.dataset, "rounds": args.rounds, "epochs": args.epochs,
                     "batch_size": args.batch_size, "chunks": chunks,
                     "n_train": len(memory[0]), "features": math.prod(memory[0].shape[1:])},
        "summary": summary, "rounds": rounds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for name, row in summary.items():
        print(f"{name:>16}: {row['steps_per_s']:7.0f} steps/s, {row['vs_memory']:.2f}x memory")
    return report


if __name__ == "__main__":
    main()
