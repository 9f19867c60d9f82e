"""Bad inputs to jn.checkpoint: missing or damaged checkpoints, targets that do not match, and
what a checkpoint cannot hold."""

from pathlib import Path

import numpy as np
from bad_inputs import Case

import jaxnet as jn
from jaxnet.checkpoint import CheckpointError

TREE = {"w": np.linspace(-1.0, 1.0, 3000, dtype=np.float32), "step": np.int32(7)}


def saved(tmp: Path) -> Path:
    return jn.checkpoint.save(tmp / "ckpt", TREE)


def damaged(tmp: Path, how: str) -> Path:
    """A saved checkpoint whose largest file has a flipped byte or lost its second half."""
    path = saved(tmp)
    largest = max((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = largest.read_bytes()
    middle = len(data) // 2
    if how == "flip":
        data = data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1:]
    else:
        data = data[:middle]
    largest.write_bytes(data)
    return path


def restore_like(tmp: Path, **changes):
    return jn.checkpoint.restore(saved(tmp), {**TREE, **changes})


def not_a_checkpoint(tmp: Path) -> Path:
    (tmp / "notes").mkdir()
    (tmp / "notes" / "todo.txt").write_text("keep me")
    return tmp / "notes"


CASES = [
    Case("checkpoints", "`jn.checkpoint.restore(path, like)` with nothing at `path`",
         FileNotFoundError, "no checkpoint at",
         lambda tmp: jn.checkpoint.restore(tmp / "nowhere", TREE)),
    Case("checkpoints", "restoring a checkpoint with a flipped byte in a file",
         CheckpointError, "checkpoint .* is damaged",
         lambda tmp: jn.checkpoint.restore(damaged(tmp, "flip"), TREE)),
    Case("checkpoints", "restoring a checkpoint with a truncated file",
         CheckpointError, "checkpoint .* is damaged",
         lambda tmp: jn.checkpoint.restore(damaged(tmp, "truncate"), TREE)),
    Case("checkpoints", "a `like` leaf of another shape than the saved one",
         CheckpointError, "leaf w is float32.* in the checkpoint but float32.* in `like`",
         lambda tmp: restore_like(tmp, w=np.zeros(10, np.float32))),
    Case("checkpoints", "a `like` leaf of another dtype than the saved one",
         CheckpointError, "leaf step is int32.* in the checkpoint but float32.* in `like`",
         lambda tmp: restore_like(tmp, step=np.float32(7))),
    Case("checkpoints", "a `like` of another structure (a leaf that was not saved)",
         CheckpointError, "leaf extra of `like` is not in the checkpoint",
         lambda tmp: restore_like(tmp, extra=np.zeros(2))),
    Case("checkpoints", "`jn.checkpoint.restore` of a folder that is not a checkpoint",
         CheckpointError, "is not a checkpoint",
         lambda tmp: jn.checkpoint.restore(not_a_checkpoint(tmp), TREE)),
    Case("checkpoints", "`jn.checkpoint.save` over a folder that is not a checkpoint",
         FileExistsError, "exists and is not a checkpoint; refusing to replace it",
         lambda tmp: jn.checkpoint.save(not_a_checkpoint(tmp), TREE)),
    Case("checkpoints", "metadata that is not JSON, e.g. `{\"lr\": np.float32(0.1)}`",
         TypeError, "metadata\\['lr'\\] is a float32, not a JSON value",
         lambda tmp: jn.checkpoint.save(tmp / "ckpt", TREE, metadata={"lr": np.float32(0.1)})),
    Case("checkpoints", "a leaf that is not an array or a number, e.g. a string",
         TypeError, "leaf name is a str",
         lambda tmp: jn.checkpoint.save(tmp / "ckpt", {**TREE, "name": "mlp"})),
    Case("checkpoints", "`jn.checkpoint.Manager(directory, max_to_keep=0)`",
         ValueError, "max_to_keep must be an integer >= 1",
         lambda tmp: jn.checkpoint.Manager(tmp, max_to_keep=0)),
]
