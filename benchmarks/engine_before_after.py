"""`jn.fit` before and after a change of the training engine, on the four networks.

Runs benchmarks/fit_vs_peers.py (jaxnet, plain JAX and Flax linen) alternately from two
checkouts, each in a fresh process: the *before* checkout (a git worktree of an older commit,
given with --before) and this one. Each process times `plain` beside `jaxnet`, so the machine's
load at that moment is measured too; the verdict is on jaxnet's steps/s relative to `plain` in the
same process (and on the first call's time, which is mostly compilation), alternated so that a
change in load hits both sides.

    git worktree add /tmp/before <commit>
    python benchmarks/engine_before_after.py --before /tmp/before --alternations 2

Writes benchmarks/results/engine_before_after.json (or --out).
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
NETWORKS = ("mlp", "small_mlp", "cnn", "gru")


def run_once(checkout: Path, rounds: int, networks: str) -> dict:
    """One fresh process of ``checkout``'s fit_vs_peers.py; its JSON results."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, str(checkout / "benchmarks" / "fit_vs_peers.py"), "--only",
                   "plain,jaxnet,flax_linen", "--networks", networks, "--rounds", str(rounds),
                   "--out", str(out)]
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def summary(result: dict) -> dict:
    """Per network: jaxnet's steps/s, plain's, their ratio, and the first calls' seconds."""
    rows = {}
    for name, network in result["networks"].items():
        impls = network["implementations"]
        jaxnet, plain = impls["jaxnet"], impls["plain"]
        rows[name] = {"jaxnet_steps_per_s": jaxnet["steps_per_s"],
                      "plain_steps_per_s": plain["steps_per_s"],
                      "jaxnet_over_plain": jaxnet["steps_per_s"] / plain["steps_per_s"],
                      "jaxnet_first_call_s": jaxnet.get("first_call_s"),
                      "plain_first_call_s": plain.get("first_call_s")}
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old commit")
    parser.add_argument("--alternations", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "engine_before_after.json")
    args = parser.parse_args(argv)
    runs = {"before": [], "after": []}
    started = time.time()
    for alternation in range(args.alternations):
        order = ("before", "after") if alternation % 2 == 0 else ("after", "before")
        for side in order:
            checkout = args.before if side == "before" else ROOT
            runs[side].append(summary(run_once(checkout, args.rounds, args.networks)))
            print(side, json.dumps(runs[side][-1]), flush=True)
    verdict = {}
    for name in args.networks.split(","):
        ratio = {side: statistics.median(r[name]["jaxnet_over_plain"] for r in runs[side])
                 for side in runs}
        first = {side: statistics.median(r[name]["jaxnet_first_call_s"] for r in runs[side])
                 for side in runs}
        verdict[name] = {"jaxnet_over_plain": ratio, "after_over_before": ratio["after"] /
                         ratio["before"], "first_call_s": first}
    report = {"benchmark": "engine_before_after", "command": " ".join(["python", *sys.argv]),
              "before": str(_commit(args.before)), "after": str(_commit(ROOT)),
              "load_average": os.getloadavg(), "wall_s": time.time() - started,
              "runs": runs, "verdict": verdict}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(verdict, indent=1))
    return report


def _commit(checkout: Path) -> str:
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    return done.stdout.strip()


if __name__ == "__main__":
    main()
