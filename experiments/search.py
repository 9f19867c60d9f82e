"""Searches at equal compute: the full grid, successive halving, PBT and Optuna on MNIST-1D.

An MLP 40 -> Dense(100), ReLU -> Dense(100), ReLU -> Dense(10), SGD with momentum 0.9, batches
of 100, is tuned four ways, each measured by the best validation accuracy it reaches against the
configuration-epochs it trains in all (one configuration trained one epoch is one):

* grid: 9 learning rates (1e-3 to 3, four a decade) x 3 L2 strengths, every one to the end;
* halving: the same 27 configurations, `jn.halving(rungs=(1, 3, 9), keep=1/3)`: after epochs 1,
  3 and 9 only the best third goes on;
* pbt: 8 members with learning rates from 1e-3 to 3, `jn.pbt(every=3, perturb=("lr",))`: every
  3 epochs the worst quarter copies a best member and takes its rate, times 0.8 or 1.25;
  beside it the same 8 rates fixed (what PBT has to beat);
* optuna: 27 trials of Optuna's TPE over the rate and the L2 strength (log-uniform), asked 9 at
  a time, each batch one sweep, with the median pruner at epoch ends.

500 of the 4,000 training signals are held out for validation; the best configuration of each
method is measured once on the 1,000 test signals.

    python experiments/search.py             # 27 epochs; about a minute on 2 cores
    python experiments/search.py --quick     # a few epochs, fewer configurations

Writes to --out (default runs/search/): search.png (best validation accuracy reached against
configuration-epochs trained, one line per method; PBT's learning rates over training) and
metrics.json (per method: configuration-epochs, best validation and test accuracy, time).
"""

from __future__ import annotations

import time

import _common
import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

import jaxnet as jn

VALIDATION = 500  # training signals held out to choose


def make_setup(x_example):
    """``setup(lr, l2, seed)``: the MLP initialised from the seed, L2 on its kernels, SGD."""
    model = jn.Sequential([jn.Dense(100), jn.relu, jn.Dense(100), jn.relu, jn.Dense(10)])

    def setup(lr: float, l2: float = 0.0, seed: int = 0) -> jn.Trial:
        init_key, run_key = jax.random.split(jax.random.key(seed))
        params, state = model.init(init_key, x_example)
        objective = jn.objective(model, jn.losses.softmax_cross_entropy,
                                 jn.regularizers.l2(l2))
        return jn.Trial(objective, optax.sgd(lr, momentum=0.9), params, state, run_key)

    return setup


def progress(histories: list[dict], offset: float = 0.0) -> tuple[list[float], list[float]]:
    """Configuration-epochs trained and best validation accuracy reached, epoch by epoch, for
    configurations trained side by side (a sweep)."""
    costs, best = [], []
    spent, top = offset, -np.inf
    for epoch in range(max(len(h["val_accuracy"]) for h in histories)):
        trained = [h["val_accuracy"][epoch] for h in histories if len(h["val_accuracy"]) > epoch]
        spent += len(trained)
        top = max(top, np.nanmax(trained))
        costs.append(spent)
        best.append(float(top))
    return costs, best


def summary(name: str, results: list[jn.SweepResult], setup, test, seconds: float) -> dict:
    """A method's cost, its best configuration (by final validation accuracy) and its test
    accuracy; its progress curve."""
    costs, best, spent = [], [], 0.0
    for result in results:  # batches one after another (Optuna); a sweep is one
        c, b = progress(result.histories, spent)
        spent = c[-1]
        best += [max(best[-1], v) if best else v for v in b]
        costs += c
    finals = [(h["val_accuracy"][-1], k, i) for k, r in enumerate(results)
              for i, h in enumerate(r.histories)]
    value, k, i = max(finals, key=lambda f: np.nan_to_num(f[0], nan=-1.0))
    chosen = results[k]
    config = dict(chosen.configs[i])
    if chosen.lineage:  # a PBT member ends with the values of its last copy
        config.update({n: v for n, v in chosen.lineage[i][-1].items()
                       if n not in ("epoch", "copied")})
    trial = setup(**config)
    measured = jn.evaluate(trial.objective, chosen.params[i], chosen.state[i], test)
    print(f"{name:>9}: {int(spent):>4} configuration-epochs, best validation accuracy "
          f"{value:.3f} ({config}), test {measured['accuracy']:.3f}, "
          f"{seconds:.1f} s")
    return {"configuration_epochs": int(spent), "best_val_accuracy": float(value),
            "best_config": config, "test_accuracy": float(measured["accuracy"]),
            "seconds": seconds, "curve": {"configuration_epochs": costs, "best": best}}


def run_optuna(setup, train, args, epochs, trials, batch, common):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=args.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=batch,
                                                                   n_warmup_steps=1))
    space = {"lr": optuna.distributions.FloatDistribution(1e-3, 3.0, log=True),
             "l2": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True)}
    found = jn.search.optuna_search(study, setup, space, train, trials=trials, batch=batch,
                                    metric="val_accuracy", fixed={"seed": args.seed},
                                    epochs=epochs, **common)
    return found.batches


