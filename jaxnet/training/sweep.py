"""Sweeps: many configurations of one training run as one compiled, vmapped program.

``jn.sweep(setup, configs, data, ...)`` calls ``setup(**config)`` for every configuration; each
call returns a ``Trial`` (objective, optimizer, initial parameters and state, key). The
numbers inside the objectives and optimizers (learning rates, penalty strengths, dropout rates,
any float) are taken out by ``jaxnet.training.hyperparams`` and stacked along a leading
configuration axis, with the parameters, states and keys; the compiled epoch of ``fit`` is then
``vmap``-ped over that axis. Configurations whose structure differs (another hidden width, another
optimizer) form separate groups, each one vmapped program, each configuration exactly the model
it describes.

Early stopping acts per configuration: a configuration stopped by patience, by the epsilon rule
or by a non-finite value keeps its parameters while the others go on, and a non-finite
configuration is replayed under the per-step guard like ``fit``'s, so it keeps the last
parameters whose loss was finite.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxnet.cpu_cores import cpu_cores_placement
from jaxnet.objective import objective_with
from jaxnet.parallel import DataParallel, data_parallel
from jaxnet.training.caches import signature
from jaxnet.training.checks import check_data, check_fit_args
from jaxnet.training.configs import check_values, grid
from jaxnet.training.fit import check_callbacks, final_params, typed_key
from jaxnet.training.group import Trial, example_step
from jaxnet.training.halving import Halving
from jaxnet.training.hyperparams import (
    numbers_of,
    optimizer_in_structure,
    setup_recipe,
    static_part,
)
from jaxnet.training.inputs import training_inputs
from jaxnet.training.monitor import train
from jaxnet.training.pbt import PBT
from jaxnet.training.rows import read, rows_of
from jaxnet.training.run_state import Callback, Params, State
from jaxnet.training.source import Stream, is_stream
from jaxnet.validation import positive_int


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What ``sweep`` returns: one entry per configuration, in the order of ``configs``.

    Attributes:
        configs: the configurations.
        params, state: each configuration's final parameters and state.
        histories: each configuration's history (as ``fit``'s; a stopped configuration's ends
            where it stopped).
        stop_reasons: ``"epochs"``, ``"patience"``, ``"converged"``, ``"nonfinite"``,
            ``"callback"`` or (with a halving schedule) ``"halved"``.
        steps: optimizer steps behind each configuration's parameters.
        best_epochs: with ``restore_best=True``, the epoch each configuration's parameters
            come from; None otherwise.
        compile_times: seconds the program of each configuration's group took to trace and
            compile (left out of the histories' ``time``).
        rungs: with a halving schedule, the rung after which each configuration was stopped
            (1 for the first), None for those that went on to the end; None without one.
        lineage: with a PBT schedule, each member's events: ``{"epoch", "copied", <values>}``,
            first its own values at epoch 0 (``copied`` None), then each time it copied member
            ``copied`` after ``epoch`` and took the perturbed values; None without one.
    """

    configs: list[dict[str, Any]]
    params: list[Params]
    state: list[State]
    histories: list[dict[str, list[float]]]
    stop_reasons: list[str]
    steps: list[int]
    best_epochs: list[int | None]
    compile_times: list[float]
    rungs: list[int | None] | None = None
    lineage: list[list[dict[str, Any]]] | None = None

    def table(self) -> list[dict[str, Any]]:
        """One row per configuration: its values, its last epoch's metrics and how it ended."""
        return [{**config, **{name: values[-1] for name, values in history.items() if values},
                 "epochs": len(history.get("loss", [])), "stop_reason": reason}
                for config, history, reason in zip(self.configs, self.histories,
                                                   self.stop_reasons)]

    def best(self, metric: str = "val_loss", mode: str | None = None,
             over: Sequence[str] = ("seed",)) -> int:
        """The index of the configuration with the best final ``metric``.

        Configurations that differ only in the values named in ``over`` (the seeds, by default)
        are one setting, scored by the mean of their final values (non-finite ones left out),
        as ``jn.viz.sweep_heatmap`` scores its cells; the index returned is the first
        configuration of the best setting. ``over=()`` picks the single best configuration.
        ``mode`` is ``"min"`` or ``"max"``, by default ``"max"`` for accuracies and ``"min"``
        otherwise.
        """
        mode = mode or ("max" if "accuracy" in metric else "min")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        settings: dict[Any, list[float]] = {}
        first: dict[Any, int] = {}
        for index, (config, history) in enumerate(zip(self.configs, self.histories)):
            if metric not in history:
                raise KeyError(f"no metric {metric!r} in the histories; they hold "
                               f"{sorted(history)}")
            setting = tuple((name, repr(value)) for name, value in config.items()
                            if name not in over)
            first.setdefault(setting, index)
            value = history[metric][-1] if history[metric] else math.nan
            settings.setdefault(setting, []).append(value)
        worst = math.inf if mode == "min" else -math.inf
        scores = {setting: float(np.mean(finite)) if (finite := [v for v in values
                                                                 if math.isfinite(v)]) else worst
                  for setting, values in settings.items()}
        pick = min if mode == "min" else max
        return first[pick(scores, key=scores.get)]

    def stacked_params(self) -> Params:
        """The parameters stacked along a leading configuration axis (configurations of one
        structure only)."""
        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *self.params)


