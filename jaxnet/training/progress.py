"""Progress of ``fit``: a bar in a terminal or notebook, one line per epoch in a log file.

A tqdm bar redraws itself with carriage returns, which a terminal and a notebook show as one
moving line but a log file keeps as one ever-growing line. So the display follows where the
output goes: a terminal gets tqdm's text bar, a notebook gets its widget when ipywidgets is
installed (the ``notebook`` extra) and the text bar otherwise, and anything else (a file, a pipe,
a CI log) gets one plain line per epoch. tqdm is imported here, when ``fit`` first shows progress,
never at ``import jaxnet``.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


def in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    ipython = shell.get_ipython() if shell is not None else None
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


def _has_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class Progress:
    """Shows epochs ``initial + 1 .. total`` as they finish, with their metrics.

    Args:
        total: the epoch training goes up to.
        initial: epochs already done (a resumed run).
        enabled: False shows nothing.
        stream: where to write; standard error by default.
    """

    def __init__(self, total: int, initial: int = 0, *, enabled: bool = True,
                 stream: TextIO | None = None):
        self.total, self.epoch = total, initial
        self.stream = sys.stderr if stream is None else stream
        self.bar: Any = None
        self.lines = False
        if not enabled:
            return
        if in_notebook() and _has_widgets():
            from tqdm.notebook import tqdm
        elif in_notebook() or _is_terminal(self.stream):
            from tqdm.std import tqdm
        else:
            self.lines = True
            return
        self.bar = tqdm(total=total, initial=initial, unit="epoch", file=self.stream)

    def update(self, record: dict[str, float]) -> None:
        """One more epoch finished, with these metrics (``time`` is left out of the display)."""
        self.epoch += 1
        shown = {name: value for name, value in record.items()
                 if name != "time" and isinstance(value, float)}
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({name: f"{value:.4g}" for name, value in shown.items()})
        elif self.lines:
            metrics = "  ".join(f"{name} {value:.4g}" for name, value in shown.items())
            width = len(str(self.total))
            print(f"epoch {self.epoch:>{width}}/{self.total}  {metrics}  ({record['time']:.2f} s)",
                  file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """A line of its own (e.g. that the program is compiling), beside the bar."""
        if self.bar is not None:
            self.bar.write(text)
        elif self.lines:
            print(text, file=self.stream, flush=True)

    def restart_clock(self) -> None:
        """Times and the estimate of the time left count from now (after compiling)."""
        if self.bar is not None:
            self.bar.start_t = self.bar._time()
            self.bar.last_print_t = self.bar.start_t

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
