"""Training speed of `jn.fit` on the device at hand: the source's MLP, the MNIST-1D CNN and a
larger convolutional network, in float32 and with bfloat16 compute.

For each network and precision: compile time (the first epoch), steps per second over the
following epochs (median over epochs), and the fraction of the device's peak for that dtype,
where the peak is measured in the same process by a large jitted matrix product and a model's
work is counted as 3x the forward pass's multiply-adds (forward, and two products backward).

    python benchmarks/accelerator.py                 # on a GPU or TPU: full sizes
    python benchmarks/accelerator.py --small         # on a CPU: small sizes, seconds
    XLA_FLAGS=--xla_force_host_platform_device_count=8 \
        python benchmarks/accelerator.py --small --mesh   # data-parallel over 8 CPU devices

Writes benchmarks/results/accelerator_<platform>[_mesh<N>].json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnet as jn

HERE = Path(__file__).resolve().parent


def networks(small: bool) -> dict[str, dict]:
    """Each network: its model, input shape, classes, batch size and examples per epoch."""
    scale = 1 if small else 8
    return {
        "source_mlp": dict(
            model=jn.Sequential([jn.Dense(512), jn.relu, jn.Dropout(0.2), jn.Dense(512),
                                 jn.BatchNorm(), jn.relu, jn.Dropout(0.2), jn.Dense(10)]),
            shape=(784,), batch=128, examples=(16 if small else 468) * 128),
        "mnist1d_cnn": dict(
            model=jn.Sequential([jn.Reshape((40, 1)),
                                 jn.Conv1D(25, 5, strides=2, padding=1), jn.relu,
                                 jn.Conv1D(25, 3, strides=2, padding=1), jn.relu,
                                 jn.Conv1D(25, 3, strides=2, padding=1), jn.relu,
                                 jn.Flatten(), jn.Dense(10)]),
            shape=(40,), batch=100, examples=(16 if small else 400) * 100),
        "convnet": dict(
            model=jn.Sequential([jn.Conv2D(32 * scale // 8 or 8, 3, padding="SAME"),
                                 jn.BatchNorm(), jn.relu, jn.MaxPool(2),
                                 jn.Conv2D(64 * scale // 8 or 16, 3, padding="SAME"),
                                 jn.BatchNorm(), jn.relu, jn.MaxPool(2),
                                 jn.Conv2D(128 * scale // 8 or 32, 3, padding="SAME"),
                                 jn.BatchNorm(), jn.relu, jn.GlobalAvgPool(), jn.Dense(10)]),
            shape=(16, 16, 3) if small else (32, 32, 3), batch=64 if small else 256,
            examples=(8 if small else 195) * (64 if small else 256)),
    }


def forward_flops(model, params, state, x) -> float:
    """Multiply-adds x 2 of one forward pass, from XLA's cost analysis of the compiled apply."""
    compiled = jax.jit(lambda p, s, v: model.apply(p, s, v)[0]).lower(params, state, x).compile()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis.get("flops", 0.0))


def matmul_peak(dtype, size: int, repeats: int = 5) -> float:
    """FLOP/s of the best of ``repeats`` jitted ``size x size`` matrix products in ``dtype``."""
    a = jnp.ones((size, size), dtype)
    product = jax.jit(lambda u, v: u @ v)
    product(a, a).block_until_ready()
    best = min(_timed(lambda: product(a, a).block_until_ready()) for _ in range(repeats))
    return 2.0 * size**3 / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_network(name: str, spec: dict, dtype: str | None, epochs: int, mesh) -> dict:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(spec["examples"], *spec["shape"])).astype(np.float32)
    y = rng.integers(0, 10, spec["examples"]).astype(np.int32)
    model = spec["model"]
    params, state = model.init(jax.random.key(0), x[:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy, compute_dtype=dtype)
    data = (jnp.asarray(x), jnp.asarray(y))
    times = []

    def clock(epoch, history, run):
        times.append(time.perf_counter())

    start = time.perf_counter()
    jn.fit(objective, params, state, optax.adam(1e-3), data, epochs=epochs,
           batch_size=spec["batch"], key=jax.random.key(1), callbacks=[clock], mesh=mesh,
           verbose=False)
    steps = spec["examples"] // spec["batch"]
    epoch_times = np.diff([start, *times])
    batch_x = jnp.asarray(x[: spec["batch"]])
    flops = forward_flops(model, params, state, batch_x)
    per_second = [steps / t for t in epoch_times[1:]] or [steps / epoch_times[0]]
    return {
        "network": name,
        "compute_dtype": dtype or "float32",
        "parameters": jn.count_params(params),
        "batch_size": spec["batch"],
        "steps_per_epoch": steps,
        "compile_and_first_epoch_s": float(epoch_times[0]),
        "steps_per_s": float(statistics.median(per_second)),
        "train_flops_per_step": 3 * flops,
        "epoch_times_s": [float(t) for t in epoch_times],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="small sizes, for a CPU")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run")
    parser.add_argument("--mesh", action="store_true", help="data-parallel over all devices")
    parser.add_argument("--only", default=None, help="comma-separated network names")
    parser.add_argument("--out", default=None, help="the JSON file to write")
    args = parser.parse_args(argv)
    epochs = args.epochs or (3 if args.small else 6)
    devices = jax.devices()
    mesh = jn.parallel.mesh() if args.mesh else None
    peak_size = 1024 if args.small else 8192
    peaks = {"float32": matmul_peak(jnp.float32, peak_size),
             "bfloat16": matmul_peak(jnp.bfloat16, peak_size)}
    results = []
    chosen = networks(args.small)
    if args.only:
        chosen = {name: chosen[name] for name in args.only.split(",")}
    for name, spec in chosen.items():
        for dtype in (None, "bfloat16"):
            row = run_network(name, spec, dtype, epochs, mesh)
            peak = peaks[row["compute_dtype"]] * (len(devices) if mesh is not None else 1)
            row["fraction_of_peak"] = row["train_flops_per_step"] * row["steps_per_s"] / peak
            results.append(row)
            print(f"{name:12s} {row['compute_dtype']:9s} {row['steps_per_s']:10.1f} steps/s  "
                  f"compile+epoch {row['compile_and_first_epoch_s']:6.2f} s  "
                  f"{100 * row['fraction_of_peak']:5.1f}% of peak", flush=True)
    report = {
        "command": " ".join(["python", "benchmarks/accelerator.py", *(argv or sys.argv[1:])]),
        "platform": devices[0].platform,
        "device": devices[0].device_kind,
        "devices": len(devices),
        "mesh": mesh is not None,
        "machine": {"processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "load_average": list(os.getloadavg())},
        "versions": {"jax": jax.__version__, "optax": optax.__version__,
                     "python": platform.python_version()},
        "matmul_peak_flops": peaks,
        "results": results,
    }
    suffix = f"_mesh{len(devices)}" if mesh is not None else ""
    default = HERE / "results" / f"accelerator_{report['platform']}{suffix}.json"
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
