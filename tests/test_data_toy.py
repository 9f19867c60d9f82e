"""Tests for jaxnet.data.toy: the 2-D problems moons, circles, spirals and xor."""

import numpy as np
import pytest

import jaxnet as jn

CLASSES = {"moons": 2, "circles": 2, "spirals": 3, "xor": 2}


def _all(ds):
    return np.concatenate([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test])


@pytest.mark.parametrize("name", list(CLASSES))
def test_toy_sets_have_shapes_dtypes_balanced_classes_and_a_fixed_split(name):
    ds = jn.data.load(name, n_samples=300)
    assert ds.name == name and ds.num_classes == CLASSES[name] and ds.input_shape == (2,)
    assert ds.x_train.shape == (240, 2) and ds.x_test.shape == (60, 2)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    _, y = _all(ds)
    np.testing.assert_array_equal(np.bincount(y), [300 // CLASSES[name]] * CLASSES[name])


@pytest.mark.parametrize("name", list(CLASSES))
def test_toy_sets_repeat_with_a_seed_and_change_with_another(name):
    first, again = jn.data.load(name, seed=3), jn.data.load(name, seed=3)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.x_train, jn.data.load(name, seed=4).x_train)


def test_noiseless_moons_lie_on_their_half_circles():
    x, y = _all(jn.data.load("moons", noise=0.0))
    upper, lower = x[y == 0], x[y == 1] - np.array([1.0, 0.5], np.float32)
    np.testing.assert_allclose(np.hypot(*upper.T), 1, atol=1e-6)
    np.testing.assert_allclose(np.hypot(*lower.T), 1, atol=1e-6)
    assert upper[:, 1].min() >= 0 and lower[:, 1].max() <= 1e-6


def test_noiseless_circles_have_radii_one_and_a_half():
    x, y = _all(jn.data.load("circles", noise=0.0))
    radius = np.hypot(*x.T)
    np.testing.assert_allclose(radius[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.5, atol=1e-6)


def test_noiseless_xor_labels_are_the_sign_rule():
    x, y = _all(jn.data.load("xor", noise=0.0))
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] < 0).astype(np.int32))
    assert np.abs(x).max() <= 1


def test_spiral_arms_grow_from_the_centre_to_radius_one():
    x, y = _all(jn.data.load("spirals", n_samples=30))
    radius = np.hypot(*x.T)
    assert radius.max() <= 1 + 1e-6
    for k in range(3):
        np.testing.assert_allclose(np.sort(radius[y == k]), np.linspace(0, 1, 10), atol=1e-6)


def test_noise_moves_points_off_the_clean_shape():
    clean, _ = _all(jn.data.load("circles", noise=0.0))
    noisy, _ = _all(jn.data.load("circles", noise=0.1))
    assert np.abs(np.hypot(*noisy.T) - np.hypot(*clean.T)).mean() > 0.02


def test_too_few_samples_is_an_error():
    with pytest.raises(ValueError, match="n_samples must be at least 6 for 3 classes"):
        jn.data.load("spirals", n_samples=5)


def test_sizes_and_noise_are_checked():
    assert jn.data.load("xor", n_samples=np.int64(10)).x_train.shape == (8, 2)
    with pytest.raises(TypeError, match=r"n_samples must be an integer, got 100.0 \(float\)"):
        jn.data.load("moons", n_samples=100.0)
    with pytest.raises(ValueError, match=r"noise must be a finite number >= 0, got -0.1"):
        jn.data.load("circles", noise=-0.1)
    with pytest.raises(ValueError, match=r"n_samples must be at least 6 for 3 classes, got 5"):
        jn.data.load("spirals", n_samples=5)
