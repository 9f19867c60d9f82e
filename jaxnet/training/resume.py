"""Checkpoints of a run: saving the run states at epoch boundaries, and resuming from them.

A checkpoint holds a group's run states (``RunState``, with the
leading configuration axis) and, as metadata, each configuration's history and stop reason and
the settings that must not change within a run (batch size, number of examples, epsilon...).
Resuming checks those settings and the keys, restores the latest checkpoint and goes on; since
every random draw is a function of the run's key and the absolute epoch, the resumed run ends
with the parameters of an uninterrupted one, bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from jaxnet.training.run_state import RunState, Settings


class CheckpointWriter:
    """Saves a group's run states every ``settings.checkpoint_every`` epochs into a folder."""

    def __init__(self, directory: str | Path, settings: Settings, configs: list | None = None,
                 keep: int = 3):
        from jaxnet.checkpoint import Manager

        self.directory = Path(directory)
        self.manager = Manager(self.directory, max_to_keep=keep)
        self.settings = settings.defining()
        self.configs = configs
        self.every = settings.checkpoint_every
        self.last_saved: int | None = None

    def save(self, runs: RunState, histories: list, reasons: list, epoch: int, *,
             final: bool = False, stopped: bool = False, preempted: bool = False) -> None:
        """Saves ``runs`` after epoch ``epoch`` when it is due (or ``final``, or when a
        configuration ``stopped`` in it, or training is ``preempted`` there), once per
        epoch."""
        due = final or stopped or preempted or epoch % self.every == 0
        if not due or epoch == self.last_saved:
            return
        metadata = {"settings": self.settings, "histories": histories, "stop_reasons": reasons}
        if self.configs is not None:
            metadata["configs"] = self.configs
        self.manager.save(epoch, runs, metadata=metadata)
        self.last_saved = epoch


def resume(writer: CheckpointWriter, runs: RunState) -> tuple[RunState, list, list] | None:
    """The latest checkpoint's run states, histories and stop reasons, or None when the folder
    holds none. Raises a ValueError when the checkpoint belongs to another run."""
    epoch = writer.manager.latest_step()
    if epoch is None:
        return None
    metadata = writer.manager.metadata(epoch)
    saved = metadata.get("settings", {})
    for name, value in writer.settings.items():
        if saved.get(name) != value:
            raise ValueError(
                f"checkpoint_dir {writer.directory} holds a run with {name}={saved.get(name)!r}, "
                f"but this call has {name}={value!r}: resume with the arguments the run "
                "started with, or give another checkpoint_dir"
            )
    if writer.configs is not None and metadata.get("configs") != _json(writer.configs):
        raise ValueError(
            f"checkpoint_dir {writer.directory} holds a sweep of other configurations "
            f"({metadata.get('configs')!r}): resume with the configurations it started with, or "
            "give another checkpoint_dir")
    restored = writer.manager.restore(epoch, runs)
    if not bool(_same_keys(restored.key, runs.key)):
        raise ValueError(
            f"checkpoint_dir {writer.directory} holds a run started with another key: resume "
            "with the key the run started with, or give another checkpoint_dir"
        )
    writer.last_saved = epoch
    histories = [{name: list(values) for name, values in history.items()}
                 for history in metadata.get("histories", [])]
    return restored, histories, list(metadata.get("stop_reasons", []))


@jax.jit
def _same_keys(a: jax.Array, b: jax.Array) -> jax.Array:
    """Whether two key arrays hold the same keys: compared where they are, so also when they
    are split over the processes of a job."""
    return jnp.array_equal(jax.random.key_data(a), jax.random.key_data(b))


def _json(value: Any) -> Any:
    """``value`` as it reads back from JSON metadata (tuples become lists)."""
    import json

    return json.loads(json.dumps(value))
