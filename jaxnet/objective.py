"""The objective: a model, a loss, a penalty and metrics joined into one function.

``objective(params, state, batch, key) -> (loss, (state, metrics))``, ready for
``jax.value_and_grad(objective, has_aux=True)``; every part of training (the step, the compiled
epoch, evaluation, sweeps) calls it and nothing else of the model.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import pytrees
from jaxnet.core import Layer, Params, State
from jaxnet.metrics import Counted, accuracy

Batch = tuple[Any, Any]
Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Objective:
    """A model, a loss, an optional penalty and metrics, joined into one function.

    ``objective(params, state, batch, key) -> (loss, (state, metrics))``, ready for
    ``jax.value_and_grad(objective, has_aux=True)``. The loss is the data loss plus the penalty;
    ``metrics`` holds ``"loss"`` (that total), ``"penalty"`` when there is one, and each named
    metric of the predictions. ``train=False`` evaluates (Dropout off, BatchNorm's running
    statistics) and returns the state unchanged.

    With ``compute_dtype`` (mixed precision, e.g. ``"bfloat16"``), the model runs on a copy of
    the floating-point parameters and inputs in that dtype, while the parameters themselves,
    their gradients, the optimizer state, the layers' state (BatchNorm's running statistics), the
    predictions given to the loss, the loss and the penalty stay in float32.
    """

    model: Layer
    loss: Callable[[jax.Array, jax.Array], jax.Array]
    penalty: Callable[[Params], jax.Array] | None = None
    metrics: tuple[tuple[str, Callable[[jax.Array, jax.Array], jax.Array]], ...] = ()
    compute_dtype: str | None = None

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
        pred, new_state = self.predict(params, state, x, key, train=train)
        loss = self.loss(pred, y)
        metrics = {}
        if self.penalty is not None:
            metrics["penalty"] = self.penalty(params)
            loss = loss + metrics["penalty"]
        metrics["loss"] = loss
        metrics.update((name, fn.counts(pred, y) if isinstance(fn, Counted) else fn(pred, y))
                       for name, fn in self.metrics)
        return loss, (new_state if train else state, metrics)

    def summed(self, name: str) -> bool:
        """Whether metric ``name`` reports counts to add up (a ``jn.metrics.Counted`` such as
        F1) rather than a mean over the batch."""
        return isinstance(dict(self.metrics).get(name), Counted)

    def value(self, name: str, reduced: Any) -> float | list:
        """A metric's value for the history: a mean as a float, a counted metric finalized from
        its summed counts (a float, or a list for per-class values and confusion matrices)."""
        if self.summed(name):
            reduced = dict(self.metrics)[name].finalize(np.asarray(reduced))
        reduced = np.asarray(reduced)
        return float(reduced) if reduced.ndim == 0 else reduced.tolist()

    def predict(self, params: Params, state: State, x: Any, key: jax.Array | None = None, *,
                train: bool = False) -> tuple[Any, State]:
        """The model's outputs (float32 under mixed precision) and its new state."""
        model_params = params
        if self.compute_dtype is not None:
            model_params, x = _cast_floats((params, x), self.compute_dtype)
        pred, new_state = self.model.apply(model_params, state, x, key=key, train=train)
        if self.compute_dtype is not None:
            pred = _cast_floats(pred, jnp.float32)
            new_state = jax.tree.map(lambda new, old: new.astype(old.dtype), new_state, state)
        return pred, new_state

    def example_sums(self, params: Params, state: State, batch: Batch,
                     mask: jax.Array) -> Metrics:
        """The loss and metrics in evaluation mode, summed over the examples where ``mask`` is
        set: each example's loss and metrics (a counted metric's counts) as a batch of one, so
        padding rows in a batch of fixed shape change nothing. The loss includes the penalty
        once per example; dividing by ``mask.sum()`` gives the means."""
        x, y = batch
        pred, _ = self.predict(params, state, x)

        def one(p, t):
            p, t = jax.tree.map(lambda a: a[None], (p, t))
            values = {"loss": self.loss(p, t)}
            values.update((name, fn.counts(p, t) if isinstance(fn, Counted) else fn(p, t))
                          for name, fn in self.metrics)
            return values

        def masked_sum(values):
            keep = mask.reshape(-1, *(1,) * (values.ndim - 1))
            return jnp.sum(jnp.where(keep, values, jnp.zeros_like(values)), axis=0)

        sums = {name: masked_sum(values) for name, values in jax.vmap(one)(pred, y).items()}
        metrics = {}
        if self.penalty is not None:
            penalty = self.penalty(params)
            metrics["penalty"] = penalty * jnp.sum(mask).astype(penalty.dtype)
            sums["loss"] = sums["loss"] + metrics["penalty"]
        return {**metrics, **sums}


