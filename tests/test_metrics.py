import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnet as jn
from jaxnet.metrics import (
    binary_targets,
    class_labels,
    correct,
    is_binary,
    is_one_hot,
    is_positive,
    positive_probability,
)

SCORES = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LABELS = jnp.array([0, 1, 2])
ACCURACY = jax.jit(jn.metrics.accuracy)
TRANSFORMS = pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])


@TRANSFORMS
def test_accuracy_of_the_source_scores_is_one_in_three(transform):
    # Only the car sample scores its own class highest.
    assert transform(jn.metrics.accuracy)(SCORES, LABELS) == pytest.approx(1 / 3)


# A few shapes, many values: each new shape costs a compilation.
@settings(max_examples=25, deadline=None)
@given(
    batch=st.sampled_from([1, 7]),
    classes=st.sampled_from([2, 5]),
    seed=st.integers(0, 2**31 - 1),
)
def test_multiclass_accuracy_matches_numpy_for_integer_and_one_hot_targets(batch, classes, seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(batch, classes)).astype(np.float32)
    labels = rng.integers(0, classes, size=batch)
    expected = np.mean(np.argmax(scores, axis=1) == labels)
    one_hot = np.eye(classes, dtype=np.float32)[labels]
    assert ACCURACY(scores, labels) == pytest.approx(expected)
    assert ACCURACY(scores, one_hot) == pytest.approx(expected)


def test_accuracy_averages_over_all_leading_axes():
    scores = jnp.stack([SCORES, SCORES[:, ::-1]])
    labels = jnp.stack([LABELS, LABELS])
    # One hit in each half: reversing the columns makes every argmax 1.
    assert jn.metrics.accuracy(scores, labels) == pytest.approx(2 / 6)


@TRANSFORMS
@pytest.mark.parametrize("pred_shape", [(4,), (4, 1)])
@pytest.mark.parametrize("target_shape", [(4,), (4, 1)])
@pytest.mark.parametrize(
    "target",
    [[1, 0, 0, 1], [1, -1, -1, 1], [True, False, False, True], [0.9, 0.1, 0.2, 0.6]],
    ids=["0/1", "-1/+1", "bool", "probabilities"],
)
def test_binary_accuracy_thresholds_logits_at_zero_for_any_label_encoding(
    transform, pred_shape, target_shape, target
):
    logits = jnp.array([2.0, -1.0, 0.5, -3.0]).reshape(pred_shape)
    target = jnp.array(target).reshape(target_shape)
    # Predicted classes 1, 0, 1, 0 against 1, 0, 0, 1: two hits.
    assert transform(jn.metrics.accuracy)(logits, target) == pytest.approx(0.5)


def test_correct_marks_each_example_in_the_batch_shape():
    np.testing.assert_array_equal(correct(SCORES, LABELS), [False, True, False])
    logits = jnp.array([[1.0], [-1.0]])
    np.testing.assert_array_equal(correct(logits, jnp.array([1, 1])), [True, False])


def test_is_binary_reads_one_logit_per_example():
    assert is_binary(jnp.zeros(5))
    assert is_binary(jnp.zeros((5, 1)))
    assert not is_binary(jnp.zeros((5, 3)))


def test_class_labels_are_the_argmax_of_one_hot_targets_and_integer_labels_unchanged():
    one_hot = jax.nn.one_hot(LABELS, 3)
    np.testing.assert_array_equal(class_labels(SCORES, one_hot), LABELS)
    np.testing.assert_array_equal(class_labels(SCORES, LABELS), LABELS)
    assert is_one_hot(SCORES, one_hot) and not is_one_hot(SCORES, LABELS)


@pytest.mark.parametrize("target_shape", [(3, 1), (3, 4), (2,), (3, 3, 1)])
def test_multiclass_targets_of_another_shape_are_rejected_with_both_shapes(target_shape):
    with pytest.raises(ValueError, match=r"\(3,\).*\(3, 3\).*\(3, 3\).*" + str(target_shape)[1:-1]):
        jn.metrics.accuracy(SCORES, jnp.zeros(target_shape, jnp.int32))


def test_float_class_labels_are_rejected():
    with pytest.raises(TypeError, match="integer dtype"):
        jn.metrics.accuracy(SCORES, jnp.array([0.0, 1.0, 2.0]))


def test_binary_targets_of_another_shape_are_rejected_with_both_shapes():
    with pytest.raises(ValueError, match=r"\(4,\) or \(4, 1\).*\(4, 1\).*\(4, 2\)"):
        binary_targets(jnp.zeros((4, 1)), jnp.zeros((4, 2)))


def test_binary_targets_refuse_multiclass_predictions():
    with pytest.raises(ValueError, match="one logit per example"):
        binary_targets(jnp.zeros((4, 3)), jnp.zeros(4))


@pytest.mark.parametrize(
    "pred, target, message",
    [
        (SCORES, jnp.array([0, 1, 3]), r"accuracy: labels must be integers in \[0, 3\) for scores "
                                       r"of 3 classes; found 3 at index \(2,\)"),
        (SCORES, jnp.array([-1, 1, 2]), r"found -1"),
        (jnp.array([2.0, -1.0]), jnp.array([2, 0]), r"accuracy: targets must be labels 0 / 1 or "
                                                     r"-1 / \+1.*found 2 at index \(0,\)"),
        (jnp.array([2.0, -1.0]), jnp.array([0.5, -0.5]), r"found -0\.5"),
    ],
)
def test_accuracy_refuses_concrete_targets_of_other_values(pred, target, message):
    with pytest.raises(ValueError, match=message):
        jn.metrics.accuracy(pred, target)


def test_binary_targets_minus_one_is_class_zero_and_probability_one_half_is_class_zero():
    np.testing.assert_array_equal(is_positive(jnp.array([-1, 0, 1, 0.5, 0.51])),
                                  [False, False, True, False, True])
    np.testing.assert_array_equal(positive_probability(jnp.array([-1, 0, 1, 0.25]), jnp.float32),
                                  [0.0, 0.0, 1.0, 0.25])
