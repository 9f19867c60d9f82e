"""A sweep on every core of a CPU: `jn.sweep` over one JAX device per core, against sixteen
`jn.fit` calls and against the same split written in plain JAX.

The case: 16 configurations (4 learning rates x 4 seeds) of the MLP 40-100-100-10 (ReLU), Adam,
batch 100, on 4,000 synthetic examples (ten Gaussian classes), ``--epochs`` epochs. Variants,
each timed in a fresh process (the number of CPU devices is fixed when JAX starts):

    sweep_cores        jn.use_cpu_cores(N); jn.sweep spreads the configurations over the N devices
    sweep_one_device   jn.sweep on one device (configurations in turn, the CPU default)
    fits               sixteen jn.fit calls, one after the other, on one device
    plain_cores        plain JAX: the training of one configuration vmapped over the 16, the
                       configuration axis split over N devices (jit with shardings)
    plain_one_device   the same plain-JAX program on one device

Each process makes one cold call (tracing and compiling included, as a fresh script does) and
three warm calls (compiled programs reused; the median is reported). The rounds rotate the
order of the variants; the numbers are medians over the rounds.

    python benchmarks/sweep_cpu_cores.py               # about 3 minutes on 2 cores
    python benchmarks/sweep_cpu_cores.py --quick       # a smoke test
    python benchmarks/sweep_cpu_cores.py --cores 8 --rounds 5 --epochs 20

Writes benchmarks/results/sweep_cpu_cores.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "sweep_cpu_cores.json"
VARIANTS = ("sweep_cores", "sweep_one_device", "fits", "plain_cores", "plain_one_device")
LEARNING_RATES, SEEDS, BATCH = (1e-4, 3e-4, 1e-3, 3e-3), (0, 1, 2, 3), 100


def data(n: int):
    """Ten classes of Gaussian points around random centres, 40 features."""
    import numpy as np

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 40)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    x = centres[y] + rng.normal(scale=2.0, size=(n, 40)).astype(np.float32)
    return x, y


def jaxnet_runner(variant: str, x, y, epochs: int):
    import jax
    import optax

    import jaxnet as jn

    model = jn.Sequential([jn.Dense(100), jn.relu, jn.Dense(100), jn.relu, jn.Dense(10)])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)

    def setup(lr, seed):
        init_key, run_key = jax.random.split(jax.random.key(seed))
        params, state = model.init(init_key, x[:1])
        return jn.Trial(objective, optax.adam(lr), params, state, run_key)

    configs = jn.grid(lr=list(LEARNING_RATES), seed=list(SEEDS))
    one = jn.parallel.mesh(jax.devices()[:1])

    def sweep():
        mesh = one if variant == "sweep_one_device" else None
        result = jn.sweep(setup, configs, (x, y), epochs=epochs, batch_size=BATCH, mesh=mesh,
                          verbose=False)
        jax.block_until_ready(result.params)
        return [h["loss"][-1] for h in result.histories]

    def fits():
        losses = []
        for config in configs:
            trial = setup(**config)
            # inject_hyperparams: the learning rate is an argument, one compilation for all
            optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=config["lr"])
            result = jn.fit(trial.objective, trial.params, trial.state, optimizer, (x, y),
                            epochs=epochs, batch_size=BATCH, key=trial.key, verbose=False)
            jax.block_until_ready(result.params)
            losses.append(result.history["loss"][-1])
        return losses

    return fits if variant == "fits" else sweep


def plain_runner(variant: str, x, y, epochs: int):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    n_batches = len(x) // BATCH
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)

    def init(key):
        keys = jax.random.split(key, 3)
        glorot = jax.nn.initializers.glorot_uniform()
        shapes = [(40, 100), (100, 100), (100, 10)]
        return [(glorot(k, shape), jnp.zeros(shape[1])) for k, shape in zip(keys, shapes)]

    def loss(params, xb, yb):
        h = xb
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = params[-1]
        return optax.softmax_cross_entropy_with_integer_labels(h @ w + b, yb).mean()

    def train(lr, seed, x, y):
        init_key, run_key = jax.random.split(jax.random.key(seed))
        params = init(init_key)
        opt_state = optimizer.init(params)
        opt_state.hyperparams["learning_rate"] = lr

        def epoch(carry, e):
            order = jax.random.permutation(jax.random.fold_in(run_key, e), len(x))
            order = order[:n_batches * BATCH].reshape(n_batches, BATCH)

            def step(carry, indices):
                params, opt_state = carry
                value, grads = jax.value_and_grad(loss)(params, x[indices], y[indices])
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), value

            carry, values = jax.lax.scan(step, carry, order)
            return carry, values.mean()

        (params, _), losses = jax.lax.scan(epoch, (params, opt_state), jnp.arange(epochs))
        return params, losses[-1]

    devices = jax.devices() if variant == "plain_cores" else jax.devices()[:1]
    configs = NamedSharding(Mesh(np.asarray(devices), ("configs",)), PartitionSpec("configs"))
    everywhere = NamedSharding(configs.mesh, PartitionSpec())
    program = jax.jit(jax.vmap(train, in_axes=(0, 0, None, None)),
                      in_shardings=(configs, configs, everywhere, everywhere))
    lrs = np.repeat(np.asarray(LEARNING_RATES, np.float32), len(SEEDS))
    seeds = np.tile(np.asarray(SEEDS, np.int32), len(LEARNING_RATES))

    def run():
        params, losses = program(lrs, seeds, x, y)
        jax.block_until_ready(params)
        return [float(v) for v in losses]

    return run


def child(variant: str, cores: int, epochs: int, n: int, warm_calls: int) -> dict:
    """Times one variant in this process: its cold call, then its warm calls."""
    if variant in ("sweep_cores", "plain_cores"):
        import jaxnet as jn

        if jn.use_cpu_cores(cores) != cores:
            raise SystemExit(f"could not have {cores} CPU devices")
    import jax

    x, y = data(n)
    runner = (plain_runner if variant.startswith("plain") else jaxnet_runner)(variant, x, y,
                                                                            epochs)
    start = time.perf_counter()
    losses = runner()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(warm_calls):
        start = time.perf_counter()
        runner()
        warm.append(time.perf_counter() - start)
    return {"cold_s": cold, "warm_s": warm, "devices": len(jax.devices()),
            "final_losses": losses}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, two epochs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cores", type=int, default=None,
                        help="CPU devices for the *_cores variants (default: the cores)")
    parser.add_argument("--only", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    epochs, rounds = (2, 1) if args.quick else (args.epochs, args.rounds)
    n = 1000 if args.quick else 4000
    if args.child:
        print(json.dumps(child(args.child, args.cores, epochs, n, 1 if args.quick else 3)))
        return {}
    sys.path.insert(0, str(HERE))
    from machine import describe_machine, load_average, versions

    from jaxnet.cpu_cores import cpu_cores

    cores = args.cores or cpu_cores()
    variants = args.only.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    runs = {v: [] for v in variants}
    loads = []
    for r in range(rounds):
        for variant in variants[r % len(variants):] + variants[:r % len(variants)]:
            command = [sys.executable, __file__, "--child", variant, "--cores", str(cores),
                       "--epochs", str(epochs), "--rounds", str(rounds)]
            command += ["--quick"] if args.quick else []
            env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
            done = subprocess.run(command, capture_output=True, text=True, env=env,
                                  timeout=1800)
            if done.returncode != 0:
                raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
            runs[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {variant}: cold {runs[variant][-1]['cold_s']:.2f} s, warm "
                  f"{statistics.median(runs[variant][-1]['warm_s']):.3f} s", flush=True)
        loads.append(load_average())
    results = {}
    for variant, measured in runs.items():
        results[variant] = {
            "devices": measured[0]["devices"],
            "cold_s": [m["cold_s"] for m in measured],
            "warm_s": [statistics.median(m["warm_s"]) for m in measured],
            "median_cold_s": statistics.median(m["cold_s"] for m in measured),
            "median_warm_s": statistics.median(statistics.median(m["warm_s"])
                                               for m in measured),
            "final_losses": measured[0]["final_losses"]}
    ratios = {}
    for base, other in (("fits", "sweep_cores"), ("sweep_one_device", "sweep_cores"),
                        ("plain_cores", "sweep_cores"), ("plain_one_device", "plain_cores"),
                        ("fits", "sweep_one_device")):
        if base in results and other in results:
            for kind in ("warm", "cold"):
                ratios[f"{other}_vs_{base}_{kind}"] = (results[base][f"median_{kind}_s"]
                                                       / results[other][f"median_{kind}_s"])
    report = {"command": "python benchmarks/sweep_cpu_cores.py" + " ".join(
                  [""] + (argv if argv is not None else sys.argv[1:])),
              "machine": describe_machine(), "versions": versions(), "cores": cores,
              "case": "16 configurations (4 learning rates x 4 seeds) of MLP 40-100-100-10, "
                      f"Adam, batch {BATCH}, {n} examples, {epochs} epochs",
              "rounds": rounds, "load_average_per_round": loads, "variants": results,
              "speedups": ratios}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    return report


if __name__ == "__main__":
    main()
