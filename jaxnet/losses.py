"""Losses: loss(pred, target) -> scalar, the mean over the batch.

Every loss is a [`Composable`][jaxnet.composable.Composable], so sums and scalar multiples of
losses are losses again: ``jn.losses.mse + 0.1 * jn.losses.mae``. Classification losses take
scores or logits, never probabilities, and stay finite with finite gradients for logits as large
as 1e4.

Targets are read as ``jaxnet.metrics`` reads them:

* multi-class scores ``(..., C)``: integer labels in ``[0, C)`` of shape ``(...)``, or one-hot
  vectors (or, for ``softmax_cross_entropy``, class probabilities) of shape ``(..., C)``;
* one logit per example, ``(N,)`` or ``(N, 1)``: labels in {0, 1} or in {-1, +1}, where ``-1``
  means class 0 in every binary loss and metric; ``binary_cross_entropy`` (and ``zero_one``, which
  rounds at 0.5) also take probabilities of class 1 in ``[0, 1]``. So ``binary_cross_entropy``
  reads a target of -1 as 0, and ``hinge`` reads a target of 0 as -1.

A target of another shape is a ValueError naming both shapes. A target of other values (label
-1 or ``C`` for ``C`` classes, binary target 2 or -0.5) is a ValueError naming the bad value when
the target is concrete; a traced target is checked only in functions traced under
[`jaxnet.debug_checks`][jaxnet.checks.debug_checks] and wrapped with ``checkify`` (see
``jaxnet.checks``). Training code checks a whole label array once with
[`check_targets`][jaxnet.losses.check_targets].

Per-example formulas come from optax where it has them; optax's losses are per example and
unreduced, so each loss here takes the mean over all batch axes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet.composable import Composable, atoms
from jaxnet.metrics import (
    binary_targets,
    check_binary_targets,
    check_multiclass_targets,
    class_labels,
    correct,
    is_binary,
    is_one_hot,
    is_positive,
    positive_probability,
)
from jaxnet.metrics import check_targets as check_classification_targets

# The check of each loss's targets: (pred, target, name) -> None, raising a ValueError.
TargetCheck = Callable[[Any, Any, str], None]
_TARGET_CHECKS: dict[Composable, TargetCheck] = {}


def _loss(check: TargetCheck) -> Callable[[Callable], Composable]:
    """Makes a loss of ``fn``: a Composable that runs ``check`` on its targets first."""

    def make(fn: Callable) -> Composable:
        @functools.wraps(fn)
        def checked(pred, target, *args, **kwargs):
            check(pred, target, fn.__name__)
            return fn(pred, target, *args, **kwargs)

        loss = Composable(checked)
        _TARGET_CHECKS[loss] = check
        return loss

    return make


def check_targets(loss: Callable, pred_shape: Sequence[int], target: Any) -> None:
    """Runs the target checks of ``loss`` once, on the host, for a whole array of targets.

    Inside a compiled training step the targets are traced and the losses cannot check their
    values; training code calls this once per call instead, before anything compiles. It runs
    the checks of each loss a composed loss is made of (``softmax_cross_entropy + 0.1 *
    multiclass_hinge`` runs both); plain functions have none.

    Args:
        loss: a loss of this module, a composition of them, or any function (not checked).
        pred_shape: the shape of the predictions for these targets, e.g. ``(N, C)``.
        target: the concrete targets, e.g. ``(N,)`` integer labels.

    Raises:
        ValueError: as the loss would: targets of another shape, or a bad value named.
        TypeError: float labels where integer labels are expected.

    Example:
        >>> import numpy as np, jaxnet as jn
        >>> jn.losses.check_targets(jn.losses.softmax_cross_entropy, (3, 10), np.array([0, 9, 4]))
        >>> jn.losses.check_targets(jn.losses.softmax_cross_entropy, (3, 10), np.array([0, 10, 4]))
        Traceback (most recent call last):
        ...
        ValueError: softmax_cross_entropy: labels must be integers in [0, 10) for scores of 10 \
