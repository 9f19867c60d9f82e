"""A group: configurations of one structure, trained together by one program and one monitor.

``fit`` makes a group of one configuration; ``sweep`` one group per structure (and per chunk of
configurations when they are spread over a mesh). A group holds what the drivers need: the
``Plan``, the configurations' numbers and run states stacked along a
leading configuration axis, the data, and where each of them is placed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from jaxnet.objective import Objective
from jaxnet.parallel import DataParallel
from jaxnet.training import caches
from jaxnet.training.epoch import (
    Plan,
    batch_order,
    key_seed,
    over_configs,
    run_epoch,
    runs_on_host,
)
from jaxnet.training.evaluate import (
    EvaluationData,
    StreamedData,
    evaluation_data,
    streamed_evaluation_data,
)
from jaxnet.training.hyperparams import as_arguments, stacked
from jaxnet.training.rows import Row, gather
from jaxnet.training.run_state import RUNNING, Params, RunState, Settings, State
from jaxnet.training.source import BatchCheck, Stream
from jaxnet.training.stacking import stack
from jaxnet.training.streamed import begin_stream_epoch, chunk_size, placer, read_epoch


@dataclasses.dataclass(frozen=True)
class Trial:
    """One configuration's training run, as ``setup(**config)`` returns it."""

    objective: Objective
    optimizer: optax.GradientTransformation
    params: Params
    state: State
    key: jax.Array


@dataclasses.dataclass(frozen=True)
class Group:
    """Configurations of one structure, trained together.

    Attributes:
        plan: the structure and how configurations and batches are laid out.
        host: whether steps are dispatched from the host (convolutions on a CPU).
        objective: the first configuration's objective (its metrics name the history).
        values: the configurations' numbers, stacked (one configuration: weak Python floats).
        x, y: the training data, placed (None for a stream).
        validation, train_set: prepared evaluation sets (``train_`` only with
            ``evaluate_train``), or None.
        seeds: each configuration's key words, the seeds of its batch orders.
        count: the real configurations (the rest pad the group to a multiple of devices).
        placement: the mesh, or None.
        split_configs: the mesh splits configurations (a sweep), not batches (``fit``).
    """

    plan: Plan
    host: bool
    objective: Objective
    values: Any
    x: Any
    y: Any
    validation: EvaluationData | StreamedData | None
    train_set: EvaluationData | StreamedData | None
    seeds: tuple
    count: int
    placement: DataParallel | None
    split_configs: bool
    stream: Streamed | None = None
    keys: tuple = ()

    def dispatch(self, plan: Plan, start: RunState, epoch: int, settings: Settings):
        """Dispatches epoch number ``epoch`` from ``start`` with ``plan``'s driver; returns the
        function that gives its outputs."""
        if self.stream is None:
            return run_epoch(plan, self.host, self.values, start, self.x, self.y,
                             self.orders(epoch, settings))
        stream, check = self.stream
        size = 1 if self.host else chunk_size(check, len(self.seeds))
        reader = read_epoch(stream, self.seeds, self.keys, epoch, size, check,
                            placer(self.placement, self.split_configs))
        return begin_stream_epoch(plan, self.values, start, reader, stream.n_batches, epoch,
                                  self.host)

    def place(self, tree: Any) -> Any:
        """Arrays made on the host (one row per configuration), placed like the run states."""
        if self.placement is None:
            return tree  # jit takes NumPy arrays as they are: no operation of its own
        sharding = self.placement.split() if self.split_configs else None
        return self.placement.put(tree, sharding)

    def orders(self, epoch: int, settings: Settings) -> Any:
        """Each configuration's batch order for epoch number ``epoch`` (configurations that
        stopped draw one too, and leave it unused)."""
        return self.place(np.stack([batch_order(seed, epoch, settings.n_examples,
                                                settings.batch_size) for seed in self.seeds]))


class Streamed(NamedTuple):
    """Streamed training data: the stream and the check each of its batches gets."""

    stream: Stream
    check: BatchCheck


