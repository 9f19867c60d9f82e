"""Streamed training data: batches read on the host while the device trains on those before.

In-memory data (``(x, y)`` arrays) is placed on the device once and each epoch gathers its
batches there (``jaxnet.training.epoch``). A *stream* is read on the host instead, a chunk of
batches at a time, by a background thread that stays a few chunks ahead of the device, so a data
set never needs to fit in memory. Two kinds:

* a **random-access source**: ``len(source)`` and ``source[i] -> (x_i, y_i)`` (Grain's
  ``RandomAccessDataSource`` protocol: a ``grain.MapDataset``, ``jn.data.ArraySource`` over
  memory-mapped files), optionally with ``source.read(indices) -> (x, y)`` that reads a whole
  batch at once. The engine draws each epoch's order as it does for arrays in memory
  (``batch_order``, a function of the run's key and the epoch), so a streamed run trains on the
  very batches, and gives the very bits, of the in-memory run.
* a **function** ``batches(epoch, key)`` returning an iterable of ``(x, y)`` batches, a new one
  for each epoch: for anything else (a Grain ``IterDataset`` with worker processes, records on
  a network). Its order is its own; for an exact resume it must be a function of
  ``(epoch, key)``.

With several processes, each reads only its share of every global batch: of a random-access
source, its block of each batch's indices (process ``p`` of ``P`` reads rows
``p * B / P`` to ``(p + 1) * B / P``); a function yields its process's share itself.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import numpy as np

from jaxnet.validation import count_nonfinite


class StreamError(ValueError):
    """A stream gave a batch the engine cannot train on."""


def share(placement: Any) -> tuple[int, int]:
    """Which block of every global batch this process reads: all of it without a mesh."""
    if placement is None:
        return 0, 1
    return jax.process_index(), jax.process_count()


def is_stream(data: Any) -> bool:
    """Whether ``data`` is streamed (a random-access source or a function), not in memory."""
    if isinstance(data, (tuple, list)):
        return False
    return callable(data) or is_random_access(data)


def is_random_access(data: Any) -> bool:
    return hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(
        data, (tuple, list, dict, np.ndarray, jax.Array))


def refuse_iterator(data: Any, what: str) -> None:
    """A one-shot iterator cannot give an epoch twice: say what to pass instead."""
    if isinstance(data, Iterator) or (hasattr(data, "__next__") and hasattr(data, "__iter__")):
        raise TypeError(
            f"{what} is a one-shot iterator ({type(data).__name__}), but training reads its data "
            "once per epoch: pass a function (epoch, key) -> iterable of (x, y) batches that "
            "makes a new iterator for each epoch, or a random-access source (len() and "
            "source[i], e.g. jn.data.ArraySource or a grain.MapDataset), or (x, y) arrays")


@dataclasses.dataclass(frozen=True, eq=False)
class Stream:
    """A checked stream: where batches come from and how big they are.

    Attributes:
        data: the random-access source or the function.
        batch_size: examples in a global batch (all processes together).
        share: ``(index, count)``: this process reads block ``index`` of ``count`` of each
            batch (``(0, 1)`` on one process, or without a mesh).
    """

    data: Any
    batch_size: int
    share: tuple[int, int] = (0, 1)

    @property
    def random_access(self) -> bool:
        return is_random_access(self.data)

    @property
    def n_examples(self) -> int | None:
        return len(self.data) if self.random_access else None

    @property
    def n_batches(self) -> int | None:
        """Batches per epoch, when the source says (a random-access one does)."""
        return None if self.n_examples is None else self.n_examples // self.batch_size

    @property
    def local_batch(self) -> int:
        return self.batch_size // self.share[1]

    def read(self, indices: np.ndarray) -> tuple:
        """The examples at ``indices`` of a random-access source, as NumPy arrays."""
        reader = getattr(self.data, "read", None)
        if reader is not None:
            return jax.tree.map(np.asarray, reader(indices))
        return jax.tree.map(lambda *rows: np.stack([np.asarray(r) for r in rows]),
                            *[self.data[int(i)] for i in indices])

    def own(self, rows: np.ndarray) -> np.ndarray:
        """This process's block of ``rows`` along their last axis (all of them on one)."""
        index, count = self.share
        size = rows.shape[-1] // count
        return rows[..., index * size:(index + 1) * size]

    def batches(self, key: jax.Array, epoch: int) -> Iterator[tuple]:
        """A function's batches of the epoch (this process's share of each), in order."""
        batches = self.data(epoch, key)
        if not isinstance(batches, Iterable):
            raise TypeError(f"the training function returned {type(batches).__name__} for "
                            f"epoch {epoch + 1}; it must return an iterable of (x, y) batches")
        return iter(batches)

    def chunks(self, seed: tuple[int, ...], epoch: int, size: int) -> Iterator[tuple]:
        """A random-access source's epoch in chunks ``(chunk, start)``: this process's share of
        ``size`` consecutive batches, read in one ``read`` and shaped ``(k, batch, ...)``."""
        from jaxnet.training.epoch import batch_order  # the one rule for the order

        block = self.own(batch_order(seed, epoch, self.n_examples, self.batch_size))
        start = 0
        for count in chunk_sizes(len(block), size):
            batch = jax.tree.map(np.asarray, tuple(self.read(block[start:start + count].ravel())))
            yield jax.tree.map(lambda a, k=count: a.reshape(k, -1, *a.shape[1:]), batch), start
            start += count

    def first(self, key: jax.Array | None) -> tuple:
        """A first batch of this process's size, to check against the model before training: a
        random-access source's first examples, a function's first batch of epoch 1."""
        if self.random_access:
            return self.read(np.arange(self.local_batch))
        for batch in self.batches(key, 0):
            return batch
        raise StreamError("the training function yielded no batch in epoch 1: it must give "
                          f"batches of {self.local_batch} examples")


