"""``fit``: the host loop that dispatches compiled epochs, records history, stops and checkpoints.

The loop dispatches epoch ``e + 1`` before it reads epoch ``e``'s results, so the device never
waits for the host between epochs (of a stepwise epoch, see :mod:`jaxnet.training.stepwise`,
the first step is dispatched before the previous epoch is read, the rest after). Reading an
epoch's results runs, in order: the non-finite check (a failed epoch is replayed from its saved
start under the per-step guard), the history, early stopping, the progress bar and the
checkpoint. A stop decided at epoch ``e`` discards the already
dispatched epoch ``e + 1``.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxnet.training.callbacks import Callback
from jaxnet.training.checks import check_data, check_fit_args, check_opt_state, examples_in
from jaxnet.training.epoch import batch_order, compiled_epoch, key_seed
from jaxnet.training.evaluate import evaluate_arrays, evaluation_data
from jaxnet.training.objective import Objective, epoch_record, objective_with
from jaxnet.training.placement import data_parallel
from jaxnet.training.progress import Progress
from jaxnet.training.resume import CheckpointWriter, resume
from jaxnet.training.run_state import (
    CONVERGED,
    NONFINITE,
    Batch,
    Params,
    RunState,
    State,
    Stopping,
    improves,
    start_run,
)
from jaxnet.training.step import init_optimizer
from jaxnet.training.stepwise import runs_stepwise, stepwise_epoch


class NonFiniteError(FloatingPointError):
    """Training found no parameters with a finite loss to return."""


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What ``fit`` returns.

    Attributes:
        params, state, opt_state: where training ended. After a non-finite stop these are the
            last parameters whose loss was measured finite; with ``restore_best=True``, those of
            the epoch with the best monitored value.
        history: per-epoch lists, e.g. ``{"loss": [...], "accuracy": [...], "val_loss": [...],
            "val_accuracy": [...], "time": [...]}``; training metrics are the means over the
            epoch's applied steps (in training mode, NaN for an epoch in which no step was
            applied), validation metrics are measured after the epoch in evaluation mode.
        stop_reason: ``"epochs"``, ``"patience"``, ``"converged"`` (every parameter changed by
            less than epsilon), ``"nonfinite"`` (a loss, gradient or update was NaN or infinite)
            or ``"callback"`` (a callback returned True).
        steps: the number of optimizer steps behind ``params``.
        run: the whole run state (what a checkpoint holds), to continue from.
    """

    params: Params
    state: State
    opt_state: optax.OptState
    history: dict[str, list[float]]
    stop_reason: str
    steps: int
    run: RunState


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
    restore_best: bool = False,
    epsilon: float | None = None,
    opt_state: optax.OptState | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 1,
    evaluate_train: bool = False,
    callbacks: Sequence[Callback] = (),
    mesh: Mesh | None = None,
    mesh_axis: str | None = None,
    compute_dtype: str | None = None,
    verbose: bool = True,
) -> FitResult:
    """Trains for up to ``epochs`` epochs, each one compiled ``lax.scan`` over shuffled batches.

    Args:
        objective: from ``jn.objective(model, loss, penalty, metrics)``.
        params, state: where training starts (from ``model.init``).
        optimizer: any optax ``GradientTransformation``.
        train_data: ``(x, y)`` arrays with the examples on the first axis (for a model with
            several inputs or outputs, ``x`` or ``y`` a tuple or dict of such arrays); they are
            checked and moved to the device once. Each epoch draws a new permutation and takes
            ``len(x) // batch_size`` full batches (the remainder, different each epoch, is left
            out of that epoch).
        epochs: the epoch to train up to, counted from the start of the run (a resumed run
            continues to the same total).
        batch_size: examples per step.
        key: the run's key. Batches depend on it and the epoch number, dropout masks on it, the
            epoch, the step and the layer's name: the same key gives the same result, bit for bit.
        validation_data: ``(x, y)`` evaluated after every epoch (``val_`` metrics).
        patience: stop when the monitored loss (``val_loss`` if there is validation data, else
            ``loss``) has not improved by more than ``min_delta`` for this many epochs.
        min_delta: the smallest decrease that counts as an improvement.
        restore_best: return the parameters and state of the epoch with the best monitored loss
            instead of the last ones (Keras's ``restore_best_weights``).
        epsilon: stop as soon as one step changes every parameter by less than ``epsilon`` (the
            source material's stopping rule); the remaining steps of that epoch are skipped.
        opt_state: the optimizer's state to continue from; ``optimizer.init(params)`` if None.
        checkpoint_dir: a folder for checkpoints of the run state. When it already holds a
            checkpoint of this run, training continues from the latest one, and ends with the
            parameters an uninterrupted run would have, bit for bit.
        checkpoint_every: save every this many epochs (and always at the end).
        evaluate_train: also evaluate the training set in evaluation mode after every epoch
            (``train_`` metrics: dropout off, BatchNorm's running statistics), beside the
            ``loss`` and metrics averaged over the epoch's steps in training mode.
        callbacks: functions ``callback(epoch, history, run)`` called at the end of every
            epoch; one that returns True stops training (see :mod:`jaxnet.training.callbacks`).
        mesh: train data-parallel over these devices (``jn.parallel.mesh()`` for all): each
            batch is split along its first axis over ``mesh_axis`` (the mesh's only axis by
            default), parameters and optimizer state are replicated; the result equals one
            device's up to float rounding (see :mod:`jaxnet.training.placement`).
        mesh_axis: the mesh axis batches are split over.
        compute_dtype: mixed precision for this run, e.g. ``"bfloat16"``: the model computes
            in it while parameters, optimizer state, loss and penalty stay float32 (as
            ``jn.objective(..., compute_dtype=)``, which it overrides).
        verbose: show progress: a bar in a terminal or notebook, a line per epoch in a log file.

    Returns:
        A :class:`FitResult`. A NaN or infinite loss, gradient or update stops training with a
        warning; the parameters returned are then the last whose loss was measured finite.

    Raises:
        NonFiniteError: the loss is not finite even at the parameters training started from.
    """
    if not isinstance(objective, Objective):
        raise TypeError(f"fit takes an objective from jn.objective(...), got {objective!r}")
    if compute_dtype is not None:
        objective = objective_with(objective, compute_dtype=compute_dtype)
    x, y = check_data(objective, params, state, train_data, "train_data")
    settings = check_fit_args(
        epochs=epochs, batch_size=batch_size, n_examples=examples_in(x), patience=patience,
        min_delta=min_delta, epsilon=epsilon, checkpoint_every=checkpoint_every,
    )
    validation = None
    if validation_data is not None:
        validation = check_data(objective, params, state, validation_data, "validation_data")
    if opt_state is None:
        opt_state = init_optimizer(optimizer, params)
    else:
        check_opt_state(optimizer, params, opt_state)
    run = start_run(params, state, opt_state, _typed_key(key), keep_best=restore_best)
    settings.update(restore_best=bool(restore_best), n_examples=examples_in(x),
                    validation=validation is not None)
    callbacks = tuple(callbacks)
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(f"callbacks must be functions (epoch, history, run) -> bool | None, "
                            f"got {callback!r}")
    placement = data_parallel(mesh, mesh_axis)
    if placement is not None:
        x, y, run = placement.put((x, y, run))
    if validation is not None:
        validation = evaluation_data(*validation, placement=placement)
    loop = _Loop(objective, optimizer, x, y, validation, settings, verbose, placement,
                 callbacks, bool(evaluate_train), runs_stepwise(objective, params, state, x))
    if checkpoint_dir is not None:
        loop.writer = CheckpointWriter(checkpoint_dir, settings)
        run, loop.history = resume(loop.writer, run, settings)
    return loop.run(run)


