"""The streamed driver: an epoch whose batches come from the host, a chunk at a time.

The batches of a stream (``jaxnet.training.source``) are read by a background thread, stacked
into chunks of ``chunk`` batches and transferred to the device ahead of the steps that need them;
each chunk runs as one compiled ``lax.scan`` over its batches (one batch: one jitted step, as
convolutions on a CPU want; see ``jaxnet.training.epoch``). At most ``AHEAD`` chunks are in flight
on the device, so the host never piles up an epoch of batches there.

The steps are ``step``'s, the keys those of the in-memory epoch (``step_keys``: a function of
the run's key, the absolute epoch and the step), so a random-access source read in the engine's
order trains exactly as the same examples held in memory.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet.parallel import DataParallel
from jaxnet.training import caches
from jaxnet.training.epoch import Plan, finish_host_epoch, over_configs
from jaxnet.training.run_state import RunState
from jaxnet.training.source import BatchCheck, Prefetch, Stream, StreamError, chunks
from jaxnet.training.step import start_carry, step

# Chunks dispatched ahead of the one the device runs; batches per chunk, at most (see
# docs/benchmarks.md, "Streamed data": chunks of 16 batches through one scan against one
# dispatch per batch), and fewer when a chunk would exceed CHUNK_BYTES: the host and the device
# hold a few chunks each, so this bounds the memory a stream takes.
AHEAD = 2
CHUNK = 16
CHUNK_BYTES = 16 * 2**20


def chunk_size(check: BatchCheck, configs: int) -> int:
    """Batches per chunk for batches like the checked first one, ``configs`` at a time."""
    _, leaves = check.spec
    batch = configs * sum(int(np.prod(shape)) * np.dtype(dtype).itemsize
                          for shape, dtype in leaves)
    return max(min(2, CHUNK), min(CHUNK, CHUNK_BYTES // max(batch, 1)))


def chunk_keys(key: jax.Array, epoch: jax.Array, n_batches: int | None, start: jax.Array,
               size: int) -> jax.Array:
    """The keys of steps ``start`` to ``start + size`` of the epoch: those of ``step_keys`` when
    the epoch's length is known, else one folded in per step."""
    epoch_key = jax.random.fold_in(key, epoch)
    if n_batches is not None:
        keys = jax.random.split(epoch_key, n_batches)
        return jax.lax.dynamic_slice_in_dim(keys, start, size)
    return jax.vmap(lambda i: jax.random.fold_in(epoch_key, i))(start + jnp.arange(size))


@caches.compiled
@functools.partial(jax.jit, static_argnums=0)
def _stream_start(plan: Plan, runs: RunState):
    return over_configs(lambda _, run: start_carry(run, plan.guarded), plan)(None, runs)


@caches.compiled
@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _stream_steps(plan: Plan, n_batches: int | None, host: bool, values: Any, runs: RunState,
                  carry: Any, batches: Any, start: jax.Array):
    """Every configuration's steps over its chunk of batches ``(chunk, batch, ...)``: one
    ``lax.scan``, or with ``host`` (chunks of one batch) the step alone, as the in-memory
    host-dispatched epoch runs it (a step compiled alone may round differently from the same
    step in a loop's body, so each path matches its in-memory twin bit for bit)."""
    def one(values, run, carry, batches):
        objective, optimizer = plan.recipe.build(values[0])
        body = functools.partial(step, objective, optimizer, values[1], plan.guarded)
        size = jax.tree.leaves(batches)[0].shape[0]
        keys = chunk_keys(run.key, run.epoch, n_batches, start, size)
        if plan.placement is not None:
            batches = plan.placement.constrain(batches, leading=1)
        if host:
            carry, outputs = body(carry, (jax.tree.map(lambda a: a[0], batches), keys[0]))
            return carry, jax.tree.map(lambda a: a[None], outputs)
        return jax.lax.scan(body, carry, (batches, keys))

    return over_configs(one, plan)(values, runs, carry, batches)


