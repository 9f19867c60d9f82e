"""Sweeps: many configurations of one training run as one compiled, vmapped program.

``jn.sweep(setup, configs, data, ...)`` calls ``setup(**config)`` for every configuration; each
call returns a :class:`Trial` (objective, optimizer, initial parameters and state, key). The
numbers inside the objectives and optimizers (learning rates, penalty strengths, dropout rates,
any float) are taken out by :mod:`jaxnet.training.hyperparams` and stacked along a leading
configuration axis, with the parameters, states and keys; the compiled epoch of ``fit`` is then
``vmap``-ped over that axis. Configurations whose structure differs (another hidden width, another
optimizer) form separate groups, each one vmapped program, each configuration exactly the model
it describes.

Early stopping acts per configuration: a configuration stopped by patience, by the epsilon rule
or by a non-finite value keeps its parameters while the others go on, and a non-finite
configuration is replayed under the per-step guard like ``fit``'s, so it keeps the last
parameters whose loss was finite.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxnet.training.checks import _signature, check_data, check_fit_args, examples_in
from jaxnet.training.epoch import batch_order, key_seed, make_epoch
from jaxnet.training.evaluate import _evaluate, evaluation_data
from jaxnet.training.hyperparams import merge, split
from jaxnet.training.objective import Objective, epoch_record
from jaxnet.training.placement import data_parallel
from jaxnet.training.progress import Progress
from jaxnet.training.run_state import (
    NONFINITE,
    RUNNING,
    STOPPED,
    Params,
    RunState,
    State,
    improves,
    start_run,
)
from jaxnet.training.step import init_optimizer


@dataclasses.dataclass(frozen=True)
class Trial:
    """One configuration's training run, as ``setup(**config)`` returns it."""

    objective: Objective
    optimizer: optax.GradientTransformation
    params: Params
    state: State
    key: jax.Array


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Every combination of the given values, the last axis varying fastest.

    Example:
        >>> for config in grid(lr=[0.1, 0.01], seed=[0, 1]):
        ...     print(config)
        {'lr': 0.1, 'seed': 0}
        {'lr': 0.1, 'seed': 1}
        {'lr': 0.01, 'seed': 0}
        {'lr': 0.01, 'seed': 1}
    """
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid axis {name!r} must be a non-empty list of values, got "
                             f"{values!r}")
    names = list(axes)
    return [dict(zip(names, combination)) for combination in itertools.product(*axes.values())]


def zipped(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Configurations taken position by position from lists of equal length.

    Example:
        >>> zipped(lr=[0.1, 0.01], l2=[0.0, 1e-4])
        [{'lr': 0.1, 'l2': 0.0}, {'lr': 0.01, 'l2': 0.0001}]
    """
    lengths = {name: len(values) for name, values in axes.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"zipped needs lists of one length, got lengths {lengths}")
    names = list(axes)
    return [dict(zip(names, values)) for values in zip(*axes.values())]


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What ``sweep`` returns: one entry per configuration, in the order of ``configs``.

    Attributes:
        configs: the configurations.
        params, state: each configuration's final parameters and state.
        histories: each configuration's history (as ``fit``'s; a stopped configuration's ends
            where it stopped).
        stop_reasons: ``"epochs"``, ``"patience"``, ``"converged"`` or ``"nonfinite"``.
        steps: optimizer steps behind each configuration's parameters.
    """

    configs: list[dict[str, Any]]
    params: list[Params]
    state: list[State]
    histories: list[dict[str, list[float]]]
    stop_reasons: list[str]
    steps: list[int]

    def table(self) -> list[dict[str, Any]]:
        """One row per configuration: its values, its last epoch's metrics and how it ended."""
        return [{**config, **{name: values[-1] for name, values in history.items() if values},
                 "epochs": len(history.get("loss", [])), "stop_reason": reason}
                for config, history, reason in zip(self.configs, self.histories,
                                                   self.stop_reasons)]

    def best(self, metric: str = "val_loss", mode: str | None = None) -> int:
        """The index of the configuration with the best final ``metric``; ``mode`` is ``"min"``
        or ``"max"``, by default ``"max"`` for accuracies and ``"min"`` otherwise."""
        mode = mode or ("max" if "accuracy" in metric else "min")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        finals = []
        for history in self.histories:
            if metric not in history:
                raise KeyError(f"no metric {metric!r} in the histories; they hold "
                               f"{sorted(history)}")
            value = history[metric][-1] if history[metric] else math.nan
            finals.append(value if math.isfinite(value) else math.inf * (1 if mode == "min"
                                                                          else -1))
        return int(np.argmin(finals) if mode == "min" else np.argmax(finals))

    def stacked_params(self) -> Params:
        """The parameters stacked along a leading configuration axis (configurations of one
        structure only)."""
        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *self.params)


