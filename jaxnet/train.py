"""Training: the objective, a jitted train step, evaluation, and `fit` (whole epochs compiled).

`fit` keeps the data on the device and runs each epoch as one `lax.scan` over shuffled batches,
so no Python runs between steps. It stops on patience, on the source material's rule (every
parameter changed by less than epsilon in one step) and on a NaN or infinite loss, keeping the last
finite parameters.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from jaxnet.core import Layer, Params, State, shape_of
from jaxnet.metrics import accuracy

Batch = tuple[Any, Any]
Metrics = dict[str, jax.Array]

_RUNNING, _CONVERGED, _NONFINITE = 0, 1, 2
_EVAL_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class Objective:
    """A model, a loss, an optional penalty and metrics, joined into one function.

    ``objective(params, state, batch, key) -> (loss, (state, metrics))``, ready for
    ``jax.value_and_grad(objective, has_aux=True)``. The loss is the data loss plus the penalty;
    ``metrics`` holds ``"loss"`` (that total), ``"penalty"`` when there is one, and each named
    metric of the predictions. ``train=False`` evaluates (Dropout off, BatchNorm's running
    statistics) and returns the state unchanged.
    """

    model: Layer
    loss: Callable[[jax.Array, jax.Array], jax.Array]
    penalty: Callable[[Params], jax.Array] | None = None
    metrics: tuple[tuple[str, Callable[[jax.Array, jax.Array], jax.Array]], ...] = ()

    def __call__(
        self,
        params: Params,
        state: State,
        batch: Batch,
        key: jax.Array | None = None,
        *,
        train: bool = True,
    ) -> tuple[jax.Array, tuple[State, Metrics]]:
        x, y = batch
        pred, new_state = self.model.apply(params, state, x, key=key, train=train)
        loss = self.loss(pred, y)
        metrics = {}
        if self.penalty is not None:
            metrics["penalty"] = self.penalty(params)
            loss = loss + metrics["penalty"]
        metrics["loss"] = loss
        metrics.update((name, fn(pred, y)) for name, fn in self.metrics)
        return loss, (new_state if train else state, metrics)


def objective(
    model: Layer,
    loss: Callable[[jax.Array, jax.Array], jax.Array],
    penalty: Callable[[Params], jax.Array] | None = None,
    metrics: Mapping[str, Callable[[jax.Array, jax.Array], jax.Array]] | None = None,
) -> Objective:
    """Joins a model, a loss and a penalty into ``f(params, state, batch, key)``.

    Args:
        model: the model description (e.g. a ``jn.Sequential``).
        loss: ``loss(pred, target) -> scalar``, e.g. ``jn.losses.softmax_cross_entropy``.
        penalty: ``penalty(params) -> scalar`` added to the loss, e.g. ``jn.regularizers.l2(1e-3)``.
        metrics: named ``metric(pred, target) -> scalar`` reported beside the loss; accuracy by
            default. Pass ``{}`` for regression.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> model = jn.Sequential([jn.Dense(3)])
        >>> params, state = model.init(jax.random.key(0), jnp.zeros((1, 4)))
        >>> f = jn.objective(model, jn.losses.softmax_cross_entropy, jn.regularizers.l2(1e-3))
        >>> (loss, (state, metrics)), grads = jax.value_and_grad(f, has_aux=True)(
        ...     params, state, (jnp.ones((2, 4)), jnp.array([0, 2])))
        >>> sorted(metrics)
        ['accuracy', 'loss', 'penalty']
    """
    metrics = {"accuracy": accuracy} if metrics is None else metrics
    return Objective(model, loss, penalty, tuple(metrics.items()))


def _update(objective: Objective, optimizer: optax.GradientTransformation, params, state,
            opt_state, batch, key):
    grad_fn = jax.value_and_grad(objective, has_aux=True)
    (loss, (state, metrics)), grads = grad_fn(params, state, batch, key)
    # optax's transformations mix int32 step counts with Python floats (Adam's bias correction),
    # which strict dtype promotion refuses; the standard rules give the same float32 result, and
    # the user's model and loss still run under whatever promotion they chose.
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), state, opt_state, metrics, grads


def train_step(objective: Objective, optimizer: optax.GradientTransformation) -> Callable:
    """Builds the jitted step ``step(params, state, opt_state, batch, key)`` for custom loops.

    It returns ``(params, state, opt_state, metrics)``; the optimizer is any optax
    ``GradientTransformation``, passed as it is.

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

    @jax.jit
    def step(params, state, opt_state, batch, key=None):
        params, state, opt_state, metrics, _ = _update(
            objective, optimizer, params, state, opt_state, batch, key
        )
        return params, state, opt_state, metrics

    return step


