"""A folder of numbered checkpoints of one training run, of which the last few are kept."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

from jaxnet.checkpoint._files import is_checkpoint, is_primary, sibling, sync
from jaxnet.checkpoint.pytree import metadata, restore, save
from jaxnet.validation import positive_int

# A step's files left by a save or a deletion that did not finish.
_LEFTOVER = re.compile(r"\.\d+\.(saving.*|deleting)")


@dataclasses.dataclass(frozen=True)
class Manager:
    """Numbered checkpoints of one training run in ``directory``, keeping the last few.

    Step ``n`` lives in ``directory/n`` (a checkpoint written by ``save``). After each save
    only the ``max_to_keep`` highest steps are kept (all with ``None``); a save interrupted at
    any point, even by a killed process, is never listed, and its leftovers are removed by the
    next save. One process (or one multi-host job) writes to a directory at a time, and a new
    run needs a new (or empty) directory: the steps of an earlier run there would count as the
    latest ones.

    Example:
        >>> import tempfile, jax.numpy as jnp, jaxnet as jn
        >>> manager = jn.checkpoint.Manager(tempfile.mkdtemp(), max_to_keep=2)
        >>> for epoch in range(1, 4):
        ...     _ = manager.save(epoch, {"epoch": jnp.int32(epoch)}, metadata={"epoch": epoch})
        >>> manager.steps(), manager.latest_step()
        ([2, 3], 3)
        >>> manager.restore(manager.latest_step(), like={"epoch": jnp.int32(0)})["epoch"]
        Array(3, dtype=int32)
    """

    directory: Path
    max_to_keep: int | None = 3

    def __post_init__(self):
        object.__setattr__(self, "directory", Path(self.directory))
        if self.max_to_keep is not None:
            positive_int(self.max_to_keep, "max_to_keep")

    def path(self, step: int) -> Path:
        """The checkpoint directory of ``step``."""
        return self.directory / str(positive_int(step, "step", minimum=0))

    def save(self, step: int, tree: Any, *, metadata: dict | None = None) -> Path:
        """Saves ``tree`` as step ``step`` (replacing that step if it exists), then deletes all
        but the ``max_to_keep`` highest steps. Returns the checkpoint's path."""
        path = self.path(step)
        if is_primary() and self.directory.is_dir():
            for leftover in self.directory.iterdir():
                if _LEFTOVER.match(leftover.name):
                    shutil.rmtree(leftover, ignore_errors=True)
        save(path, tree, metadata=metadata)
        if is_primary() and self.max_to_keep is not None:
            for old in self.steps()[:-self.max_to_keep]:
                retired = sibling(self.path(old), "deleting")
                self.path(old).rename(retired)
                shutil.rmtree(retired)
        sync("manager-prune")
        return path

    def steps(self) -> list[int]:
        """The saved steps, in increasing order."""
        if not self.directory.is_dir():
            return []
        return sorted(
            int(entry.name) for entry in self.directory.iterdir()
            if entry.name.isascii() and entry.name.isdigit() and entry.name == str(int(entry.name))
            and is_checkpoint(entry)
        )

    def latest_step(self) -> int | None:
        """The highest saved step, or ``None`` when there is none."""
        steps = self.steps()
        return steps[-1] if steps else None

    def restore(self, step: int, like: Any) -> Any:
        """``restore`` of step ``step`` (see ``jaxnet.checkpoint.restore``)."""
        return restore(self.path(step), like)

    def metadata(self, step: int) -> dict:
        """The metadata saved with step ``step``."""
        return metadata(self.path(step))
