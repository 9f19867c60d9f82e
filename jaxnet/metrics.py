"""Metrics: metric(pred, target) -> scalar, the mean over the batch.

Predictions are scores or logits. ``pred`` of shape ``(..., C)`` with ``C > 1`` is a multi-class
prediction (the class is the argmax); ``pred`` of shape ``(N,)`` or ``(N, 1)`` is binary (one logit
per example, class 1 when positive). The helpers below read targets the same way for the metrics
and for the classification losses in :mod:`jaxnet.losses`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def is_binary(pred: jax.Array) -> bool:
    """Whether ``pred`` holds one logit per example: shape ``(N,)`` or ``(..., 1)``."""
    return jnp.ndim(pred) <= 1 or jnp.shape(pred)[-1] == 1


def binary_targets(pred: jax.Array, target: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A binary prediction and its target, each reshaped to the batch shape.

    Args:
        pred: one logit per example, shape ``(N,)`` or ``(N, 1)`` (or ``(..., 1)``).
        target: one target per example, of the batch shape or the batch shape followed by ``1``;
            any dtype.

    Returns:
        ``(pred, target)``, both of the batch shape (``(N,)``); ``target``'s dtype is unchanged.

    Raises:
        ValueError: when ``pred`` has more than one logit per example, or the shapes disagree.
    """
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    if not is_binary(pred):
        raise ValueError(
            f"expected one logit per example, shape (N,) or (N, 1), got predictions of shape "
            f"{pred.shape}: {pred.shape[-1]} scores per example, a multi-class prediction"
        )
    batch = pred.shape[:-1] if pred.ndim >= 2 else pred.shape
    if target.shape not in (batch, batch + (1,)):
        raise ValueError(
            f"expected binary targets of shape {batch} or {batch + (1,)} for predictions of "
            f"shape {pred.shape}, got targets of shape {target.shape}"
        )
    return pred.reshape(batch), target.reshape(batch)


def is_positive(target: jax.Array) -> jax.Array:
    """Whether each binary target is class 1: labels in {0, 1} or {-1, +1}, or probabilities.

    A target counts as class 1 when it exceeds 0.5, which reads all three encodings alike.
    """
    return jnp.asarray(target).astype(jnp.float32) > 0.5


def is_one_hot(pred: jax.Array, target: jax.Array) -> bool:
    """Whether multi-class targets are one value per class, rather than integer labels.

    Args:
        pred: scores of shape ``(..., C)``.
        target: integer labels of shape ``(...)``, or one-hot vectors or class probabilities of
            shape ``(..., C)``.

    Raises:
        ValueError: when ``target`` has neither shape.
        TypeError: when labels of shape ``(...)`` are not integers.
    """
    pred_shape, target_shape = jnp.shape(pred), jnp.shape(target)
    if target_shape == pred_shape:
        return True
    if target_shape == pred_shape[:-1]:
        if not jnp.issubdtype(jnp.result_type(target), jnp.integer):
            raise TypeError(
                f"integer labels must have an integer dtype, got {jnp.result_type(target)}"
            )
        return False
    raise ValueError(
        f"expected targets of shape {pred_shape[:-1]} (integer labels) or {pred_shape} (one-hot "
        f"or probabilities) for predictions of shape {pred_shape}, got targets of shape "
        f"{target_shape}"
    )


def class_labels(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Integer labels of shape ``(...)`` from integer labels or one-hot targets (their argmax)."""
    return jnp.argmax(target, axis=-1) if is_one_hot(pred, target) else jnp.asarray(target)


def correct(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Whether each example's predicted class is its target class, a bool array of batch shape.

    Takes ``pred`` and ``target`` as :func:`accuracy` does.
    """
    if is_binary(pred):
        pred, target = binary_targets(pred, target)
        return (pred > 0) == is_positive(target)
    return jnp.argmax(pred, axis=-1) == class_labels(pred, target)


def accuracy(pred: jax.Array, target: jax.Array) -> jax.Array:
    """The fraction of examples whose predicted class is the target class.

    Args:
        pred: scores or logits of shape ``(..., C)`` (multi-class, class = argmax), or one logit
            per example of shape ``(N,)`` or ``(N, 1)`` (binary, class 1 when positive).
        target: for multi-class, integer labels of shape ``(...)`` or one-hot vectors of shape
            ``(..., C)``; for binary, labels in {0, 1} or {-1, +1} (or probabilities, rounded at
            0.5) of shape ``(N,)`` or ``(N, 1)``.

    Returns:
        A float32 scalar in [0, 1], the mean over all batch axes.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
        >>> jn.metrics.accuracy(scores, jnp.array([0, 1, 2]))
        Array(0.33333334, dtype=float32)
        >>> jn.metrics.accuracy(jnp.array([2.0, -1.0]), jnp.array([1, 1]))
        Array(0.5, dtype=float32)
    """
    return jnp.mean(correct(pred, target).astype(jnp.float32))