classes; found 10 at index (1,)
    """
    pred = jax.ShapeDtypeStruct(tuple(pred_shape), jnp.float32)
    target = np.asarray(target)
    for part in atoms(loss):
        check = _TARGET_CHECKS.get(part)
        if check is not None:
            check(pred, target, part.__name__)


def _check_same_shape(pred: Any, target: Any, name: str) -> None:
    """Refuses targets of another shape than the predictions (they would broadcast)."""
    del name
    pred_shape, target_shape = tuple(jnp.shape(pred)), tuple(jnp.shape(target))
    if pred_shape != target_shape:
        raise ValueError(
            f"expected targets of the predictions' shape {pred_shape}, got targets of shape "
            f"{target_shape}"
        )


def _check_multiclass(scores: Any, target: Any, name: str) -> None:
    """Refuses one score per example (a loss over it is constant), then checks the targets."""
    if is_binary(scores):
        raise ValueError(
            f"expected scores of shape (..., C) with C > 1 classes, got shape "
            f"{tuple(jnp.shape(scores))}; for one logit per example use binary_cross_entropy or "
            "hinge"
        )
    check_multiclass_targets(scores, target, name)


def _check_binary_probabilities(pred: Any, target: Any, name: str) -> None:
    check_binary_targets(pred, target, name, probabilities=True)


def _check_binary_labels(pred: Any, target: Any, name: str) -> None:
    check_binary_targets(pred, target, name, probabilities=False)


@_loss(_check_same_shape)
def mse(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Mean squared error, ``mean((pred - target) ** 2)``.

    Args:
        pred: predictions of any shape.
        target: targets of the same shape (no broadcasting).

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.losses.mse(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
        Array(2.5, dtype=float32)
    """
    pred = jnp.asarray(pred)
    return jnp.mean(optax.losses.squared_error(pred, jnp.asarray(target).astype(pred.dtype)))


