"""Successive halving: after each rung of epochs, only the best configurations go on training.

``jn.sweep(..., schedule=jn.halving(rungs=(1, 3), keep=1/3))`` trains every configuration to
epoch 1, ranks them by a metric, keeps the best third, trains those to epoch 3, keeps the best
third of them, and trains the last ones to the sweep's ``epochs``. The survivors of a rung are
packed into smaller groups (a smaller compiled program), so the configurations that stop stop
costing compute; each survivor goes on from its own run state, so its parameters are exactly
those of an uninterrupted run of it (a function of its key and the absolute epoch, as resuming
is). A budget-aware search of Jamieson and Talwalkar (2016), the inner loop of Hyperband.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from jaxnet.training.ranking import best_first, check_metric, metric_mode
from jaxnet.validation import positive_int

__all__ = ["Halving", "halving"]


@dataclasses.dataclass(frozen=True)
class Halving:
    """A successive-halving schedule (see ``halving``)."""

    rungs: tuple[int, ...]
    keep: float
    metric: str
    mode: str

    def check(self, settings: Any, validation: bool, evaluate_train: bool) -> None:
        """Refuses a schedule that does not suit the sweep, before anything compiles."""
        if self.rungs[-1] >= settings.epochs:
            raise ValueError(f"the last rung ends at epoch {self.rungs[-1]}, but the sweep "
                             f"trains {settings.epochs} epochs: rungs must end before epochs")
        check_metric(self.metric, "halving", validation, evaluate_train)

    def check_population(self, configs: list[dict], traced: list[set[str]]) -> None:
        """Any configurations can be halved, of one structure or several."""

    def ends(self, epochs: int) -> list[int]:
        """The epochs at which the sweep's segments end: each rung's, then the last."""
        return [*self.rungs, epochs]

    def between(self, segment: int, alive: list[int], carried: dict, current: list[dict],
                notes: list) -> list[int]:
        """After segment number ``segment`` (rung number ``segment``): the configurations that
        go on, the best of those still training; the others stop (reason ``"halved"``, their
        rung in ``notes``)."""
        candidates = [i for i in alive if carried[i][2] == "epochs"]
        values = [carried[i][1].get(self.metric, [math.nan])[-1] for i in candidates]
        kept = self.survivors(candidates, values)
        for i in set(candidates) - set(kept):
            row, history, _ = carried[i]
            carried[i] = (row, history, "halved")
            notes[i] = segment
        return kept

    def results(self, notes: list) -> dict:
        """What the sweep's result records: after which rung each configuration stopped."""
        return {"rungs": [note or None for note in notes]}

    def survivors(self, candidates: Sequence[int], values: Sequence[float]) -> list[int]:
        """Which of ``candidates`` go on, ranked by their ``values`` of the metric (a
        non-finite value ranks last): the best ``ceil(len * keep)``, at least one, in their
        order."""
        kept = max(1, math.ceil(len(candidates) * self.keep - 1e-9))
        order = best_first(values, self.mode)
        best = {candidates[i] for i in order[:kept]}
        return [c for c in candidates if c in best]


def halving(rungs: Sequence[int], keep: float = 1 / 3, metric: str = "val_loss",
            mode: str | None = None) -> Halving:
    """A successive-halving schedule for ``jn.sweep``'s ``schedule``.

    Args:
        rungs: the epochs after which the configurations are ranked, increasing, each before
            the sweep's ``epochs`` (e.g. ``(1, 3, 9)`` with ``epochs=27``).
        keep: the fraction that goes on after each rung (rounded up, at least one).
        metric: the history's metric ranked on (its value at the rung's last epoch).
        mode: ``"min"`` or ``"max"``; by default ``"max"`` for accuracies, else ``"min"``.

    Example:
        >>> import jaxnet as jn
        >>> jn.halving(rungs=(1, 3), keep=0.5, metric="val_accuracy")
        Halving(rungs=(1, 3), keep=0.5, metric='val_accuracy', mode='max')
    """
    if isinstance(rungs, int):
        rungs = (rungs,)
    rungs = tuple(positive_int(r, "each rung") for r in rungs)
    if not rungs:
        raise ValueError("halving needs at least one rung (the epochs after which to rank)")
    if any(b <= a for a, b in zip(rungs, rungs[1:])):
        raise ValueError(f"rungs must increase, got {rungs}")
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
        raise ValueError(f"keep is the fraction of configurations that goes on after each rung, "
                         f"in (0, 1]; got {keep!r}, which keeps nobody" if isinstance(
                             keep, (int, float)) and keep <= 0 else
                         f"keep must be a fraction in (0, 1], got {keep!r}")
    return Halving(rungs, float(keep), metric, metric_mode(metric, mode))
