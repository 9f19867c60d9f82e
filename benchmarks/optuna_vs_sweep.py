"""A 16-trial Optuna batch against a 16-configuration `jn.sweep` of the same configurations.

`jn.search.optuna_search` asks a study for 16 trials (TPE, learning rate and L2 strength), trains
them as one sweep with the pruner reporting after every epoch, and tells the study; the sweep
trains the configurations that study proposed, with no study. Both on the small MLP
40-100-100-10, Adam, batch 100, 4,000 synthetic examples, 5 epochs, validation on 1,000 more. Each
round times both, in alternating order, warm (compiled programs reused: the first round is a
warm-up); medians over the rounds. What the search adds is Optuna's asking and telling and the
per-epoch reports.

    python benchmarks/optuna_vs_sweep.py             # about a minute
    python benchmarks/optuna_vs_sweep.py --quick     # a smoke test

Writes benchmarks/results/optuna_vs_sweep.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import optuna  # noqa: E402
from machine import describe_machine, load_average, versions  # noqa: E402

import jaxnet as jn  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "optuna_vs_sweep.json"
TRIALS = 16


def synthetic(n: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(10, 40)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    return centres[y] + rng.normal(scale=2.0, size=(n, 40)).astype(np.float32), y


MODEL = jn.Sequential([jn.Dense(100), jn.relu, jn.Dense(100), jn.relu, jn.Dense(10)])


def setup(lr, l2, seed=0):
    init_key, run_key = jax.random.split(jax.random.key(seed))
    params, state = MODEL.init(init_key, np.zeros((1, 40), np.float32))
    objective = jn.objective(MODEL, jn.losses.softmax_cross_entropy, jn.regularizers.l2(l2))
    return jn.Trial(objective, optax.adam(lr), params, state, run_key)


SPACE = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
         "l2": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rounds, epochs = (2, 2) if args.quick else (args.rounds + 1, 5)
    train, validation = synthetic(1000 if args.quick else 4000, 1), synthetic(1000, 2)
    common = dict(epochs=epochs, batch_size=100, validation_data=validation, verbose=False)
    configs: list[dict] = []

    def search():
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=0),
                                    pruner=optuna.pruners.NopPruner())
        result = jn.search.optuna_search(study, setup, SPACE, train, trials=TRIALS,
                                         batch=TRIALS, metric="val_accuracy", **common)
        configs[:] = result.configs
        return result.values

    def sweep():
        result = jn.sweep(setup, configs, train, **common)
        return [h["val_accuracy"][-1] for h in result.histories]

    times: dict[str, list[float]] = {"optuna_search": [], "sweep": []}
    values = {}
    loads = []
    for r in range(rounds):
        order = ["optuna_search", "sweep"] if r % 2 == 0 else ["sweep", "optuna_search"]
        if not configs:
            order = ["optuna_search", "sweep"]
        for name in order:
            start = time.perf_counter()
            values[name] = (search if name == "optuna_search" else sweep)()
            times[name].append(time.perf_counter() - start)
        loads.append(load_average())
        print(f"round {r + 1}: " + ", ".join(f"{n} {t[-1]:.3f} s" for n, t in times.items()),
              flush=True)
    warm = {name: t[1:] for name, t in times.items()}  # the first round compiles
    medians = {name: statistics.median(t) for name, t in warm.items()}
    report = {"command": "python benchmarks/optuna_vs_sweep.py" + "".join(
                  f" {a}" for a in (argv if argv is not None else sys.argv[1:])),
              "machine": describe_machine(), "versions": {**versions(),
                                                          "optuna": optuna.__version__},
              "case": f"{TRIALS} trials of MLP 40-100-100-10, Adam, batch 100, {epochs} epochs",
              "rounds": rounds, "load_average_per_round": loads, "seconds": times,
              "median_warm_s": medians,
              "sweep_vs_search": medians["optuna_search"] / medians["sweep"],
              "same_values": bool(np.allclose(values["optuna_search"], values["sweep"]))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"search {medians['optuna_search']:.3f} s, sweep {medians['sweep']:.3f} s warm: the "
          f"search takes {report['sweep_vs_search']:.2f}x the sweep's time; same values: "
          f"{report['same_values']}")
    return report


if __name__ == "__main__":
    main()