def stream(data: Any, batch_size: int, share: tuple[int, int], what: str) -> Stream:
    """``data`` checked as a stream of global batches of ``batch_size``."""
    refuse_iterator(data, what)
    if share[1] > 1 and batch_size % share[1]:
        raise ValueError(f"batch_size={batch_size} must be a multiple of the {share[1]} processes "
                         "that each read a share of every batch")
    source = Stream(data, batch_size, share)
    if source.random_access and source.n_examples < batch_size:
        raise ValueError(f"{what} holds {source.n_examples} examples, fewer than one batch of "
                         f"{batch_size}")
    return source


@dataclasses.dataclass
class BatchCheck:
    """Every batch of a stream against the first: same structure, shapes and dtypes, finite."""

    spec: Any
    what: str
    check_targets: Callable[[Any, str], None] | None = None

    def __call__(self, batch: Any, epoch: int, index: int) -> Any:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise StreamError(f"{self._where(epoch, index)} is a {type(batch).__name__}; "
                              "expected a pair (x, y) of arrays")
        batch = jax.tree.map(np.asarray, tuple(batch))
        spec = _spec(batch)
        if spec != self.spec:
            raise StreamError(
                f"{self._where(epoch, index)} has shapes {_shapes(spec)} but the first batch had "
                f"{_shapes(self.spec)}: every batch must have the same shapes and dtypes (drop "
                "or pad a last, smaller batch)")
        self._values(batch, batch[1], self._where(epoch, index), "holds")
        return batch

    def chunk(self, chunk: Any, epoch: int, start: int) -> Any:
        """A chunk of batches ``(k, batch, ...)`` read at once, checked as each batch would be
        (a random-access source's batches all come from one ``read``: one check serves)."""
        count = len(jax.tree.leaves(chunk)[0])
        where = f"batches {start + 1} to {start + count}" if count > 1 else f"batch {start + 1}"
        where = f"{self.what}: {where} of epoch {epoch + 1}"
        structure, leaves = self.spec
        got = [(leaf.shape[1:], leaf.dtype) for leaf in jax.tree.leaves(chunk)]
        if jax.tree.structure(chunk) != structure or got != list(leaves):
            raise StreamError(f"{where}: the source's batches have shapes "
                              f"{_shapes(_spec(jax.tree.map(lambda a: a[0], chunk)))} but the "
                              f"first batch had {_shapes(self.spec)}")
        labels = chunk[1]
        self._values(chunk, labels.reshape(-1, *labels.shape[2:]), where, "hold")
        return chunk

    def _values(self, batch: Any, labels: Any, where: str, verb: str) -> None:
        """Finite values everywhere, and labels the loss accepts."""
        for leaf in jax.tree.leaves(batch):
            if np.issubdtype(leaf.dtype, np.inexact) and count_nonfinite(leaf):
                raise StreamError(f"{where} {verb} NaN or infinite values")
        if self.check_targets is not None:
            self.check_targets(labels, where)

    def _where(self, epoch: int, index: int) -> str:
        return f"{self.what}: batch {index + 1} of epoch {epoch + 1}"


