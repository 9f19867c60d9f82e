"""Compiled programs kept on disk: a script run again loads them instead of compiling.

JAX's persistent compilation cache stores every XLA executable it compiles in a folder, keyed by
the program, the JAX and XLA versions, the device and the compile options; a later process that
compiles the same program reads it back. JAX keeps only programs that took over a second to
compile by default; a small model's programs take less, so ``compilation_cache`` keeps them all.
Tracing (Python running the model once to record it) is not cached: a second run still traces,
it skips XLA's compilation.

The folder is trusted: an executable read from it runs as your code does, so keep it where only
you can write (see JAX's guide to the persistent compilation cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as jax_cache

__all__ = ["compilation_cache", "default_cache_dir"]


def default_cache_dir() -> Path:
    """``$JAX_COMPILATION_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/jaxnet/xla``
    (``~/.cache/jaxnet/xla``)."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "jaxnet" / "xla"


def compilation_cache(directory: str | os.PathLike | None = None, *,
                      min_compile_time: float = 0.0) -> Path:
    """Turns on JAX's persistent compilation cache in ``directory``; returns the folder.

    Call it once at the top of a script or notebook (later calls move the cache). Every program
    that takes at least ``min_compile_time`` seconds to compile is written there, and read back
    by any later process that compiles it again: the second run of a script starts training
    without waiting for XLA. The same as setting ``JAX_COMPILATION_CACHE_DIR`` and
    ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0`` in the environment.

    Args:
        directory: the folder (made if missing); by default ``default_cache_dir()``.
        min_compile_time: programs that compile faster are not kept (JAX's default is 1 s).

    Example:
        >>> import tempfile, jaxnet as jn
        >>> folder = jn.compilation_cache(tempfile.mkdtemp())  # doctest: +SKIP
    """
    if min_compile_time < 0:
        raise ValueError(f"min_compile_time must be >= 0 seconds, got {min_compile_time!r}")
    path = Path(directory).expanduser() if directory is not None else default_cache_dir()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"the compilation cache must be a folder; {path} is a file")
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time))
    jax_cache.reset_cache()  # so that it takes effect after JAX has compiled something too
    return path
