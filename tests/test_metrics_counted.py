"""Top-k accuracy, confusion matrix, precision, recall and F1 against scikit-learn, directly and
as fit's and evaluate's metrics (exact over the data set, not means of batch values)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import metrics as sk

import jaxnet as jn

# A metric as it is, under jit, and per example under vmap (then the mean over the batch).
TRANSFORMS = pytest.mark.parametrize(
    "transform",
    [lambda f: f, jax.jit, lambda f: lambda p, t: jnp.mean(jax.vmap(f)(p, t))],
    ids=["eager", "jit", "vmap"],
)


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


@TRANSFORMS
@pytest.mark.parametrize("classes", [3, 4, 6])
def test_top_k_accuracy_breaks_ties_as_scikit_learn_does(transform, classes):
    # Scores from {0, 1, 2}: most rows tie the target with other classes.
    rng = np.random.default_rng(classes)
    for k in range(1, classes):
        metric = transform(jn.metrics.top_k_accuracy(k))
        for _ in range(10):
            scores = rng.integers(0, 3, size=(12, classes)).astype(np.float32)
            labels = rng.integers(0, classes, size=12).astype(np.int32)
            expected = sk.top_k_accuracy_score(labels, scores, k=k, labels=range(classes))
            one_hot = np.eye(classes, dtype=np.float32)[labels]
            assert float(metric(scores, labels)) == pytest.approx(expected)
            assert float(metric(scores, one_hot)) == pytest.approx(expected)


def test_top_1_accuracy_of_equal_scores_gives_each_tie_to_the_highest_class():
    labels = np.arange(4, dtype=np.int32)
    assert float(jn.metrics.top_k_accuracy(1)(np.zeros((4, 4), np.float32), labels)) == 0.25
    scores = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]], np.float32)
    labels = np.array([0, 1], np.int32)
    assert float(jn.metrics.top_k_accuracy(1)(scores, labels)) == pytest.approx(
        sk.top_k_accuracy_score(labels, scores, k=1, labels=range(3)))


@TRANSFORMS
def test_top_k_accuracy_counts_an_example_with_a_nan_score_as_wrong(transform):
    nan = np.nan
    scores = np.array([[nan, nan, nan], [5, nan, 0], [nan, 5, 0], [5, 1, 0]], np.float32)
    labels = np.zeros(4, np.int32)
    # k = 3 would put every target in the top 3: only the row without NaN counts.
    for k in (1, 3):
        assert float(transform(jn.metrics.top_k_accuracy(k))(scores, labels)) == 0.25


def predictions_missing_classes(seed, n=30, classes=6):
    """Labels and predicted classes, each from a random subset of the classes, so that some
    classes are only true, some only predicted and some neither."""
    rng = np.random.default_rng(seed)
    true_classes, predicted_classes = (rng.choice(classes, rng.integers(1, 4), replace=False)
                                       for _ in range(2))
    labels = rng.choice(true_classes, n).astype(np.int32)
    predicted = np.where(rng.random(n) < 0.5, labels, rng.choice(predicted_classes, n))
    return np.eye(classes, dtype=np.float32)[predicted], labels, predicted


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
def test_macro_average_is_over_the_classes_present_or_over_all_when_asked_as_in_scikit_learn(name):
    metric, reference = getattr(jn.metrics, name), getattr(sk, f"{name}_score")
    present, every_class = jax.jit(metric(6)), jax.jit(metric(6, labels=range(6)))
    chosen = metric(6, average=None, labels=[4, 1])
    for seed in range(20):
        scores, labels, predicted = predictions_missing_classes(seed)
        # scikit-learn's default zero_division ("warn") scores an undefined class 0.
        assert float(present(scores, labels)) == pytest.approx(
            reference(labels, predicted, average="macro"), rel=1e-6)
        assert float(every_class(scores, labels)) == pytest.approx(
            reference(labels, predicted, labels=range(6), average="macro", zero_division=0),
            rel=1e-6)
        np.testing.assert_allclose(chosen(scores, labels),
                                   reference(labels, predicted, labels=[4, 1], average=None),
                                   rtol=1e-6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_macro_f1_counts_a_class_present_in_any_batch_of_the_summed_counts():
    scores, labels, predicted = predictions_missing_classes(seed=3)
    # The first batch lacks a class that the second has: presence is read from the sum.
    cut = int(np.argmax(labels != labels[0]))
    metric = jn.metrics.f1(6)
    counts = metric.counts(scores[:cut], labels[:cut]) + metric.counts(scores[cut:], labels[cut:])
    assert float(metric.finalize(counts)) == pytest.approx(
        sk.f1_score(labels, predicted, average="macro"), rel=1e-6)


@pytest.mark.parametrize("labels", [[], [0, 0], [0, 6], [-1]])
def test_labels_must_be_distinct_classes(labels):
    with pytest.raises(ValueError, match="labels"):
        jn.metrics.f1(6, labels=labels)


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
