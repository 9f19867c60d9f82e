"""What both classic classifiers share: input checks and the confusion matrix."""

from __future__ import annotations

import jax
import numpy as np

from jaxnet.validation import finite_data


def check_fitted(estimator, fitted: bool) -> None:
    """Raises a RuntimeError naming the estimator when it has not been fitted."""
    if not fitted:
        name = type(estimator).__name__
        raise RuntimeError(
            f"this {name} is not fitted: call {name}(...).fit(x, y) and use the object it "
            "returns (fit returns a new, fitted classifier and leaves the original unchanged)"
        )


def host_examples(x, what: str = "x") -> np.ndarray:
    """``x`` as float32 NumPy examples ``(N, ...)`` on the host, refusing a missing batch axis
    and NaN or infinite values (counted after the cast, so a float64 too large for float32 is
    refused too); ``what`` names the array in the errors."""
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(
            f"{what} must hold examples on its first axis, shape (N, features...) with N >= 1, "
            f"got shape {x.shape}"
        )
    with np.errstate(over="ignore"):
        x = x.astype(np.float32, copy=False)
    finite_data(x, what)
    return x


def check_example_shape(x: jax.Array, expected: tuple[int, ...], what: str = "x") -> None:
    """Raises a ValueError when the examples of ``x`` do not have the shape seen in ``fit``."""
    if tuple(x.shape[1:]) != tuple(expected):
        raise ValueError(
            f"{what} holds examples of shape {tuple(x.shape[1:])}, but the classifier was fitted "
            f"on examples of shape {tuple(expected)}"
        )


def labels_for(x: jax.Array, y) -> tuple[jax.Array, int]:
    """Checks integer labels ``(N,)`` for the examples ``x``; returns them and the class count.

    Classes are ``0 .. max(y)``, so the count is ``max(y) + 1``.
    """
    y = np.asarray(y)
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"y must hold one integer label per example, shape ({x.shape[0]},), got "
            f"{y.dtype} of shape {y.shape}"
        )
    if y.min() < 0:
        raise ValueError(f"labels must be class indices 0, 1, ..., got label {y.min()}")
    # device_put, unlike jnp.asarray, compiles nothing for a new shape.
    return jax.device_put(y.astype(np.int32)), int(y.max()) + 1


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """Counts of each (true class, predicted class) pair.

    Args:
        labels: true integer labels, shape ``(N,)``.
        predictions: predicted integer labels, shape ``(N,)``.
        num_classes: ``C``; every label must lie in ``[0, C)``.

    Returns:
        An int64 NumPy array ``(C, C)``: row ``i``, column ``j`` counts the examples of class
        ``i`` predicted as ``j`` (scikit-learn's convention), so the diagonal holds the hits.

    Example:
        >>> import jaxnet as jn
        >>> jn.classic.confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2], 3)
        array([[1, 0, 0],
               [0, 1, 1],
               [0, 0, 1]])
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(
            f"labels and predictions must both have shape (N,), got {labels.shape} and "
            f"{predictions.shape}"
        )
    for what, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{what} must lie in [0, {num_classes}), got values from {values.min()} to "
                f"{values.max()}"
            )
    pairs = labels.astype(np.int64) * num_classes + predictions
    return np.bincount(pairs, minlength=num_classes * num_classes).reshape(num_classes, -1)
