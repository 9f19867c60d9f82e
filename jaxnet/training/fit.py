"""``fit``: one configuration trained by the engine (``jaxnet.training.monitor``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxnet.objective import Objective, objective_with
from jaxnet.parallel import data_parallel
from jaxnet.training.checks import check_fit_args, check_opt_state
from jaxnet.training.group import Trial, example_step
from jaxnet.training.hyperparams import fit_recipe, init_optimizer
from jaxnet.training.inputs import training_inputs
from jaxnet.training.monitor import train
from jaxnet.training.run_state import Batch, Callback, Params, RunState, State
from jaxnet.training.stacking import unstack


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
        best_epoch: with ``restore_best=True``, the epoch (counted from 1) whose parameters
            were restored; None otherwise.
        run: the whole run state, to continue from (a checkpoint holds it with a leading
            configuration axis of one).
        compile_time: seconds spent tracing and compiling before the first epoch ran (left out
            of ``history["time"]``).
    """

    params: Params
    state: State
    opt_state: optax.OptState
    history: dict[str, list[float]]
    stop_reason: str
    steps: int
    run: RunState
    best_epoch: int | None = None
    compile_time: float = 0.0


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
    """Trains for up to ``epochs`` epochs: each a compiled ``lax.scan`` over shuffled batches
    (on a CPU, a convolutional model's steps are jitted one by one, dispatched from the host).

    ``fit`` is a sweep of one configuration: it trains through the engine ``jn.sweep`` uses.

    Args:
        objective: from ``jn.objective(model, loss, penalty, metrics)``.
        params, state: where training starts (from ``model.init``).
        optimizer: any optax ``GradientTransformation``.
        train_data: ``(x, y)`` arrays with the examples on the first axis (for a model with
            several inputs or outputs, ``x`` or ``y`` a tuple or dict of such arrays); they are
            checked and moved to the device once. Each epoch draws a new permutation and takes
            ``len(x) // batch_size`` full batches (the remainder, different each epoch, is left
            out of that epoch). Or a stream, read on the host while the device trains (see
            docs/streaming.md): a random-access source (``len(source)``, ``source[i] -> (x, y)``,
            e.g. ``jn.data.source("mnist")`` or a ``grain.MapDataset``), read in the order the
            arrays would be, so it trains to the same bits; or a function ``(epoch, key)`` that
            returns an iterable of ``(x, y)`` batches, a new one each epoch.
        epochs: the epoch to train up to, counted from the start of the run (a resumed run
            continues to the same total).
        batch_size: examples per step.
        key: the run's key. Batches depend on it and the epoch number, dropout masks on it, the
            epoch, the step and the layer's name: the same key gives the same result, bit for bit.
        validation_data: ``(x, y)`` or a random-access source, evaluated after every epoch
            (``val_`` metrics).
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
            epoch; one that returns True stops training (see ``jaxnet.callbacks``).
        mesh: train data-parallel over these devices (``jn.parallel.mesh()`` for all): each
            batch is split along its first axis over ``mesh_axis`` (the mesh's only axis by
            default), parameters and optimizer state are replicated; the result equals one
            device's up to float rounding (see ``jaxnet.parallel``).
        mesh_axis: the mesh axis batches are split over.
        compute_dtype: mixed precision for this run, e.g. ``"bfloat16"``: the model computes
            in it while parameters, optimizer state, loss and penalty stay float32 (as
            ``jn.objective(..., compute_dtype=)``, which it overrides).
        verbose: show progress: a bar in a terminal or notebook, a line per epoch in a log file.

    Returns:
        A ``FitResult``. A NaN or infinite loss, gradient or update stops training with a
        warning; the parameters returned are then the last whose loss was measured finite.

    Raises:
        NonFiniteError: the loss is not finite even at the parameters training started from.
        Preempted: a process of the ``jax.distributed`` job got a preemption notice (SIGTERM);
            every process stopped at the same epoch end, after saving to ``checkpoint_dir``
            (docs/guide/scaling.md, "Faults").
    """
    if not isinstance(objective, Objective):
        raise TypeError(f"fit takes an objective from jn.objective(...), got {objective!r}")
    if compute_dtype is not None:
        objective = objective_with(objective, compute_dtype=compute_dtype)
    key = typed_key(key)
    placement = data_parallel(mesh, mesh_axis)
    inputs = training_inputs(objective, params, state, train_data, validation_data,
                             batch_size=batch_size, key=key, placement=placement,
                             evaluate_train=evaluate_train)
    x, y = inputs.x, inputs.y
    settings = check_fit_args(
        epochs=epochs, batch_size=batch_size, n_examples=inputs.n_examples, patience=patience,
        min_delta=min_delta, epsilon=epsilon, checkpoint_every=checkpoint_every,
        restore_best=restore_best, validation=inputs.validation is not None,
        evaluate_train=evaluate_train)
    if opt_state is not None:
        check_opt_state(optimizer, params, opt_state)
    callbacks = check_callbacks(callbacks)
    trial = Trial(objective, optimizer, params, state, key)
    example = example_step(trial, x, y, settings.batch_size)
    opt_state = init_optimizer(optimizer, params) if opt_state is None else opt_state

    def train_with(recipe_and_numbers):
        recipe, numbers = recipe_and_numbers
        return train([trial], recipe, [numbers], x, y, inputs.validation, settings,
                     placement=placement, opt_states=[opt_state], checkpoint_dir=checkpoint_dir,
                     callbacks=callbacks, verbose=verbose, streamed=inputs.streamed)

    try:
        outcome = train_with(fit_recipe(objective, optimizer, example))
    except jax.errors.JAXTypeError:  # a number used in Python: find it, keep it a constant
        outcome = train_with(fit_recipe(objective, optimizer, example, probe=True))
    (run,) = unstack(outcome.runs, 1)
    history, reason = outcome.histories[0], outcome.reasons[0]
    params, state, best_epoch = final_params(run)
    return FitResult(params, state, run.opt_state, history, reason, int(run.step), run,
                     best_epoch, outcome.compile_time)


def final_params(run: RunState) -> tuple[Params, State, int | None]:
    """A configuration's parameters and state to return: with ``restore_best``, those of the
    best epoch (and its number), when one was measured."""
    best = run.stopping
    if best.best_params is None or not np.isfinite(float(best.best)):
        return run.params, run.state, None
    return best.best_params, best.best_state, int(best.best_epoch)


def check_callbacks(callbacks: Sequence[Callback]) -> tuple[Callback, ...]:
    callbacks = tuple(callbacks)
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(f"callbacks must be functions (epoch, history, run) -> bool | None, "
                            f"got {callback!r}")
    return callbacks


def typed_key(key: Any) -> jax.Array:
    """A typed key from ``jax.random.key``; a raw ``PRNGKey`` (uint32 ``(2,)``) is wrapped."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single key, got keys of shape {key.shape}")
        return key
    if isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    raise TypeError(f"key must be a JAX key such as jax.random.key(0), got {key!r}")