def sweep(
    setup: Callable[..., Trial],
    configs: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    train_data: Any,
    *,
    epochs: int,
    batch_size: int,
    validation_data: Any = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    epsilon: float | None = None,
    chunk_size: int | None = None,
    mesh: Mesh | None = None,
    mesh_axis: str | None = None,
    verbose: bool = True,
) -> SweepResult:
    """Trains every configuration, as few compiled programs as their structures allow.

    Args:
        setup: ``setup(**config) -> jn.Trial(objective, optimizer, params, state, key)``; build
            the model, penalty and optimizer from the configuration's values there.
        configs: a list of configurations (dicts of keyword arguments for ``setup``, e.g. from
            :func:`grid` or :func:`zipped`), or a dict of lists, read as a grid.
        train_data, epochs, batch_size, validation_data, patience, min_delta, epsilon: as for
            ``jn.fit``, applied to every configuration.
        chunk_size: the most configurations trained side by side (vmapped); the others of
            their group wait their turn in the same compiled program (``jax.lax.map``). Memory
            grows with it: each configuration trained at once holds the activations of one
            batch (and, one at a time, a shuffled copy of the data), every configuration its
            parameters and optimizer state (about ``3 to 4 x params``). By default all of a
            group on an accelerator, one at a time on a CPU (where vmapped products run no
            faster). With a ``mesh``, the number of configurations per compiled program,
            split over the devices.
        mesh: spread the configurations over these devices (the configuration axis split over
            ``mesh_axis``): 64 configurations on 8 devices train 8 per device. Each
            configuration's batches stay whole on its device.
        mesh_axis: the mesh axis configurations are split over; the mesh's only axis by
            default.
        verbose: show progress per epoch.

    Returns:
        A :class:`SweepResult`.

    Example:
        >>> import jax, numpy as np, optax, jaxnet as jn
        >>> x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
        >>> y = (x.sum(axis=1) > 0).astype(np.int32)
        >>> def setup(learning_rate):
        ...     model = jn.Sequential([jn.Dense(2)])
        ...     params, state = model.init(jax.random.key(0), x[:1])
        ...     objective = jn.objective(model, jn.losses.softmax_cross_entropy)
        ...     return jn.Trial(objective, optax.sgd(learning_rate), params, state,
        ...                     jax.random.key(1))
        >>> result = jn.sweep(setup, jn.grid(learning_rate=[0.0, 0.5]), (x, y), epochs=3,
        ...                   batch_size=16, verbose=False)
        >>> result.configs, [len(h["loss"]) for h in result.histories], result.steps
        ([{'learning_rate': 0.0}, {'learning_rate': 0.5}], [3, 3], [12, 12])
        >>> result.best("loss")
        1
    """
    configs = grid(**configs) if isinstance(configs, Mapping) else [dict(c) for c in configs]
    if not configs:
        raise ValueError("configs is empty: give at least one configuration")
    _check_values(configs)
    trials = [_trial(setup, config, index) for index, config in enumerate(configs)]
    x, y = check_data(trials[0].objective, trials[0].params, trials[0].state, train_data,
                      "train_data")
    settings = check_fit_args(epochs=epochs, batch_size=batch_size, n_examples=examples_in(x),
                              patience=patience, min_delta=min_delta, epsilon=epsilon,
                              checkpoint_every=1)
    if chunk_size is not None:
        from jaxnet.validation import positive_int

        chunk_size = positive_int(chunk_size, "chunk_size")
    groups: dict[Any, list[int]] = {}
    for index, trial in enumerate(trials):
        structure = (split(trial.objective)[0], split(trial.optimizer)[0],
                     _signature(trial.params), _signature(trial.state))
        groups.setdefault(structure, []).append(index)
    placement = data_parallel(mesh, mesh_axis)
    validation = None
    outcomes: dict[int, tuple] = {}
    for members in groups.values():
        first = trials[members[0]]
        x, y = check_data(first.objective, first.params, first.state, (x, y), "train_data")
        if validation_data is not None:
            validation = check_data(first.objective, first.params, first.state,
                                    validation_data, "validation_data")
        # With a mesh, chunks of configurations are split over the devices, one program per
        # chunk; without one, the whole group is one program that trains ``side`` of them
        # side by side.
        size = (chunk_size or len(members)) if placement is not None else len(members)
        side = None if placement is not None else _side_by_side(chunk_size, len(members))
        for start in range(0, len(members), size):
            chunk = members[start:start + size]
            results = _Chunk([trials[i] for i in chunk], x, y, validation, settings,
                             verbose, placement, side).run()
            outcomes.update(zip(chunk, results))
    ordered = [outcomes[i] for i in range(len(trials))]
    return SweepResult(configs, *(list(column) for column in zip(*ordered)))


