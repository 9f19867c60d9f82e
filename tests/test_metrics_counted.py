"""Top-k accuracy, confusion matrix, precision, recall and F1 against scikit-learn, directly and
as fit's and evaluate's metrics (exact over the data set, not means of batch values)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import metrics as sk

import jaxnet as jn


def scores_and_labels(n=300, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n).astype(np.int32)
    scores = rng.normal(size=(n, classes)).astype(np.float32)
    scores[np.arange(n), labels] += 0.8  # better than chance, not perfect
    return scores, labels


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_equals_scikit_learn(k):
    scores, labels = scores_and_labels()
    expected = sk.top_k_accuracy_score(labels, scores, k=k, labels=range(4))
    assert float(jn.metrics.top_k_accuracy(k)(scores, labels)) == pytest.approx(expected)


def test_counted_metrics_equal_scikit_learn():
    scores, labels = scores_and_labels()
    predicted = scores.argmax(axis=1)
    np.testing.assert_array_equal(jn.metrics.confusion_matrix(4)(scores, labels),
                                  sk.confusion_matrix(labels, predicted))
    for name, reference in (("precision", sk.precision_score), ("recall", sk.recall_score),
                            ("f1", sk.f1_score)):
        metric = getattr(jn.metrics, name)
        assert float(metric(4)(scores, labels)) == pytest.approx(
            reference(labels, predicted, average="macro", zero_division=0), rel=1e-6)
        np.testing.assert_allclose(metric(4, average=None)(scores, labels),
                                   reference(labels, predicted, average=None, zero_division=0),
                                   rtol=1e-6)


def test_a_class_never_predicted_scores_zero_as_in_scikit_learn():
    scores = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]], np.float32)
    labels = np.array([0, 2], np.int32)
    np.testing.assert_allclose(jn.metrics.precision(3, average=None)(scores, labels),
                               [1.0, 0.0, 0.0])


def test_fit_and_evaluate_report_exact_counted_metrics_over_uneven_batches():
    scores, labels = scores_and_labels(n=103)
    model = jn.Sequential([jn.Dense(4)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 4)))
    metrics = {"f1": jn.metrics.f1(4), "recall_per_class": jn.metrics.recall(4, average=None),
               "confusion": jn.metrics.confusion_matrix(4),
               "top_2": jn.metrics.top_k_accuracy(2)}
    objective = jn.objective(model, jn.losses.softmax_cross_entropy, metrics=metrics)
    result = jn.fit(objective, params, state, optax.adam(1e-2), (scores, labels), epochs=2,
                    batch_size=16, key=jax.random.key(0), validation_data=(scores, labels),
                    verbose=False)
    predicted = np.asarray(model.apply(result.params, result.state, scores)[0]).argmax(axis=1)
    history = result.history
    assert history["val_f1"][-1] == pytest.approx(
        sk.f1_score(labels, predicted, average="macro"), rel=1e-5)
    np.testing.assert_allclose(history["val_recall_per_class"][-1],
                               sk.recall_score(labels, predicted, average=None), rtol=1e-5)
    assert history["val_confusion"][-1] == sk.confusion_matrix(labels, predicted).tolist()
    # The training confusion counts every example of the epoch's 6 full batches of 16.
    assert np.sum(history["confusion"][-1]) == 6 * 16
    small = jn.evaluate(objective, result.params, result.state, (scores, labels), batch_size=10)
    assert small["f1"] == pytest.approx(history["val_f1"][-1], rel=1e-6)
