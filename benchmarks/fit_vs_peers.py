"""`jn.fit` against the training loops of its peers, on the same networks and the same data.

Four networks (see benchmarks/peers/networks.py): the source's MLP (784-512-512-10 with Dropout,
BatchNorm and L2, batch 128), a small MLP (40-100-100-10, batch 100, 40 steps an epoch), and
MNIST-1D's CNN and bidirectional GRU (batch 100). Each is trained, on identical synthetic float32
data, by:

    plain             plain JAX, the epoch one jitted lax.scan over pre-batched data (the reference)
    plain_one_call    the same, all the round's epochs in one jitted call (small MLP only)
    jaxnet            jn.fit, one call a round (over all the round's epochs)
    jaxnet_per_epoch  jn.fit, one call per epoch (small MLP only)
    jaxnet_step       jn.train_step in a Python loop
    flax_linen        Flax linen + TrainState, a jitted step in a Python loop
    flax_nnx          Flax NNX, nnx.jit
    equinox           Equinox, partition + eqx.filter_jit
    haiku             Haiku, transform_with_state + jax.jit
    keras             Keras 3 model.fit on the JAX backend
    torch             PyTorch, eager on the CPU, one thread (torch.set_num_threads(1))
    torch_threads     PyTorch with its default threads (one per core); only with --only, see
                      benchmarks/peers/torch_eager.py

Rounds are interleaved: round r runs every implementation once, in an order rotated by r, so
that a change in the machine's load hits all of them. Reported per implementation: steps/s (the
median over rounds), the first call's time (compilation and one round), the ratios to `plain` and
to `flax_linen`, and for the MLPs the fraction of this machine's float32 matmul peak, measured in
the same process (a jitted chain of 2048-square matrix products, run once a round among the
implementations so that both rates see the same load), counting 3x the forward matmul FLOPs per
step. Peers that are not installed (`pip install -e ".[bench]"`) are skipped with a note.

    python benchmarks/fit_vs_peers.py                 # 10-20 minutes on 2 cores
    python benchmarks/fit_vs_peers.py --quick         # a few steps, seconds per implementation
    python benchmarks/fit_vs_peers.py --only jaxnet,plain,flax_linen --networks small_mlp

Writes benchmarks/results/fit_vs_peers.json (or --out); render it with
benchmarks/render_benchmarks.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras chooses its backend at its first import
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import (  # noqa: E402
    MatmulProbe,
    describe_machine,
    load_average,
    matmul_peak,
    versions,
)
from peers.networks import NETWORKS, Network, quick, synthetic_data  # noqa: E402

# name: (module in peers/, factory, networks it runs on (None: all), what it is)
IMPLEMENTATIONS = {
    "plain": ("plain_jax", "make", None,
              "plain JAX, the epoch one jitted lax.scan over pre-batched data"),
    "plain_one_call": ("plain_jax", "make_one_call", ("small_mlp",),
                       "plain JAX, all the round's epochs in one jitted lax.scan"),
    "jaxnet": ("jaxnet_fit", "make", None, "jn.fit, one call a round"),
    "jaxnet_per_epoch": ("jaxnet_fit", "make_per_epoch", ("small_mlp",),
                         "jn.fit, one call per epoch"),
    "jaxnet_step": ("jaxnet_fit", "make_step", None, "jn.train_step in a Python loop"),
    "flax_linen": ("flax_linen", "make", None, "Flax linen + TrainState, jitted step"),
    "flax_nnx": ("flax_nnx", "make", None, "Flax NNX, nnx.jit step"),
    "equinox": ("equinox_loop", "make", None, "Equinox, partition + eqx.filter_jit step"),
    "haiku": ("haiku_loop", "make", None, "Haiku, transform_with_state + jax.jit step"),
    "keras": ("keras_fit", "make", None, "Keras 3 model.fit, JAX backend"),
    "torch": ("torch_eager", "make_one_thread", None, "PyTorch eager, CPU, one thread"),
    "torch_threads": ("torch_eager", "make", None, "PyTorch eager, CPU, default threads"),
}
# On a loaded machine PyTorch's default threads make these small networks 10-20x slower than
# one thread (a round of the source's MLP took 85 s instead of 3 s at a load average of 7 on two
# cores), which would dominate the run's time: it runs only when asked for.
OPT_IN = ("torch_threads",)
PROBE = "matmul probe"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fit_vs_peers.json"


def selected(only: str | None) -> list[str]:
    """The implementations named by ``--only``: a name selects itself and the names that extend
    it by ``_`` (``jaxnet`` selects ``jaxnet``, ``jaxnet_per_epoch`` and ``jaxnet_step``)."""
    if not only:
        return [n for n in IMPLEMENTATIONS if n not in OPT_IN]
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    unknown = [w for w in wanted if not any(n == w or n.startswith(w + "_")
                                            for n in IMPLEMENTATIONS)]
    if unknown:
        raise SystemExit(f"--only: unknown implementation(s) {unknown}; "
                         f"choose from {list(IMPLEMENTATIONS)}")
    return [n for n in IMPLEMENTATIONS if any(n == w or n.startswith(w + "_") for w in wanted)]


def build(name: str, net: Network, data, seed: int):
    """The round function of ``name`` for ``net``, or a string saying why there is none."""
    module_name, factory, networks, _ = IMPLEMENTATIONS[name]
    if networks is not None and net.name not in networks:
        return None
    try:
        module = importlib.import_module(f"peers.{module_name}")
    except ImportError as error:
        return f"skipped: {error} (pip install -e \".[bench]\")"
    return getattr(module, factory)(net, data, seed)


def time_call(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_network(net: Network, names: list[str], rounds: int, seed: int,
                  probe: MatmulProbe) -> dict:
    """Builds every implementation, times its first call, then ``rounds`` interleaved rounds.

    For the MLPs each round also runs the matmul ``probe`` once, at its place in the rotation,
    so that the fraction of the peak compares rates measured under the same load.
    """
    data = synthetic_data(net, seed)
    runners, first, notes = {}, {}, {}
    for name in names:
        try:
            runner = build(name, net, data, seed)
            if runner is None:
                continue
            if isinstance(runner, str):
                notes[name] = runner
                continue
            first[name] = time_call(runner)
            runners[name] = runner
        except Exception as error:  # a peer that breaks must not end the others' run
            traceback.print_exc()
            notes[name] = f"failed: {type(error).__name__}: {error}"
        print(f"  {net.name}: {name} " + (f"first call {first[name]:.2f} s" if name in first
                                          else notes.get(name, "")), flush=True)
    order, times, loads, matmul = list(runners), {name: [] for name in runners}, [], []
    if net.train_flops_per_step() is not None:
        order.append(PROBE)
    for r in range(rounds):
        shift = r % len(order) if order else 0
        for name in order[shift:] + order[:shift]:
            if name == PROBE:
                matmul.append(probe())
            else:
                times[name].append(time_call(runners[name]))
        loads.append(load_average()[0])
        print(f"  {net.name}: round {r + 1}/{rounds} done, load {loads[-1]:.2f}", flush=True)
    result = summarise(net, first, times, notes, loads)
    result["matmul_gflops_per_round"] = matmul
    return result


def summarise(net: Network, first: dict, times: dict, notes: dict, loads: list) -> dict:
    results = {}
    for name, rounds in times.items():
        median = statistics.median(rounds)
        results[name] = {
            "what": IMPLEMENTATIONS[name][3],
            "steps_per_s": net.steps_per_round / median,
            "median_round_s": median,
            "first_call_s": first[name],
            "compile_s": max(first[name] - median, 0.0),
            "round_s": rounds,
        }
    for baseline, key in (("plain", "vs_plain"), ("flax_linen", "vs_flax_linen")):
        for r in results.values():
            r[key] = (r["steps_per_s"] / results[baseline]["steps_per_s"]
                      if baseline in results else None)
    return {
        "network": dataclasses.asdict(net) | {"n_examples": net.n_examples,
                                               "steps_per_round": net.steps_per_round},
        "train_flops_per_step": net.train_flops_per_step(),
        "implementations": results,
        "notes": notes,
        "load_average_per_round": loads,
    }


def add_peak_fractions(report: dict) -> None:
    """``peak_fraction``: the MLP's FLOP rate over the best matmul rate of the whole run;
    ``peak_fraction_same_load``: over the median matmul rate of the same rounds."""
    best = report["matmul_peak"]["gflops"] * 1e9
    for result in report["networks"].values():
        flops, rates = result["train_flops_per_step"], result["matmul_gflops_per_round"]
        median = statistics.median(rates) * 1e9 if rates else None
        result["matmul_gflops_median"] = None if median is None else median / 1e9
        for r in result["implementations"].values():
            rate = None if flops is None else r["steps_per_s"] * flops
            r["peak_fraction"] = None if rate is None else rate / best
            r["peak_fraction_same_load"] = (None if rate is None or median is None
                                            else rate / median)


def print_table(name: str, result: dict) -> None:
    print(f"\n{name}: {result['network']['steps_per_round']} steps a round")
    print(f"  {'implementation':18s} {'steps/s':>9s} {'vs plain':>9s} {'vs linen':>9s} "
          f"{'peak':>6s} {'first call':>11s}")
    rows = sorted(result["implementations"].items(), key=lambda kv: -kv[1]["steps_per_s"])
    for impl, r in rows:
        def fmt(v, spec):
            return "-" if v is None else format(v, spec)

        print(f"  {impl:18s} {r['steps_per_s']:9.0f} {fmt(r['vs_plain'], '9.2f')} "
              f"{fmt(r['vs_flax_linen'], '9.2f')} {fmt(r['peak_fraction'], '6.0%')} "
              f"{r['first_call_s']:10.2f}s")
    for impl, note in result["notes"].items():
        print(f"  {impl:18s} {note}")


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--quick", action="store_true",
                        help="4 steps an epoch, 2 epochs a round, 2 rounds: a smoke test")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 9)")
    parser.add_argument("--only", default=None,
                        help="comma-separated implementations (a prefix such as jaxnet selects "
                             "its variants)")
    parser.add_argument("--networks", default=",".join(NETWORKS),
                        help=f"comma-separated, from {','.join(NETWORKS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 9)
    names = selected(args.only)
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    if unknown := [n for n in networks if n not in NETWORKS]:
        parser.error(f"--networks: unknown {unknown}; choose from {list(NETWORKS)}")

    started = time.time()
    report = {
        "benchmark": "fit_vs_peers",
        "command": " ".join(["python benchmarks/fit_vs_peers.py", *argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "settings": {"quick": args.quick, "rounds": rounds, "seed": args.seed,
                     "implementations": names, "networks": networks,
                     "data": "synthetic: standard normal float32 inputs, uniform labels"},
        "machine": describe_machine(),
        "versions": versions(),
        "load_average": {"start": load_average()},
    }
    print(f"{report['machine']['cpu_model']}, {report['machine']['cpu_count']} cores, "
          f"load {report['load_average']['start']}", flush=True)
    size = 512 if args.quick else 2048
    peaks = [matmul_peak(size, quick=args.quick)]
    probe = MatmulProbe(size, 2 if args.quick else 5)
    report["networks"] = {}
    for name in networks:
        net = quick(NETWORKS[name]) if args.quick else NETWORKS[name]
        report["networks"][name] = bench_network(net, names, rounds, args.seed, probe)
    peaks.append(matmul_peak(size, quick=args.quick))
    rates = [g for r in report["networks"].values() for g in r["matmul_gflops_per_round"]]
    report["matmul_peak"] = {"gflops": max([p["gflops"] for p in peaks] + rates),
                             "measurements": peaks, "n": size}
    report["load_average"]["end"] = load_average()
    if "torch" in sys.modules:
        report["machine"]["torch_default_threads"] = sys.modules["torch"].get_num_threads()
    report["wall_s"] = time.time() - started
    add_peak_fractions(report)
    for name, result in report["networks"].items():
        print_table(name, result)
    print(f"\nfloat32 matmul peak {report['matmul_peak']['gflops']:.0f} GFLOP/s (best); "
          f"load average {report['load_average']['start']} -> {report['load_average']['end']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
