"""What a benchmark records about the machine: CPU, load, library versions, the matmul peak."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path

import jax
import jax.numpy as jnp

LIBRARIES = ("jax", "jaxlib", "jaxnet-fn", "optax", "flax", "equinox", "dm-haiku", "keras",
             "torch", "numpy")
REPOSITORY = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> dict:
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "avx512": " avx512f" in flags,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax_devices": [str(d) for d in jax.devices()],
    }


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages (as ``uptime`` prints them)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPOSITORY, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def versions() -> dict:
    """Python, every library involved (None where not installed), and jaxnet's commit (with
    whether jaxnet/ had uncommitted changes)."""
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    found["jaxnet_commit"] = _git("rev-parse", "--short", "HEAD")
    status = _git("status", "--porcelain", "--", "jaxnet")
    found["jaxnet_uncommitted_changes"] = None if status is None else bool(status)
    return found


def matmul_peak(n: int = 2048, repeats: int = 10, calls: int = 5, quick: bool = False) -> dict:
    """The best float32 matrix-product rate that XLA reaches here, in GFLOP/s.

    One jitted call chains ``repeats`` products ``c = c @ b`` of ``n x n`` matrices (each needs
    the last, so none is hoisted or skipped; ``b`` is scaled to keep the values' size); the best of
    ``calls`` calls after a warm-up counts.
    """
    if quick:
        repeats, calls = 2, 2
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32) / jnp.sqrt(n)

    @jax.jit
    def chain(c, b):
        return jax.lax.fori_loop(0, repeats, lambda _, c: c @ b, c)

    jax.block_until_ready(chain(a, b))
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(chain(a, b))
        best = min(best, time.perf_counter() - start)
    return {"n": n, "repeats": repeats, "best_s": best,
            "gflops": 2 * n**3 * repeats / best / 1e9, "load_average": load_average()}
