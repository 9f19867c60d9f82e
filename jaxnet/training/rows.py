"""Rows of a group's stacked run states, kept where they are between the segments of a search.

A schedule (``halving``, ``pbt``) trains a sweep in segments; between two segments it decides
which configurations go on and which copy another's run. Each configuration's run is a ``Row``:
a row of the stacked run states that its last segment returned, left on the device. The next
segment's group is gathered from the rows it needs along the configuration axis (one ``take``
per source, on the device), a copy being a row that keeps the key of another; the host reads the
runs only at the end, once per source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet.training import caches
from jaxnet.training.run_state import RunState
from jaxnet.training.stacking import unstack


@dataclasses.dataclass(frozen=True, eq=False)
class Row:
    """Row ``index`` of the stacked ``runs``; with ``key_of``, the key of that row instead of
    its own (a PBT member that copies another's run keeps its own key)."""

    runs: RunState
    index: int
    key_of: Row | None = None

    def keeping_key_of(self, other: Row) -> Row:
        """This row's run with ``other``'s key."""
        return Row(self.runs, self.index, other)


def rows_of(runs: RunState, count: int) -> list[Row]:
    """The first ``count`` rows of ``runs``."""
    return [Row(runs, index) for index in range(count)]


def gather(rows: Sequence[Row]) -> RunState:
    """The rows' run states stacked along a new configuration axis, gathered on the device;
    counters, statuses and early stopping's numbers on the host, as a new group's are."""
    runs = _gathered([(row.runs, row.index) for row in rows])
    if any(row.key_of is not None for row in rows):
        keys = _gathered([((row.key_of or row).runs, (row.key_of or row).index)
                          for row in rows])
        runs = dataclasses.replace(runs, key=keys.key)
    host = jax.device_get((runs.epoch, runs.step, runs.status))
    stopping = runs.stopping
    if stopping is not None:
        numbers = jax.device_get((stopping.best, stopping.waited, stopping.best_epoch))
        stopping = dataclasses.replace(stopping, best=numbers[0], waited=numbers[1],
                                       best_epoch=numbers[2])
    return dataclasses.replace(runs, epoch=host[0], step=host[1], status=host[2],
                               stopping=stopping)


def read(rows: Sequence[Row]) -> list[RunState]:
    """Each row's run state, on its own (no configuration axis): one gather and one read
    through the host per stack, since stacks of different groups differ in structure."""
    found: list[RunState | None] = [None] * len(rows)
    done: set[int] = set()
    for k, row in enumerate(rows):
        if k in done:
            continue
        mine = [j for j, other in enumerate(rows) if other.runs is row.runs]
        for j, run in zip(mine, unstack(gather([rows[j] for j in mine]), len(mine))):
            found[j] = run
        done.update(mine)
    return found


def _gathered(sources: Sequence[tuple[RunState, int]]) -> RunState:
    """``sources`` (stacked runs and a row of them) stacked: one ``take`` per distinct stack,
    then, from several stacks, one more to put the rows in order."""
    stacks: list[RunState] = []
    for runs, _ in sources:
        if not any(runs is seen for seen in stacks):
            stacks.append(runs)
    if len(stacks) == 1:
        return _take(stacks[0], np.asarray([index for _, index in sources], np.int32))
    parts, positions, start = [], {}, 0
    for stack in stacks:
        mine = [(k, index) for k, (runs, index) in enumerate(sources) if runs is stack]
        parts.append(_take(stack, np.asarray([index for _, index in mine], np.int32)))
        positions.update({k: start + offset for offset, (k, _) in enumerate(mine)})
        start += len(mine)
    joined = jax.tree.map(lambda *leaves: jnp.concatenate(leaves), *parts)
    return _take(joined, np.asarray([positions[k] for k in range(len(sources))], np.int32))


@caches.compiled
@jax.jit
def _take(tree: Any, indices: jax.Array) -> Any:
    return jax.tree.map(lambda a: jnp.take(a, indices, axis=0), tree)
