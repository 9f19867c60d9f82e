"""The accelerator numbers in one run: what docs/benchmarks.md asks of a GPU or TPU.

Runs, one after the other, each in its own process and with its own time limit:

    accelerator     benchmarks/accelerator.py: `jn.fit` on the source's MLP, the MNIST-1D CNN
                    and a convolutional network, float32 against bfloat16 compute, with the
                    fraction of the device's measured peak
    fit_vs_peers    benchmarks/fit_vs_peers.py: `jn.fit` against Flax linen and the plain-JAX
                    scan on the four networks (source's MLP, small MLP, CNN, GRU)
    sweep_64        benchmarks/sweep_vs_sequential.py --only small_mlp --seeds 16: a sweep of
                    64 configurations against 64 sequential `jn.fit` calls

Each writes its JSON under benchmarks/results/ with the platform in its name (e.g.
``fit_vs_peers_gpu.json``); a step that fails or runs out of time is recorded with the end of
its error output and the others still run. The summary goes to ``accelerator_suite_<platform>
.json``. ``--quick`` runs every step at its smallest (the CPU test of this script).

    python benchmarks/accelerator_suite.py                   # on a GPU; each step <= --limit s
    python benchmarks/accelerator_suite.py --quick           # anywhere: a smoke test
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def steps(platform: str, quick: bool, results: Path) -> dict[str, list[str]]:
    """Each step's command line (arguments to Python)."""
    accelerator = [str(HERE / "accelerator.py"), "--out",
                   str(results / f"accelerator_{platform}.json")]
    peers = [str(HERE / "fit_vs_peers.py"), "--only", "jaxnet,plain,flax_linen", "--out",
             str(results / f"fit_vs_peers_{platform}.json")]
    sweep = [str(HERE / "sweep_vs_sequential.py"), "--only", "small_mlp", "--seeds", "16",
             "--out", str(results / f"sweep_64_{platform}.json")]
    if quick:
        accelerator += ["--small", "--epochs", "2", "--only", "source_mlp"]
        peers += ["--quick", "--networks", "small_mlp"]
        sweep += ["--quick"]
    return {"accelerator": accelerator, "fit_vs_peers": peers, "sweep_64": sweep}


def run_step(command: list[str], limit: float) -> dict:
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True,
                              text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"ok": False, "seconds": time.perf_counter() - start,
                "error": f"ran past its limit of {limit:.0f} s"}
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return {"ok": False, "seconds": seconds, "error": done.stderr[-3000:]}
    return {"ok": True, "seconds": seconds, "output_tail": done.stdout[-2000:]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every step at its smallest")
    parser.add_argument("--only", default=None, help="comma-separated steps to run")
    parser.add_argument("--limit", type=float, default=300.0,
                        help="seconds each step may run (default 300)")
    parser.add_argument("--results", type=Path, default=HERE / "results",
                        help="folder for the JSON files")
    args = parser.parse_args(argv)
    import jax

    platform = jax.default_backend()
    devices = [str(d.device_kind) for d in jax.devices()]
    args.results.mkdir(parents=True, exist_ok=True)
    commands = steps(platform, args.quick, args.results)
    chosen = args.only.split(",") if args.only else list(commands)
    unknown = sorted(set(chosen) - set(commands))
    if unknown:
        parser.error(f"unknown steps {unknown}; choose from {list(commands)}")
    summary = {"platform": platform, "devices": devices, "quick": args.quick, "steps": {}}
    for name in chosen:
        print(f"{name}: python {' '.join(commands[name])}", flush=True)
        result = run_step(commands[name], args.limit)
        summary["steps"][name] = {"command": ["python", *commands[name]], **result}
        print(f"{name}: {'done' if result['ok'] else 'FAILED'} in {result['seconds']:.0f} s",
              flush=True)
    out = args.results / f"accelerator_suite_{platform}.json"
    out.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
