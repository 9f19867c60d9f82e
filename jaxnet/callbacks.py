"""Callbacks: functions that ``fit`` and ``sweep`` call at the end of every epoch.

A callback is any function ``callback(epoch, history, run) -> bool | None``:

* ``epoch``: the number of epochs completed in the run (1 after the first);
* ``history``: the history so far, ``{"loss": [...], "val_loss": [...], "time": [...], ...}``,
  one value per epoch (read it, do not change it);
* ``run``: the run state after the epoch (``run.params``, ``run.state``, ``run.opt_state``,
  ``run.step``...).

``jn.sweep`` calls it once per configuration still training, with one more keyword,
``config``: the configuration's index in ``configs``. The callbacks here take ``config=None``
and keep one file, image or TensorBoard run per configuration.

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
import importlib
import io
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxnet.training.progress import in_notebook
from jaxnet.viz._figure import save_figure
from jaxnet.viz.curves import training_curves


def _replace_atomically(path: Path, write: Callable[[str], Any]) -> None:
    """Calls ``write`` on a temporary file beside ``path``, then renames it into place, so a
    crash never leaves half a file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                     suffix=path.suffix)
    os.close(fd)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_atomically(path: Path, text: str) -> None:
    _replace_atomically(path, lambda temporary: Path(temporary).write_text(
        text, encoding="utf-8", newline=""))


def _path_of(path: str | os.PathLike, config: int | None, user: str) -> Path:
    """``path`` with ``{config}`` replaced by the configuration's index (0 in ``fit``)."""
    text = os.fspath(path)
    if config is not None and "{config}" not in text:
        raise ValueError(
            f"{user}({text!r}) was called for configuration {config} of a sweep: give its path "
            "a {config} placeholder, e.g. 'log_{config}.csv', so each configuration has a "
            "file of its own")
    return Path(text.replace("{config}", str(config or 0)))


def _require(module: str, user: str, extra: str) -> None:
    """Imports ``module`` now, so a missing optional dependency fails before training."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{user} needs {module}: pip install 'jaxnet-fn[{extra}]' "
                          f"(or {module})") from None


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
        path: the CSV file to write. In a sweep, it needs a ``{config}`` placeholder, replaced
            by each configuration's index (``"logs/run_{config}.csv"``); in ``fit``, by 0.
    """

    path: str | os.PathLike

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]], run: Any,
                 config: int | None = None) -> None:
        names, rows = _rows(history)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["epoch", *names])
        writer.writerows([i + 1, *row] for i, row in enumerate(rows))
        _write_atomically(_path_of(self.path, config, "CSVLogger"), buffer.getvalue())


@dataclasses.dataclass(frozen=True)
class JSONLogger:
    """Writes the history to a JSON file after every epoch: ``{"epoch": n, "history": {...}}``.

    NaN and infinite values (an epoch with no applied step) are written as ``null``, so the file is
    strict JSON. Rewritten atomically each time, like
    [`CSVLogger`][jaxnet.callbacks.CSVLogger].

    Args:
        path: the JSON file to write; a ``{config}`` placeholder as for
            [`CSVLogger`][jaxnet.callbacks.CSVLogger].
    """

    path: str | os.PathLike

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]], run: Any,
                 config: int | None = None) -> None:
        clean = {name: [None if isinstance(value, float) and not math.isfinite(value) else value
                        for value in values] for name, values in history.items()}
        _write_atomically(_path_of(self.path, config, "JSONLogger"),
                          json.dumps({"epoch": epoch, "history": clean}, indent=1) + "\n")


def _notebook_cell() -> int | None:
    """The execution count of the notebook cell now running; None outside a notebook."""
    if not in_notebook():
        return None
    return sys.modules["IPython"].get_ipython().execution_count


