"""LinearClassifier: the source's worked losses, accuracy on digits, templates, errors."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet as jn

SOURCE_SCORES = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])


def with_scores(loss, scores, l2=0.0):
    """A classifier whose scores for the identity inputs ``eye(C)`` are the rows of ``scores``."""
    params = {"dense_0": {"w": scores, "b": jnp.zeros(scores.shape[1])}}
    return jn.classic.LinearClassifier(loss, l2=l2, params=params,
                                       example_shape=(scores.shape[0],))


@pytest.fixture(scope="module")
def digits():
    return jn.data.load("digits")


@pytest.fixture(scope="module", params=["svm", "softmax"])
def trained(request, digits):
    return jn.classic.LinearClassifier(request.param).fit(digits.x_train, digits.y_train)


def test_svm_loss_on_the_source_example():
    clf = with_scores("svm", SOURCE_SCORES)
    x, labels = jnp.eye(3), jnp.array([0, 1, 2])
    np.testing.assert_allclose(clf.scores(x), SOURCE_SCORES)
    per_sample = [float(clf.loss_value(x[i:i + 1], labels[i:i + 1])) for i in range(3)]
    np.testing.assert_allclose(per_sample, [2.9, 0.0, 12.9], atol=1e-5)
    assert round(float(clf.loss_value(x, labels)), 2) == 5.27


def test_softmax_loss_on_the_source_example():
    clf = with_scores("softmax", SOURCE_SCORES)
    assert round(float(clf.loss_value(jnp.eye(3)[:1], jnp.array([0]))), 2) == 2.04


def test_the_objective_adds_half_l2_times_the_squared_weights():
    clf = with_scores("svm", SOURCE_SCORES, l2=0.1)
    penalty = 0.1 * 0.5 * float(jnp.sum(SOURCE_SCORES**2))
    value = float(clf.loss_value(jnp.eye(3), jnp.array([0, 1, 2])))
    np.testing.assert_allclose(value, 5.2666667 + penalty, rtol=1e-5)


def test_reaches_90_percent_on_digits(trained, digits):
    accuracy = float(np.mean(np.asarray(trained.predict(digits.x_test)) == digits.y_test))
    assert accuracy >= 0.9


def test_scores_are_the_linear_map(trained, digits):
    w, b = trained.params["dense_0"]["w"], trained.params["dense_0"]["b"]
    x = digits.x_test[:5]
    expected = x.reshape(5, -1) @ w + b[None, :]
    np.testing.assert_allclose(trained.scores(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(trained.predict(x), np.argmax(trained.scores(x), axis=1))


def test_templates_are_one_picture_per_class_on_one_scale(trained):
    templates = trained.templates()
    assert templates.shape == (10, 8, 8, 1)
    assert templates.min() == 0.0 and templates.max() == 1.0
    w = np.asarray(trained.params["dense_0"]["w"])
    rescaled = (w.T - w.min()) / (w.max() - w.min())
    np.testing.assert_allclose(trained.templates((64,)), rescaled, rtol=1e-6)
    with pytest.raises(ValueError, match=r"image_shape \(8, 8, 3\) holds 192 values, but each "
                                         r"template has 64"):
        trained.templates((8, 8, 3))


def test_fit_is_deterministic_and_the_penalty_shrinks_the_weights(digits):
    x, y = digits.x_train[:300], digits.y_train[:300]
    description = jn.classic.LinearClassifier("svm", epochs=10, seed=4)
    first, second = description.fit(x, y), description.fit(x, y)
    assert description.params is None and first.num_classes == 10 and first == description
    np.testing.assert_array_equal(first.params["dense_0"]["w"], second.params["dense_0"]["w"])
    tight = jn.classic.LinearClassifier("svm", l2=1.0, epochs=10, seed=4).fit(x, y, 12)
    assert tight.num_classes == 12 and tight.scores(x[:2]).shape == (2, 12)
    norm = [float(jnp.sum(c.params["dense_0"]["w"] ** 2)) for c in (first, tight)]
    assert norm[1] < 0.5 * norm[0]


def test_bad_arguments_are_clear_errors(digits):
    with pytest.raises(ValueError, match=r"loss must be one of \('svm', 'softmax'\), got 'mse'"):
        jn.classic.LinearClassifier("mse")
    with pytest.raises(ValueError, match=r"l2 must be a strength >= 0, got l2=-1"):
        jn.classic.LinearClassifier(l2=-1)
    with pytest.raises(ValueError, match=r"epochs must be a positive integer, got 0"):
        jn.classic.LinearClassifier(epochs=0)
    with pytest.raises(ValueError, match=r"params and example_shape are set together"):
        jn.classic.LinearClassifier(example_shape=(3,))
    unfitted = jn.classic.LinearClassifier()
    for method in (unfitted.predict, unfitted.scores):
        with pytest.raises(RuntimeError, match=r"this LinearClassifier is not fitted"):
            method(digits.x_test)
    with pytest.raises(RuntimeError, match=r"this LinearClassifier is not fitted"):
        unfitted.templates()
    clf = with_scores("svm", SOURCE_SCORES)
    with pytest.raises(ValueError, match=r"examples of shape \(4,\), but the classifier was "
                                         r"fitted on examples of shape \(3,\)"):
        clf.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"num_classes=2 must be at least 2 and cover the labels"):
        unfitted.fit(digits.x_train[:50], digits.y_train[:50], num_classes=2)