def _spec(batch: Any) -> Any:
    leaves, structure = jax.tree.flatten(batch)
    return structure, tuple((leaf.shape, leaf.dtype) for leaf in leaves)


def _shapes(spec: Any) -> str:
    structure, leaves = spec
    return str(jax.tree.unflatten(structure, [f"{dtype}{list(shape)}" for shape, dtype in leaves]))


def batch_spec(batch: Any) -> Any:
    return _spec(jax.tree.map(np.asarray, tuple(batch)))


def chunk_sizes(total: int, size: int) -> list[int]:
    """How ``total`` batches split into chunks of ``size``: the last may hold fewer, but never
    a lone batch after others (the chunk before takes it), since XLA compiles a loop of one
    step as that step alone, whose rounding may differ from the same step in a loop, and the
    in-memory epoch runs every step in its loop.

    Example:
        >>> chunk_sizes(9, 4), chunk_sizes(10, 4), chunk_sizes(3, 16), chunk_sizes(3, 1)
        ([4, 5], [4, 4, 2], [3], [1, 1, 1])
    """
    sizes, rest = [size] * (total // size), total % size
    if rest == 1 and sizes and size > 1:
        sizes[-1] += 1
    elif rest:
        sizes.append(rest)
    return sizes


def chunks(batches: Iterator[tuple], size: int) -> Iterator[tuple[Any, int]]:
    """Consecutive batches (of a stream whose length is not known) stacked ``size`` at a time,
    each chunk with the number of batches before it; the last may hold fewer."""
    start = 0
    while True:
        group = []
        for batch in batches:
            group.append(batch)
            if len(group) == size:
                break
        if not group:
            return
        yield jax.tree.map(lambda *leaves: np.stack(leaves), *group), start
        start += len(group)


class Prefetch:
    """An iterator read by a background thread, ``depth`` items ahead of its consumer.

    Exceptions in the thread reach the consumer at the item where they happened; ``close`` stops
    the thread (the consumer stops early: patience, an error) without leaving it blocked.
    """

    _END = object()

    def __init__(self, items: Iterator[Any], depth: int = 2,
                 prepare: Callable[[Any], Any] | None = None):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items, prepare), daemon=True,
                                        name="jaxnet-prefetch")
        self._thread.start()

    def _run(self, items, prepare) -> None:
        try:
            for item in items:
                if self._closed.is_set():
                    return
                self._put((prepare(item) if prepare else item, None))
        except BaseException as error:  # re-raised in the consumer
            self._put((None, error))
            return
        self._put((self._END, None))

    def _put(self, entry) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Prefetch:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                item, error = self._queue.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise StreamError("the thread reading the training data ended without a "
                                      "word") from None
        if error is not None:
            self.close()
            raise error
        if item is self._END:
            self.close()
            raise StopIteration
        return item

    def close(self) -> None:
        self._closed.set()
