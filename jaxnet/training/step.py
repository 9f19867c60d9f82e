"""One optimizer step, and the jitted step for custom loops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax
from jax.sharding import Mesh

from jaxnet.training.hyperparams import Program
from jaxnet.training.objective import Objective
from jaxnet.training.placement import data_parallel
from jaxnet.training.run_state import Batch, Metrics, Params, State


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


# The optimizer's init compiled once per kind of optimizer: one call instead of an eager
# operation (and, the first time, a small compilation) per parameter.
_INIT = Program(lambda optimizer: optimizer.init)


def init_optimizer(optimizer: optax.GradientTransformation, params: Params) -> Any:
    """``optimizer.init(params)``, compiled once per structure of the optimizer and parameters."""
    return _INIT.bind(optimizer)(params)


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
