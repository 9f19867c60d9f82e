"""Where `jn.fit` spends its time beyond the plain `lax.scan` epoch: a diagnostic.

For one network of benchmarks/peers/networks.py it times, alternating and taking medians:

    plain_epoch      the plain-JAX reference: one jitted lax.scan over pre-batched data
    jaxnet_epoch     jaxnet's compiled epoch called directly (shuffle, gather, scan, end check)
    fit_1            jn.fit(epochs=1): the epoch plus everything fit does on the host per call
    fit_n            jn.fit(epochs=N) against N back-to-back calls of jaxnet's epoch

and reports the per-call host cost of fit (fit_1 - jaxnet_epoch), the device-side cost of the
compiled epoch over the plain scan, the compile times of both epochs, the number of operations in
their compiled loop bodies, and the functions that take fit's host time (cProfile).

It reads jaxnet's internals (``jaxnet.training.epoch.scanned_epoch``, ``run_state.start_run``),
which may change; it is a tool for the library's engineers, not a test.

    python benchmarks/fit_overhead.py --network small_mlp
    python benchmarks/fit_overhead.py --network mlp --epochs 3 --repeats 3 --profile-calls 3
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import pstats
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
from machine import load_average, versions  # noqa: E402
from peers import jaxnet_fit, plain_jax  # noqa: E402
from peers.networks import NETWORKS, synthetic_data  # noqa: E402

import jaxnet as jn  # noqa: E402
from jaxnet.training.epoch import Plan, batch_order, key_seed, scanned_epoch  # noqa: E402
from jaxnet.training.group import Trial, example_step  # noqa: E402
from jaxnet.training.hyperparams import as_arguments, fit_recipe  # noqa: E402
from jaxnet.training.run_state import start_run  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def chained(epoch, start, n: int, *data):
    """``n`` epochs back to back, each from the state the previous one returned."""
    state = start
    for _ in range(n):
        state = epoch(state, *data)[0]
    return state


def loop_body_ops(compiled_text: str) -> dict[str, int]:
    """Operations of the largest while loop's body in a compiled HLO module (the scan over the
    steps): all instructions, calls of fused kernels, and dots and convolutions (in the body or
    in the fusions it calls), which are the real work."""
    computations, name = {}, None
    for line in compiled_text.splitlines():
        if line.startswith(("%", "ENTRY %")) and line.rstrip().endswith("{"):
            name = line.removeprefix("ENTRY ").split(" ", 1)[0]
            computations[name] = []
        elif line.startswith("}"):
            name = None
        elif name is not None and " = " in line:
            computations[name].append(line)
    bodies = [b for lines in computations.values() for ln in lines if " while(" in ln
              for b in re.findall(r"body=(%[\w.\-]+)", ln)]
    if not bodies:
        return {}
    body = max(bodies, key=lambda b: len(computations.get(b, ())))

    def called(lines):
        for ln in lines:
            for callee in re.findall(r"calls=(%[\w.\-]+)", ln):
                yield from computations.get(callee, ())
                yield from called(computations.get(callee, ()))

    lines = computations[body]
    inner = lines + list(called(lines))
    return {
        "instructions": len(lines),
        "fusion_calls": sum(" fusion(" in ln for ln in lines),
        "dot": sum(" dot(" in ln for ln in inner),
        "convolution": sum(" convolution(" in ln for ln in inner),
        "custom_call": sum(" custom-call(" in ln for ln in inner),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default="small_mlp", choices=list(NETWORKS))
    parser.add_argument("--epochs", type=int, default=25, help="N of fit_n")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--profile-calls", type=int, default=20, help="fit calls profiled")
    parser.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    net = NETWORKS[args.network]
    data = synthetic_data(net)

    objective, params, state, optimizer, (x, y) = jaxnet_fit._setup(net, data, 0)
    key = jax.random.key(1)
    opt_state = optimizer.init(params)
    trial = Trial(objective, optimizer, params, state, key)
    recipe, numbers = fit_recipe(objective, optimizer, example_step(trial, x, y, net.batch_size))
    plan, values = Plan(recipe, count=1, side=1), (as_arguments(numbers), None)

    def epoch(run, x, y, order):
        return scanned_epoch(plan, values, run, x, y, order)

    # fit hands its epoch the run states of one configuration, without the early-stopping
    # record: the same program
    order = batch_order(key_seed(key), 0, len(jax.tree.leaves(x)[0]), net.batch_size)[None]
    run = jax.tree.map(lambda a: a[None], dataclasses.replace(
        start_run(params, state, opt_state, key), stopping=None))

    def jaxnet_epoch():
        return epoch(run, x, y, order)

    def jaxnet_epochs():
        return chained(epoch, run, args.epochs, x, y, order)

    def fit(epochs):
        return lambda: jn.fit(objective, params, state, optimizer, (x, y), epochs=epochs,
                              batch_size=net.batch_size, key=key, opt_state=opt_state,
                              verbose=False).params

    epoch_fn, carry, xs, ys = plain_jax._setup(net, data, 0)
    plain = jax.jit(epoch_fn)

    def plain_epoch():
        return plain(carry, xs, ys, key)

    def plain_epochs():
        return chained(plain, carry, args.epochs, xs, ys, key)

    first_s, ops = {}, {}
    for name, fn, fn_args in (("plain_epoch", plain, (carry, xs, ys, key)),
                              ("jaxnet_epoch", epoch, (run, x, y, order))):
        first_s[name] = timed(lambda fn=fn, fn_args=fn_args: fn(*fn_args))
        ops[name] = loop_body_ops(
            jax.jit(lambda *a, fn=fn: fn(*a)).lower(*fn_args).compile().as_text())
    first_s["fit_1"] = timed(fit(1))  # compiles whatever fit compiles beyond the epoch

    cases = {"plain_epoch": plain_epoch, "jaxnet_epoch": jaxnet_epoch, "fit_1": fit(1),
             f"plain_{args.epochs}_epochs": plain_epochs,
             f"jaxnet_{args.epochs}_epochs": jaxnet_epochs, f"fit_{args.epochs}": fit(args.epochs)}
    for fn in cases.values():
        timed(fn)
    times = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    median = {name: statistics.median(t) for name, t in times.items()}

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.profile_calls):
        fit(1)()
    profile.disable()
    stream = io.StringIO()
    pstats.Stats(profile, stream=stream).sort_stats("cumulative").print_stats(25)

    n = args.epochs
    report = {
        "network": net.name, "steps_per_epoch": net.steps_per_epoch, "repeats": args.repeats,
        "load_average": load_average(), "versions": versions(),
        "median_s": median, "times_s": times, "first_call_s": first_s,
        "compile_s": {name: first_s[name] - median[name] for name in first_s},
        "loop_body_ops": ops,
        "fit_host_cost_per_call_s": median["fit_1"] - median["jaxnet_epoch"],
        "epoch_over_plain": median["jaxnet_epoch"] / median["plain_epoch"],
        f"fit_{n}_over_plain_{n}": median[f"fit_{n}"] / median[f"plain_{n}_epochs"],
    }
    print(json.dumps({k: v for k, v in report.items() if k not in ("times_s", "versions")},
                     indent=1))
    print(stream.getvalue())
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
