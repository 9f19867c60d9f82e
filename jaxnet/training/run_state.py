"""The names every part of training shares: the run's state, its settings, status codes, batches.

This is the lowest module of ``jaxnet.training``; every other file of the engine imports from
here and from nothing above it.

The engine trains *configurations*: ``fit`` trains one, ``sweep`` many. Its state is one pytree,
``RunState``, whose every leaf has a leading configuration axis: everything needed to
continue each configuration's run exactly. A checkpoint saves exactly this pytree, and resuming
loads it and goes on. ``FitResult.run`` is the one configuration of a ``fit``, without the axis.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet.core import Params, State
from jaxnet.objective import Batch, Metrics

__all__ = ["Batch", "Metrics", "Params", "State", "RunState", "Stopping", "Settings", "Callback",
           "Good", "EpochInfo", "RUNNING", "CONVERGED", "NONFINITE", "STOPPED", "start_run",
           "improves", "all_finite"]

# Status codes, carried through the compiled epoch as int32. STOPPED is set by the host
# (patience, a callback): the device then leaves that configuration unchanged.
RUNNING, CONVERGED, NONFINITE, STOPPED = 0, 1, 2, 3


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Stopping:
    """What early stopping tracks between epochs.

    Attributes:
        best: the best monitored value so far (``inf`` before the first epoch), float32.
        waited: epochs since the monitored value last improved, int32.
        best_epoch: the epoch (counted from 1) of the best value, 0 before the first, int32.
        best_params, best_state: the parameters and state of the best epoch, kept only when
            ``restore_best=True``; ``None`` otherwise.
    """

    best: jax.Array
    waited: jax.Array
    best_epoch: jax.Array
    best_params: Params | None = None
    best_state: State | None = None


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RunState:
    """Everything a training run needs to continue exactly where it is.

    Attributes:
        params, state: the model's parameters and state (e.g. BatchNorm's running statistics).
        opt_state: the optimizer's state.
        epoch: epochs completed, an int32 counted from the start of the run (not of a call).
        step: optimizer steps taken, an int32.
        key: the run's key; every random draw is a function of it, the absolute epoch, the step
            within the epoch and the layer's name, so a resumed or replayed epoch sees the same
            bits.
        status: ``RUNNING``, ``CONVERGED``, ``NONFINITE`` or ``STOPPED``, an int32.
        stopping: what early stopping tracks.
    """

    params: Params
    state: State
    opt_state: Any
    epoch: jax.Array
    step: jax.Array
    key: jax.Array
    status: jax.Array
    stopping: Stopping


class Callback(Protocol):
    """What ``fit(..., callbacks=[...])`` calls at the end of every epoch (see
    ``jaxnet.callbacks``); a sweep adds the keyword ``config``, the configuration's index."""

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]],
                 run: RunState, **kwargs: Any) -> bool | None: ...


class Good(NamedTuple):
    """What the guarded epoch remembers: the last model (params, state, opt_state) whose loss
    was measured finite, the steps it had taken within the epoch, whether any was measured."""

    model: tuple
    taken: jax.Array
    measured: jax.Array


class EpochInfo(NamedTuple):
    """An epoch's outputs besides the run state and the metrics: whether each step was applied,
    the end-of-epoch finite check and, for the guarded epoch, what it remembered."""

    ran: jax.Array
    finite: jax.Array
    good: Good | None = None


# The settings a run is defined by: a resumed call must repeat them.
RUN_DEFINING = ("batch_size", "n_examples", "epsilon", "restore_best", "validation", "min_delta")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The checked arguments of ``fit`` and ``sweep`` that shape the training loop."""

    epochs: int
    batch_size: int
    n_examples: int | None  # None: a function streams the data
    patience: int | None = None
    min_delta: float = 0.0
    epsilon: float | None = None
    restore_best: bool = False
    validation: bool = False
    evaluate_train: bool = False
    checkpoint_every: int = 1

    def defining(self) -> dict[str, Any]:
        """The settings that a checkpoint records and a resumed call must repeat."""
        return {name: getattr(self, name) for name in RUN_DEFINING}


def start_run(
    params: Params, state: State, opt_state: Any, key: jax.Array, *, keep_best: bool = False
) -> RunState:
    """One configuration's run state before its first epoch (no configuration axis). Its
    counters are NumPy scalars, which a compiled program takes without an operation dispatched
    for each."""
    stopping = Stopping(
        best=np.asarray(np.inf, np.float32),
        waited=np.asarray(0, np.int32),
        best_epoch=np.asarray(0, np.int32),
        best_params=params if keep_best else None,
        best_state=state if keep_best else None,
    )
    zero = np.asarray(0, np.int32)
    return RunState(params, state, opt_state, zero, zero, key, np.asarray(RUNNING, np.int32),
                    stopping)


def improves(value: float, best: Any, min_delta: float) -> bool:
    """Whether an epoch's monitored ``value`` improves on ``best`` by more than ``min_delta``.

    Like is compared with like: the value is rounded to float32, the dtype ``Stopping.best``
    keeps, and the difference is taken in float32 too. An epoch mean computed in float64 and
    compared with its own float32 rounding would otherwise count an unchanged loss as better
    (or a real change as none), depending on which way the rounding went.
    """
    value, best = np.float32(value), np.float32(best)
    return bool(np.isfinite(value) and value < best - np.float32(min_delta))


def all_finite(tree: Any) -> jax.Array:
    """Whether every floating-point value in ``tree`` is finite.

    The leaves of each dtype are joined into one vector and checked by one reduction: a
    reduction per leaf (params and two Adam moments make dozens) made XLA's compilation of a
    small network's epoch a third longer, while the copy costs one pass over the parameters
    per epoch.
    """
    groups: dict[Any, list] = {}
    for leaf in jax.tree.leaves(tree):
        dtype = jnp.result_type(leaf)
        if jnp.issubdtype(dtype, jnp.inexact):
            groups.setdefault(dtype, []).append(jnp.ravel(leaf))
    checks = [jnp.all(jnp.isfinite(jnp.concatenate(leaves))) for leaves in groups.values()]
    return functools.reduce(jnp.logical_and, checks, jnp.asarray(True))
