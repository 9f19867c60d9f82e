"""The epoch run one jitted step at a time from the host, for convolutional models on a CPU.

XLA:CPU compiles the convolutions inside a loop body (a ``lax.scan`` over the steps) into slow
layouts (jax-ml/jax#12868, "Convolution is significantly slower inside a loop body (CPU)"): the
MNIST-1D CNN's scanned epoch ran 3.6x slower than the same steps jitted one by one. On a CPU,
``fit`` therefore runs a model that convolves as one jitted step per batch, dispatched from the
host without waiting for the device. The steps, their randomness (the same step keys and batch
order), the end-of-epoch check and the outputs are those of the scanned epoch
(:func:`jaxnet.training.epoch.make_epoch`); only the loop moves to the host.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.extend.core import jaxprs_in_params

from jaxnet.training.epoch import (
    _batch,
    _end_of_epoch,
    _guarded_step,
    _plain_step,
    _start_carry,
    step_keys,
)
from jaxnet.training.hyperparams import Program, split
from jaxnet.training.objective import Objective
from jaxnet.training.placement import DataParallel
from jaxnet.training.run_state import RunState


def runs_stepwise(objective: Objective, params: Any, state: Any, x: Any) -> bool:
    """Whether ``fit`` runs this model's epochs step by step: on a CPU, when the model
    convolves (decided from its traced computation, once per model structure)."""
    if jax.default_backend() != "cpu":
        return False
    example = jax.tree.map(lambda a: jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype), x)
    key = (split(objective.model)[0], jax.tree.structure((params, state, example)),
           tuple((leaf.shape, leaf.dtype) for leaf in jax.tree.leaves((params, state, example))))
    if key not in _CONVOLVES:
        jaxpr = jax.make_jaxpr(lambda p, s, xs: objective.model.apply(p, s, xs)[0])(
            params, state, example)
        _CONVOLVES[key] = _uses(jaxpr.jaxpr, "conv_general_dilated")
    return _CONVOLVES[key]


_CONVOLVES: dict[Any, bool] = {}


def _uses(jaxpr: Any, primitive: str) -> bool:
    """Whether ``jaxpr`` or any computation inside it (jit, scan, cond...) applies
    ``primitive``."""
    for equation in jaxpr.eqns:
        if equation.primitive.name == primitive:
            return True
        for inner in jaxprs_in_params(equation.params):
            if _uses(inner, primitive):
                return True
    return False


@functools.partial(jax.jit, static_argnums=2)
def _start(run: RunState, order: jax.Array, guarded: bool) -> tuple[dict, jax.Array]:
    return _start_carry(run, guarded), step_keys(run.key, run.epoch, order.shape[0])


@functools.partial(jax.jit, static_argnums=4)
def _finish(run: RunState, carry: dict, metrics: list, ran: list, guarded: bool):
    metrics = jax.tree.map(lambda *steps: jnp.stack(steps), *metrics)
    return _end_of_epoch(run, carry, metrics, jnp.stack(ran), guarded)


def _build_step(guarded: bool) -> Callable:
    def build(objective, optimizer, epsilon, placement):
        body = functools.partial(_guarded_step if guarded else _plain_step, objective, optimizer,
                                 epsilon)

        def step(carry, x, y, order, keys, i):
            return body(carry, (_batch(x, y, order[i], placement), keys[i]))

        return step

    return build


_STEPS = {guarded: Program(_build_step(guarded)) for guarded in (False, True)}


class StepwiseEpoch:
    """The epoch ``epoch(run, x, y, order) -> (run, metrics, info)`` of
    :func:`jaxnet.training.epoch.compiled_epoch`, its steps dispatched one by one; each step
    is compiled once per structure of the objective and optimizer.

    ``begin(run, x, y, order)`` dispatches only the epoch's first step and returns a function
    that dispatches the rest and returns the outputs: ``fit`` reads the previous epoch in
    between, while the device already has this one's first step.
    """

    def __init__(self, objective, optimizer, epsilon, guarded, placement):
        self.step = _STEPS[guarded].bind(objective, optimizer, epsilon, placement)
        self.guarded, self.placement = guarded, placement

    def __call__(self, run: RunState, x: Any, y: Any, order: Any):
        return self.begin(run, x, y, order)()

    def begin(self, run: RunState, x: Any, y: Any, order: Any) -> Callable[[], tuple]:
        place = jax.device_put if self.placement is None else self.placement.put
        order = place(order)
        carry, keys = _start(run, order, self.guarded)
        metrics, ran = [], []

        def dispatch(steps):
            nonlocal carry
            for i in steps:
                carry, (step_metrics, step_ran) = self.step(carry, x, y, order, keys,
                                                            np.int32(i))
                metrics.append(step_metrics)
                ran.append(step_ran)

        dispatch(range(1))

        def complete():
            dispatch(range(1, order.shape[0]))
            return _finish(run, carry, metrics, ran, self.guarded)

        return complete


def stepwise_epoch(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    epsilon: float | None,
    guarded: bool = False,
    placement: DataParallel | None = None,
) -> StepwiseEpoch:
    """The epoch run one jitted step at a time (see :class:`StepwiseEpoch`)."""
    return StepwiseEpoch(objective, optimizer, epsilon, guarded, placement)
