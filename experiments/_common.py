"""What every experiment script shares: its command line, its metrics.json, and a sweep's
curves per epoch.

Each script in experiments/ takes ``--help``, ``--quick`` (a small run that the tests execute),
``--seed``, ``--out DIR`` (default ``runs/<name>/``) and ``--no-compile-cache``, and writes
``metrics.json`` there beside its figures. A script imports this module as ``_common``
(Python puts the script's folder first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    """An argument parser with the shared options; the script adds its own before parsing.

    Args:
        name: the experiment's name; results go to ``runs/<name>/`` unless ``--out`` says otherwise.
        doc: the script's docstring: its first paragraph describes the script in ``--help``, the
            rest is shown after the options.

    Returns:
        An ``argparse.ArgumentParser`` with ``--seed``, ``--quick`` and ``--out``.
    """
    description, _, epilog = doc.strip().partition("\n\n")
    parser = argparse.ArgumentParser(
        description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds data, initialisation, batches")
    parser.add_argument("--quick", action="store_true",
                        help="a small run of a few seconds (the tests run it)")
    parser.add_argument("--out", type=Path, default=Path("runs") / name,
                        help=f"folder for metrics.json and the figures (default runs/{name}/)")
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="compile every program again (by default compiled programs are "
                             "kept on disk and a second run reuses them: jn.compilation_cache)")
    return parser


def start_jax(args: argparse.Namespace, every_core: bool = False) -> None:
    """What a script sets before JAX computes anything: the persistent compilation cache
    (unless ``--no-compile-cache``) and, for scripts that sweep, one CPU device per core
    (``jn.use_cpu_cores``; nothing changes on an accelerator)."""
    import jaxnet as jn

    if every_core:
        jn.use_cpu_cores()
    if not args.no_compile_cache:
        jn.compilation_cache()


def add_image_data_options(parser: argparse.ArgumentParser, datasets: list[str]) -> None:
    """Adds ``--dataset`` (the first of ``datasets`` by default), ``--data-dir`` (the cache of
    downloaded sets), and ``--train-size`` / ``--test-size`` to use the first N examples."""
    parser.add_argument("--dataset", choices=datasets, default=datasets[0])
    parser.add_argument("--data-dir", default=None,
                        help="data cache folder for downloaded sets (default: jaxnet's cache)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="use the first N training images (default: all)")
    parser.add_argument("--test-size", type=int, default=None,
                        help="use the first N test images (default: all)")


def write_metrics(out: Path, experiment: str, settings: dict[str, Any], start: float,
                  **results: Any) -> dict[str, Any]:
    """Writes ``out/metrics.json``: the experiment's name, its results, settings and wall time.

    Args:
        out: the output folder (it exists).
        experiment: the experiment's name.
        settings: what the run was configured with (``--quick`` included).
        start: ``time.perf_counter()`` when the run began.
        **results: the measurements, e.g. ``test_accuracy=0.97``; NumPy and JAX numbers and
            arrays are written as plain numbers and lists.

    Returns:
        The dict that was written.
    """
    metrics = {"experiment": experiment, **results, "settings": settings,
               "wall_time_s": time.perf_counter() - start}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_plain))
    return metrics


def _plain(value: Any) -> Any:
    """JSON's fallback: NumPy and JAX scalars and arrays become numbers and lists."""
    return np.asarray(value).tolist()


def plot_mean_histories(ax: Any, result: Any, name: str, values: list, metric: str,
                        legend_title: str, label=str) -> None:
    """One line per value of the swept ``name``: ``metric`` per epoch, the mean over the
    configurations with that value (cut to the shortest, when early stopping ended some)."""
    from matplotlib import colormaps

    colours = colormaps["viridis"](np.linspace(0.0, 0.9, len(values)))
    for value, colour in zip(values, colours):
        curves = [history[metric] for config, history in zip(result.configs, result.histories)
                  if config[name] == value]
        length = min(len(curve) for curve in curves)
        ax.plot(np.arange(1, length + 1), np.mean([c[:length] for c in curves], axis=0),
                color=colour, label=label(value))
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend(title=legend_title, fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
