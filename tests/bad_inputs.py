"""The shape of a bad-input case: what a user did wrong, and the error that must follow.

Each area of the library lists its cases in ``tests/bad_inputs_<area>.py`` as ``CASES``;
``tests/test_bad_input.py`` runs every one and checks that docs/bad-input.md shows the same table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        area: the part of the library, e.g. ``"layers"``, ``"losses"``, ``"training"``.
        bad_input: what the user did, as a short Markdown phrase, e.g. ``"`jn.Dense(0)`"``.
        error: the exception class raised (or, with ``warns=True``, the warning category).
        message: a regular expression that the message must match; the docs show it, so write
            it as the readable gist of the message (plain words, few regex characters).
        call: does the bad thing; it gets a fresh temporary folder for cases that need files.
        warns: the input is accepted with a warning rather than refused.
    """

    area: str
    bad_input: str
    error: type[BaseException]
    message: str
    call: Callable[[Path], Any]
    warns: bool = False
