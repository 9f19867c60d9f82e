"""A sampler's proposals trained a batch at a time: Optuna's ask-and-tell interface on ``jn.sweep``.

Optuna's samplers (TPE, CMA-ES, ...) propose the next trials from the results of the last ones.
``optuna_search`` asks the study for a batch of trials, trains them as one ``jn.sweep`` (one
compiled program for the batch, where a trial per process would compile and run each alone),
tells the study each trial's final metric, and repeats. Optuna's pruner acts at epoch ends: each
trial reports its metric after every epoch, and a trial the pruner stops stops training (a sweep
stops a configuration and lets the others go on) and is told as pruned.

Optuna is an optional extra (``pip install "jaxnet-fn[search]"``); jaxnet imports it only here.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from jaxnet.training.sweep import SweepResult, sweep
from jaxnet.validation import positive_int

__all__ = ["SearchResult", "optuna_search"]


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """What ``optuna_search`` returns.

    Attributes:
        study: the Optuna study, told every trial.
        batches: each batch's ``SweepResult``, in order.
        trials: each trial's number in the study, batch after batch.
        values: the metric told for each trial (NaN for a failed one; a pruned one's last).
        pruned: whether each trial was pruned.
    """

    study: Any
    batches: list[SweepResult]
    trials: list[int]
    values: list[float]
    pruned: list[bool]

    @property
    def configs(self) -> list[dict[str, Any]]:
        """Every trial's configuration, batch after batch."""
        return [config for batch in self.batches for config in batch.configs]


def optuna_search(study: Any, setup: Callable, space: Mapping[str, Any] | Callable,
                  train_data: Any, *, trials: int, batch: int = 16,
                  metric: str = "val_loss", prune: bool = True,
                  fixed: Mapping[str, Any] | None = None,
                  **sweep_args: Any) -> SearchResult:
    """Trains ``trials`` trials proposed by ``study``, ``batch`` at a time, each batch one sweep.

    Args:
        study: an ``optuna.Study``; its direction must suit ``metric`` (maximise an accuracy,
            minimise a loss).
        setup: as for ``jn.sweep``: ``setup(**config) -> jn.Trial``.
        space: the values to search, a dict ``{name: optuna.distributions.*Distribution}``, or
            a function ``space(trial) -> dict`` that calls ``trial.suggest_*`` (Optuna's
            define-by-run).
        train_data: as for ``jn.sweep``.
        trials: how many trials in all.
        batch: how many trials each sweep trains (the last batch may be smaller).
        metric: the history's metric told to the study (its final value), and reported to the
            pruner after every epoch; ``"val_..."`` metrics need ``validation_data``.
        prune: let the study's pruner stop trials at epoch ends.
        fixed: values given to every configuration besides the searched ones (e.g. a seed).
        **sweep_args: the other arguments of ``jn.sweep`` (``epochs``, ``batch_size``,
            ``validation_data``, ...), the same for every batch.

    Returns:
        A ``SearchResult``; ``study.best_trial`` holds the best configuration found.

    Example (with ``setup`` and data as for ``jn.sweep``)::

        study = optuna.create_study(direction="maximize")
        space = {"lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True)}
        result = jn.search.optuna_search(study, setup, space, (x, y), trials=32, batch=16,
                                         metric="val_accuracy", epochs=5, batch_size=64,
                                         validation_data=(x_val, y_val))
        study.best_params
    """
    optuna = _optuna()
    trials, batch = positive_int(trials, "trials"), positive_int(batch, "batch")
    fixed = dict(fixed or {})
    _check_direction(study, metric, optuna)
    if isinstance(space, Mapping):
        _check_names(setup, [*space, *fixed])
        _check_distributions(space, optuna)
    elif not callable(space):
        raise TypeError(f"space must be a dict of Optuna distributions or a function "
                        f"space(trial) -> dict, got {type(space).__name__}")
    if "callbacks" in sweep_args:
        raise TypeError("optuna_search reports to the study through its own callbacks; "
                        "callbacks= is not taken")
    batches, numbers, values, pruned = [], [], [], []
    for start in range(0, trials, batch):
        asked = [_ask(study, space, optuna) for _ in range(min(batch, trials - start))]
        configs = [{**fixed, **config} for _, config in asked]
        if not isinstance(space, Mapping):
            try:
                _check_names(setup, list(configs[0]))
            except TypeError:
                for trial, _ in asked:  # none of them will run
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
        stopped: set[int] = set()
        report = _reporter([trial for trial, _ in asked], metric, stopped) if prune else None
        result = sweep(setup, configs, train_data, callbacks=[report] if report else (),
                       **sweep_args)
        for index, ((trial, _), history) in enumerate(zip(asked, result.histories)):
            if metric not in history:
                raise KeyError(f"no metric {metric!r} in the histories; they hold "
                               f"{sorted(history)} (val_ metrics need validation_data)")
            value = history[metric][-1] if history[metric] else math.nan
            if index in stopped:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            elif math.isfinite(value):
                study.tell(trial, value)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            numbers.append(trial.number)
            values.append(float(value))
            pruned.append(index in stopped)
        batches.append(result)
    return SearchResult(study, batches, numbers, values, pruned)


def _optuna():
    try:
        import optuna
    except ImportError as error:
        raise ImportError("optuna_search needs Optuna: pip install \"jaxnet-fn[search]\" "
                          "(or pip install optuna)") from error
    return optuna


def _ask(study: Any, space: Mapping[str, Any] | Callable, optuna: Any) -> tuple[Any, dict]:
    """One trial and its configuration."""
    if isinstance(space, Mapping):
        trial = study.ask(dict(space))
        return trial, dict(trial.params)
    trial = study.ask()
    config = space(trial)
    if not isinstance(config, Mapping):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise TypeError(f"space(trial) must return a dict of values for setup, got "
                        f"{type(config).__name__}")
    return trial, dict(config)


def _reporter(trials: list, metric: str, stopped: set[int]) -> Callable:
    """The sweep callback that reports each configuration's metric to its trial after every
    epoch, and stops those its study's pruner prunes."""
    def report(epoch, history, run, config):
        values = history.get(metric)
        if not values or not math.isfinite(values[-1]):
            return False
        trial = trials[config]
        trial.report(float(values[-1]), epoch)
        if trial.should_prune():
            stopped.add(config)
            return True
        return False

    return report


def _check_direction(study: Any, metric: str, optuna: Any) -> None:
    directions = getattr(study, "directions", None)
    if directions is None:
        raise TypeError(f"study must be an optuna.Study, got {type(study).__name__}")
    if len(directions) != 1:
        raise ValueError("optuna_search tells one value per trial: create the study with one "
                         "direction")
    wanted = (optuna.study.StudyDirection.MAXIMIZE if "accuracy" in metric
              else optuna.study.StudyDirection.MINIMIZE)
    if directions[0] != wanted:
        word = "maximize" if wanted == optuna.study.StudyDirection.MAXIMIZE else "minimize"
        raise ValueError(f"the study's direction is {directions[0].name.lower()}, but "
                         f"{metric!r} is to {word}: create the study with "
                         f"optuna.create_study(direction={word!r})")


def _check_names(setup: Callable, names: list[str]) -> None:
    """Refuses names that ``setup`` does not take, before anything is asked or compiled."""
    try:
        parameters = inspect.signature(setup).parameters
    except (TypeError, ValueError):
        return  # a callable without a signature: its own call will say
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    takes = {name for name, p in parameters.items()
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                           inspect.Parameter.KEYWORD_ONLY)}
    unknown = sorted(set(names) - takes)
    if unknown:
        raise TypeError(f"the search proposes {unknown}, which setup does not take (it takes "
                        f"{sorted(takes)}): name the search space after setup's parameters")


def _check_distributions(space: Mapping[str, Any], optuna: Any) -> None:
    for name, distribution in space.items():
        if not isinstance(distribution, optuna.distributions.BaseDistribution):
            raise TypeError(f"space[{name!r}] must be an Optuna distribution such as "
                            f"optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True), "
                            f"got {distribution!r}")
