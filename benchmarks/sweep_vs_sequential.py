"""`jn.sweep` against the same configurations trained one after the other by `jn.fit`.

Three cases, each on synthetic data (so the script runs offline), in one process:

    small_mlp   16 configurations (4 learning rates x 4 seeds) of an MLP 40-100-100-10, Adam,
                batch 100, 4,000 examples
    source_mlp  16 configurations (4 learning rates x 4 dropout rates) of the source's MLP
                784-512(Dropout)-512(BatchNorm, Dropout)-10, L2 on both hidden kernels, Adam,
                batch 128
    widths      hidden widths 1, 2, 4, ..., 512 x 2 seeds of 40-width-10, Adam, batch 100; the
                sweep trains each width exactly (a program per width), sequential fit trains
                the narrow networks one by one

Each round times, in alternating order, the sweep and the sequential fits twice: *cold*, after
``jax.clear_caches()`` (compilation included, as in a fresh process), and *warm*, the same call
again (compiled programs reused). The numbers are medians over the rounds. Compilations are
counted as traces of the loss (one per compiled training or evaluation program) and as XLA
compilations (every jitted program, small ones included, with their total compile time), during
the cold call.

    python benchmarks/sweep_vs_sequential.py              # about 5 minutes on 2 cores
    python benchmarks/sweep_vs_sequential.py --quick      # a smoke test, tiny cases
    python benchmarks/sweep_vs_sequential.py --only small_mlp --rounds 5

Writes benchmarks/results/sweep_vs_sequential.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from machine import describe_machine, load_average, versions  # noqa: E402

import jaxnet as jn  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "sweep_vs_sequential.json"
LOSS_TRACES = [0]


def counted_loss(pred, target):
    """Softmax cross-entropy that counts how often it is traced (once per compiled program that
    calls it; a warm call traces nothing)."""
    LOSS_TRACES[0] += 1
    return jn.losses.softmax_cross_entropy(pred, target)


def synthetic(n: int, features: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    """Ten classes of Gaussian points around random centres: learnable, so no run diverges."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(10, features)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    x = centres[y] + rng.normal(scale=2.0, size=(n, features)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def small_mlp_case(quick: bool, seeds: int = 4) -> dict:
    data = synthetic(1000 if quick else 4000, 40)
    model = jn.Sequential([jn.Dense(100), jn.relu, jn.Dense(100), jn.relu, jn.Dense(10)])
    objective = jn.objective(model, counted_loss)

    def setup(lr, seed):
        init_key, run_key = jax.random.split(jax.random.key(seed))
        params, state = model.init(init_key, data[0][:1])
        return jn.Trial(objective, optax.adam(lr), params, state, run_key)

    configs = jn.grid(lr=[1e-4, 3e-4, 1e-3, 3e-3], seed=list(range(seeds)))
    return {"setup": setup, "configs": configs, "data": data, "epochs": 2 if quick else 5,
            "batch_size": 100, "target": "sweep at least 6x faster than sequential",
            "description": f"MLP 40-100-100-10 (ReLU), Adam; 4 learning rates x {seeds} seeds"}


def source_mlp_case(quick: bool) -> dict:
    data = synthetic(256 if quick else 1280, 784)

    def setup(lr, dropout):
        model = jn.Sequential([
            jn.Dense(512), jn.relu, jn.Dropout(dropout),
            jn.Dense(512), jn.BatchNorm(), jn.relu, jn.Dropout(dropout),
            jn.Dense(10),
        ])
        init_key, run_key = jax.random.split(jax.random.key(0))
        params, state = model.init(init_key, data[0][:1])
        # L2 on every weight matrix (the numbers recorded in docs/benchmarks.md use this).
        objective = jn.objective(model, counted_loss, jn.regularizers.l2(2e-3))
        return jn.Trial(objective, optax.adam(lr), params, state, run_key)

    configs = jn.grid(lr=[3e-4, 1e-3, 3e-3, 1e-2], dropout=[0.0, 0.1, 0.2, 0.3])
    return {"setup": setup, "configs": configs, "data": data, "epochs": 1 if quick else 2,
            "batch_size": 128, "target": "sweep no slower than sequential, one compilation",
            "description": "MLP 784-512-512-10 with Dropout, BatchNorm, L2 on the kernels, "
                           "Adam; 4 learning rates x 4 dropout rates"}


def widths_case(quick: bool) -> dict:
    data = synthetic(1000 if quick else 4000, 40)

    def setup(width, seed):
        model = jn.Sequential([jn.Dense(width), jn.relu, jn.Dense(10)])
        init_key, run_key = jax.random.split(jax.random.key(seed))
        params, state = model.init(init_key, data[0][:1])
        return jn.Trial(jn.objective(model, counted_loss), optax.adam(3e-3), params, state,
                        run_key)

    widths = [1, 8, 64] if quick else [2**k for k in range(10)]
    return {"setup": setup, "configs": jn.grid(width=widths, seed=[0, 1]), "data": data,
            "epochs": 2 if quick else 5, "batch_size": 100,
            "target": "sweep at most 1.25x the time of the narrow networks one by one, "
                      "compile time included",
            "description": "40-width-10 (ReLU), Adam; widths 1 to 512 (powers of 2) x 2 seeds"}


CASES = {"small_mlp": small_mlp_case, "source_mlp": source_mlp_case, "widths": widths_case}


