"""`jn.fit` against Keras 3's `model.fit` on real MNIST: the source's program, end to end.

Both run the source's network (784 -> Dense 512, ReLU, Dropout 0.2 -> Dense 512 with L2 0.001
in Keras's convention, BatchNorm, ReLU, Dropout 0.2 -> Dense 10, softmax cross-entropy on one-hot
labels, Adam 1e-3, batch 128, 4 epochs, the test set as validation) on the 60,000 MNIST training
images as float32 NumPy arrays:

    jaxnet   experiments/mnist_mlp.py's program without its figures: ``jn.data.load("mnist")``,
             ``jn.fit``, then ``jn.evaluate`` on the test set
    keras    the source's Keras program on the JAX backend: a ``Sequential`` of Dense / Dropout /
             BatchNormalization, ``kernel_regularizer=l2(0.001)``, ``compile(optimizer="adam",
             loss="categorical_crossentropy", metrics=["accuracy"])``, ``fit(x, y,
             batch_size=128, epochs=4, validation_data=(x_test, y_test), verbose=2)``, then
             ``evaluate``; the IDX files are read with NumPy (``keras.datasets.mnist`` would
             download its own copy) and scaled as the source does, ``astype("float32")``, ``/= 255``

Each run is a fresh process, so its peak resident memory is its own. Round r runs both, in an
order that alternates with r, so that a change in the machine's load hits both. Recorded per
run: the wall time of the fit call (compilation included) and of loading, the test accuracy,
the peak resident set size right after loading (the data's own share) and at the end (both
``getrusage``'s ``ru_maxrss``), and ``/usr/bin/time -v``'s "Maximum resident set size" of the
process where that program exists.

    python benchmarks/mnist_vs_keras.py             # 3 rounds, about 3 minutes on 2 cores
    python benchmarks/mnist_vs_keras.py --quick     # 2,000 images, 1 epoch: a smoke test

The MNIST files come from jaxnet's data cache (``--data-dir``, else ``$JAXNET_DATA``, else
``~/.cache/jaxnet``), downloaded once if missing. Writes benchmarks/results/mnist_vs_keras.json
(or --out).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "mnist_vs_keras.json"
LIBRARIES = ("jaxnet", "keras")
RESULT = "RESULT "  # the child's last line of output: its measurements as JSON
EPOCHS, BATCH_SIZE = 4, 128


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def loaded(started: float) -> dict:
    return {"load_s": time.perf_counter() - started, "peak_rss_after_load_mb": peak_rss_mb(),
            "rss_after_load_mb": current_rss_mb()}


def run_jaxnet(args: argparse.Namespace) -> dict:
    """The source's program with ``jn.fit``, as experiments/mnist_mlp.py writes it."""
    started = time.perf_counter()
    import jax
    import numpy as np
    import optax

    import jaxnet as jn

    imported = time.perf_counter() - started
    started = time.perf_counter()
    data = jn.data.load("mnist", data_dir=args.data_dir)
    x_train = data.x_train[:args.train_size].reshape(-1, 784)
    x_test = data.x_test.reshape(-1, 784)
    y_train = np.asarray(jn.data.one_hot(data.y_train[:args.train_size], 10))
    y_test = np.asarray(jn.data.one_hot(data.y_test, 10))
    record = {"import_s": imported, **loaded(started)}

    model = jn.Sequential([
        jn.Dense(512), jn.relu, jn.Dropout(0.2),
        jn.Dense(512), jn.BatchNorm(), jn.relu, jn.Dropout(0.2),
        jn.Dense(10),
    ])
    init_key, fit_key = jax.random.split(jax.random.key(args.seed))
    params, state = model.init(init_key, x_train[:1])
    # Keras's l2(0.001) is 0.001 * sum(w^2); jaxnet's l2 is strength * 1/2 * sum(w^2).
    objective = jn.objective(model, jn.losses.softmax_cross_entropy,
                             jn.regularizers.l2(0.002, where="dense_1"))
    started = time.perf_counter()
    result = jn.fit(objective, params, state, optax.adam(1e-3), (x_train, y_train),
                    epochs=args.epochs, batch_size=BATCH_SIZE, key=fit_key,
                    validation_data=(x_test, y_test), verbose=False)
    record["fit_s"] = time.perf_counter() - started
    record["compile_s"] = result.compile_time
    record["epoch_s"] = result.history["time"]
    record["val_accuracy"] = result.history["val_accuracy"]
    record["test_accuracy"] = jn.evaluate(objective, result.params, result.state,
                                          (x_test, y_test))["accuracy"]
    return record


