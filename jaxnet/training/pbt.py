"""Population-based training: every few epochs the worst configurations take over the best ones.

``jn.sweep(..., schedule=jn.pbt(every=2, perturb=("lr",)))`` trains the configurations (the
population) for ``every`` epochs, ranks them by a metric, and lets each of the worst ``fraction``
copy the parameters, state and optimizer state of a member drawn from the best ``fraction``
(*exploit*) and take that member's hyperparameters, each perturbed by a factor drawn from
``factors`` (*explore*); then training goes on (Jaderberg et al., 2017). A member keeps its own
key (its batch order and dropout masks) and its own history. The copies are gathers on the
device along the configuration axis of the run states; the hyperparameters are the traced
numbers of the group's one compiled program, so a new value compiles nothing. The draws come
from ``seed`` and the epoch, and each segment is checkpointed with the population's values, so
a resumed run repeats them exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnet.training.ranking import best_first, check_metric, metric_mode
from jaxnet.validation import positive_int

__all__ = ["PBT", "pbt"]


@dataclasses.dataclass(frozen=True)
class PBT:
    """A population-based-training schedule (see ``pbt``)."""

    every: int
    perturb: tuple[str, ...]
    fraction: float
    factors: tuple[float, ...]
    metric: str
    mode: str
    seed: int

    def ends(self, epochs: int) -> list[int]:
        """The epochs at which the sweep's segments end: every ``every`` epochs, then the last."""
        return [*range(self.every, epochs, self.every), epochs]

    def check(self, settings: Any, validation: bool, evaluate_train: bool) -> None:
        """Refuses a schedule that does not suit the sweep, before anything compiles."""
        if self.every >= settings.epochs:
            raise ValueError(f"pbt exploits every {self.every} epochs, but the sweep trains "
                             f"{settings.epochs}: every must be fewer than epochs")
        check_metric(self.metric, "pbt", validation, evaluate_train)
        for name, value in (("patience", settings.patience), ("epsilon", settings.epsilon)):
            if value is not None:
                raise ValueError(f"pbt keeps every member training: {name} would stop some; "
                                 "leave it out")
        if settings.restore_best:
            raise ValueError("pbt replaces members' parameters as it goes, so restore_best has "
                             "no one best epoch to restore: leave it out")

    def check_population(self, configs: list[dict], traced: list[set[str]]) -> None:
        """Refuses a population that cannot exchange parameters or values (``traced``: the
        names each group of the sweep takes traced)."""
        if len(configs) < 2:
            raise ValueError("pbt needs a population of at least two configurations (the worst "
                             "copy the best); got one")
        if len(traced) > 1:
            raise ValueError("pbt copies parameters between configurations, so they must share "
                             "one structure (the same widths, optimizer kind and non-numeric "
                             f"values); these form {len(traced)} groups")
        for name in self.perturb:
            for index, config in enumerate(configs):
                value = config.get(name)
                if isinstance(value, bool) or not isinstance(value, (float, np.floating)):
                    raise ValueError(f"pbt perturbs {name!r}, but configuration {index} "
                                     f"{config} has no float value of it")
            if name not in traced[0]:
                raise ValueError(f"pbt perturbs {name!r}, which setup uses as a constant (see "
                                 "the warning above): only traced numbers can change without "
                                 "compiling")

    def between(self, segment: int, alive: list[int], carried: dict, current: list[dict],
                notes: list) -> list[int]:
        """After segment number ``segment``: the worst members copy a best one's run and take
        its values, perturbed; ``notes`` gets each member's lineage event."""
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, segment])))
        order = best_first([carried[i][1].get(self.metric, [math.nan])[-1] for i in alive],
                           self.mode)
        count = max(1, int(len(alive) * self.fraction))
        best, losers = order[:count], order[len(alive) - count:]
        epoch = len(carried[alive[0]][1].get("loss", []))
        previous = {i: dict(current[i]) for i in alive}
        for i in alive:  # each lineage starts with the member's own values
            notes[i] = notes[i] or [self._event(0, None, previous[i])]
        for loser in losers:
            i, j = alive[loser], alive[rng.choice(best)]
            own, history, _ = carried[i]
            carried[i] = (carried[j][0].keeping_key_of(own), history, "epochs")
            current[i] = {**current[i], **{name: float(previous[j][name] * rng.choice(
                self.factors)) for name in self.perturb}}
            notes[i] = [*notes[i], self._event(epoch, j, current[i])]
        return alive

    def results(self, notes: list) -> dict:
        return {"lineage": [note or [] for note in notes]}

    def _event(self, epoch: int, source: int | None, config: dict) -> dict[str, Any]:
        return {"epoch": epoch, "copied": source, **{name: config[name] for name in self.perturb}}


def pbt(every: int, perturb: Sequence[str], fraction: float = 0.25,
        factors: Sequence[float] = (0.8, 1.25), metric: str = "val_loss",
        mode: str | None = None, seed: int = 0) -> PBT:
    """A population-based-training schedule for ``jn.sweep``'s ``schedule``.

    Args:
        every: epochs between two rounds of exploit and explore.
        perturb: the configuration's float values that explore changes (e.g. ``("lr",)``),
            numbers that ``setup`` uses traced (learning rates, penalty strengths, dropout
            rates).
        fraction: the share of the population that is replaced (the worst) and that replaces
            (the best); at least one member each.
        factors: a perturbed value is the copied one times a factor drawn from these.
        metric: the history's metric ranked on (its value at the end of the segment).
        mode: ``"min"`` or ``"max"``; by default ``"max"`` for accuracies, else ``"min"``.
        seed: the draws of copies and factors (with the epoch).

    Example:
        >>> import jaxnet as jn
        >>> jn.pbt(every=2, perturb=("lr",)).ends(epochs=7)
        [2, 4, 6, 7]
    """
    every = positive_int(every, "every")
    perturb = (perturb,) if isinstance(perturb, str) else tuple(perturb)
    if not perturb:
        raise ValueError("pbt needs at least one value to perturb, e.g. perturb=('lr',)")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
            0 < fraction <= 0.5):
        raise ValueError(f"fraction is the share of the population replaced by the best, in "
                         f"(0, 0.5]; got {fraction!r}")
    factors = tuple(float(f) for f in factors)
    if not factors or not all(math.isfinite(f) and f > 0 for f in factors):
        raise ValueError(f"factors must be positive numbers, got {factors!r}")
    return PBT(every, perturb, float(fraction), factors, metric, metric_mode(metric, mode),
               int(seed))
