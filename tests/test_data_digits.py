"""Tests for jaxnet.data.digits: scikit-learn's digits with a fixed stratified split."""

import numpy as np
import pytest

import jaxnet as jn
from jaxnet.data.digits import stratified_indices


@pytest.fixture(scope="module")
def digits():
    return jn.data.load("digits")


def test_digits_has_the_fixed_split_shapes_and_dtypes(digits):
    assert digits.name == "digits"
    assert digits.x_train.shape == (1437, 8, 8, 1) and digits.x_test.shape == (360, 8, 8, 1)
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int32
    assert digits.y_train.shape == (1437,) and digits.y_test.shape == (360,)
    assert digits.class_names == tuple("0123456789") and digits.num_classes == 10
    assert digits.input_shape == (8, 8, 1)


def test_digits_values_are_sixteenths_in_unit_range(digits):
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0
    np.testing.assert_array_equal(digits.x_train * 16, np.round(digits.x_train * 16))


def test_digits_split_is_the_same_every_time(digits):
    again = jn.data.load("digits")
    np.testing.assert_array_equal(again.x_train, digits.x_train)
    np.testing.assert_array_equal(again.y_test, digits.y_test)


def test_digits_split_is_a_partition_of_the_original_set(digits):
    from sklearn.datasets import load_digits

    def rows(images, labels):
        return sorted(image.tobytes() + bytes([int(label)])
                      for image, label in zip(images, labels, strict=True))

    original = load_digits()
    raw = jn.data.load("digits", raw=True)
    ours = rows(np.concatenate([raw.x_train, raw.x_test])[..., 0],
                np.concatenate([raw.y_train, raw.y_test]))
    assert ours == rows(original.images.astype(np.uint8), original.target)


def test_digits_test_split_keeps_each_class_share(digits):
    counts = np.bincount(digits.y_test, minlength=10)
    overall = np.bincount(np.concatenate([digits.y_train, digits.y_test]), minlength=10)
    np.testing.assert_allclose(counts, overall * 360 / 1797, atol=1)


def test_raw_digits_are_the_original_integers_as_uint8(digits):
    raw = jn.data.load("digits", raw=True)
    assert raw.x_train.dtype == np.uint8 and raw.x_train.max() == 16
    np.testing.assert_array_equal(raw.x_train.astype(np.float32) / 16, digits.x_train)


def test_stratified_indices_draws_the_asked_count_without_repeats():
    labels = np.repeat(np.arange(3), [10, 20, 30])
    index = stratified_indices(labels, 12, seed=1)
    assert len(np.unique(index)) == 12
    np.testing.assert_array_equal(np.bincount(labels[index]), [2, 4, 6])