def sweep(
    setup: Callable[..., Trial],
    configs: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    train_data: Any,
    *,
    epochs: int,
    batch_size: int,
    validation_data: Any = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = False,
    epsilon: float | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 1,
    evaluate_train: bool = False,
    callbacks: Sequence[Callback] = (),
    compute_dtype: str | None = None,
    chunk_size: int | None = None,
    mesh: Mesh | None = None,
    mesh_axis: str | None = None,
    schedule: Halving | PBT | None = None,
    verbose: bool = True,
) -> SweepResult:
    """Trains every configuration, as few compiled programs as their structures allow.

    Each configuration trains exactly as its own ``jn.fit`` would (``fit`` is a sweep of one
    configuration: both run through one engine), so every option of ``fit`` works here too.

    Args:
        setup: ``setup(**config) -> jn.Trial(objective, optimizer, params, state, key)``; build
            the model, penalty and optimizer from the configuration's values there.
        configs: a list of configurations (dicts of keyword arguments for ``setup``, e.g. from
            ``grid`` or ``zipped``), or a dict of lists, read as a grid.
        train_data, epochs, batch_size, validation_data: as for ``jn.fit``.
        patience, min_delta, restore_best, epsilon, evaluate_train, compute_dtype: as for
            ``jn.fit``, applied to every configuration.
        checkpoint_dir: a folder for checkpoints of the sweep (one subfolder per group of
            configurations trained together); a sweep started again with the same arguments
            resumes from them, to the bits of an uninterrupted sweep.
        checkpoint_every: save every this many epochs (and always at the end).
        callbacks: functions ``callback(epoch, history, run, config=index)`` called at the end
            of every epoch for each configuration still training (``config``: its index in
            ``configs``); one that returns True stops that configuration.
        chunk_size: the most configurations trained side by side (vmapped); the others of
            their group wait their turn in the same compiled program (``jax.lax.map``). Memory
            grows with it: each configuration trained at once holds the activations of one
            batch (and, one at a time, a shuffled copy of the data), every configuration its
            parameters and optimizer state (about ``3 to 4 x params``). By default all of a
            group on an accelerator, one at a time on a CPU of one device (where vmapped
            products run no faster). Over several devices, the number of configurations per
            compiled program, split over the devices.
        mesh: spread the configurations over these devices (the configuration axis split over
            ``mesh_axis``): 64 configurations on 8 devices train 8 per device, side by side.
            Each configuration's batches stay whole on its device. By default, on a CPU shown
            as several devices (one per core: ``jn.use_cpu_cores()``), each group's
            configurations are spread over them; a mesh of one device
            (``jn.parallel.mesh(jax.devices()[:1])``) keeps them on one.
        mesh_axis: the mesh axis configurations are split over; the mesh's only axis by
            default.
        schedule: ``jn.halving(rungs, keep, metric)``: successive halving, where after each
            rung of epochs only the best configurations go on (packed into smaller programs);
            the others stop with reason ``"halved"`` and ``result.rungs`` says after which
            rung. ``jn.pbt(every, perturb)``: population-based training, where every few
            epochs the worst configurations copy the run of a best one and take its values,
            perturbed (``result.lineage``).
        verbose: show progress per epoch.

    Returns:
        A ``SweepResult``.

    Raises:
        Preempted: a process of the ``jax.distributed`` job got a preemption notice (SIGTERM);
            every process stopped at the same epoch end, after saving to ``checkpoint_dir``
            (docs/guide/scaling.md, "Faults"); the same call resumes.

    Example:
        >>> import jax, numpy as np, optax, jaxnet as jn
        >>> x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
        >>> y = (x.sum(axis=1) > 0).astype(np.int32)
        >>> def setup(learning_rate):
        ...     model = jn.Sequential([jn.Dense(2)])
        ...     params, state = model.init(jax.random.key(0), x[:1])
        ...     objective = jn.objective(model, jn.losses.softmax_cross_entropy)
        ...     return jn.Trial(objective, optax.sgd(learning_rate), params, state,
        ...                     jax.random.key(1))
        >>> result = jn.sweep(setup, jn.grid(learning_rate=[0.0, 0.5]), (x, y), epochs=3,
        ...                   batch_size=16, verbose=False)
        >>> result.configs, [len(h["loss"]) for h in result.histories], result.steps
        ([{'learning_rate': 0.0}, {'learning_rate': 0.5}], [3, 3], [12, 12])
        >>> result.best("loss")
        1
    """
    configs = grid(**configs) if isinstance(configs, Mapping) else [dict(c) for c in configs]
    if not configs:
        raise ValueError("configs is empty: give at least one configuration")
    check_values(configs)
    trials = [_trial(setup, config, index, compute_dtype) for index, config in enumerate(configs)]
    _check_optimizers(configs, trials)
    first = trials[0]
    placement = data_parallel(mesh, mesh_axis)
    if placement is not None and jax.process_count() > 1 and is_stream(train_data):
        raise ValueError("a sweep over the processes of a job takes its training data in "
                         "memory: streamed data is read by each process for its own "
                         "configurations only in fit (pass arrays, or sweep on one process)")
    inputs = training_inputs(first.objective, first.params, first.state, train_data,
                             validation_data, batch_size=batch_size, key=first.key,
                             placement=placement, evaluate_train=evaluate_train)
    x, y, validation = inputs.x, inputs.y, inputs.validation
    settings = check_fit_args(
        epochs=epochs, batch_size=batch_size, n_examples=inputs.n_examples, patience=patience,
        min_delta=min_delta, epsilon=epsilon, checkpoint_every=checkpoint_every,
        restore_best=restore_best, validation=validation_data is not None,
        evaluate_train=evaluate_train)
    callbacks = check_callbacks(callbacks)
    if schedule is not None:
        if not isinstance(schedule, (Halving, PBT)):
            raise TypeError(f"schedule must be jn.halving(...) or jn.pbt(...), got {schedule!r}")
        schedule.check(settings, validation_data is not None, evaluate_train)
    if chunk_size is not None:
        chunk_size = positive_int(chunk_size, "chunk_size")
    groups = _groups(setup, configs, trials, compute_dtype, x, y, settings.batch_size)
    if schedule is not None:
        schedule.check_population(configs, [set(recipe_numbers(recipe, configs[members[0]]))
                                            for recipe, members in groups])
    # The data, checked once per group (the first configuration of each stands for all).
    checked = [_checked_data(trials[members[0]], x, y, validation) for _, members in groups]
    ends = schedule.ends(settings.epochs) if schedule is not None else [settings.epochs]
    alive, carried = list(range(len(configs))), {}
    current = [dict(config) for config in configs]  # each one's values (a schedule may change)
    notes: list = [None] * len(configs)  # what the schedule records of each
    compile_times = [0.0] * len(configs)
    for segment, end in enumerate(ends):
        until = dataclasses.replace(settings, epochs=end)
        for number, (recipe, members) in enumerate(groups):
            members = [i for i in members if i in alive]
            if not members:
                continue
            x, y, validation = checked[number]
            # With a mesh, chunks of configurations are split over the devices, one program
            # per chunk; without one, the whole group is one program that trains ``side`` of
            # them side by side.
            spread = placement if mesh is not None else cpu_cores_placement(len(members))
            size = (chunk_size or len(members)) if spread is not None else len(members)
            side = _side_by_side(chunk_size, len(members), spread)
            for start in range(0, len(members), size):
                chunk = members[start:start + size]
                folder = None if checkpoint_dir is None else Path(checkpoint_dir) / (
                    f"group_{number}" + (f"_{start}" if start else "")
                    + (f"_segment_{segment}" if schedule is not None else ""))
                numbers = [{name: current[i][name]
                            for name in recipe_numbers(recipe, current[i])} for i in chunk]
                before = [carried[i] for i in chunk] if segment else None
                outcome = train(
                    [trials[i] for i in chunk], recipe, numbers, x, y, validation, until,
                    side=side, placement=spread, split_configs=True, checkpoint_dir=folder,
                    configs=[current[i] for i in chunk],
                    callbacks=[_told(callback, chunk) for callback in callbacks],
                    verbose=verbose, labels=[f"{i} {current[i]}" for i in chunk],
                    streamed=inputs.streamed,
                    carried=tuple(map(list, zip(*before))) if before else None)
                rows = rows_of(outcome.runs, len(chunk))  # left on the device
                for i, row, history, reason in zip(chunk, rows, outcome.histories,
                                                   outcome.reasons):
                    carried[i] = (row, history, reason)
                    compile_times[i] += outcome.compile_time
        if segment < len(ends) - 1:
            alive = schedule.between(segment + 1, alive, carried, current, notes)
    outcomes = []
    finals = read([carried[i][0] for i in range(len(configs))])
    for i, run in enumerate(finals):
        _, history, reason = carried[i]
        params, state, best_epoch = final_params(run)
        outcomes.append((params, state, history, reason, int(run.step), best_epoch,
                         compile_times[i]))
    return SweepResult(configs, *(list(column) for column in zip(*outcomes)),
                       **(schedule.results(notes) if schedule is not None else {}))