def read_idx(path: Path):
    """An IDX file of MNIST (gzip-compressed) as a NumPy array: a 4-byte magic number (its last
    byte the number of dimensions), big-endian uint32 sizes, then uint8 values."""
    import numpy as np

    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    shape = np.frombuffer(data, ">u4", count=ndim, offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist_files(data_dir: str | None) -> Path:
    """The folder of the MNIST IDX files in jaxnet's data cache, fetched there if missing (in a
    process of its own, so that this one imports nothing of jaxnet)."""
    code = ("import sys, jaxnet as jn; from jaxnet.data.download import cache_dir; "
            "jn.data.load('mnist', data_dir=sys.argv[1] or None); "
            "print(cache_dir(sys.argv[1] or None) / 'mnist')")
    out = subprocess.run([sys.executable, "-c", code, data_dir or ""], capture_output=True,
                         text=True, check=True, env=child_env())
    return Path(out.stdout.strip().splitlines()[-1])


def run_keras(args: argparse.Namespace) -> dict:
    """The source's program with Keras 3 on the JAX backend, as the source writes it."""
    started = time.perf_counter()
    import keras
    from keras import layers
    from keras.regularizers import l2

    if keras.backend.backend() != "jax":
        raise SystemExit(f"Keras runs on {keras.backend.backend()!r}: set KERAS_BACKEND=jax")
    imported = time.perf_counter() - started
    started = time.perf_counter()
    folder = Path(args.mnist_files)
    x_train = read_idx(folder / "train-images-idx3-ubyte.gz")[:args.train_size]
    y_train = read_idx(folder / "train-labels-idx1-ubyte.gz")[:args.train_size]
    x_test = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    y_test = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    x_train = x_train.reshape(len(x_train), 784).astype("float32")
    x_test = x_test.reshape(len(x_test), 784).astype("float32")
    x_train /= 255
    x_test /= 255
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    record = {"import_s": imported, **loaded(started)}

    keras.utils.set_random_seed(args.seed)
    model = keras.Sequential([
        keras.Input((784,)),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(512, kernel_regularizer=l2(0.001)),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    ends = []
    timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: ends.append(
        time.perf_counter()))
    started = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=args.epochs,
                        validation_data=(x_test, y_test), verbose=2, callbacks=[timer])
    record["fit_s"] = time.perf_counter() - started
    record["epoch_s"] = [b - a for a, b in zip([started, *ends], ends)]
    record["val_accuracy"] = [float(v) for v in history.history["val_accuracy"]]
    record["test_accuracy"] = float(model.evaluate(x_test, y_test, verbose=0)[1])
    return record


def child(args: argparse.Namespace) -> None:
    record = (run_jaxnet if args.child == "jaxnet" else run_keras)(args)
    record["peak_rss_mb"] = peak_rss_mb()
    print(RESULT + json.dumps(record), flush=True)


def child_env() -> dict:
    """The children's environment: this checkout's jaxnet first on the path, Keras on JAX."""
    env = dict(os.environ, KERAS_BACKEND="jax")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), *filter(None, [
        env.get("PYTHONPATH")])])
    return env