def make_group(trials: Sequence[Trial], recipe: Any, numbers: Sequence[Any], x: Any, y: Any,
               validation: Any, settings: Settings, *, side: int | None,
               placement: DataParallel | None, split_configs: bool,
               opt_states: Sequence[Any] | None = None,
               streamed: Streamed | None = None,
               carried: Sequence[Row] | None = None) -> tuple[Group, RunState]:
    """The group of ``trials`` (of one ``recipe``, with each configuration's ``numbers``) and
    its starting run states, stacked: new ones, or the ``carried`` run states (one row per
    trial, with what early stopping tracked) of an earlier call that they go on from. With
    ``streamed`` data, ``x, y`` are its first batch and ``validation`` may be a stream too."""
    count = len(trials)
    if placement is not None and split_configs:
        # Pad to a multiple of the devices with copies of the last configuration, whose
        # results are dropped.
        padding = -count % placement.size
        trials, numbers = [*trials, *[trials[-1]] * padding], [*numbers, *[numbers[-1]] * padding]
    if len(trials) == 1:
        values = (as_arguments(numbers[0]), settings.epsilon)
    else:
        epsilon = None if settings.epsilon is None else np.full(len(trials), settings.epsilon,
                                                                np.float32)
        values = (stacked(numbers), epsilon)
    first = trials[0]
    batch_placement = None if split_configs else placement
    plan = Plan(recipe, len(trials), side, placement=batch_placement)
    if carried is not None:
        runs = gather([*carried, *[carried[-1]] * (len(trials) - len(carried))])
    else:
        runs = _new_runs(plan, values, trials, opt_states)
    host = runs_on_host(first.objective, first.params, first.state, x)
    if streamed is not None:
        x = y = None
    if placement is not None:
        sharding = placement.split() if split_configs else None
        if streamed is None:
            x, y = placement.put((x, y))
        runs = placement.put(runs, sharding)
        if len(trials) > 1:
            values = placement.put(values, sharding)
    train_set = None
    if settings.evaluate_train:
        train_set = _evaluation_set(streamed.stream if streamed else (x, y), batch_placement)
    if validation is not None:
        validation = _evaluation_set(validation, batch_placement)
    group = Group(plan, host, first.objective, values, x, y, validation, train_set,
                  tuple(key_seed(t.key) for t in trials), count, placement, split_configs,
                  streamed, tuple(t.key for t in trials))
    return group, runs


def _new_runs(plan: Plan, values: Any, trials: Sequence[Trial],
              opt_states: Sequence[Any] | None) -> RunState:
    """The trials' run states before their first epoch, stacked (optimizer states made by
    the optimizers unless given)."""
    if opt_states is not None:
        params, state, keys, opt_state = stack([(t.params, t.state, t.key, s)
                                                 for t, s in zip(trials, opt_states)])
    else:
        params, state, keys = stack([(t.params, t.state, t.key) for t in trials])
        opt_state = _init_optimizers(plan, values, params)
    # Counters and statuses start on the host: the monitor reads them without a transfer.
    zeros = np.zeros(len(trials), np.int32)
    return RunState(params, state, opt_state, zeros, zeros.copy(), keys, zeros + RUNNING, None)


def _evaluation_set(data: Any, placement: DataParallel | None) -> Any:
    """Arrays padded for the compiled evaluation, or a random-access stream read in chunks."""
    if isinstance(data, Stream):
        return streamed_evaluation_data(data, placement=placement)
    return evaluation_data(*data, placement=placement)


@caches.compiled
@functools.partial(jax.jit, static_argnums=0)
def _init_optimizers(plan: Plan, values: Any, params: Any) -> Any:
    """Every configuration's ``optimizer.init(params)``, one compiled call per group."""
    def one(values, params):
        return plan.recipe.build(values[0])[1].init(params)

    return over_configs(one, plan)(values, params)


def example_step(trial: Trial, x: Any, y: Any, batch_size: int) -> tuple:
    """``(params, state, batch, key)`` of one step of ``trial``, the batch's shapes only: what
    ``fit_recipe`` traces abstractly."""
    def spec(a):
        return jax.ShapeDtypeStruct((batch_size, *np.shape(a)[1:]), jax.numpy.result_type(a))

    return trial.params, trial.state, jax.tree.map(spec, (x, y)), trial.key
