"""Evaluation: the objective's loss and metrics over a whole data set, in evaluation mode."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxnet.objective import Objective
from jaxnet.parallel import DataParallel, data_parallel
from jaxnet.training import caches
from jaxnet.training.checks import check_evaluation_args, evaluation_input, examples_in
from jaxnet.training.epoch import Plan, over_configs
from jaxnet.training.hyperparams import as_arguments
from jaxnet.training.run_state import Batch, Metrics, Params, RunState, State
from jaxnet.training.source import Prefetch, Stream, share

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


def _evaluate(objective: Objective, chunk: int, params, state, x, y, n, total,
              placement: DataParallel | None = None) -> Metrics:
    """Sums over the first ``n`` examples of padded ``x, y``, divided by ``total`` (counted
    metrics' sums are not divided): the means over the set when ``total`` is ``n``, a part of
    them for a part of a set read in chunks."""
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
    sums = jax.tree.map(lambda v: jnp.sum(v, axis=0), per_chunk)
    return {name: v if objective.summed(name) else v / total.astype(v.dtype)
            for name, v in sums.items()}


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
    ``fit``). ``data`` may also be a random-access source (``len(source)``, ``source[i]``,
    e.g. ``jn.data.source("mnist", "test")``), read in order a chunk at a time, never whole.

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
    placement = data_parallel(mesh, mesh_axis)
    data = evaluation_input(objective, params, state, data, share(placement), "data")
    if isinstance(data, Stream):
        prepared = streamed_evaluation_data(data, batch_size, placement)
    else:
        prepared = evaluation_data(*data, batch_size, placement)
    if placement is not None:
        params, state = placement.put((params, state))
    metrics = evaluate_arrays(objective, params, state, prepared, placement)
    return {name: objective.value(name, value) for name, value in metrics.items()}


def evaluate_arrays(objective: Objective, params: Params, state: State, data: EvaluationData,
                    placement: DataParallel | None = None) -> Metrics:
    """`evaluate` on prepared data, without waiting for the result."""
    leaves, treedef = jax.tree.flatten(objective)
    if isinstance(data, StreamedData):
        return _summed(_evaluation(treedef, data.chunk, placement, as_arguments(leaves), params,
                                   state, x, y, np.int32(n), np.int32(data.n))
                       for x, y, n in data.chunks())
    return _evaluation(treedef, data.chunk, placement, as_arguments(leaves), params, state,
                       data.x, data.y, np.int32(data.n), np.int32(data.n))


# Compiled once per structure of the objective and bucket of the data: penalty strengths and
# other numbers in the objective, and the number of real examples, are arguments.
@caches.compiled
@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _evaluation(treedef, chunk, placement, leaves, params, state, x, y, n, total):
    objective = jax.tree.unflatten(treedef, leaves)
    return _evaluate(objective, chunk, params, state, x, y, n, total, placement)


def evaluate_group(plan: Plan, values: Any, runs: RunState, data: EvaluationData) -> Metrics:
    """Every configuration's evaluation (leading configuration axis), dispatched."""
    if isinstance(data, StreamedData):
        return _summed(_group_evaluation(plan, data.chunk, values, runs.params, runs.state, x, y,
                                         np.int32(n), np.int32(data.n))
                       for x, y, n in data.chunks())
    return _group_evaluation(plan, data.chunk, values, runs.params, runs.state, data.x, data.y,
                             np.int32(data.n), np.int32(data.n))


@caches.compiled
@functools.partial(jax.jit, static_argnums=(0, 1))
def _group_evaluation(plan, chunk, values, params, state, x, y, n, total):
    def one(values, params, state):
        objective = plan.recipe.build(values[0])[0]
        return _evaluate(objective, chunk, params, state, x, y, n, total, plan.placement)

    return over_configs(one, plan)(values, params, state)


@dataclasses.dataclass(frozen=True, eq=False)
class StreamedData:
    """A random-access source evaluated in order, ``chunk`` examples at a time, read ahead by a
    thread: the set never needs to be in memory. Each process reads its share of every chunk."""

    stream: Stream
    n: int
    chunk: int
    placement: DataParallel | None

    def chunks(self) -> Iterator[tuple[Any, Any, int]]:
        """``(x, y, real examples)`` of each chunk, placed; the last chunk padded by repeating
        the set's last example."""
        def read():
            for start in range(0, self.n, self.chunk):
                rows = np.minimum(np.arange(start, start + self.chunk), self.n - 1)
                x, y = self.stream.read(self.stream.own(rows))
                yield x, y, min(self.chunk, self.n - start)

        def place(item):
            x, y, n = item
            if self.placement is None:
                return (*jax.device_put((x, y)), n)
            return (*self.placement.gather_shares((x, y)), n)

        return Prefetch(read(), prepare=place)


def streamed_evaluation_data(stream: Stream, batch_size: int = EVAL_BATCH,
                             placement: DataParallel | None = None) -> StreamedData:
    """A random-access ``stream`` ready for evaluation in chunks of ``batch_size`` examples (a
    power of two below it for a smaller set, and a multiple of the processes)."""
    n = stream.n_examples
    chunk, _ = evaluation_shape(n, batch_size)
    processes = stream.share[1]
    return StreamedData(stream, n, -(-chunk // processes) * processes, placement)


def _summed(parts: Iterable[Metrics]) -> Metrics:
    """The sum of the metrics of a set's chunks (each already divided by the set's size)."""
    total = None
    for part in parts:
        total = part if total is None else jax.tree.map(jnp.add, total, part)
    return total