def _checked_data(lead: Trial, x: Any, y: Any, validation: Any) -> tuple:
    """The training data and the validation data (in memory) checked for ``lead``'s model."""
    x, y = check_data(lead.objective, lead.params, lead.state, (x, y), "train_data")
    if validation is not None and not isinstance(validation, Stream):
        validation = check_data(lead.objective, lead.params, lead.state, validation,
                                "validation_data")
    return x, y, validation


def _groups(setup: Callable, configs: list[dict], trials: list[Trial],
            compute_dtype: str | None, x: Any, y: Any, batch_size: int) -> list[tuple]:
    """``(recipe, members)`` for each group of configurations trained as one program: those
    whose numbers differ (traced) and whose other values, and parameter shapes, agree."""
    groups: dict[Any, list[int]] = {}
    for index, (config, trial) in enumerate(zip(configs, trials)):
        groups.setdefault(_group_key(config, trial), []).append(index)
    found: dict[Any, list[int]] = {}
    for members in groups.values():
        lead = members[0]
        recipe, traced = setup_recipe(setup, configs[lead], compute_dtype,
                                      example_step(trials[lead], x, y, batch_size))
        for i in members:  # numbers that stay constants split the group by their values
            found.setdefault(dataclasses.replace(
                recipe, static=static_part(configs[i], traced)), []).append(i)
    return list(found.items())


