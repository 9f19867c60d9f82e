"""The confusion matrix shared by the classic classifiers."""

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

import jaxnet as jn


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    counts = jn.classic.confusion_matrix(labels, predictions, 7)
    np.testing.assert_array_equal(
        counts, sklearn_confusion_matrix(labels, predictions, labels=np.arange(7))
    )
    assert counts.sum() == 500 and np.trace(counts) == np.sum(labels == predictions)


def test_confusion_matrix_keeps_classes_that_never_occur():
    counts = jn.classic.confusion_matrix(np.array([1, 1]), np.array([1, 1]), 4)
    assert counts.shape == (4, 4) and counts[1, 1] == 2 and counts.sum() == 2


def test_confusion_matrix_refuses_bad_input():
    with pytest.raises(ValueError, match=r"predictions must lie in \[0, 3\), got values from 0"):
        jn.classic.confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match=r"must both have shape \(N,\), got \(2,\) and \(3,\)"):
        jn.classic.confusion_matrix([0, 1], [0, 1, 2], 3)