def read_epoch(stream: Stream, seeds: tuple, keys: tuple, epoch: int, size: int,
               check: BatchCheck, place: Callable[[Any], Any]) -> Prefetch:
    """The epoch's chunks of every configuration's batches, stacked ``(configs, chunk,
    batch, ...)`` and placed, read ahead by a thread. Configurations with the same key read
    their batches once."""
    unique = list(dict.fromkeys(seeds))
    rows = [unique.index(seed) for seed in seeds]

    def checked(seed_index):
        seed = unique[seed_index]
        if stream.random_access:
            for chunk, start in stream.chunks(seed, epoch, size):
                yield check.chunk(chunk, epoch, start), start
            return
        batches = stream.batches(keys[seeds.index(seed)], epoch)
        yield from chunks((check(batch, epoch, index) for index, batch in enumerate(batches)),
                          size)

    def together() -> Iterator[Any]:
        readers = [checked(u) for u in range(len(unique))]
        for parts in zip(*readers):
            start, lengths = parts[0][1], {len(jax.tree.leaves(p[0])[0]) for p in parts}
            if len(lengths) > 1:
                raise StreamError(f"epoch {epoch + 1}: the configurations' streams gave "
                                  "different numbers of batches")
            if len(rows) == 1:  # one configuration: a view with its axis, no copy
                stacked = jax.tree.map(lambda leaf: leaf[None], parts[0][0])
            else:
                stacked = jax.tree.map(lambda *leaves: np.stack([leaves[r] for r in rows]),
                                       *[p[0] for p in parts])
            yield stacked, start

    return Prefetch(together(), depth=AHEAD, prepare=lambda item: (place(item[0]), item[1]))


def placer(placement: DataParallel | None, split_configs: bool) -> Callable[[Any], Any]:
    """How a chunk read on the host goes to the device: whole, split over the mesh by its
    batch axis (each process gave its share), or by its configuration axis (a sweep)."""
    if placement is None:
        return jax.device_put
    if split_configs:
        return functools.partial(placement.put, sharding=placement.split())
    return functools.partial(placement.gather_shares, leading=2)


def begin_stream_epoch(plan: Plan, values: Any, runs: RunState, reader: Prefetch,
                       n_batches: int | None, epoch: int, host: bool) -> Callable[[], tuple]:
    """Dispatches the epoch's first chunk and returns the function that dispatches the rest and
    gives the epoch's outputs, as ``begin_host_epoch`` does."""
    carry = _stream_start(plan, runs)
    metrics, ran = [], []
    in_flight: collections.deque = collections.deque()

    def dispatch(chunk, start):
        nonlocal carry
        carry, (chunk_metrics, chunk_ran) = _stream_steps(plan, n_batches, host, values, runs,
                                                          carry, chunk, np.int32(start))
        metrics.append(chunk_metrics)
        ran.append(chunk_ran)
        in_flight.append(chunk_ran)
        if len(in_flight) > AHEAD:  # keep the device's queue, and its memory, short
            in_flight.popleft().block_until_ready()

    try:
        first = next(reader, None)
        if first is None:
            raise StreamError(
                f"the training source yielded no batch in epoch {epoch + 1} (a function that "
                "returns the same, exhausted iterator every epoch? return a new one)")
        dispatch(*first)
    except BaseException:
        reader.close()
        raise

    def complete():
        try:
            for chunk, start in reader:
                dispatch(chunk, start)
        finally:
            reader.close()
        if n_batches is not None and sum(r.shape[1] for r in ran) != n_batches:
            raise StreamError(f"epoch {epoch + 1} gave {sum(r.shape[1] for r in ran)} batches; "
                              f"the source promised {n_batches}")
        return finish_host_epoch(plan, True, runs, carry, metrics, ran)

    complete.close = reader.close  # for an epoch dispatched and then not needed
    return complete