def _side_by_side(chunk_size: int | None, count: int) -> int | None:
    """How many configurations of a group train side by side (vmapped); None for all.

    By default all of them on an accelerator, which they fill; one at a time on a CPU, where
    XLA runs a vmapped matrix product no faster than the separate ones and, for large layers,
    slower (16 configurations of the source's MLP: 0.7-0.8x the sequential fits vmapped,
    1.0-1.1x one at a time in one program).
    """
    if chunk_size is None:
        return 1 if jax.default_backend() == "cpu" else None
    return None if chunk_size >= count else chunk_size


def _check_values(configs: list[dict[str, Any]]) -> None:
    """Refuses non-finite numbers, and negative learning or dropout rates, before compiling."""
    for index, config in enumerate(configs):
        for name, value in config.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                continue
            if not math.isfinite(float(value)):
                raise ValueError(f"configuration {index} {config}: {name} must be finite, got "
                                 f"{value!r}")
            rate = name in ("lr", "learning_rate", "dropout") or name.endswith("_rate")
            if rate and value < 0:
                raise ValueError(f"configuration {index} {config}: {name} is a rate and must be "
                                 f">= 0, got {value!r}")


def _trial(setup: Callable[..., Trial], config: dict[str, Any], index: int) -> Trial:
    try:
        trial = setup(**config)
    except TypeError as error:
        raise TypeError(f"configuration {index} {config}: setup(**config) failed: {error}; "
                        "are the names of the configuration setup's parameters?") from error
    if not isinstance(trial, Trial):
        raise TypeError(f"setup must return jn.Trial(objective, optimizer, params, state, key), "
                        f"got {type(trial).__name__} for configuration {index}")
    return trial


def _stack(trees: Sequence[Any]) -> Any:
    """The trees' leaves stacked along a new leading axis, on the host (no compilation)."""
    def stack(*leaves):
        first = leaves[0]
        if isinstance(first, jax.Array) and jax.dtypes.issubdtype(first.dtype,
                                                                  jax.dtypes.prng_key):
            data = np.stack([np.asarray(jax.random.key_data(key)) for key in leaves])
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(first))
        return jax.device_put(np.stack([np.asarray(leaf) for leaf in leaves]))

    return jax.tree.map(stack, *trees)


def _unstack(tree: Any, count: int) -> list[Any]:
    """The first ``count`` entries along the leading axis of ``tree``'s leaves, each a tree of
    device arrays; read through the host (no compilation) when this process holds them."""
    def entries(leaf):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return [leaf[c] for c in range(count)]
        host = np.asarray(leaf)
        return [jax.device_put(host[c]) for c in range(count)]

    leaves, structure = jax.tree.flatten(tree)
    columns = [entries(leaf) for leaf in leaves]
    return [jax.tree.unflatten(structure, [column[c] for column in columns])
            for c in range(count)]


