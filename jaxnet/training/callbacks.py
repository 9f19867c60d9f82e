"""Callbacks: functions that ``fit`` calls at the end of every epoch.

A callback is any function ``callback(epoch, history, run) -> bool | None``:

* ``epoch``: the number of epochs completed in the run (1 after the first);
* ``history``: the history so far, ``{"loss": [...], "val_loss": [...], "time": [...], ...}``,
  one value per epoch (read it, do not change it);
* ``run``: the run state after the epoch (``run.params``, ``run.state``, ``run.opt_state``,
  ``run.step``...).

Returning ``True`` stops training after this epoch (``stop_reason == "callback"``). Callbacks run
on the host between epochs, after the history and early stopping and before the checkpoint; the
next epoch is already running on the device meanwhile.

Example:
    >>> def stop_at_90_percent(epoch, history, run):
    ...     return history["accuracy"][-1] >= 0.9
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from jaxnet.training.run_state import RunState


class Callback(Protocol):
    """What ``fit(..., callbacks=[...])`` calls at the end of every epoch."""

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]],
                 run: RunState) -> bool | None: ...


def _write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path``, then renames it into place, so a
    crash never leaves half a log under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _rows(history: Mapping[str, Sequence[float]]) -> tuple[list[str], list[list[float]]]:
    names = list(history)
    epochs = max((len(values) for values in history.values()), default=0)
    return names, [[history[name][i] for name in names] for i in range(epochs)]


@dataclasses.dataclass(frozen=True)
class CSVLogger:
    """Writes the history to a CSV file after every epoch: a header, then one row per epoch.

    The whole file is rewritten from the history each time (atomically), so a resumed run's log
    holds each epoch once, however often the run was interrupted.

    Args:
        path: the CSV file to write.
    """

    path: str | os.PathLike

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]], run: Any) -> None:
        names, rows = _rows(history)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["epoch", *names])
        writer.writerows([i + 1, *row] for i, row in enumerate(rows))
        _write_atomically(Path(self.path), buffer.getvalue())


@dataclasses.dataclass(frozen=True)
class JSONLogger:
    """Writes the history to a JSON file after every epoch: ``{"epoch": n, "history": {...}}``.

    NaN and infinite values (an epoch with no applied step) are written as ``null``, so the file is
    strict JSON. Rewritten atomically each time, like :class:`CSVLogger`.

    Args:
        path: the JSON file to write.
    """

    path: str | os.PathLike

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]], run: Any) -> None:
        clean = {name: [None if isinstance(value, float) and not math.isfinite(value) else value
                        for value in values] for name, values in history.items()}
        _write_atomically(Path(self.path), json.dumps({"epoch": epoch, "history": clean},
                                                      indent=1) + "\n")
