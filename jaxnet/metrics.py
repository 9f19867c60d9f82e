"""Metrics: metric(pred, target) -> scalar, the mean over the batch.

Predictions are scores or logits. ``pred`` of shape ``(..., C)`` with ``C > 1`` is a multi-class
prediction (the class is the argmax); ``pred`` of shape ``(N,)`` or ``(N, 1)`` is binary (one logit
per example, class 1 when positive). The helpers below read targets the same way for the metrics
and for the classification losses in ``jaxnet.losses``:

* multi-class: integer labels in ``[0, C)`` of shape ``(...)``, or one-hot vectors or class
  probabilities (values in ``[0, 1]``) of shape ``(..., C)``;
* binary: labels in {0, 1}, labels in {-1, +1} (``-1`` means class 0), or, where a loss or metric
  says so, probabilities of class 1 in ``[0, 1]``; of shape ``(N,)`` or ``(N, 1)``. The probability
  of class 1 is ``0`` for ``-1`` and the target itself otherwise; the class is 1 when that exceeds
  0.5.

Concrete targets with other values are a ValueError naming a bad value; traced ones are checked
under ``jaxnet.debug_checks`` (see ``jaxnet.checks``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxnet.checks import check_values
from jaxnet.validation import positive_int

BINARY_LABELS = "labels 0 / 1 or -1 / +1 (-1 meaning class 0)"


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
    batch = _binary_batch(pred, target)
    return jnp.reshape(pred, batch), jnp.reshape(target, batch)


def _binary_batch(pred, target) -> tuple[int, ...]:
    """The batch shape of a binary prediction and its target; a ValueError if they disagree."""
    pred_shape, target_shape = tuple(jnp.shape(pred)), tuple(jnp.shape(target))
    if not is_binary(pred):
        raise ValueError(
            f"expected one logit per example, shape (N,) or (N, 1), got predictions of shape "
            f"{pred_shape}: {pred_shape[-1]} scores per example, a multi-class prediction"
        )
    batch = pred_shape[:-1] if len(pred_shape) >= 2 else pred_shape
    if target_shape not in (batch, batch + (1,)):
        raise ValueError(
            f"expected binary targets of shape {batch} or {batch + (1,)} for predictions of "
            f"shape {pred_shape}, got targets of shape {target_shape}"
        )
    return batch


def is_positive(target: jax.Array) -> jax.Array:
    """Whether each binary target is class 1: labels in {0, 1} or {-1, +1}, or probabilities.

    A target counts as class 1 when it exceeds 0.5, which reads all three encodings alike.
    """
    return jnp.asarray(target).astype(jnp.float32) > 0.5


def positive_probability(target: jax.Array, dtype) -> jax.Array:
    """The probability of class 1 that each binary target stands for, as ``dtype``.

    ``-1`` (class 0 in the {-1, +1} encoding) becomes 0; 0, 1 and probabilities stay as they are.
    """
    target = jnp.asarray(target).astype(dtype)
    return jnp.where(target == -1, jnp.zeros_like(target), target)


def check_binary_targets(
    pred: jax.Array, target: jax.Array, name: str, *, probabilities: bool
) -> None:
    """Checks a binary target's shape against ``pred`` and its values.

    Args:
        pred: the predictions, or anything with their ``shape`` (a ``jax.ShapeDtypeStruct``).
        target: the targets, concrete or traced (see ``jaxnet.checks.check_values``).
        name: the loss or metric, for the message.
        probabilities: whether probabilities in ``[0, 1]`` are accepted besides the labels.

    Raises:
        ValueError: naming both shapes, or a bad value.
    """
    _binary_batch(pred, target)
    if probabilities:
        check_values(
            target,
            lambda t: (t == -1) | ((t >= 0) & (t <= 1)),
            f"{name}: targets must be {BINARY_LABELS} or probabilities of class 1 in [0, 1]",
        )
    else:
        check_values(
            target, lambda t: (t == -1) | (t == 0) | (t == 1), f"{name}: targets must be "
            f"{BINARY_LABELS}",
        )


def check_multiclass_targets(pred: jax.Array, target: jax.Array, name: str) -> None:
    """Checks multi-class targets' shape and dtype against ``pred`` (as ``is_one_hot`` does)
    and their values: integer labels in ``[0, C)``, one-hot or probability values in ``[0, 1]``.

    Args:
        pred: the scores ``(..., C)``, or anything with their ``shape``.
        target: the targets, concrete or traced (see ``jaxnet.checks.check_values``).
        name: the loss or metric, for the message.
    """
    if is_one_hot(pred, target):
        check_values(
            target, lambda t: (t >= 0) & (t <= 1),
            f"{name}: one-hot or probability targets must lie in [0, 1]",
        )
    else:
        classes = jnp.shape(pred)[-1]
        check_values(
            target, lambda t: (t >= 0) & (t < classes),
            f"{name}: labels must be integers in [0, {classes}) for scores of {classes} classes",
        )


def check_targets(pred: jax.Array, target: jax.Array, name: str) -> None:
    """The checks of ``accuracy``: binary targets (probabilities included) for one logit per
    example, multi-class targets otherwise."""
    if is_binary(pred):
        check_binary_targets(pred, target, name, probabilities=True)
    else:
        check_multiclass_targets(pred, target, name)


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

    Takes ``pred`` and ``target`` as ``accuracy`` does.
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
        target: for multi-class, integer labels in ``[0, C)`` of shape ``(...)`` or one-hot
            vectors of shape ``(..., C)``; for binary, labels in {0, 1} or {-1, +1} (or
            probabilities, rounded at 0.5) of shape ``(N,)`` or ``(N, 1)``.

    Returns:
        A float32 scalar in [0, 1], the mean over all batch axes.

    Raises:
        ValueError: for targets of another shape, or concrete targets of other values.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
        >>> jn.metrics.accuracy(scores, jnp.array([0, 1, 2]))
        Array(0.33333334, dtype=float32)
        >>> jn.metrics.accuracy(jnp.array([2.0, -1.0]), jnp.array([1, 1]))
        Array(0.5, dtype=float32)
    """
    check_targets(pred, target, "accuracy")
    return jnp.mean(correct(pred, target).astype(jnp.float32))