def _select(mask: np.ndarray, new: Any, old: Any) -> Any:
    """Per configuration (the leading axis), ``new`` where ``mask`` is set, else ``old``."""
    mask = jnp.asarray(mask)

    def choose(a, b):
        return jax.lax.select(jnp.broadcast_to(mask.reshape((-1,) + (1,) * (a.ndim - 1)),
                                               a.shape), a, b)

    return jax.tree.map(choose, new, old)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _epochs(skeletons, batch_size, guarded, side, values, runs, x, y, orders):
    """One epoch of every configuration: ``side`` of them at a time side by side (vmapped), the
    rest in turn (``lax.map``); all of them side by side when ``side`` is None."""
    def one(values, run, order):
        objective, optimizer, epsilon = (merge(s, v) for s, v in zip(skeletons, values))
        # One at a time, each configuration can gather its epoch's batches into one copy of
        # the data; side by side, each batch is gathered in its step (no copy per config).
        epoch = make_epoch(objective, optimizer, batch_size, epsilon, guarded,
                           gather="epoch" if side == 1 else "step")
        new, metrics, info = epoch(run, x, y, order)
        frozen = run.status != RUNNING  # a configuration that stopped keeps its state
        keep = functools.partial(jax.tree.map, lambda a, b: jnp.where(frozen, b, a))
        new = dataclasses.replace(new, params=keep(new.params, run.params),
                                  state=keep(new.state, run.state),
                                  opt_state=keep(new.opt_state, run.opt_state),
                                  epoch=jnp.where(frozen, run.epoch, new.epoch),
                                  step=jnp.where(frozen, run.step, new.step),
                                  status=jnp.where(frozen, run.status, new.status))
        return new, metrics, info

    if side is None:
        return jax.vmap(one)(values, runs, orders)
    return jax.lax.map(lambda inputs: one(*inputs), (values, runs, orders),
                       batch_size=None if side == 1 else side)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _evaluations(skeleton, chunk, values, params, state, x, y, n):
    def one(values, params, state):
        return _evaluate(merge(skeleton, values), chunk, params, state, x, y, n)

    return jax.vmap(one)(values, params, state)


