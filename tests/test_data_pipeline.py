"""Tests for jaxnet.data.pipeline: one_hot, standardize, split, batches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet as jn


def test_one_hot_matches_numpy_eye():
    labels = np.array([3, 0, 2, 2], np.int32)
    np.testing.assert_array_equal(jn.data.one_hot(labels, 4), np.eye(4, dtype=np.float32)[labels])


def test_one_hot_rejects_concrete_labels_out_of_range():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\).*from 0 to 3"):
        jn.data.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="from -1"):
        jn.data.one_hot(jnp.array([-1, 1]), 3)


def test_one_hot_rejects_float_labels():
    with pytest.raises(TypeError, match="integer labels"):
        jn.data.one_hot(np.array([0.0, 1.0]), 3)


def test_one_hot_works_on_traced_labels_inside_jit():
    encode = jax.jit(lambda y: jn.data.one_hot(y, 3, dtype=jnp.int32))
    np.testing.assert_array_equal(encode(jnp.array([2, 0])), [[0, 0, 1], [1, 0, 0]])


def test_standardize_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, (500, 4)).astype(np.float32)
    test = rng.normal(-1.0, 5.0, (50, 4)).astype(np.float32)
    train_s, test_s = jn.data.standardize(train, test)
    np.testing.assert_allclose(train_s.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(train_s.std(0), 1, atol=1e-5)
    np.testing.assert_allclose(test_s, (test - train.mean(0)) / train.std(0), rtol=1e-4)
    assert train_s.dtype == np.float32 and test_s.dtype == np.float32


def test_standardize_is_per_feature_for_images_and_guards_constant_features():
    images = np.zeros((6, 2, 2, 1), np.uint8)
    images[:, 0, 0, 0] = [0, 2, 4, 0, 2, 4]
    (out,) = jn.data.standardize(images)
    assert out.dtype == np.float32 and out.shape == images.shape
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, 1:, :, :], 0)
    np.testing.assert_allclose(out[:, 0, 0, 0].std(), 1, rtol=1e-6)


def test_standardize_rejects_other_feature_shapes():
    with pytest.raises(ValueError, match=r"array 1 has examples of shape \(3,\)"):
        jn.data.standardize(np.zeros((4, 2)), np.zeros((4, 3)))


def test_split_partitions_the_examples_reproducibly():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    (x_a, y_a), (x_b, y_b) = jn.data.split(x, y, 0.3, seed=4)
    assert len(y_a) == 7 and len(y_b) == 3
    np.testing.assert_array_equal(np.sort(np.concatenate([y_a, y_b])), y)
    np.testing.assert_array_equal(x_a[:, 0], 2 * y_a)
    (_, y_a2), _ = jn.data.split(x, y, 0.3, seed=4)
    np.testing.assert_array_equal(y_a, y_a2)
    (_, y_a3), _ = jn.data.split(x, y, 0.3, seed=5)
    assert not np.array_equal(y_a, y_a3)


def test_split_rejects_an_empty_part():
    with pytest.raises(ValueError, match=r"fraction=0.01 of 10 examples gives parts of 10 and 0; "
                                         r"both must be non-empty"):
        jn.data.split(np.zeros((10, 1)), np.zeros(10), 0.01)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.2, float("nan"), True, "0.2", None])
def test_split_rejects_a_fraction_outside_zero_to_one(fraction):
    with pytest.raises(ValueError, match=r"fraction must be a number strictly between 0 and 1 "
                                         r"\(the share of examples in the second part\), got"):
        jn.data.split(np.zeros((10, 1)), np.zeros(10), fraction)


def test_split_accepts_numpy_numbers():
    (_, y_a), (_, y_b) = jn.data.split(np.zeros((10, 1)), np.arange(10), np.float32(0.3))
    assert len(y_a) == 7 and len(y_b) == 3


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="x holds 3 examples but y holds 2"):
        jn.data.split(np.zeros((3, 1)), np.zeros(2), 0.5)


def test_batches_cover_a_permutation_on_device():
    x, y = np.arange(12, dtype=np.float32)[:, None], np.arange(12, dtype=np.int32)
    out = list(jn.data.batches(x, y, 4, key=jax.random.key(0)))
    assert len(out) == 3
    assert all(isinstance(xb, jax.Array) and xb.shape == (4, 1) for xb, _ in out)
    seen = np.concatenate([np.asarray(yb) for _, yb in out])
    np.testing.assert_array_equal(np.sort(seen), y)
    assert not np.array_equal(seen, y)
    np.testing.assert_array_equal(np.concatenate([np.asarray(xb)[:, 0] for xb, _ in out]), seen)


def test_batches_with_the_same_key_repeat_and_without_key_keep_order():
    x, y = np.zeros((9, 2)), np.arange(9)
    first = [np.asarray(yb) for _, yb in jn.data.batches(x, y, 3, key=jax.random.key(1))]
    again = [np.asarray(yb) for _, yb in jn.data.batches(x, y, 3, key=jax.random.key(1))]
    np.testing.assert_array_equal(first, again)
    ordered = [np.asarray(yb) for _, yb in jn.data.batches(x, y, 3)]
    np.testing.assert_array_equal(np.concatenate(ordered), y)


def test_batches_drop_or_keep_the_last_incomplete_batch():
    x, y = np.zeros((10, 1)), np.arange(10)
    assert [len(yb) for _, yb in jn.data.batches(x, y, 4)] == [4, 4]
    assert [len(yb) for _, yb in jn.data.batches(x, y, 4, drop_last=False)] == [4, 4, 2]


def test_batches_validate_arguments_when_called():
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
        jn.data.batches(np.zeros((4, 1)), np.zeros(4), 0)
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got -2"):
        jn.data.batches(np.zeros((4, 1)), np.zeros(4), -2)
    with pytest.raises(TypeError, match=r"batch_size must be an integer, got 2.0 \(float\)"):
        jn.data.batches(np.zeros((4, 1)), np.zeros(4), 2.0)
    with pytest.raises(ValueError, match="would give no batch"):
        jn.data.batches(np.zeros((4, 1)), np.zeros(4), 5)
    with pytest.raises(ValueError, match="x holds 4 examples but y holds 3"):
        jn.data.batches(np.zeros((4, 1)), np.zeros(3), 2)


def test_batches_accept_a_numpy_integer_batch_size():
    x, y = np.zeros((10, 1)), np.arange(10)
    sizes = [len(yb) for _, yb in jn.data.batches(x, y, np.int64(4), drop_last=False)]
    assert sizes == [4, 4, 2]


def test_one_hot_checks_the_class_count():
    with pytest.raises(ValueError, match=r"num_classes must be an integer >= 1, got 0"):
        jn.data.one_hot(np.array([0]), 0)
    with pytest.raises(TypeError, match=r"num_classes must be an integer, got 3.0"):
        jn.data.one_hot(np.array([0]), 3.0)
    np.testing.assert_array_equal(jn.data.one_hot(np.array([1]), np.int64(2)), [[0.0, 1.0]])


def test_standardize_refuses_nan_or_infinite_values_naming_the_array():
    train, bad = np.ones((4, 2)), np.ones((4, 2))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"standardize: train holds 1 NaN or infinite values "
                                         r"\(of 8\)"):
        jn.data.standardize(bad)
    with pytest.raises(ValueError, match=r"standardize: array 2 holds 2 NaN or infinite"):
        jn.data.standardize(train, train, np.full((1, 2), np.inf))


def test_standardize_needs_training_examples():
    with pytest.raises(ValueError, match=r"standardize needs training examples \(N, \.\.\.\) "
                                         r"with N >= 1, got shape \(0, 3\)"):
        jn.data.standardize(np.zeros((0, 3)))
