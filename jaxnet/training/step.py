"""The one training step of the engine, what an epoch carries through it, and the jitted step
for custom loops.

Every driver (the scanned epoch, the host-dispatched epoch, configurations side by side or in
turn) runs ``step``; it honours the configuration's status whenever it can change within an
epoch (the epsilon rule, the per-step guard), and otherwise costs nothing beyond the update.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from jaxnet.objective import Objective
from jaxnet.parallel import data_parallel
from jaxnet.training.run_state import (
    CONVERGED,
    NONFINITE,
    RUNNING,
    Batch,
    EpochInfo,
    Good,
    Metrics,
    Params,
    RunState,
    State,
    all_finite,
)


def update(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    params: Params,
    state: State,
    opt_state: Any,
    batch: Batch,
    key: jax.Array | None,
) -> tuple[Params, State, Any, Metrics, Params]:
    """One step: the objective's gradient at ``params`` on ``batch``, then the optimizer's update.

    Returns:
        ``(new_params, new_state, new_opt_state, metrics, grads)``; ``metrics`` were measured at
        ``params`` (before the update), as Keras and Flax report them.
    """
    grad_fn = jax.value_and_grad(objective, has_aux=True)
    (_, (state, metrics)), grads = grad_fn(params, state, batch, key)
    # optax's transformations mix int32 step counts with Python floats (Adam's bias correction),
    # which strict dtype promotion refuses; the standard rules give the same float32 result, and
    # the user's model and loss still run under whatever promotion they chose.
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params, state, opt_state, metrics, grads


class Carry(NamedTuple):
    """What the steps of an epoch carry: the model (params, state, opt_state), the status, the
    steps applied and, for the guarded epoch, the last model whose loss was measured finite."""

    model: tuple
    status: jax.Array
    taken: jax.Array
    good: Good | None = None


def start_carry(run: RunState, guarded: bool) -> Carry:
    model = (run.params, run.state, run.opt_state)
    taken = jnp.zeros((), jnp.int32)
    good = Good(model, taken, jnp.asarray(False)) if guarded else None
    return Carry(model, jnp.asarray(run.status), taken, good)


def largest_change(new: Any, old: Any) -> jax.Array:
    """The largest absolute change of any parameter between ``old`` and ``new``."""
    changes = [jnp.max(jnp.abs(a - b)) for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old))]
    return functools.reduce(jnp.maximum, changes, jnp.zeros((), jnp.float32))


def step(objective: Objective, optimizer: optax.GradientTransformation, epsilon: Any,
         guarded: bool, carry: Carry, inputs: tuple[Batch, jax.Array]):
    """One step of an epoch: ``(carry, (batch, key)) -> (carry, (metrics, applied))``.

    Unguarded and without epsilon, every step applies its update: nothing within the epoch
    can stop it, and the end-of-epoch check finds a non-finite value. With ``epsilon``, a
    step that changes every parameter by less than it converges the run, and the steps after
    it are not applied. ``guarded`` checks each step's loss, gradients and update, applies none
    after the first that is not finite, and remembers the last model whose loss was measured
    finite (see ``jaxnet.training.epoch``).
    """
    batch, key = inputs
    current = carry.model
    params, state, opt_state, metrics, grads = update(objective, optimizer, *current, batch, key)
    new = (params, state, opt_state)
    if not guarded and epsilon is None:
        return carry._replace(model=new, taken=carry.taken + 1), (metrics, jnp.asarray(True))
    running = carry.status == RUNNING
    applied, status, good = running, carry.status, carry.good
    if guarded:
        measured = running & jnp.isfinite(metrics["loss"])
        applied = measured & all_finite(grads) & all_finite(new)
        status = jnp.where(running & ~applied, NONFINITE, status)
        good = Good(optax.tree_utils.tree_where(measured, current, good.model),
                    jnp.where(measured, carry.taken, good.taken), good.measured | measured)
    if epsilon is not None:
        converged = applied & (largest_change(params, current[0]) < epsilon)
        status = jnp.where(converged, CONVERGED, status)
    carry = Carry(optax.tree_utils.tree_where(applied, new, current), status,
                  carry.taken + applied.astype(jnp.int32), good)
    return carry, (metrics, applied)


def end_epoch(run: RunState, carry: Carry, metrics: Metrics, ran: jax.Array,
              guarded: bool) -> tuple[RunState, Metrics, EpochInfo]:
    """The epoch's ``(run, metrics, info)`` from its steps' final carry and per-step outputs;
    the unguarded epoch's status becomes ``NONFINITE`` when its end check fails."""
    params, state, opt_state = carry.model
    finite = jnp.isfinite(jnp.sum(metrics["loss"])) & all_finite(carry.model)
    status = carry.status if guarded else jnp.where(finite, carry.status, NONFINITE)
    run = RunState(params, state, opt_state, run.epoch + 1, run.step + carry.taken, run.key,
                   status, run.stopping)
    return run, metrics, EpochInfo(ran, finite, carry.good)


def train_step(objective: Objective, optimizer: optax.GradientTransformation, *,
               mesh: Mesh | None = None, mesh_axis: str | None = None) -> Callable:
    """Builds the jitted step ``step(params, state, opt_state, batch, key)`` for custom loops.

    With a ``mesh``, the batch is split along its first axis over the mesh's devices and the
    gradients are all-reduced (data parallelism, as in ``fit``); place the parameters replicated
    and the batches split with ``jn.parallel`` to avoid moving them at every step.

    It returns ``(params, state, opt_state, metrics)``; the optimizer is any optax
    ``GradientTransformation``, passed as it is. Values inside a jitted step are not known on the
    host, so labels are not checked here: check them once with ``jn.losses.check_targets``, or
    run the step under ``jn.debug_checks()``.

    Example:
        >>> import jax, jax.numpy as jnp, optax, jaxnet as jn
        >>> model = jn.Sequential([jn.Dense(2)])
        >>> params, state = model.init(jax.random.key(0), jnp.zeros((1, 3)))
        >>> optimizer = optax.sgd(0.1)
        >>> step = jn.train_step(jn.objective(model, jn.losses.softmax_cross_entropy), optimizer)
        >>> batch = (jnp.ones((4, 3)), jnp.array([0, 1, 1, 0]))
        >>> params, state, opt_state, metrics = step(
        ...     params, state, optimizer.init(params), batch, jax.random.key(1))
        >>> float(metrics["accuracy"])
        0.5
    """
    if not isinstance(objective, Objective):
        raise TypeError(f"train_step takes an objective from jn.objective(...), got {objective!r}")

    placement = data_parallel(mesh, mesh_axis)

    @jax.jit
    def step(params, state, opt_state, batch, key=None):
        if placement is not None:
            batch = placement.constrain(batch)
        params, state, opt_state, metrics, _ = update(
            objective, optimizer, params, state, opt_state, batch, key
        )
        return params, state, opt_state, metrics

    return step
