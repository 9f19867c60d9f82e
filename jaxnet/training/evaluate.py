"""Evaluation: the objective's loss and metrics over a whole data set, in evaluation mode."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxnet.objective import Objective
from jaxnet.parallel import DataParallel, data_parallel
from jaxnet.training import caches
from jaxnet.training.checks import check_data, check_evaluation_args, examples_in
from jaxnet.training.epoch import Plan, over_configs
from jaxnet.training.hyperparams import as_arguments
from jaxnet.training.run_state import Batch, Metrics, Params, RunState, State

EVAL_BATCH = 1000


def evaluation_shape(n: int, batch_size: int) -> tuple[int, int]:
    """``(chunk, padded)``: ``n`` examples are evaluated in chunks of ``chunk`` examples, their
    number a power of two, ``padded`` examples in all. Data sets of sizes that share a bucket
    share one compiled evaluation.

    Example:
        >>> evaluation_shape(10, 1000), evaluation_shape(1000, 1000), evaluation_shape(2500, 1000)
        ((16, 16), (1000, 1000), (1000, 4000))
    """
    if n <= batch_size:
        chunk = min(1 << (n - 1).bit_length(), batch_size)
        return chunk, chunk
    chunks = -(-n // batch_size)
    return batch_size, batch_size * (1 << (chunks - 1).bit_length())


@functools.partial(jax.jit, static_argnums=1)
def _pad(data: Any, size: int) -> Any:
    """``data``'s examples, repeating the last one up to ``size`` (real values, so padding never
    meets a label the loss refuses or a NaN)."""
    def pad(a):
        return jnp.take(a, jnp.minimum(jnp.arange(size), a.shape[0] - 1), axis=0)

    return jax.tree.map(pad, data)


@dataclasses.dataclass(frozen=True)
class EvaluationData:
    """A data set ready for the compiled evaluation: ``x`` and ``y`` padded to a bucket's size,
    the number of real examples ``n`` and the chunk size."""

    x: Any
    y: Any
    n: int
    chunk: int


def evaluation_data(x: Any, y: Any, batch_size: int = EVAL_BATCH,
                    placement: DataParallel | None = None) -> EvaluationData:
    """Checked arrays padded to their bucket (one small copy; ``fit`` makes it once per call)
    and placed."""
    n = examples_in(x)
    chunk, size = evaluation_shape(n, batch_size)
    if size != n:
        x, y = _pad((x, y), size)
    if placement is not None:
        x, y = placement.put((x, y))
    return EvaluationData(x, y, n, chunk)


def _evaluate(objective: Objective, chunk: int, params, state, x, y, n,
              placement: DataParallel | None = None) -> Metrics:
    """Means (and counted metrics' sums) over the first ``n`` examples of padded ``x, y``."""
    count = jax.tree.leaves(x)[0].shape[0] // chunk
    chunks = jax.tree.map(lambda a: a.reshape(count, chunk, *a.shape[1:]), (x, y))

    def chunk_sums(inputs):
        index, batch = inputs
        if placement is not None:
            batch = placement.constrain(batch)
        mask = index * chunk + jnp.arange(chunk) < n
        sums = functools.partial(objective.example_sums, params, state, batch, mask)
        if count == 1:
            return sums()
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(sums))
        return jax.lax.cond(index * chunk < n, sums, lambda: zeros)  # padding chunks: skipped

    per_chunk = jax.lax.map(chunk_sums, (jnp.arange(count), chunks))
    total = jax.tree.map(lambda v: jnp.sum(v, axis=0), per_chunk)
    return {name: v if objective.summed(name) else v / n.astype(v.dtype)
            for name, v in total.items()}


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

    The data are processed in chunks of ``batch_size``: each example's loss and metrics are
    summed and divided by the number of examples, so the result is the exact mean over the set.
    The set is padded to a bucket (a power-of-two number of chunks, or a power of two below
    ``batch_size``) and the padding left out of the sums, so sets of other sizes in the same
    bucket reuse one compilation. With a ``mesh``, each chunk is split over its devices (see
    ``fit``).

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
        params, state = placement.put((params, state))
    metrics = evaluate_arrays(objective, params, state,
                              evaluation_data(x, y, batch_size, placement), placement)
    return {name: objective.value(name, value) for name, value in metrics.items()}


def evaluate_arrays(objective: Objective, params: Params, state: State, data: EvaluationData,
                    placement: DataParallel | None = None) -> Metrics:
    """`evaluate` on prepared data, without waiting for the result."""
    leaves, treedef = jax.tree.flatten(objective)
    return _evaluation(treedef, data.chunk, placement, as_arguments(leaves), params, state,
                       data.x, data.y, np.int32(data.n))


# Compiled once per structure of the objective and bucket of the data: penalty strengths and
# other numbers in the objective, and the number of real examples, are arguments.
@caches.compiled
@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _evaluation(treedef, chunk, placement, leaves, params, state, x, y, n):
    objective = jax.tree.unflatten(treedef, leaves)
    return _evaluate(objective, chunk, params, state, x, y, n, placement)


def evaluate_group(plan: Plan, values: Any, runs: RunState, data: EvaluationData) -> Metrics:
    """Every configuration's evaluation (leading configuration axis), dispatched."""
    return _group_evaluation(plan, data.chunk, values, runs.params, runs.state, data.x, data.y,
                             np.int32(data.n))


@caches.compiled
@functools.partial(jax.jit, static_argnums=(0, 1))
def _group_evaluation(plan, chunk, values, params, state, x, y, n):
    def one(values, params, state):
        objective = plan.recipe.build(values[0])[0]
        return _evaluate(objective, chunk, params, state, x, y, n, plan.placement)

    return over_configs(one, plan)(values, params, state)