def _typed_key(key: Any) -> jax.Array:
    """A typed key from ``jax.random.key``; a raw ``PRNGKey`` (uint32 ``(2,)``) is wrapped."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single key, got keys of shape {key.shape}")
        return key
    if isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    raise TypeError(f"key must be a JAX key such as jax.random.key(0), got {key!r}")


class _Loop:
    """The state of one ``fit`` call on the host: history, progress bar, pending epoch."""

    def __init__(self, objective, optimizer, x, y, validation, settings, verbose, placement,
                 callbacks: tuple[Callback, ...], evaluate_train: bool, stepwise: bool):
        self.objective, self.optimizer = objective, optimizer
        self.x, self.y, self.validation = x, y, validation
        self.train_set = evaluation_data(x, y, placement=placement) if evaluate_train else None
        self.settings, self.placement = settings, placement
        self.stepwise = stepwise
        self.epoch = self._epoch_program(guarded=False)
        self.history: dict[str, list[float]] = {}
        self.writer: CheckpointWriter | None = None
        self.verbose = verbose
        self.monitor = "val_loss" if validation is not None else "loss"
        self.previous_start: RunState | None = None
        self.stopping: Stopping | None = None
        self.callbacks = callbacks

    def run(self, run: RunState) -> FitResult:
        total = self.settings["epochs"]
        reason = _terminal_reason(run, total)
        self.stopping = run.stopping
        self.seed = key_seed(run.key)
        done = int(run.epoch)  # epochs completed, counted on the host
        bar = Progress(total, min(done, total), enabled=self.verbose)
        pending, clock = None, time.perf_counter()
        while reason is None:
            number = done + (pending is not None)  # the epoch to dispatch
            dispatched = None
            if number < total:
                start = run if pending is None else pending[1][0]
                dispatched = (start, self._dispatch(start, number))
            if pending is not None:
                run, reason, clock = self._finish(*pending, epoch=done, since=clock)
                done += 1
                bar.update({name: values[-1] for name, values in self.history.items()})
                if reason is None and done >= total:
                    reason = "epochs"
            elif dispatched is None:
                reason = "epochs"
            if reason is None and dispatched is not None:
                start, complete = dispatched
                pending = (start, *complete())
        bar.close()
        if self.writer is not None:
            self.writer.save(run, self.history, reason, final=True)
        return self._result(run, reason)

    def _epoch_program(self, guarded: bool) -> Any:
        """The compiled epoch: one ``lax.scan``, or its steps one by one for a convolutional
        model on a CPU (see :mod:`jaxnet.training.stepwise`)."""
        if self.stepwise:
            return stepwise_epoch(self.objective, self.optimizer, self.settings["epsilon"],
                                  guarded=guarded, placement=self.placement)
        return compiled_epoch(self.objective, self.optimizer, self.settings["batch_size"],
                              self.settings["epsilon"], guarded=guarded,
                              placement=self.placement)

    def _order(self, epoch: int) -> Any:
        order = batch_order(self.seed, epoch, self.settings["n_examples"],
                            self.settings["batch_size"])
        return self._place(order)

    def _dispatch(self, start: RunState, epoch: int) -> Any:
        """Dispatches epoch number ``epoch`` (counted from 0) from ``start``; returns a function
        that gives its outputs and dispatched evaluations. A scanned epoch is dispatched whole
        here; a stepwise one its first step, the rest when the function is called (after the
        previous epoch is read, so that epoch's recorded time is its own: XLA:CPU runs small
        programs as they are dispatched). Nothing here waits for the device."""
        start, order = dataclasses.replace(start, stopping=None), self._order(epoch)
        if self.stepwise:
            complete = self.epoch.begin(start, self.x, self.y, order)
            return lambda: self._with_evaluations(complete())
        outputs = self._with_evaluations(self.epoch(start, self.x, self.y, order))
        return lambda: outputs

    def _with_evaluations(self, outputs: tuple) -> tuple:
        return outputs, self._evaluations(outputs[0])

    def _evaluations(self, run: RunState) -> dict[str, Any]:
        """The evaluations after an epoch, dispatched: validation set, and training set if asked."""
        sets = {"val": self.validation, "train": self.train_set}
        return {prefix: evaluate_arrays(self.objective, run.params, run.state, data,
                                        self.placement)
                for prefix, data in sets.items() if data is not None}

    def _finish(self, start: RunState, outputs, evaluations, *, epoch: int, since: float):
        """Reads dispatched epoch number ``epoch``: guard, history, stopping, callbacks,
        checkpoint. Its time runs from ``since`` (the previous epoch's end) to when its results
        are ready."""
        run, metrics, info = outputs
        reason = None
        host = jax.device_get({"finite": info["finite"], "ran": info["ran"], "metrics": metrics,
                               "status": run.status, "evaluations": evaluations})
        done = time.perf_counter()
        if not host["finite"]:
            run, metrics, ran = self._recover(start, epoch)
            reason = "nonfinite"
            host["evaluations"] = jax.device_get(self._evaluations(run))
        else:
            metrics, ran = host["metrics"], host["ran"]
            if int(host["status"]) == CONVERGED:
                reason = "converged"
        record = epoch_record(self.objective, metrics, ran)
        for prefix, values in host["evaluations"].items():
            record.update((f"{prefix}_{name}", self.objective.value(name, v))
                          for name, v in values.items())
        record["time"] = done - since
        for name, value in record.items():
            self.history.setdefault(name, []).append(value)
        self.stopping, patience_over = self._track(self.stopping, run, record)
        run = dataclasses.replace(run, stopping=self.stopping)
        if reason is None and patience_over:
            reason = "patience"
        stop_asked = [bool(callback(epoch + 1, self.history, run))
                      for callback in self.callbacks]
        if reason is None and any(stop_asked):
            reason = "callback"
        if self.writer is not None:
            self.writer.save(run, self.history, reason)
        self.previous_start = start
        return run, reason, done

    def _track(self, stopping: Stopping, run: RunState, record: dict) -> tuple[Stopping, bool]:
        """Early stopping's record after an epoch, kept on the host as NumPy scalars (placed
        on the mesh when there is one)."""
        value = record.get(self.monitor, np.nan)
        if improves(value, stopping.best, self.settings["min_delta"]):
            best, waited = self._place((np.asarray(value, np.float32), np.asarray(0, np.int32)))
            stopping = Stopping(
                best=best, waited=waited,
                best_params=run.params if stopping.best_params is not None else None,
                best_state=run.state if stopping.best_state is not None else None,
            )
        else:
            waited = self._place(np.asarray(int(stopping.waited) + 1, np.int32))
            stopping = dataclasses.replace(stopping, waited=waited)
        patience = self.settings["patience"]
        return stopping, patience is not None and int(stopping.waited) >= patience

    def _recover(self, start: RunState, epoch: int):
        """Replays failed epoch number ``epoch`` under the per-step guard; returns the run state
        to keep (the last parameters whose loss was measured finite), the epoch's metrics and
        applied steps."""
        guarded = self._epoch_program(guarded=True)
        end, metrics, info = guarded(dataclasses.replace(start, stopping=None), self.x, self.y,
                                     self._order(epoch))
        (model, taken, measured), base = info["good"], start
        if not bool(measured):
            # The epoch's first loss was already not finite: its start parameters came from the
            # previous epoch's last update, so go back to the parameters before that update.
            if self.previous_start is None:
                raise NonFiniteError(
                    "the loss is not finite at the parameters this call of fit started from "
                    f"(epoch {epoch + 1}, first step): check the model's outputs "
                    "on the training data, e.g. a log or division that meets zero"
                )
            base = self.previous_start
            _, _, before = guarded(dataclasses.replace(base, stopping=None), self.x, self.y,
                                   self._order(epoch - 1))
            model, taken, _ = before["good"]
        params, state, opt_state = model
        step = int(base.step) + int(taken)
        warnings.warn(
            f"training stopped in epoch {epoch + 1}: a loss, gradient or updated "
            f"parameter became NaN or infinite; returning the parameters after step {step}, the "
            "last whose loss was finite (the data were checked: a smaller learning rate, "
            "gradient clipping or a look at the model's numerics usually help)",
            RuntimeWarning,
            stacklevel=5,
        )
        step, status = self._place((jnp.asarray(step, jnp.int32),
                                    jnp.asarray(NONFINITE, jnp.int32)))
        run = RunState(params, state, opt_state, start.epoch + 1, step, start.key, status, None)
        return run, metrics, info["ran"]

    def _place(self, tree: Any) -> Any:
        """Arrays made on the host, placed like the run state (replicated over the mesh)."""
        return tree if self.placement is None else self.placement.put(tree)

    def _result(self, run: RunState, reason: str) -> FitResult:
        params, state = run.params, run.state
        if run.stopping.best_params is not None and np.isfinite(float(run.stopping.best)):
            params, state = run.stopping.best_params, run.stopping.best_state
        return FitResult(params, state, run.opt_state, self.history, reason, int(run.step), run)


def _terminal_reason(run: RunState, epochs: int) -> str | None:
    """Why a (restored) run state needs no more epochs, or None."""
    status = int(run.status)
    if status == NONFINITE:
        return "nonfinite"
    if status == CONVERGED:
        return "converged"
    if int(run.epoch) >= epochs:
        return "epochs"
    return None