def run_child(library: str, args: argparse.Namespace, mnist_files_dir: Path) -> dict:
    """One fresh process running ``library``'s program; its record, with ``/usr/bin/time``'s
    peak and the process's whole wall time."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", library,
               "--epochs", str(args.epochs), "--seed", str(args.seed),
               "--mnist-files", str(mnist_files_dir)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    if args.train_size:
        command += ["--train-size", str(args.train_size)]
    timer = shutil.which("time", path="/usr/bin")
    if timer:
        command = [timer, "-v", *command]
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, env=child_env())
    wall = time.perf_counter() - started
    lines = [line for line in out.stdout.splitlines() if line.startswith(RESULT)]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{library} failed ({out.returncode}):\n{out.stdout[-3000:]}\n"
                           f"{out.stderr[-3000:]}")
    record = json.loads(lines[-1][len(RESULT):])
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    record["time_v_max_rss_mb"] = int(found.group(1)) / 1024 if found else None
    record["process_wall_s"] = wall
    return record


def summarise(runs: dict[str, list[dict]]) -> dict:
    fields = ("fit_s", "load_s", "test_accuracy", "peak_rss_mb", "peak_rss_after_load_mb",
              "time_v_max_rss_mb", "process_wall_s")
    summary = {}
    for library, records in runs.items():
        summary[library] = {f"median_{field}": statistics.median(r[field] for r in records)
                            for field in fields if all(r.get(field) is not None for r in records)}
    if all(runs.values()) and len(runs) == 2:
        j, k = summary["jaxnet"], summary["keras"]
        summary["jaxnet_vs_keras"] = {
            "fit_speedup": k["median_fit_s"] / j["median_fit_s"],
            "accuracy_points": 100 * (j["median_test_accuracy"] - k["median_test_accuracy"]),
            "peak_rss_ratio": j["median_peak_rss_mb"] / k["median_peak_rss_mb"],
        }
    return summary


def print_table(report: dict) -> None:
    print(f"\n{'round':>5s} {'library':8s} {'fit s':>7s} {'load s':>7s} {'test acc':>8s} "
          f"{'RSS load':>9s} {'RSS peak':>9s} {'time -v':>8s} {'load avg':>8s}")
    for r, round_ in enumerate(report["rounds"]):
        for library in round_["order"]:
            x = round_[library]
            timev = x["time_v_max_rss_mb"]
            print(f"{r + 1:5d} {library:8s} {x['fit_s']:7.2f} {x['load_s']:7.2f} "
                  f"{x['test_accuracy']:8.4f} {x['peak_rss_after_load_mb']:8.0f}M "
                  f"{x['peak_rss_mb']:8.0f}M {'-' if timev is None else f'{timev:7.0f}M'} "
                  f"{round_['load_average'][0]:8.2f}")
    for library, s in report["summary"].items():
        print(f"{library}: " + ", ".join(f"{k} {v:.4g}" for k, v in s.items()))


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 training images, 1 epoch, 1 round: a smoke test")
    parser.add_argument("--only", choices=LIBRARIES, default=None, help="run one library")
    parser.add_argument("--data-dir", default=None, help="jaxnet's data cache folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=argparse.SUPPRESS)
    parser.add_argument("--train-size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mnist-files", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    if args.quick:
        args.epochs, args.train_size = 1, 2000
    rounds = args.rounds or (1 if args.quick else 3)
    libraries = [args.only] if args.only else list(LIBRARIES)

    sys.path.insert(0, str(HERE))
    from machine import describe_machine, load_average, versions

    started = time.time()
    report = {
        "benchmark": "mnist_vs_keras",
        "command": " ".join(["python benchmarks/mnist_vs_keras.py", *argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "settings": {"rounds": rounds, "epochs": args.epochs, "batch_size": BATCH_SIZE,
                     "train_size": args.train_size or 60000, "seed": args.seed,
                     "libraries": libraries, "quick": args.quick,
                     "time_v": shutil.which("time", path="/usr/bin") is not None},
        "machine": describe_machine(),
        "versions": versions(),
        "load_average": {"start": load_average()},
        "rounds": [],
    }
    print(f"{report['machine']['cpu_model']}, {report['machine']['cpu_count']} cores, "
          f"load {report['load_average']['start']}", flush=True)
    files = mnist_files(args.data_dir)
    for r in range(rounds):
        order = libraries if r % 2 == 0 else libraries[::-1]
        round_ = {"order": order}
        for library in order:
            round_[library] = run_child(library, args, files)
            x = round_[library]
            print(f"  round {r + 1}: {library} fit {x['fit_s']:.2f} s, test accuracy "
                  f"{x['test_accuracy']:.4f}, peak RSS {x['peak_rss_mb']:.0f} MB", flush=True)
        round_["load_average"] = load_average()
        report["rounds"].append(round_)
    report["summary"] = summarise({library: [round_[library] for round_ in report["rounds"]]
                                   for library in libraries})
    report["load_average"]["end"] = load_average()
    report["wall_s"] = time.time() - started
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
