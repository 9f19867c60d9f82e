"""The drivers: how the steps of an epoch run, for every configuration of a group at once.

An epoch is a pure function ``(runs, x, y, orders) -> (runs, metrics, info)`` over run states
with a leading configuration axis. Drivers decide only how ``step``
runs, never what it does:

* the *scanned* epoch compiles one ``lax.scan`` over the epoch's batches;
* the *host-dispatched* epoch (``begin_host_epoch``) jits one step and dispatches it from the
  host, batch after batch, without waiting for the device: XLA:CPU compiles convolutions inside
  a loop body into slow layouts (jax-ml/jax#12868), so convolutional models on a CPU run so;
* over the configuration axis, one configuration alone runs as it is (the axis squeezed inside
  the program), several run side by side (``vmap``) or in turn (``lax.map``), ``side`` at a
  time.

Each driver has an *optimistic* version, unguarded, checked once at the epoch's end, and a
*guarded* one that checks every step (see ``step``); the monitor
replays a failed epoch from its saved start with the guarded version. Randomness is a function
of the run's key, the absolute epoch and the step within it, so the replay, a resumed run and a
configuration of a sweep see the bits of the run they stand for. The batch order is drawn on the
host (``batch_order``), where NumPy shuffles while the device is busy.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet.parallel import DataParallel
from jaxnet.training import caches
from jaxnet.training.run_state import RUNNING, RunState
from jaxnet.training.step import Carry, end_epoch, start_carry, step


def key_seed(key: jax.Array) -> tuple[int, ...]:
    """The words of a typed key, read to the host once: the seed of its batch orders."""
    return caches.KEY_WORDS.get(key, lambda k: tuple(
        int(word) for word in np.asarray(jax.random.key_data(k)).ravel()))


def batch_order(seed: tuple[int, ...], epoch: int, n_examples: int,
                batch_size: int) -> np.ndarray:
    """The example indices of an epoch's batches, ``(n_examples // batch_size, batch_size)``.

    A function of the run's key (its ``key_seed``) and the absolute epoch only, never of how
    many epochs this call has run: an interrupted and resumed run draws what an uninterrupted one
    draws. Drawn by NumPy's PCG64 generator, seeded by a ``SeedSequence`` of the key's words and
    the epoch; the remainder of ``n_examples`` is left out of the epoch.

    Example:
        >>> order = batch_order(key_seed(jax.random.key(0)), 3, n_examples=10, batch_size=4)
        >>> order.shape, len(set(order.ravel().tolist()))
        ((2, 4), 8)
    """
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([*seed, epoch])))
    n_batches = n_examples // batch_size
    order = generator.permutation(n_examples)[: n_batches * batch_size]
    return order.astype(np.int32).reshape(n_batches, batch_size)


def step_keys(key: jax.Array, epoch: jax.Array, n_batches: int) -> jax.Array:
    """One key per step of the epoch, a function of the run's key and the absolute epoch."""
    return jax.random.split(jax.random.fold_in(key, epoch), n_batches)