class CompileLog(logging.Handler):
    """Collects JAX's "Finished XLA compilation of NAME in T sec" messages."""

    PATTERN = re.compile(r"Finished XLA compilation of (.*?) in ([\d.e-]+) sec")

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.compiled: list[tuple[str, float]] = []

    def emit(self, record):
        match = self.PATTERN.search(record.getMessage())
        if match:
            self.compiled.append((match.group(1), float(match.group(2))))

    def by_program(self, top: int = 4) -> dict[str, list]:
        """The programs that took the most compile time: ``{name: [count, seconds]}``."""
        totals: dict[str, list] = {}
        for name, seconds in self.compiled:
            entry = totals.setdefault(name, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds
        return dict(sorted(totals.items(), key=lambda kv: -kv[1][1])[:top])


def run_sweep(case: dict) -> Callable[[], None]:
    def run():
        result = jn.sweep(case["setup"], case["configs"], case["data"], epochs=case["epochs"],
                          batch_size=case["batch_size"], verbose=False)
        jax.block_until_ready(result.params)
    return run


def run_sequential(case: dict) -> Callable[[], None]:
    def run():
        for config in case["configs"]:
            trial = case["setup"](**config)
            result = jn.fit(trial.objective, trial.params, trial.state, trial.optimizer,
                            case["data"], epochs=case["epochs"], batch_size=case["batch_size"],
                            key=trial.key, verbose=False)
            jax.block_until_ready(result.params)
    return run


def measure(run: Callable[[], None], log: CompileLog) -> dict:
    """One cold call (after clearing JAX's caches) and one warm call."""
    jax.clear_caches()
    LOSS_TRACES[0], log.compiled = 0, []
    start = time.perf_counter()
    with jax.log_compiles():
        run()
    cold = time.perf_counter() - start
    traces, compiles = LOSS_TRACES[0], [seconds for _, seconds in log.compiled]
    programs = log.by_program()
    start = time.perf_counter()
    run()
    return {"cold_s": cold, "warm_s": time.perf_counter() - start, "loss_traces": traces,
            "xla_compilations": len(compiles), "xla_compile_s": sum(compiles),
            "xla_compile_by_program": programs}


def one_configuration(case: dict) -> dict:
    """The warm time of the first configuration alone: by the sweep and by fit."""
    single = {**case, "configs": case["configs"][:1]}
    times = {}
    for name, run in (("sweep", run_sweep(single)), ("fit", run_sequential(single))):
        run()
        start = time.perf_counter()
        run()
        times[f"{name}_warm_s"] = time.perf_counter() - start
    return times


def benchmark(name: str, case: dict, rounds: int, log: CompileLog) -> dict:
    methods = {"sweep": run_sweep(case), "sequential": run_sequential(case)}
    runs: dict[str, list[dict]] = {"sweep": [], "sequential": []}
    loads = []
    for r in range(rounds):
        order = ["sweep", "sequential"] if r % 2 == 0 else ["sequential", "sweep"]
        for method in order:
            runs[method].append(measure(methods[method], log))
        loads.append(load_average())
        print(f"{name} round {r + 1}: " + ", ".join(
            f"{m} cold {runs[m][-1]['cold_s']:.2f} s warm {runs[m][-1]['warm_s']:.2f} s"
            for m in runs), flush=True)
    result = {key: case[key] for key in ("description", "epochs", "batch_size", "target")}
    result.update(configurations=len(case["configs"]), n_examples=int(case["data"][0].shape[0]),
                  load_average_per_round=loads)
    for method, measured in runs.items():
        result[method] = {key: [m[key] for m in measured] for key in measured[0]}
        result[method].update({f"median_{key}": statistics.median(m[key] for m in measured)
                               for key in ("cold_s", "warm_s", "xla_compile_s")})
    sweep, sequential = result["sweep"], result["sequential"]
    result["speedup_cold"] = sequential["median_cold_s"] / sweep["median_cold_s"]
    result["speedup_warm"] = sequential["median_warm_s"] / sweep["median_warm_s"]
    result["one_configuration"] = one_configuration(case)
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny cases, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(CASES),
                        help="comma-separated cases to run (default: all)")
    parser.add_argument("--seeds", type=int, default=4,
                        help="seeds of small_mlp (4 learning rates each): 16 for 64 configurations")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    log = CompileLog()
    logging.getLogger("jax").addHandler(log)
    report = {"command": "python benchmarks/sweep_vs_sequential.py"
                         + (" --quick" if args.quick else "")
                         + (f" --rounds {args.rounds}" if args.rounds != 3 else "")
                         + (f" --only {args.only}" if args.only != ",".join(CASES) else "")
                         + (f" --seeds {args.seeds}" if args.seeds != 4 else ""),
              "machine": describe_machine(), "versions": versions(),
              "load_average": {"start": load_average()},
              "settings": {"rounds": rounds, "quick": args.quick}, "cases": {}}
    for name in args.only.split(","):
        case = (small_mlp_case(args.quick, args.seeds) if name == "small_mlp"
                else CASES[name](args.quick))
        report["cases"][name] = benchmark(name, case, rounds, log)
    report["load_average"]["end"] = load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for name, result in report["cases"].items():
        print(f"{name}: sweep {result['sweep']['median_cold_s']:.2f} s cold, "
              f"{result['sweep']['median_warm_s']:.2f} s warm; sequential "
              f"{result['sequential']['median_cold_s']:.2f} s cold, "
              f"{result['sequential']['median_warm_s']:.2f} s warm; speed-up "
              f"{result['speedup_cold']:.2f}x cold, {result['speedup_warm']:.2f}x warm")
    return report


if __name__ == "__main__":
    main()