def plot(methods: dict, pbt_result, title: str, path) -> None:
    figure = Figure(figsize=(11, 4))
    curves_ax, lineage_ax = figure.subplots(1, 2)
    for name, entry in methods.items():
        curve = entry["curve"]
        curves_ax.plot(curve["configuration_epochs"], curve["best"], label=name,
                       marker="o" if name == "pbt fixed" else None, markersize=2)
    curves_ax.set_xscale("log")
    curves_ax.set_xlabel("configuration-epochs trained")
    curves_ax.set_ylabel("best validation accuracy")
    curves_ax.set_title("best validation accuracy reached")
    curves_ax.grid(alpha=0.3)
    curves_ax.legend(fontsize="small")
    jn.viz.pbt_lineage(pbt_result, "lr", ax=lineage_ax, title="PBT: each member's rate")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80, bbox_inches="tight")


def main(argv=None) -> dict:
    parser = _common.parser("search", __doc__)
    parser.add_argument("--epochs", type=int, default=27)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    _common.start_jax(args, every_core=True)
    start = time.perf_counter()
    epochs, rates, strengths, members, n_train = 27, 9, [0.0, 1e-4, 1e-3], 8, None
    rungs, every, trials, batch = (1, 3, 9), 3, 27, 9
    if args.epochs != 27:
        epochs = args.epochs
    if args.quick:
        epochs, rates, strengths, members, n_train = 4, 4, [0.0, 1e-3], 4, 1500
        rungs, every, trials, batch = (1, 2), 2, 8, 4
    args.out.mkdir(parents=True, exist_ok=True)
    data = jn.data.load("mnist1d")
    (x, y), (x_val, y_val) = jn.data.split(data.x_train, data.y_train,
                                           VALIDATION / len(data.x_train), seed=args.seed)
    train = (jnp.asarray(x[:n_train]), jnp.asarray(y[:n_train]))
    test = (jnp.asarray(data.x_test), jnp.asarray(data.y_test))
    common = dict(batch_size=args.batch_size, validation_data=(jnp.asarray(x_val),
                                                               jnp.asarray(y_val)),
                  verbose=False)
    setup = make_setup(train[0][:1])
    grid = jn.grid(lr=[float(v) for v in np.geomspace(1e-3, 3.0, rates)], l2=strengths,
                   seed=[args.seed])
    population = jn.grid(lr=[float(v) for v in np.geomspace(1e-3, 3.0, members)],
                         seed=[args.seed])
    schedules = {
        "grid": (grid, None),
        "halving": (grid, jn.halving(rungs=rungs, keep=1 / 3, metric="val_accuracy")),
        "pbt": (population, jn.pbt(every=every, perturb=("lr",), metric="val_accuracy",
                                   seed=args.seed)),
        "pbt fixed": (population, None),
    }
    methods, results = {}, {}
    for name, (configs, schedule) in schedules.items():
        clock = time.perf_counter()
        results[name] = jn.sweep(setup, configs, train, epochs=epochs, schedule=schedule,
                                 **common)
        methods[name] = summary(name, [results[name]], setup, test,
                                time.perf_counter() - clock)
    clock = time.perf_counter()
    batches = run_optuna(setup, train, args, epochs, trials, batch, common)
    methods["optuna"] = summary("optuna", batches, setup, test, time.perf_counter() - clock)

    title = (f"MNIST-1D MLP 40-100-100-10, SGD momentum 0.9, batch {args.batch_size}, "
             f"{epochs} epochs")
    plot(methods, results["pbt"], title, args.out / "search.png")
    grid_best, halving = methods["grid"], methods["halving"]
    findings = {
        "halving_points_below_grid": 100 * (grid_best["best_val_accuracy"]
                                            - halving["best_val_accuracy"]),
        "halving_cost_fraction": halving["configuration_epochs"]
        / grid_best["configuration_epochs"],
        "pbt_minus_best_fixed_points": 100 * (methods["pbt"]["best_val_accuracy"]
                                              - methods["pbt fixed"]["best_val_accuracy"]),
    }
    print(f"halving: {findings['halving_points_below_grid']:.2f} points below the grid's best "
          f"for {findings['halving_cost_fraction']:.2f} of its configuration-epochs; PBT "
          f"{findings['pbt_minus_best_fixed_points']:+.2f} points against its best fixed rate")
    settings = {"dataset": "mnist1d", "n_train": len(train[0]), "n_validation": VALIDATION,
                "epochs": epochs, "batch_size": args.batch_size, "grid": len(grid),
                "rungs": list(rungs), "population": len(population), "pbt_every": every,
                "optuna_trials": trials, "optuna_batch": batch, "seed": args.seed,
                "quick": args.quick}
    metrics = _common.write_metrics(args.out, "search", settings, start, methods=methods,
                                    findings=findings,
                                    pbt_lineage=results["pbt"].lineage)
    print(f"wall time {metrics['wall_time_s']:.1f} s; results in {args.out}")
    return metrics


if __name__ == "__main__":
    main()