def take(data: Any, indices: jax.Array) -> Any:
    """The examples at ``indices`` (any shape) of every array in ``data``."""
    return jax.tree.map(lambda a: jnp.take(a, indices, axis=0), data)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a compiled epoch of a group is built from (hashable: a static argument of jit).

    Attributes:
        recipe: what builds the objective and optimizer from the numbers, which are arguments
            (see ``jaxnet.training.hyperparams``).
        count: configurations in the group (padding included).
        side: how many run side by side: None for all (``vmap``), else ``lax.map`` in batches.
        guarded: the per-step guard.
        placement: split each batch over a mesh (data parallelism), or None.
    """

    recipe: Any
    count: int
    side: int | None
    guarded: bool = False
    placement: DataParallel | None = None

    def __hash__(self):  # jit hashes its static arguments at every call: once is enough
        if "_hash" not in self.__dict__:
            object.__setattr__(self, "_hash", hash((self.recipe, self.count, self.side,
                                                    self.guarded, self.placement)))
        return self.__dict__["_hash"]

    def guard(self) -> Plan:
        return dataclasses.replace(self, guarded=True)


def over_configs(fn: Callable, plan: Plan) -> Callable:
    """``fn(values, *mapped)`` applied to each configuration along the leading axis of every
    ``mapped`` argument (and of ``values`` when there are several configurations)."""
    if plan.count == 1:
        def alone(values, *mapped):
            outputs = fn(values, *jax.tree.map(lambda a: a[0], mapped))
            return jax.tree.map(lambda a: a[None], outputs)

        return alone
    if plan.side is None:
        return jax.vmap(fn)
    return lambda *args: jax.lax.map(lambda inputs: fn(*inputs), args,
                                     batch_size=None if plan.side == 1 else plan.side)


def _batch(plan: Plan, x: Any, y: Any, indices: jax.Array) -> Any:
    batch = take((x, y), indices)
    return batch if plan.placement is None else plan.placement.constrain(batch)


def _kept_if_stopped(plan: Plan, start: RunState, new: RunState) -> RunState:
    """A configuration that was not running keeps its state (several configurations only:
    one alone is never dispatched once it stops)."""
    if plan.count == 1:
        return new
    frozen = start.status != RUNNING
    keep = functools.partial(jax.tree.map, lambda a, b: jnp.where(frozen, b, a))
    return dataclasses.replace(new, params=keep(new.params, start.params),
                               state=keep(new.state, start.state),
                               opt_state=keep(new.opt_state, start.opt_state),
                               epoch=jnp.where(frozen, start.epoch, new.epoch),
                               step=jnp.where(frozen, start.step, new.step),
                               status=jnp.where(frozen, start.status, new.status))


@caches.compiled
@functools.partial(jax.jit, static_argnums=0)
def scanned_epoch(plan: Plan, values: Any, runs: RunState, x: Any, y: Any, orders: jax.Array):
    """Every configuration's epoch, each one ``lax.scan`` over its batches."""
    def one(values, run, order):
        objective, optimizer = plan.recipe.build(values[0])
        body = functools.partial(step, objective, optimizer, values[1], plan.guarded)
        keys = step_keys(run.key, run.epoch, order.shape[0])
        if plan.side == 1:
            # One configuration at a time: its batches are gathered a chunk at a time (a copy of
            # a chunk, never of the epoch), each chunk scanned as a stream's chunk is.
            return _chunked_epoch(plan, body, run, x, y, order, keys)
        else:
            # Side by side, each batch is gathered in its step: no copy of the data per config.
            batches = order

            def scan_body(carry, inputs):
                indices, key = inputs
                return body(carry, (_batch(plan, x, y, indices), key))

        carry, (metrics, ran) = jax.lax.scan(scan_body, start_carry(run, plan.guarded),
                                             (batches, keys))
        new, metrics, info = end_epoch(run, carry, metrics, ran, plan.guarded)
        return _kept_if_stopped(plan, run, new), metrics, info

    return over_configs(one, plan)(values, runs, orders)


def gather_chunk(n_batches: int, most: int = 16) -> int:
    """Batches gathered at a time by an epoch in turn: the largest divisor of the epoch's
    batches up to ``most``, so that one scan over equal chunks runs the whole epoch."""
    return max(d for d in range(1, min(most, n_batches) + 1) if n_batches % d == 0)