def predicted_and_true(pred: jax.Array, target: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Each example's predicted class and target class, integer arrays of the batch shape.

    Multi-class: the argmax of ``pred`` and the label (or one-hot's argmax); binary (one logit):
    1 where the logit is positive, and 1 where the target is class 1.
    """
    if is_binary(pred):
        pred, target = binary_targets(pred, target)
        return (pred > 0).astype(jnp.int32), is_positive(target).astype(jnp.int32)
    return jnp.argmax(pred, axis=-1), class_labels(pred, target)


def top_k_accuracy(k: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """The metric: the fraction of examples whose target class is among the ``k`` top scores.

    Classes are ranked as scikit-learn's ``top_k_accuracy_score`` ranks them: by score, and among
    equal scores the higher class index first. So the target is in the top ``k`` when fewer than
    ``k`` classes score more than it, or score as much and have a higher index. An example with a
    NaN among its scores counts as wrong (scikit-learn refuses NaN scores).

    Args:
        k: how many top-scoring classes may hold the target, a positive int.

    Returns:
        ``metric(pred, target)``: ``pred`` the scores of shape ``(..., C)``, ``target`` integer
        labels in ``[0, C)`` of shape ``(...)`` or one-hot vectors of shape ``(..., C)``; the
        value a float32 scalar in [0, 1], the mean over all batch axes.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
        >>> jn.metrics.top_k_accuracy(2)(scores, jnp.array([0, 2, 2]))
        Array(0.6666667, dtype=float32)
        >>> jn.metrics.top_k_accuracy(1)(jnp.zeros((2, 3)), jnp.array([0, 2]))  # class 2 wins
        Array(0.5, dtype=float32)
    """
    k = positive_int(k, "k")

    def top_k(pred: jax.Array, target: jax.Array) -> jax.Array:
        check_multiclass_targets(pred, target, f"top_{k}_accuracy")
        pred = jnp.asarray(pred)
        labels = class_labels(pred, target).astype(jnp.int32)[..., None]
        true_score = jnp.take_along_axis(pred, labels, axis=-1)
        classes = jax.lax.broadcasted_iota(jnp.int32, pred.shape, pred.ndim - 1)
        # scikit-learn reverses a stable ascending sort, so a tie goes to the higher class.
        ahead = (pred > true_score) | ((pred == true_score) & (classes > labels))
        hit = (jnp.sum(ahead, axis=-1) < k) & ~jnp.any(jnp.isnan(pred), axis=-1)
        return jnp.mean(hit.astype(jnp.float32))

    top_k.__name__ = f"top_{k}_accuracy"
    return top_k


@dataclasses.dataclass(frozen=True)
class Counted:
    """A metric computed from counts that add up over batches, so that it is exact over a data
    set however it is split (precision, recall and F1 are not means of per-batch values).

    ``counts(pred, target)`` gives the batch's counts; ``finalize(counts)`` the value. Called
    directly, ``metric(pred, target)`` is the value on that batch. Training code (``fit``,
    ``evaluate``, ``sweep``) sums the counts over the steps of an epoch or the chunks of a data
    set, then finalizes once.
    """

    counts: Callable[[jax.Array, jax.Array], jax.Array]
    finalize: Callable[[jax.Array], jax.Array]
    name: str

    def __call__(self, pred: jax.Array, target: jax.Array) -> jax.Array:
        return self.finalize(self.counts(pred, target))


def confusion_matrix(num_classes: int) -> Counted:
    """The metric: counts of (true class, predicted class) pairs, an int32 array ``(C, C)``
    (rows true, columns predicted, scikit-learn's convention).

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
        >>> jn.metrics.confusion_matrix(3)(scores, jnp.array([0, 1, 2])).tolist()
        [[0, 1, 0], [0, 1, 0], [0, 1, 0]]
    """
    num_classes = positive_int(num_classes, "num_classes", minimum=2)

    def counts(pred: jax.Array, target: jax.Array) -> jax.Array:
        check_targets(pred, target, "confusion_matrix")
        predicted, true = (jnp.reshape(a, -1) for a in predicted_and_true(pred, target))
        pairs = true * num_classes + predicted
        return jnp.bincount(pairs, length=num_classes * num_classes).reshape(
            num_classes, num_classes).astype(jnp.int32)

    return Counted(counts, lambda matrix: matrix, "confusion_matrix")


def _per_class(matrix: jax.Array, which: str) -> jax.Array:
    """Precision, recall or F1 of each class from a confusion matrix; 0 where undefined
    (scikit-learn's ``zero_division=0``)."""
    matrix = jnp.asarray(matrix, jnp.float32)
    hits = jnp.diagonal(matrix)
    predicted, true = jnp.sum(matrix, axis=0), jnp.sum(matrix, axis=1)
    if which == "precision":
        numerator, denominator = hits, predicted
    elif which == "recall":
        numerator, denominator = hits, true
    else:
        numerator, denominator = 2.0 * hits, predicted + true
    return jnp.where(denominator > 0, numerator / jnp.maximum(denominator, 1.0), 0.0)


def _class_score(
    which: str, num_classes: int, average: str | None, labels: Sequence[int] | None
) -> Counted:
    if average not in ("macro", None):
        raise ValueError(f"average must be 'macro' or None (per class), got {average!r}")
    matrix = confusion_matrix(num_classes)
    chosen = None if labels is None else _class_indices(labels, num_classes)

    def finalize(counts: jax.Array) -> jax.Array:
        scores = _per_class(counts, which)
        if chosen is not None:
            scores = scores[jnp.array(chosen)]
        if average is None:
            return scores
        if chosen is not None:
            return jnp.mean(scores)
        # scikit-learn's default: the classes in the targets or the predictions, here those of
        # the counts summed over the evaluation, not of each batch. 0 for no examples at all.
        present = (jnp.sum(counts, axis=0) > 0) | (jnp.sum(counts, axis=1) > 0)
        return jnp.sum(jnp.where(present, scores, 0.0)) / jnp.maximum(
            jnp.sum(present, dtype=jnp.float32), 1.0)

    return Counted(matrix.counts, finalize, which if average else f"{which}_per_class")


def _class_indices(labels: Sequence[int], num_classes: int) -> tuple[int, ...]:
    """``labels`` as a tuple of distinct ints in ``[0, num_classes)``; a ValueError otherwise."""
    chosen = tuple(positive_int(label, "each of labels", minimum=0) for label in labels)
    if not chosen or len(set(chosen)) != len(chosen) or max(chosen) >= num_classes:
        raise ValueError(
            f"labels must be distinct classes in [0, {num_classes}), at least one, got "
            f"{list(chosen)}"
        )
    return chosen


def precision(
    num_classes: int, average: str | None = "macro", labels: Sequence[int] | None = None
) -> Counted:
    """The metric: precision, hits over predictions of each class; their mean with
    ``average="macro"`` (scikit-learn's ``precision_score(average="macro")``), or one per class.

    Args:
        num_classes: the number of classes ``C``, at least 2.
        average: ``"macro"`` (the default) for the unweighted mean over classes, ``None`` for
            one value per class.
        labels: the classes to score, in order. By default ``"macro"`` averages over the classes
            present in the targets or the predictions, as scikit-learn does by default; present
            in the counts summed over the whole evaluation, not in each batch.
            ``labels=range(num_classes)`` averages over every class, as in scikit-learn.
            By default ``average=None`` gives every class.

    Returns:
        A ``Counted`` metric: a float32 scalar with ``"macro"``; with ``average=None`` an
        array of shape ``(C,)``, or ``(len(labels),)``. A class with no predictions (for
        precision), no examples (recall) or neither (F1) scores 0, as with scikit-learn's
        ``zero_division=0`` or its default ``"warn"``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
        >>> jn.metrics.precision(3, average=None)(scores, jnp.array([0, 1, 2])).tolist()
        [0.0, 0.3333333432674408, 0.0]
    """
    return _class_score("precision", num_classes, average, labels)


def recall(
    num_classes: int, average: str | None = "macro", labels: Sequence[int] | None = None
) -> Counted:
    """The metric: recall, hits over examples of each class; their mean with
    ``average="macro"`` (scikit-learn's ``recall_score(average="macro")``), or one per class.

    Takes its arguments and returns as ``precision`` does.
    """
    return _class_score("recall", num_classes, average, labels)


def f1(
    num_classes: int, average: str | None = "macro", labels: Sequence[int] | None = None
) -> Counted:
    """The metric: F1, the harmonic mean of precision and recall of each class; their mean with
    ``average="macro"`` (scikit-learn's ``f1_score(average="macro")``), or one per class.

    Takes its arguments and returns as ``precision`` does.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> scores = jnp.eye(3)[jnp.array([0, 1, 1, 1])]  # class 2 is neither true nor predicted
        >>> jn.metrics.f1(3)(scores, jnp.array([0, 1, 0, 1]))
        Array(0.73333335, dtype=float32)
        >>> jn.metrics.f1(3, labels=range(3))(scores, jnp.array([0, 1, 0, 1]))
        Array(0.48888892, dtype=float32)
    """
    return _class_score("f1", num_classes, average, labels)
