"""A checkpoint's directory on disk: Orbax, the processes of a multi-host job, the hidden staging
siblings a save writes into and the atomic rename that puts one in place.

Orbax is imported at the first save or restore (``orbax()``), never at ``import jaxnet``.
"""

from __future__ import annotations

import itertools
import secrets
import shutil
from pathlib import Path

import jax
import numpy as np

_barriers = itertools.count()


def orbax():
    """The ``orbax.checkpoint`` module."""
    # Orbax is heavy (a second or more to import): loaded at the first save or restore only.
    import orbax.checkpoint as ocp

    return ocp


def is_primary() -> bool:
    """Whether this process does the renames and deletions (process 0 of a multi-host job)."""
    return jax.process_index() == 0


def sync(tag: str) -> None:
    """Waits for every process of a multi-host job (nothing to do in a single process)."""
    if jax.process_count() > 1:
        orbax().multihost.sync_global_processes(f"jaxnet.checkpoint:{tag}:{next(_barriers)}")


def save_token() -> str:
    """A name for one save, the same in every process."""
    token = np.uint32(secrets.randbits(32))
    if jax.process_count() > 1:
        token = orbax().multihost.broadcast_one_to_all(token)
    return f"{int(token):08x}"


def sibling(path: Path, what: str) -> Path:
    """The hidden sibling ``.<name>.<what>`` of ``path``."""
    return path.parent / f".{path.name}.{what}"


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a checkpoint directory (it holds a manifest)."""
    return path.is_dir() and (path / "manifest").is_dir()


def staging_leftovers(path: Path) -> list[Path]:
    """What unfinished saves to ``path`` left: staging directories and Orbax's temporary
    directories beside them (named after them)."""
    prefix = sibling(path, "saving").name
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(prefix))


def remove_staging(path: Path) -> None:
    """Deletes what unfinished saves to ``path`` left (see ``staging_leftovers``)."""
    for leftover in staging_leftovers(path):
        shutil.rmtree(leftover, ignore_errors=True)


def move_into_place(staging: Path, path: Path) -> None:
    """Renames the complete ``staging`` to ``path``; an old checkpoint there is removed only
    once the new one is in place, and put back if the rename fails."""
    retired = sibling(path, "replaced")
    if path.exists():
        shutil.rmtree(retired, ignore_errors=True)  # a leftover: `path` itself is complete
        path.rename(retired)
        try:
            staging.rename(path)
        except BaseException:
            retired.rename(path)
            raise
    else:
        staging.rename(path)
    shutil.rmtree(retired, ignore_errors=True)