@functools.partial(jax.jit, static_argnums=(0, 5))
def _evaluate(objective: Objective, params, state, x, y, batch_size: int) -> Metrics:
    n = x.shape[0]
    n_full = n // batch_size * batch_size

    def chunk_sum(xb, yb):
        _, (_, metrics) = objective(params, state, (xb, yb), train=False)
        return jax.tree.map(lambda v: v * xb.shape[0], metrics)

    parts = []
    if n_full:
        chunks = (
            x[:n_full].reshape(-1, batch_size, *x.shape[1:]),
            y[:n_full].reshape(-1, batch_size, *y.shape[1:]),
        )
        per_chunk = jax.lax.map(lambda c: chunk_sum(*c), chunks)
        parts.append(jax.tree.map(lambda v: jnp.sum(v, axis=0), per_chunk))
    if n_full < n:
        parts.append(chunk_sum(x[n_full:], y[n_full:]))
    total = functools.reduce(lambda a, b: jax.tree.map(jnp.add, a, b), parts)
    return jax.tree.map(lambda v: v / n, total)


def evaluate(
    objective: Objective,
    params: Params,
    state: State,
    data: Batch,
    *,
    batch_size: int = _EVAL_BATCH,
) -> dict[str, float]:
    """The objective's loss and metrics over a whole data set, in evaluation mode.

    The data are processed in chunks of ``batch_size`` (the last chunk may be smaller) and the
    per-chunk means are weighted by chunk size, so the result is the exact mean over the set.

    Returns:
        A dict of Python floats, e.g. ``{"loss": 0.07, "accuracy": 0.98}``.
    """
    x, y = (jnp.asarray(a) for a in data)
    _check_data(objective, params, state, x, y)
    return _evaluate_floats(objective, params, state, x, y, batch_size)