@_loss(_check_same_shape)
def mae(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Mean absolute error, ``mean(|pred - target|)``.

    Args:
        pred: predictions of any shape.
        target: targets of the same shape (no broadcasting).

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.losses.mae(jnp.array([1.0, -2.0]), jnp.array([0.0, 0.0]))
        Array(1.5, dtype=float32)
    """
    pred = jnp.asarray(pred)
    return jnp.mean(jnp.abs(pred - jnp.asarray(target).astype(pred.dtype)))


@_loss(check_classification_targets)
def zero_one(pred: jax.Array, target: jax.Array) -> jax.Array:
    """The 0-1 loss: the fraction of examples misclassified, ``1 - accuracy``.

    Its gradient is zero almost everywhere, so it is for evaluation, not training.

    Args:
        pred: scores of shape ``(..., C)`` (class = argmax), or one logit per example of shape
            ``(N,)`` or ``(N, 1)`` (class 1 when positive).
        target: integer labels in ``[0, C)`` of shape ``(...)`` or one-hot vectors of shape
            ``(..., C)``; for binary predictions labels in {0, 1} or {-1, +1} (or probabilities
            of class 1, rounded at 0.5) of shape ``(N,)`` or ``(N, 1)``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]])
        >>> jn.losses.zero_one(scores, jnp.array([0, 1]))
        Array(0.5, dtype=float32)
    """
    return jnp.mean(jnp.logical_not(correct(pred, target)).astype(jnp.float32))


@_loss(_check_binary_probabilities)
def binary_cross_entropy(logits: jax.Array, target: jax.Array) -> jax.Array:
    """Binary cross-entropy from logits, ``-t log sigmoid(z) - (1 - t) log sigmoid(-z)``.

    Computed from the logit ``z`` (not the probability ``sigmoid(z)``), which keeps it finite
    where the probability rounds to 0 or 1.

    Args:
        logits: one logit per example, shape ``(N,)`` or ``(N, 1)``.
        target: labels in {0, 1} or {-1, +1} (-1 is class 0, read as 0), or probabilities of
            class 1 in ``[0, 1]``; any dtype, shape ``(N,)`` or ``(N, 1)`` for either shape of
            logits.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.losses.binary_cross_entropy(jnp.array([[0.0], [0.0]]), jnp.array([1, 0]))
        Array(0.6931472, dtype=float32)
    """
    logits, target = binary_targets(logits, target)
    probability = positive_probability(target, logits.dtype)
    return jnp.mean(optax.losses.sigmoid_binary_cross_entropy(logits, probability))


@_loss(_check_multiclass)
def softmax_cross_entropy(logits: jax.Array, target: jax.Array) -> jax.Array:
    """Softmax cross-entropy from logits, ``-sum_j t_j log softmax(z)_j`` (natural log).

    Args:
        logits: scores of shape ``(..., C)``, ``C > 1``.
        target: integer labels in ``[0, C)`` of shape ``(...)``, or one-hot vectors or class
            probabilities of shape ``(..., C)``.

    Raises:
        ValueError: for any other target shape, naming both shapes; for concrete labels
            outside ``[0, C)`` or one-hot values outside ``[0, 1]``, naming a bad value.

    Example (the source's cat score, softmax probability 0.13):
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> loss = jn.losses.softmax_cross_entropy(jnp.array([[3.2, 5.1, -1.7]]), jnp.array([0]))
        >>> round(float(loss), 2)
        2.04
    """
    logits = jnp.asarray(logits)
    if is_one_hot(logits, target):
        target = jnp.asarray(target).astype(logits.dtype)
        return jnp.mean(optax.losses.softmax_cross_entropy(logits, target))
    return jnp.mean(optax.losses.softmax_cross_entropy_with_integer_labels(logits, target))


@_loss(_check_binary_labels)
def hinge(scores: jax.Array, target: jax.Array) -> jax.Array:
    """Binary hinge loss, ``max(0, 1 - t * s)`` with ``t`` in {-1, +1}.

    Args:
        scores: one score per example, shape ``(N,)`` or ``(N, 1)``.
        target: labels in {0, 1} or {-1, +1} (class 1 is ``t = +1``, class 0 ``t = -1``),
            shape ``(N,)`` or ``(N, 1)``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.losses.hinge(jnp.array([2.0, 0.5, 0.5]), jnp.array([1, 1, 0]))
        Array(0.6666667, dtype=float32)
    """
    scores, target = binary_targets(scores, target)
    signs = jnp.where(is_positive(target), 1.0, -1.0).astype(scores.dtype)
    return jnp.mean(optax.losses.hinge_loss(scores, signs))


@_loss(_check_multiclass)
def multiclass_hinge(scores: jax.Array, target: jax.Array, margin: float = 1.0) -> jax.Array:
    """The multi-class SVM loss, ``sum_{j != y} max(0, s_j - s_y + margin)`` per example.

    The sum runs over the wrong classes (PyTorch's ``MultiMarginLoss`` times ``C``), unlike
    optax's ``multiclass_hinge_loss``, which takes the Crammer-Singer maximum.

    Args:
        scores: class scores of shape ``(..., C)``, ``C > 1``.
        target: integer labels in ``[0, C)`` of shape ``(...)`` or one-hot vectors of shape
            ``(..., C)``.
        margin: the margin delta by which the true score should beat every other.

    Example (the source's three samples, per-sample losses 2.9, 0.0 and 12.9):
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
        >>> round(float(jn.losses.multiclass_hinge(scores, jnp.array([0, 1, 2]))), 2)
        5.27
    """
    scores = jnp.asarray(scores)
    labels = class_labels(scores, target)
    true_score = jnp.take_along_axis(scores, labels[..., None], axis=-1)
    violations = jax.nn.relu(scores - true_score + margin)
    is_true = jax.nn.one_hot(labels, scores.shape[-1], dtype=jnp.bool_)
    return jnp.mean(jnp.sum(jnp.where(is_true, 0.0, violations), axis=-1))