def _cast_floats(tree, dtype):
    """``tree`` with its floating-point arrays in ``dtype`` (integers and keys unchanged)."""
    def cast(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(cast, tree)


def objective(
    model: Layer,
    loss: Callable[[jax.Array, jax.Array], jax.Array],
    penalty: Callable[[Params], jax.Array] | None = None,
    metrics: Mapping[str, Callable[[jax.Array, jax.Array], jax.Array]] | None = None,
    *,
    compute_dtype: str | None = None,
) -> Objective:
    """Joins a model, a loss and a penalty into ``f(params, state, batch, key)``.

    Args:
        model: the model description (e.g. a ``jn.Sequential``).
        loss: ``loss(pred, target) -> scalar``, e.g. ``jn.losses.softmax_cross_entropy``.
        penalty: ``penalty(params) -> scalar`` added to the loss, e.g. ``jn.regularizers.l2(1e-3)``.
        metrics: named ``metric(pred, target) -> scalar`` reported beside the loss; accuracy by
            default. Pass ``{}`` for regression. Metrics that are not means over examples
            (``jn.metrics.f1``, ``precision``, ``recall``, ``confusion_matrix``) are
            ``jn.metrics.Counted``: training sums their counts over an epoch or a data set and
            finalizes once, so they are exact.
        compute_dtype: mixed precision: run the model in this dtype (``"bfloat16"`` on GPUs
            and TPUs, ``"float16"``), keeping parameters, optimizer state, layer state, loss
            and penalty in float32. None computes in the parameters' dtype.

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
    if not isinstance(model, Layer):
        raise TypeError(f"model must be a jaxnet layer such as jn.Sequential([...]), got {model!r}")
    if not callable(loss):
        raise TypeError(f"loss must be a function loss(pred, target) -> scalar, got {loss!r}")
    if penalty is not None and not callable(penalty):
        raise TypeError(f"penalty must be a function penalty(params) -> scalar, got {penalty!r}")
    metrics = {"accuracy": accuracy} if metrics is None else metrics
    if not isinstance(metrics, Mapping) or not all(
        isinstance(name, str) and callable(fn) for name, fn in metrics.items()
    ):
        raise TypeError(
            f"metrics must map names to functions metric(pred, target) -> scalar, got {metrics!r}"
        )
    _warn_on_squashed_logits(model, loss)
    if compute_dtype is not None:
        compute_dtype = jnp.dtype(compute_dtype).name
        if not jnp.issubdtype(compute_dtype, jnp.floating):
            raise ValueError(f"compute_dtype must be a floating-point dtype such as 'bfloat16', "
                             f"got {compute_dtype!r}")
    return Objective(model, loss, penalty, tuple(metrics.items()), compute_dtype)


# The model's, loss's and penalty's numbers are the objective's leaves (see jaxnet.pytrees).
pytrees.register(Objective, pytrees.dataclass_fields)

# Losses computed from logits, and the activation that must not come before each.
_FROM_LOGITS = {"softmax_cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}


def _warn_on_squashed_logits(model: Layer, loss: Callable) -> None:
    """Warns when the model ends in softmax (sigmoid) and the loss applies it again."""
    layers = getattr(model, "layers", ())
    last = getattr(layers[-1], "fn", None) if layers else None
    last_name = getattr(last, "__name__", "")
    for loss_name, activation in _FROM_LOGITS.items():
        if last_name == activation and loss_name in repr(loss):
            warnings.warn(
                f"the model ends in {activation} and the loss {loss_name} applies {activation} "
                f"to its input again: {loss_name} takes logits, so remove the final "
                f"{activation} layer (apply it yourself when you want probabilities)",
                UserWarning,
                stacklevel=3,
            )


def objective_with(base: Objective, **changes) -> Objective:
    """``base`` with some of ``jn.objective``'s arguments changed, checked as there."""
    fields = {"model": base.model, "loss": base.loss, "penalty": base.penalty,
              "metrics": dict(base.metrics), "compute_dtype": base.compute_dtype}
    fields.update(changes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warned when the objective was first made
        return objective(**fields)


def epoch_record(objective: Objective, metrics: dict, ran: Any) -> dict[str, Any]:
    """Each metric over an epoch's applied steps: the mean of its per-step values, or for a
    counted metric its finalized sum; NaN when no step was applied."""
    ran = np.asarray(ran, bool)
    count = int(ran.sum())
    record = {}
    for name, values in metrics.items():
        values = np.asarray(values, np.float64)[ran]
        if not count:
            record[name] = np.nan
        elif objective.summed(name):
            record[name] = objective.value(name, values.sum(axis=0))
        else:
            record[name] = float(values.sum() / count)
    return record