def _chunked_epoch(plan, body, run, x, y, order, keys):
    n_batches = order.shape[0]
    size = gather_chunk(n_batches)

    def chunk_body(carry, inputs):
        indices, chunk_keys = inputs
        batches = take((x, y), indices)
        if plan.placement is not None:
            batches = plan.placement.constrain(batches, leading=1)
        return jax.lax.scan(body, carry, (batches, chunk_keys))

    carry, (metrics, ran) = jax.lax.scan(
        chunk_body, start_carry(run, plan.guarded),
        (order.reshape(n_batches // size, size, -1), keys.reshape(n_batches // size, size)))
    metrics, ran = jax.tree.map(lambda a: a.reshape(n_batches, *a.shape[2:]), (metrics, ran))
    new, metrics, info = end_epoch(run, carry, metrics, ran, plan.guarded)
    return _kept_if_stopped(plan, run, new), metrics, info


@caches.compiled
@functools.partial(jax.jit, static_argnums=0)
def _host_start(plan: Plan, runs: RunState, orders: jax.Array) -> tuple[Carry, jax.Array]:
    def one(_, run, order):
        return start_carry(run, plan.guarded), step_keys(run.key, run.epoch, order.shape[0])

    return over_configs(one, plan)(None, runs, orders)


@caches.compiled
@functools.partial(jax.jit, static_argnums=0)
def _host_step(plan: Plan, values: Any, carry: Carry, x: Any, y: Any, orders: jax.Array,
               keys: jax.Array, index: jax.Array):
    def one(values, carry, order, keys):
        objective, optimizer = plan.recipe.build(values[0])
        return step(objective, optimizer, values[1], plan.guarded, carry,
                    (_batch(plan, x, y, order[index]), keys[index]))

    return over_configs(one, plan)(values, carry, orders, keys)


@caches.compiled
@functools.partial(jax.jit, static_argnums=(0, 1))
def finish_host_epoch(plan: Plan, chunked: bool, runs: RunState, carry: Carry, metrics: list,
                      ran: list):
    """The epoch's outputs from its dispatches' carry and outputs: one step's each, or
    (``chunked``) a chunk of steps' each."""
    join = jnp.concatenate if chunked else jnp.stack
    metrics = jax.tree.map(lambda *steps: join(steps, axis=1), *metrics)
    ran = join(ran, axis=1)

    def one(_, run, carry, metrics, ran):
        new, metrics, info = end_epoch(run, carry, metrics, ran, plan.guarded)
        return _kept_if_stopped(plan, run, new), metrics, info

    return over_configs(one, plan)(None, runs, carry, metrics, ran)


def begin_host_epoch(plan: Plan, values: Any, runs: RunState, x: Any, y: Any,
                     orders: Any) -> Callable[[], tuple]:
    """Dispatches the first step of ``scanned_epoch``'s epoch, run one jitted step at a
    time from the host, and returns the function that dispatches the rest and gives the
    outputs. The monitor reads the previous epoch in between, while the device already has
    this one's first step, so each epoch's recorded time stays its own (XLA:CPU runs small
    programs as they are dispatched)."""
    carry, keys = _host_start(plan, runs, orders)
    metrics, ran = [], []

    def dispatch(indices):
        nonlocal carry
        for index in indices:
            carry, (step_metrics, step_ran) = _host_step(plan, values, carry, x, y, orders, keys,
                                                         np.int32(index))
            metrics.append(step_metrics)
            ran.append(step_ran)

    dispatch(range(1))

    def complete():
        dispatch(range(1, orders.shape[1]))
        return finish_host_epoch(plan, False, runs, carry, metrics, ran)

    return complete


def run_epoch(plan: Plan, host: bool, values: Any, runs: RunState, x: Any, y: Any,
              orders: Any) -> Callable[[], tuple]:
    """Dispatches an epoch with the chosen driver; returns the function that gives its outputs
    (a scanned epoch is already wholly dispatched)."""
    if host:
        return begin_host_epoch(plan, values, runs, x, y, orders)
    outputs = scanned_epoch(plan, values, runs, x, y, orders)
    return lambda: outputs


def runs_on_host(objective: Any, params: Any, state: Any, x: Any) -> bool:
    """Whether this model's steps are dispatched from the host: on a CPU, when the model
    convolves (decided from its traced computation, once per model structure)."""
    if jax.default_backend() != "cpu":
        return False
    example = jax.tree.map(lambda a: jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype), x)
    key = (objective.model, caches.signature((params, state, example)))
    return caches.CONVOLVES.get(key, lambda: _convolves(objective, params, state, example))


def _convolves(objective, params, state, example) -> bool:
    jaxpr = jax.make_jaxpr(lambda p, s, xs: objective.model.apply(p, s, xs)[0])(
        params, state, example)
    return "conv_general_dilated" in str(jaxpr)
