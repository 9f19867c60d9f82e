"""Losses: loss(pred, target) -> scalar, the mean over the batch.

Every loss is a :class:`~jaxnet.composable.Composable`, so sums and scalar multiples of losses are
losses again: ``jn.losses.mse + 0.1 * jn.losses.mae``. Classification losses take scores or logits,
never probabilities, and stay finite with finite gradients for logits as large as 1e4. They read
targets as :mod:`jaxnet.metrics` does: integer labels or one-hot vectors for multi-class scores of
shape ``(..., C)``; labels for one logit per example, shape ``(N,)`` or ``(N, 1)``.

Per-example formulas come from optax where it has them; optax's losses are per example and
unreduced, so each loss here takes the mean over all batch axes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxnet.composable import Composable
from jaxnet.metrics import (
    binary_targets,
    class_labels,
    correct,
    is_binary,
    is_one_hot,
    is_positive,
)


def _same_shape(pred: jax.Array, target: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``pred`` and ``target`` cast to ``pred``'s dtype, refusing to broadcast unequal shapes."""
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(
            f"expected targets of the predictions' shape {pred.shape}, got targets of shape "
            f"{target.shape}"
        )
    return pred, target.astype(pred.dtype)


def _multiclass(scores: jax.Array) -> jax.Array:
    """``scores`` as an array, refusing one score per example (a loss over it is constant)."""
    scores = jnp.asarray(scores)
    if is_binary(scores):
        raise ValueError(
            f"expected scores of shape (..., C) with C > 1 classes, got shape {scores.shape}; "
            "for one logit per example use binary_cross_entropy or hinge"
        )
    return scores


@Composable
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
    pred, target = _same_shape(pred, target)
    return jnp.mean(optax.losses.squared_error(pred, target))


@Composable
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
    pred, target = _same_shape(pred, target)
    return jnp.mean(jnp.abs(pred - target))


@Composable
def zero_one(pred: jax.Array, target: jax.Array) -> jax.Array:
    """The 0-1 loss: the fraction of examples misclassified, ``1 - accuracy``.

    Its gradient is zero almost everywhere, so it is for evaluation, not training.

    Args:
        pred: scores of shape ``(..., C)`` (class = argmax), or one logit per example of shape
            ``(N,)`` or ``(N, 1)`` (class 1 when positive).
        target: integer labels of shape ``(...)`` or one-hot vectors of shape ``(..., C)``; for
            binary predictions labels in {0, 1} or {-1, +1} of shape ``(N,)`` or ``(N, 1)``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]])
        >>> jn.losses.zero_one(scores, jnp.array([0, 1]))
        Array(0.5, dtype=float32)
    """
    return jnp.mean(jnp.logical_not(correct(pred, target)).astype(jnp.float32))


@Composable
def binary_cross_entropy(logits: jax.Array, target: jax.Array) -> jax.Array:
    """Binary cross-entropy from logits, ``-t log sigmoid(z) - (1 - t) log sigmoid(-z)``.

    Computed from the logit ``z`` (not the probability ``sigmoid(z)``), which keeps it finite
    where the probability rounds to 0 or 1.

    Args:
        logits: one logit per example, shape ``(N,)`` or ``(N, 1)``.
        target: labels in {0, 1} (any dtype) or probabilities of class 1, shape ``(N,)`` or
            ``(N, 1)`` for either shape of logits.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.losses.binary_cross_entropy(jnp.array([[0.0], [0.0]]), jnp.array([1, 0]))
        Array(0.6931472, dtype=float32)
    """
    logits, target = binary_targets(logits, target)
    return jnp.mean(optax.losses.sigmoid_binary_cross_entropy(logits, target.astype(logits.dtype)))


@Composable
def softmax_cross_entropy(logits: jax.Array, target: jax.Array) -> jax.Array:
    """Softmax cross-entropy from logits, ``-sum_j t_j log softmax(z)_j`` (natural log).

    Args:
        logits: scores of shape ``(..., C)``, ``C > 1``.
        target: integer labels of shape ``(...)``, or one-hot vectors or class probabilities of
            shape ``(..., C)``.

    Raises:
        ValueError: for any other target shape, naming both shapes.

    Example (the source's cat score, softmax probability 0.13):
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> loss = jn.losses.softmax_cross_entropy(jnp.array([[3.2, 5.1, -1.7]]), jnp.array([0]))
        >>> round(float(loss), 2)
        2.04
    """
    logits = _multiclass(logits)
    if is_one_hot(logits, target):
        target = jnp.asarray(target).astype(logits.dtype)
        return jnp.mean(optax.losses.softmax_cross_entropy(logits, target))
    return jnp.mean(optax.losses.softmax_cross_entropy_with_integer_labels(logits, target))


@Composable
def hinge(scores: jax.Array, target: jax.Array) -> jax.Array:
    """Binary hinge loss, ``max(0, 1 - t * s)`` with ``t`` in {-1, +1}.

    Args:
        scores: one score per example, shape ``(N,)`` or ``(N, 1)``.
        target: labels in {0, 1} or {-1, +1} (class 1 is ``t = +1``), shape ``(N,)`` or ``(N, 1)``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.losses.hinge(jnp.array([2.0, 0.5, 0.5]), jnp.array([1, 1, 0]))
        Array(0.6666667, dtype=float32)
    """
    scores, target = binary_targets(scores, target)
    signs = jnp.where(is_positive(target), 1.0, -1.0).astype(scores.dtype)
    return jnp.mean(optax.losses.hinge_loss(scores, signs))


@Composable
def multiclass_hinge(scores: jax.Array, target: jax.Array, margin: float = 1.0) -> jax.Array:
    """The multi-class SVM loss, ``sum_{j != y} max(0, s_j - s_y + margin)`` per example.

    The sum runs over the wrong classes (PyTorch's ``MultiMarginLoss`` times ``C``), unlike
    optax's ``multiclass_hinge_loss``, which takes the Crammer-Singer maximum.

    Args:
        scores: class scores of shape ``(..., C)``, ``C > 1``.
        target: integer labels of shape ``(...)`` or one-hot vectors of shape ``(..., C)``.
        margin: the margin delta by which the true score should beat every other.

    Example (the source's three samples, per-sample losses 2.9, 0.0 and 12.9):
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
        >>> round(float(jn.losses.multiclass_hinge(scores, jnp.array([0, 1, 2]))), 2)
        5.27
    """
    scores = _multiclass(scores)
    labels = class_labels(scores, target)
    true_score = jnp.take_along_axis(scores, labels[..., None], axis=-1)
    violations = jax.nn.relu(scores - true_score + margin)
    is_true = jax.nn.one_hot(labels, scores.shape[-1], dtype=jnp.bool_)
    return jnp.mean(jnp.sum(jnp.where(is_true, 0.0, violations), axis=-1))
