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


class MatmulProbe:
    """A jitted chain of ``repeats`` float32 products ``c = c @ b`` of ``n x n`` matrices; each
    call runs it once and returns the rate in GFLOP/s. Each product needs the last, so none is
    hoisted or skipped; ``b`` is scaled to keep the values' size."""

    def __init__(self, n: int = 2048, repeats: int = 10):
        self.n, self.repeats = n, repeats
        self.a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
        self.b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32) / jnp.sqrt(n)
        self.chain = jax.jit(lambda c, b: jax.lax.fori_loop(0, repeats, lambda _, c: c @ b, c))
        jax.block_until_ready(self.chain(self.a, self.b))

    def __call__(self) -> float:
        start = time.perf_counter()
        jax.block_until_ready(self.chain(self.a, self.b))
        return 2 * self.n**3 * self.repeats / (time.perf_counter() - start) / 1e9


def matmul_peak(n: int = 2048, repeats: int = 10, calls: int = 5, quick: bool = False) -> dict:
    """The best float32 matrix-product rate that XLA reaches here: the best of ``calls`` calls
    of a :class:`MatmulProbe`, after a warm-up."""
    if quick:
        repeats, calls = 2, 2
    probe = MatmulProbe(n, repeats)
    return {"n": n, "repeats": repeats, "gflops": max(probe() for _ in range(calls)),
            "load_average": load_average()}
