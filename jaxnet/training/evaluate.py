"""Evaluation: the objective's loss and metrics over a whole data set, in evaluation mode."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from jaxnet.training.checks import check_data, check_evaluation_args
from jaxnet.training.hyperparams import Program
from jaxnet.training.objective import Objective
from jaxnet.training.placement import DataParallel, data_parallel
from jaxnet.training.run_state import Batch, Metrics, Params, State

EVAL_BATCH = 1000


def _evaluate(objective: Objective, batch_size: int, params, state, x, y,
              placement: DataParallel | None = None) -> Metrics:
    n = jax.tree.leaves(x)[0].shape[0]
    n_full = n // batch_size * batch_size

    def chunk_sum(xb, yb):
        if placement is not None:
            xb, yb = placement.constrain((xb, yb))
        _, (_, metrics) = objective(params, state, (xb, yb), train=False)
        size = jax.tree.leaves(xb)[0].shape[0]
        return {name: v if objective.summed(name) else v * size for name, v in metrics.items()}

    parts = []
    if n_full:
        chunks = jax.tree.map(lambda a: a[:n_full].reshape(-1, batch_size, *a.shape[1:]), (x, y))
        per_chunk = jax.lax.map(lambda c: chunk_sum(*c), chunks)
        parts.append(jax.tree.map(lambda v: jnp.sum(v, axis=0), per_chunk))
    if n_full < n:
        parts.append(chunk_sum(*jax.tree.map(lambda a: a[n_full:], (x, y))))
    total = functools.reduce(lambda a, b: jax.tree.map(jnp.add, a, b), parts)
    return {name: v if objective.summed(name) else v / n for name, v in total.items()}


def evaluate(
    objective: Objective,
    params: Params,
    state: State,
    data: Batch,
    *,
    batch_size: int = EVAL_BATCH,
    mesh: Mesh | None = None,
    mesh_axis: str | None = None,
) -> dict[str, float]:
    """The objective's loss and metrics over a whole data set, in evaluation mode.

    The data are processed in chunks of ``batch_size`` (the last chunk may be smaller) and the
    per-chunk means are weighted by chunk size, so the result is the exact mean over the set.
    With a ``mesh``, each chunk is split over its devices (see ``fit``).

    Returns:
        A dict of Python floats, e.g. ``{"loss": 0.07, "accuracy": 0.98}`` (lists for per-class
        metrics and confusion matrices).

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> model = jn.Sequential([jn.Dense(2)])
        >>> params = {"dense_0": {"w": jnp.array([[1.0, -1.0]]), "b": jnp.zeros(2)}}
        >>> objective = jn.objective(model, jn.losses.softmax_cross_entropy)
        >>> x, y = jnp.array([[1.0], [-1.0], [2.0]]), jnp.array([0, 1, 1])
        >>> metrics = jn.evaluate(objective, params, {}, (x, y), batch_size=2)
        >>> round(metrics["accuracy"], 3), round(metrics["loss"], 3)
        (0.667, 1.424)
    """
    batch_size = check_evaluation_args(objective, batch_size)
    x, y = check_data(objective, params, state, data, "data")
    placement = data_parallel(mesh, mesh_axis)
    if placement is not None:
        params, state, x, y = placement.put((params, state, x, y))
    metrics = evaluate_arrays(objective, params, state, x, y, batch_size, placement)
    return {name: objective.value(name, value) for name, value in metrics.items()}


def evaluate_arrays(objective: Objective, params: Params, state: State, x: jax.Array,
                    y: jax.Array, batch_size: int = EVAL_BATCH,
                    placement: DataParallel | None = None) -> Metrics:
    """`evaluate` on checked arrays already placed, without waiting for the result (``fit``
    dispatches it and reads it later)."""
    batch_size = min(batch_size, jax.tree.leaves(x)[0].shape[0])
    return _PROGRAM.bind(objective, batch_size, placement)(params, state, x, y)


# Compiled once per structure of the objective: penalty strengths and other numbers in it are
# arguments (see jaxnet.training.hyperparams).
_PROGRAM = Program(lambda objective, batch_size, placement: functools.partial(
    _evaluate, objective, batch_size, placement=placement))