class _Chunk:
    """Configurations of one structure trained together: the host loop of a sweep."""

    def __init__(self, trials: list[Trial], x, y, validation, settings, verbose, placement,
                 side: int | None):
        self.count = len(trials)
        if placement is not None:
            # Pad to a multiple of the devices with copies of the last configuration, whose
            # results are dropped.
            trials = trials + [trials[-1]] * (-len(trials) % placement.size)
            x, y = placement.put((x, y))
        if validation is not None:
            validation = evaluation_data(*validation, placement=placement)
        self.x, self.y, self.validation, self.settings = x, y, validation, settings
        pieces = [[split(t.objective), split(t.optimizer), split(settings["epsilon"])]
                  for t in trials]
        self.skeletons = tuple(skeleton for skeleton, _ in pieces[0])
        self.values = tuple(
            tuple(jax.device_put(np.array([p[part][1][k] for p in pieces], np.float32))
                  for k in range(len(pieces[0][part][1])))
            for part in range(3))
        self.runs = _stack([dataclasses.replace(
            start_run(t.params, t.state, init_optimizer(t.optimizer, t.params), t.key),
            stopping=None)
            for t in trials])
        if placement is not None:
            self.values, self.runs = placement.put((self.values, self.runs), placement.split())
        self.verbose, self.placement, self.side = verbose, placement, side
        self.objective = trials[0].objective
        self.seeds = [key_seed(t.key) for t in trials]

    def run(self) -> list[tuple]:
        settings, count = self.settings, self.count
        histories: list[dict[str, list[float]]] = [{} for _ in range(count)]
        reasons = ["epochs"] * count
        best, waited = np.full(count, np.inf, np.float32), np.zeros(count, int)
        padded = int(self.runs.status.shape[0])
        previous = None
        progress = Progress(settings["epochs"], enabled=self.verbose)
        for epoch in range(settings["epochs"]):
            active = np.asarray(self.runs.status)[:count] == RUNNING
            if not active.any():
                break
            start = self.runs
            new, metrics, info = _epochs(self.skeletons, settings["batch_size"], False, self.side,
                                         self.values, start, self.x, self.y, self._orders(epoch))
            ran = np.asarray(info["ran"])
            bad = np.asarray(self.runs.status) == RUNNING
            bad &= ~np.asarray(info["finite"])
            if bad.any():
                new, metrics, ran = self._recover(start, previous, new, metrics, ran, bad, epoch)
            self.runs, previous = new, start
            records = self._records(metrics, ran)
            status = np.array(self.runs.status)
            for c in np.flatnonzero(active):
                for name, value in records[c].items():
                    histories[c].setdefault(name, []).append(value)
                monitor = records[c].get("val_loss", records[c]["loss"])
                if improves(monitor, best[c], settings["min_delta"]):
                    best[c], waited[c] = monitor, 0
                else:
                    waited[c] += 1
                if status[c] == NONFINITE:
                    reasons[c] = "nonfinite"
                elif status[c] != RUNNING:
                    reasons[c] = "converged"
                elif settings["patience"] is not None and waited[c] >= settings["patience"]:
                    reasons[c], status[c] = "patience", STOPPED
            self.runs = dataclasses.replace(self.runs, status=self._status(status, padded))
            progress.update({"best_loss": float(np.min(best)), "running": float(
                np.sum(status == RUNNING)), "time": 0.0})
        progress.close()
        runs = self.runs
        params, state = _unstack(runs.params, count), _unstack(runs.state, count)
        steps = np.asarray(runs.step)
        return [(params[c], state[c], histories[c], reasons[c], int(steps[c]))
                for c in range(count)]

    def _orders(self, epoch: int) -> Any:
        """Each configuration's batch order for epoch number ``epoch`` (configurations that
        stopped draw one too, and leave it unused)."""
        n_examples = examples_in(self.x)
        orders = np.stack([batch_order(seed, epoch, n_examples, self.settings["batch_size"])
                           for seed in self.seeds])
        return orders if self.placement is None else self.placement.put(
            orders, self.placement.split())

    def _status(self, status: np.ndarray, padded: int) -> jax.Array:
        """The host's statuses back on the devices; padding copies its last configuration."""
        full = np.concatenate([status[:self.count],
                               np.repeat(status[self.count - 1], padded - self.count)])
        status = jax.device_put(full.astype(np.int32))
        if self.placement is not None:
            status = self.placement.put(status, self.placement.split())
        return status

    def _records(self, metrics, ran) -> list[dict[str, float]]:
        metrics = {name: np.asarray(values) for name, values in metrics.items()}
        records = [epoch_record(self.objective, {name: values[c] for name, values in
                                                 metrics.items()}, ran[c])
                   for c in range(self.count)]
        if self.validation is not None:
            data = self.validation
            values = _evaluations(self.skeletons[0], data.chunk, self.values[0],
                                  self.runs.params, self.runs.state, data.x, data.y,
                                  np.int32(data.n))
            for c in range(self.count):
                records[c].update((f"val_{name}", self.objective.value(name, v[c]))
                                  for name, v in values.items())
        return records

    def _recover(self, start, previous, new, metrics, ran, bad, epoch):
        """Replays epoch number ``epoch`` under the guard; configurations in ``bad`` keep the
        last parameters whose loss was measured finite."""
        _, guarded_metrics, info = _epochs(self.skeletons, self.settings["batch_size"], True,
                                           self.side, self.values, start, self.x, self.y,
                                           self._orders(epoch))
        (model, taken, measured), base = info["good"], start
        unmeasured = bad & ~np.asarray(measured)
        if unmeasured.any() and previous is not None:
            _, _, before = _epochs(self.skeletons, self.settings["batch_size"], True, self.side,
                                   self.values, previous, self.x, self.y,
                                   self._orders(epoch - 1))
            model = _select(unmeasured, before["good"][0], model)
            taken = jnp.where(jnp.asarray(unmeasured), before["good"][1], taken)
            base = _select(unmeasured, previous, start)
        params, state, opt_state = model
        fixed = RunState(params, state, opt_state, start.epoch + 1, base.step + taken, start.key,
                         jnp.full_like(start.status, NONFINITE), None)
        new = _select(bad, fixed, new)
        metrics = _select(bad, guarded_metrics, metrics)
        ran = np.where(bad[:, None], np.asarray(info["ran"]), ran)
        return new, metrics, ran
