"""Checkpoints of a ``fit`` run: saving the run state at epoch boundaries, and resuming from it.

A checkpoint holds the run state (:class:`~jaxnet.training.run_state.RunState`) and, as metadata,
the history and the settings that must not change within a run (batch size, number of examples,
epsilon...). Resuming checks those settings and the key, restores the latest checkpoint and goes
on; since every random draw is a function of the run's key and the absolute epoch, the resumed
run ends with the parameters of an uninterrupted one, bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnet.training.run_state import RunState

# Settings that define a run; a resumed call must repeat them.
_RUN_SETTINGS = ("batch_size", "n_examples", "epsilon", "restore_best", "validation", "min_delta")


class CheckpointWriter:
    """Saves a run's state every ``settings["checkpoint_every"]`` epochs into a folder."""

    def __init__(self, directory: str | Path, settings: dict[str, Any], keep: int = 3):
        from jaxnet.checkpoint import Manager

        self.directory = Path(directory)
        self.manager = Manager(self.directory, max_to_keep=keep)
        self.settings = {name: settings[name] for name in _RUN_SETTINGS}
        self.every = settings["checkpoint_every"]
        self.last_saved: int | None = None

    def save(self, run: RunState, history: dict, reason: str | None, *, final: bool = False):
        """Saves ``run`` when its epoch is due (or ``final`` / a stop), once per epoch."""
        epoch = int(run.epoch)
        due = final or reason is not None or epoch % self.every == 0
        if not due or epoch == self.last_saved:
            return
        metadata = {"settings": self.settings, "history": history, "stop_reason": reason}
        self.manager.save(epoch, run, metadata=metadata)
        self.last_saved = epoch


def resume(writer: CheckpointWriter, run: RunState,
           settings: dict[str, Any]) -> tuple[RunState, dict[str, list[float]]]:
    """The latest checkpoint's run state and history, or ``run`` and an empty history when the
    folder holds none. Raises a ValueError when the checkpoint belongs to another run."""
    epoch = writer.manager.latest_step()
    if epoch is None:
        return run, {}
    metadata = writer.manager.metadata(epoch)
    saved = metadata.get("settings", {})
    for name in _RUN_SETTINGS:
        if saved.get(name) != settings[name]:
            raise ValueError(
                f"checkpoint_dir {writer.directory} holds a run with {name}={saved.get(name)!r}, "
                f"but this call has {name}={settings[name]!r}: resume with the arguments the run "
                "started with, or give another checkpoint_dir"
            )
    restored = writer.manager.restore(epoch, run)
    if not np.array_equal(jax.random.key_data(restored.key), jax.random.key_data(run.key)):
        raise ValueError(
            f"checkpoint_dir {writer.directory} holds a run started with another key: resume "
            "with the key the run started with, or give another checkpoint_dir"
        )
    writer.last_saved = epoch
    history = {name: list(values) for name, values in metadata.get("history", {}).items()}
    return restored, history