@dataclasses.dataclass(frozen=True)
class LivePlot:
    """Draws the training curves after every epoch: in place in a notebook, to a file elsewhere.

    In a notebook the figure appears under the running cell and is redrawn there each epoch
    (one figure per configuration in a sweep); a later cell that trains again gets figures of its
    own. With ``path``, the figure is also written to that image file each epoch (atomically, so
    an image viewer never reads half a file). The panels are those of
    [`training_curves`][jaxnet.viz.training_curves]: each metric per epoch, validation beside
    training.

    Args:
        metrics: the history entries to draw, one panel each (``val_`` entries join their
            training curve); those not in the history are left out.
        path: the image file to write, its format by the extension (``.png``, ``.svg``,
            ``.pdf``); needed outside a notebook. In a sweep, it needs a ``{config}``
            placeholder, replaced by each configuration's index (``"curves_{config}.png"``).

    Raises:
        ImportError: matplotlib is not installed (the ``examples`` extra).
        ValueError: no ``path`` outside a notebook, or a ``path`` without an extension.
    """

    metrics: Sequence[str] = ("loss", "accuracy")
    path: str | os.PathLike | None = None
    # Per configuration: the notebook cell drawn in, the last epoch drawn, the display handle.
    _shown: dict = dataclasses.field(default_factory=dict, init=False, repr=False,
                                     compare=False)

    def __post_init__(self):
        _require("matplotlib", "LivePlot", "examples")
        if self.path is None and not in_notebook():
            raise ValueError("LivePlot outside a notebook needs path=, the image file to redraw "
                             "each epoch, e.g. LivePlot(path='curves.png')")
        if self.path is not None and not Path(self.path).suffix:
            raise ValueError(f"LivePlot's path {os.fspath(self.path)!r} has no extension to "
                             "tell the image format: end it in .png, .svg or .pdf")

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]], run: Any,
                 config: int | None = None) -> None:
        figure = training_curves(history, self.metrics,
                                 title=None if config is None else f"configuration {config}")
        if self.path is not None:
            _replace_atomically(_path_of(self.path, config, "LivePlot"),
                                lambda temporary: save_figure(figure, temporary))
        cell = _notebook_cell()
        if cell is None:
            return
        shown_cell, shown_epoch, handle = self._shown.get(config, (None, None, None))
        if handle is not None and shown_cell == cell and shown_epoch < epoch:
            handle.update(figure)
        else:
            # A new cell, or a new run in the same cell (its epochs start again): a new figure.
            from IPython.display import display

            handle = display(figure, display_id=True)
        self._shown[config] = (cell, epoch, handle)


_event_files = itertools.count()


@dataclasses.dataclass(frozen=True)
class TensorBoardLogger:
    """Writes the history's last values as TensorBoard scalars after every epoch.

    One event file per configuration, written and flushed each epoch (``tensorboard --logdir
    LOG_DIR`` shows the curves as they grow); the step of each value is the epoch. Each history
    entry is a tag of its own (``loss``, ``val_loss``, ``accuracy``, ``time``...). In a sweep each
    configuration is a run of its own, in the subfolder ``config_<index>``. A run resumed (or
    started again) into the same folder marks the epoch it starts from, so TensorBoard drops
    what an earlier process logged from that epoch on and each epoch shows once. The files are
    written with tensorboardX, without TensorFlow.

    Args:
        log_dir: the folder TensorBoard reads.

    Raises:
        ImportError: tensorboardX is not installed (the ``tensorboard`` extra).
    """

    log_dir: str | os.PathLike
    # Per configuration: the open event file and the last epoch written to it.
    _writers: dict = dataclasses.field(default_factory=dict, init=False, repr=False,
                                       compare=False)

    def __post_init__(self):
        _require("tensorboardX", "TensorBoardLogger", "tensorboard")

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]], run: Any,
                 config: int | None = None) -> None:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog
        from tensorboardX.proto.summary_pb2 import Summary

        now = time.time()
        writer, last = self._writers.get(config, (None, None))
        if writer is None:
            folder = Path(self.log_dir) / ("" if config is None else f"config_{config}")
            folder.mkdir(parents=True, exist_ok=True)
            # TensorBoard's own naming (time, host, process, counter): a file per writer, even
            # for writers opened in the same second.
            writer = EventsWriter(os.fspath(folder / "events"),
                                  f".{os.getpid()}.{next(_event_files)}")
        if last is None or epoch != last + 1:
            # TensorBoard discards the events an earlier run logged at this step and later.
            writer.write_event(Event(wall_time=now, step=epoch,
                                     session_log=SessionLog(status=SessionLog.START)))
        scalars = [Summary.Value(tag=name, simple_value=float(values[-1]))
                   for name, values in history.items()]
        writer.write_event(Event(wall_time=now, step=epoch, summary=Summary(value=scalars)))
        writer.flush()
        self._writers[config] = (writer, epoch)