def _evaluate_floats(objective, params, state, x, y, batch_size: int) -> dict[str, float]:
    """`evaluate` on data already on the device and checked (fit checks once, not per epoch)."""
    metrics = _evaluate(objective, params, state, x, y, min(batch_size, x.shape[0]))
    return {name: float(value) for name, value in metrics.items()}


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What `fit` returns.

    Attributes:
        params, state, opt_state: where training ended (the last finite values).
        history: per-epoch lists, e.g. ``{"loss": [...], "accuracy": [...], "val_loss": [...],
            "val_accuracy": [...], "time": [...]}``; training metrics are the means over the
            epoch's steps (in training mode), validation metrics are measured after the epoch.
        stop_reason: ``"epochs"``, ``"patience"``, ``"converged"`` (every parameter changed by
            less than epsilon) or ``"nonfinite"`` (the loss became NaN or infinite).
        steps: the number of optimizer steps taken.
    """

    params: Params
    state: State
    opt_state: optax.OptState
    history: dict[str, list[float]]
    stop_reason: str
    steps: int


def fit(
    objective: Objective,
    params: Params,
    state: State,
    optimizer: optax.GradientTransformation,
    train_data: Batch,
    *,
    epochs: int,
    batch_size: int,
    key: jax.Array,
    validation_data: Batch | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    epsilon: float | None = None,
    opt_state: optax.OptState | None = None,
    verbose: bool = True,
) -> FitResult:
    """Trains for up to ``epochs`` epochs, each one compiled ``lax.scan`` over shuffled batches.

    Args:
        objective: from ``jn.objective(model, loss, penalty, metrics)``.
        params, state: where training starts (from ``model.init``).
        optimizer: any optax ``GradientTransformation``.
        train_data: ``(x, y)`` arrays with the examples on the first axis; they are moved to the
            device once. Each epoch draws a new permutation and takes ``len(x) // batch_size``
            full batches (the remainder, different each epoch, is left out of that epoch).
        epochs: the largest number of epochs.
        batch_size: examples per step.
        key: randomness for shuffling and for layers such as Dropout; the same key gives the
            same result.
        validation_data: ``(x, y)`` evaluated after every epoch (``val_`` metrics).
        patience: stop when the monitored loss (``val_loss`` if there is validation data, else
            ``loss``) has not improved by more than ``min_delta`` for this many epochs.
        min_delta: the smallest decrease that counts as an improvement.
        epsilon: stop as soon as one step changes every parameter by less than ``epsilon`` (the
            source material's stopping rule); the remaining steps of that epoch are skipped.
        opt_state: the optimizer's state to continue from; ``optimizer.init(params)`` if None.
        verbose: show a progress bar over epochs.

    Returns:
        A `FitResult`. If the loss becomes NaN or infinite, training stops with a warning and
        the parameters are those of the last finite step.
    """
    x, y = (jnp.asarray(a) for a in train_data)
    if not (isinstance(batch_size, int) and 1 <= batch_size <= x.shape[0]):
        raise ValueError(
            f"batch_size must be an integer from 1 to the number of training examples "
            f"({x.shape[0]}), got {batch_size!r}"
        )
    _check_data(objective, params, state, x, y)
    if validation_data is not None:
        validation_data = tuple(jnp.asarray(a) for a in validation_data)
        _check_data(objective, params, state, *validation_data, what="validation_data")
    opt_state = optimizer.init(params) if opt_state is None else opt_state
    run_epoch = _cached_epoch_runner(
        objective, optimizer, batch_size, x.shape[0] // batch_size, epsilon
    )

    history: dict[str, list[float]] = {}
    status = jnp.asarray(_RUNNING, jnp.int32)
    stop_reason, steps = "epochs", 0
    monitor = "val_loss" if validation_data is not None else "loss"
    best, waited = np.inf, 0
    bar = tqdm(range(epochs), disable=not verbose, unit="epoch")
    for epoch in bar:
        start = time.perf_counter()
        carry = (params, state, opt_state, status)
        (params, state, opt_state, status), sums, ran = run_epoch(
            carry, x, y, jax.random.fold_in(key, epoch)
        )
        ran = int(ran)
        steps += ran
        record = {name: float(v) / max(ran, 1) for name, v in sums.items()}
        if validation_data is not None:
            val = _evaluate_floats(objective, params, state, *validation_data, _EVAL_BATCH)
            record.update((f"val_{name}", v) for name, v in val.items())
        record["time"] = time.perf_counter() - start
        for name, value in record.items():
            history.setdefault(name, []).append(value)
        bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k != "time"})

        status_code = int(status)
        if status_code == _NONFINITE:
            stop_reason = "nonfinite"
            warnings.warn(
                f"training stopped in epoch {epoch + 1} after {steps} steps: the loss became NaN "
                "or infinite; returning the parameters of the last finite step (a smaller "
                "learning rate or standardized inputs usually help)",
                RuntimeWarning,
                stacklevel=2,
            )
            break
        if status_code == _CONVERGED:
            stop_reason = "converged"
            break
        if patience is not None:
            if record[monitor] < best - min_delta:
                best, waited = record[monitor], 0
            else:
                waited += 1
                if waited >= patience:
                    stop_reason = "patience"
                    break
    bar.close()
    return FitResult(params, state, opt_state, history, stop_reason, steps)


def _cached_epoch_runner(*args):
    """The epoch function, compiled once per (objective, optimizer, sizes, epsilon).

    Calling `fit` again with the same objective and optimizer objects (more seeds, more epochs)
    reuses the compiled epoch; descriptions that cannot be hashed are compiled each time.
    """
    try:
        return _epoch_runner_cache(*args)
    except TypeError:
        return _epoch_runner(*args)


def _epoch_runner(objective, optimizer, batch_size: int, n_batches: int, epsilon: float | None):
    """The jitted function that runs one epoch: ``(carry, x, y, key) -> (carry, sums, steps)``.

    After a non-finite loss or convergence, the remaining steps leave the carry unchanged, so the
    epoch ends exactly where training stopped.
    """

    @jax.jit
    def epoch(carry, x, y, key):
        def step(carry, inputs):
            params, state, opt_state, status = carry
            indices, step_key = inputs
            batch = (jnp.take(x, indices, axis=0), jnp.take(y, indices, axis=0))
            new_params, new_state, new_opt_state, metrics, grads = _update(
                objective, optimizer, params, state, opt_state, batch, step_key
            )
            running = status == _RUNNING
            finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(optax.tree.norm(grads))
            ok = running & finite
            status = jnp.where(running & ~finite, _NONFINITE, status)
            if epsilon is not None:
                change = _largest_change(new_params, params)
                status = jnp.where(ok & (change < epsilon), _CONVERGED, status)
            keep = functools.partial(jax.tree.map, lambda new, old: jnp.where(ok, new, old))
            carry = (keep(new_params, params), keep(new_state, state),
                     keep(new_opt_state, opt_state), status)
            metrics = jax.tree.map(lambda v: jnp.where(ok, v, jnp.zeros_like(v)), metrics)
            return carry, (metrics, ok)

        order_key, step_key = jax.random.split(key)
        order = jax.random.permutation(order_key, x.shape[0])[: n_batches * batch_size]
        schedule = (order.reshape(n_batches, batch_size), jax.random.split(step_key, n_batches))
        carry, (metrics, ran) = jax.lax.scan(step, carry, schedule)
        return carry, jax.tree.map(lambda v: jnp.sum(v, axis=0), metrics), jnp.sum(ran)

    return epoch


_epoch_runner_cache = functools.lru_cache(maxsize=32)(_epoch_runner)


def _largest_change(new: Params, old: Params) -> jax.Array:
    changes = jax.tree.leaves(jax.tree.map(lambda a, b: jnp.max(jnp.abs(a - b)), new, old))
    return functools.reduce(jnp.maximum, changes, jnp.zeros((), jnp.float32))


def _check_data(objective: Objective, params, state, x, y, what: str = "train_data") -> None:
    """Host-side checks before anything compiles: lengths, and labels against the outputs."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{what}: x and y must hold the same number of examples, got {x.shape[0]} and "
            f"{y.shape[0]}"
        )
    out = jax.eval_shape(
        lambda p, s, xs: objective.model.apply(p, s, xs)[0], params, state, shape_of(x[:1])
    )
    classes = out.shape[-1] if out.shape else 1
    if jnp.issubdtype(y.dtype, jnp.integer) and y.ndim == len(out.shape) - 1 and classes > 1:
        low, high = int(jnp.min(y)), int(jnp.max(y))
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"{what}: labels must lie in [0, {classes}) for a model with {classes} outputs; "
                f"found label {bad}"
            )
    elif y.ndim == len(out.shape) and y.shape[-1] != classes and classes > 1:
        raise ValueError(
            f"{what}: targets of shape {tuple(y.shape)} do not match the model's {classes} outputs "
            f"(expected integer labels of shape ({y.shape[0]},) or one-hot targets of shape "
            f"({y.shape[0]}, {classes}))"
        )
