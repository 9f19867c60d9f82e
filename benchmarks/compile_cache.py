"""A script run a second time with the persistent compilation cache, against its first run.

Runs an experiment script (by default ``experiments/mnist_mlp.py``, the newcomer's first
command, on the digits) as a user does, in fresh processes, each round three times: with an
empty cache folder (*first*: every program compiled and written), again with that folder
(*second*: every program read back), and with ``--no-compile-cache`` (*off*: the run without a
cache). The rounds vary the order of the three. Reported: the wall time of each process
(Python start, imports, data, tracing, compiling, training, figures) and the time to the end of
the first epoch, as the script's metrics.json records it; medians over the rounds.

    python benchmarks/compile_cache.py                      # about a minute on 2 cores
    python benchmarks/compile_cache.py --rounds 5 -- experiments/lr_sweep.py --quick

Writes benchmarks/results/compile_cache.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "compile_cache.json"
DEFAULT = ["experiments/mnist_mlp.py"]
# The order of the three runs in each round (the second always after the first).
ORDERS = [("first", "second", "off"), ("off", "first", "second"), ("first", "off", "second")]


def run(command: list[str], out: Path, cache: Path | None) -> dict:
    """One run of the script in a fresh process: its wall time and, where metrics.json holds a
    history with epoch times, the time to its first epoch's end."""
    arguments = [*command, "--out", str(out)]
    env = None
    if cache is None:
        arguments.append("--no-compile-cache")
    else:
        env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=1800)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    times = metrics.get("history", {}).get("time")
    return {"wall_s": wall, "first_epoch_s": times[0] if times else None,
            "cache_files": len(list(cache.iterdir())) if cache is not None else 0}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("command", nargs="*", default=DEFAULT,
                        help="the script and its arguments (after --)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from machine import describe_machine, load_average, versions

    kinds = ["first", "second", "off"]
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    loads = []
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(args.rounds):
            cache = Path(scratch) / f"cache{r}"
            for kind in ORDERS[r % len(ORDERS)]:
                out = Path(scratch) / f"out_{kind}{r}"
                runs[kind].append(run(args.command, out, None if kind == "off" else cache))
                print(f"round {r + 1} {kind}: {runs[kind][-1]['wall_s']:.2f} s", flush=True)
            loads.append(load_average())
    results = {kind: {"wall_s": [m["wall_s"] for m in measured],
                      "median_wall_s": statistics.median(m["wall_s"] for m in measured),
                      "first_epoch_s": [m["first_epoch_s"] for m in measured],
                      "cache_files": [m["cache_files"] for m in measured]}
               for kind, measured in runs.items()}
    for kind in kinds:
        firsts = [t for t in results[kind]["first_epoch_s"] if t is not None]
        results[kind]["median_first_epoch_s"] = statistics.median(firsts) if firsts else None
    report = {"command": "python benchmarks/compile_cache.py" + "".join(
                  f" {a}" for a in (argv if argv is not None else sys.argv[1:])),
              "script": args.command, "machine": describe_machine(), "versions": versions(),
              "rounds": args.rounds, "load_average_per_round": loads, "runs": results,
              "second_vs_first_wall": results["first"]["median_wall_s"]
              / results["second"]["median_wall_s"],
              "second_vs_off_wall": results["off"]["median_wall_s"]
              / results["second"]["median_wall_s"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"second run {report['second_vs_first_wall']:.2f}x faster than the first, "
          f"{report['second_vs_off_wall']:.2f}x faster than without the cache")
    return report


if __name__ == "__main__":
    main()