def recipe_numbers(recipe: Any, config: dict) -> list[str]:
    """The names of ``config``'s numbers that ``recipe`` takes traced."""
    static = {name for name, _ in recipe.static}
    return [name for name in numbers_of(config) if name not in static]


def _told(callback: Callback, chunk: list[int]) -> Callback:
    """``callback`` told the index in ``configs`` of the configuration of a chunk."""
    def told(epoch, history, run, config):
        return callback(epoch, history, run, config=chunk[config])

    return told


def _side_by_side(chunk_size: int | None, count: int,
                  spread: DataParallel | None) -> int | None:
    """How many configurations of a group train side by side (vmapped); None for all.

    Over a mesh, all of a chunk, split over its devices. On one device, by default all of them
    on an accelerator, which they fill; one at a time on a CPU, where XLA runs a vmapped matrix
    product no faster than the separate ones and, for large layers, slower (see
    docs/design.md).
    """
    if spread is not None:
        return None
    if chunk_size is None:
        return 1 if jax.default_backend() == "cpu" else None
    return None if chunk_size >= count else chunk_size


def _check_optimizers(configs: list[dict], trials: list[Trial]) -> None:
    """Refuses an optimizer that cannot update its parameters, before compiling: one per set of
    configurations that differ only in their numbers (tracing each one costs as much as the
    setup)."""
    checked = set()
    for index, (config, trial) in enumerate(zip(configs, trials)):
        key = _group_key(config, trial)
        if key in checked:
            continue
        try:
            optimizer_in_structure(trial.optimizer, trial.params)
        except TypeError as error:
            raise TypeError(f"configuration {index} {config}: {error}") from None
        checked.add(key)


def _group_key(config: dict, trial: Trial) -> tuple:
    """Configurations with one key differ only in their numbers."""
    return (static_part(config, numbers_of(config)), signature(trial.params),
            signature(trial.state))


def _trial(setup: Callable[..., Trial], config: dict[str, Any], index: int,
           compute_dtype: str | None) -> Trial:
    try:
        trial = setup(**config)
    except TypeError as error:
        raise TypeError(f"configuration {index} {config}: setup(**config) failed: {error}; "
                        "are the names of the configuration setup's parameters?") from error
    if not isinstance(trial, Trial):
        raise TypeError(f"setup must return jn.Trial(objective, optimizer, params, state, key), "
                        f"got {type(trial).__name__} for configuration {index}")
    trial = dataclasses.replace(trial, key=typed_key(trial.key))
    if compute_dtype is not None:
        trial = dataclasses.replace(
            trial, objective=objective_with(trial.objective, compute_dtype=compute_dtype))
    return trial
