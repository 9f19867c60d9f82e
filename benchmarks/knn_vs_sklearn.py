"""k-NN speed: jaxnet's KNN against scikit-learn's brute-force KNeighborsClassifier.

A CIFAR-sized problem of random data: 10,000 training vectors of 3,072 float32 values (a 32x32x3
image) with labels in 10 classes, and 1,000 queries; k = 5, L1 (scikit-learn's "manhattan") and
L2 ("euclidean"). Each timing is one call of ``predict`` for all the queries, after a warm-up
call (jaxnet compiles there); the runs of the two libraries alternate, so that a change in the
machine's load hits both, and the medians are compared. The predictions are compared too. For
reference, the time of one float32 matrix product of the queries with the training set is
measured as well: the floor of any L2 search by the expansion |a|^2 - 2 a.b + |b|^2.

    python benchmarks/knn_vs_sklearn.py             # about 5 minutes: scikit-learn's L1 is slow
    python benchmarks/knn_vs_sklearn.py --quick     # a smaller problem, seconds

Writes the numbers to benchmarks/results/knn_vs_sklearn.json (--out) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import sklearn
from sklearn.neighbors import KNeighborsClassifier

import jaxnet as jn

METRICS = {"l1": "manhattan", "l2": "euclidean"}


def parse_args(argv=None) -> argparse.Namespace:
    description, _, epilog = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=10_000, help="training vectors")
    parser.add_argument("--queries", type=int, default=1_000, help="query vectors")
    parser.add_argument("--features", type=int, default=3_072, help="values per vector")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each library")
    parser.add_argument("--distances", nargs="+", choices=sorted(METRICS), default=["l1", "l2"])
    parser.add_argument("--quick", action="store_true",
                        help="2,000 x 768 against 200 queries, 3 runs: a smoke test")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "knn_vs_sklearn.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.queries, args.features, args.repeats = 2_000, 200, 768, 3
    return args


def timed(call) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = np.asarray(call())
    return time.perf_counter() - start, result


def compare(distance: str, x, y, queries, k: int, repeats: int) -> dict:
    """Times both libraries' predictions for ``queries``, alternating runs; checks agreement."""
    reference = KNeighborsClassifier(k, algorithm="brute", metric=METRICS[distance]).fit(x, y)
    start = time.perf_counter()
    knn = jn.classic.KNN(k, distance).fit(x, y)
    jax.block_until_ready(knn.memory.blocks)
    fit_s = time.perf_counter() - start
    compile_s, ours = timed(lambda: knn.predict(queries))
    _, theirs = timed(lambda: reference.predict(queries))
    times = {"jaxnet": [], "sklearn": []}
    for _ in range(repeats):
        times["sklearn"].append(timed(lambda: reference.predict(queries))[0])
        times["jaxnet"].append(timed(lambda: knn.predict(queries))[0])
        print(f"  {distance}: sklearn {times['sklearn'][-1]:.3f} s, "
              f"jaxnet {times['jaxnet'][-1]:.3f} s", flush=True)
    median = {name: float(np.median(runs)) for name, runs in times.items()}
    return {
        "sklearn_median_s": median["sklearn"],
        "jaxnet_median_s": median["jaxnet"],
        "speedup": median["sklearn"] / median["jaxnet"],
        "same_predictions": float(np.mean(ours == theirs)),
        "jaxnet_first_call_s": compile_s,
        "jaxnet_fit_s": fit_s,
        "runs_s": times,
    }


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
                 platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": model, "cpu_count": os.cpu_count(), "device": str(jax.devices()[0]),
            "python": platform.python_version(), "jax": jax.__version__,
            "sklearn": sklearn.__version__, "numpy": np.__version__}


def main(argv=None) -> dict:
    args = parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.random((args.train, args.features), dtype=np.float32)
    y = rng.integers(0, 10, args.train)
    queries = rng.random((args.queries, args.features), dtype=np.float32)
    load_before = os.getloadavg()
    results = {}
    for distance in args.distances:
        results[distance] = compare(distance, x, y, queries, args.k, args.repeats)
    product = jax.jit(lambda a, b: a @ b.T)
    on_device = jnp.asarray(queries), jnp.asarray(x)
    jax.block_until_ready(product(*on_device))
    matmul_s = float(np.median([timed(lambda: product(*on_device))[0]
                                for _ in range(args.repeats)]))
    report = {
        "benchmark": "knn_vs_sklearn",
        "command": "python benchmarks/knn_vs_sklearn.py" + (" --quick" if args.quick else ""),
        "problem": {"train": args.train, "queries": args.queries, "features": args.features,
                    "k": args.k, "dtype": "float32", "repeats": args.repeats},
        "machine": machine(),
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "matmul_floor_s": matmul_s,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    return report


def table(report: dict) -> str:
    """The results as a Markdown table."""
    rows = ["| distance | scikit-learn (s) | jaxnet (s) | speed-up | same predictions |",
            "|---|---|---|---|---|"]
    for distance, r in report["results"].items():
        rows.append(f"| {distance} ({METRICS[distance]}) | {r['sklearn_median_s']:.3f} | "
                    f"{r['jaxnet_median_s']:.3f} | {r['speedup']:.1f}x | "
                    f"{100 * r['same_predictions']:.1f}% |")
    rows.append(f"\nOne float32 matrix product queries x training set: "
                f"{report['matmul_floor_s']:.3f} s")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
