"""Rows of stacked run states: gathered on the device along the configuration axis, from one
stack or several, a copy keeping another row's key."""

import jax
import numpy as np

from jaxnet.training.rows import gather, rows_of
from jaxnet.training.run_state import RUNNING, RunState, Stopping


def stacked(first: int, count: int) -> RunState:
    """``count`` run states whose parameters and keys number them ``first``, ``first + 1``..."""
    numbers = np.arange(first, first + count)
    keys = jax.vmap(jax.random.key)(numbers)
    zeros = np.zeros(count, np.int32)
    return RunState({"w": numbers.astype(np.float32)[:, None] * np.ones((count, 3))}, {},
                    (), zeros + 2, zeros + 10, keys, zeros + RUNNING,
                    Stopping(numbers.astype(np.float32), zeros, zeros + 1))


def numbers(runs: RunState) -> list[int]:
    return [int(v) for v in np.asarray(runs.params["w"])[:, 0]]


def key_numbers(runs: RunState) -> list[int]:
    return [int(np.asarray(jax.random.key_data(k))[-1]) for k in runs.key]


def test_rows_of_one_stack_are_gathered_in_the_order_asked():
    a = rows_of(stacked(0, 4), 4)
    runs = gather([a[3], a[1], a[1]])
    assert numbers(runs) == [3, 1, 1] and key_numbers(runs) == [3, 1, 1]
    assert isinstance(runs.status, np.ndarray) and list(runs.step) == [10, 10, 10]
    assert isinstance(runs.stopping.best, np.ndarray) and list(runs.stopping.best) == [3, 1, 1]


def test_rows_of_several_stacks_keep_their_order():
    a, b = rows_of(stacked(0, 3), 3), rows_of(stacked(10, 2), 2)
    runs = gather([b[1], a[0], b[0], a[2]])
    assert numbers(runs) == [11, 0, 10, 2] and key_numbers(runs) == [11, 0, 10, 2]


def test_a_copy_takes_the_run_of_one_row_and_the_key_of_another():
    a, b = rows_of(stacked(0, 2), 2), rows_of(stacked(10, 2), 2)
    runs = gather([b[0].keeping_key_of(a[1]), a[0]])
    assert numbers(runs) == [10, 0] and key_numbers(runs) == [1, 0]
