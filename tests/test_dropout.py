"""Inverted dropout: the source's worked example, its expectation, modes and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet as jn


def test_survivors_are_scaled_by_one_over_keep_probability(transform):
    x = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    drop = transform(lambda x, k: jn.Dropout(0.5).apply({}, {}, x, key=k, train=True)[0])
    y = drop(x, jax.random.key(0))
    kept = np.asarray(y) != 0
    np.testing.assert_allclose(np.asarray(y)[kept], 2 * np.asarray(x)[kept])
    assert 0 < kept.sum() < 6


def test_the_expected_output_equals_the_input():
    x = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    keys = jax.random.split(jax.random.key(0), 20_000)
    ys = jax.vmap(lambda k: jn.Dropout(0.5).apply({}, {}, x, key=k, train=True)[0])(keys)
    np.testing.assert_allclose(jnp.mean(ys, axis=0), x, rtol=0.03)


def test_each_unit_is_dropped_with_probability_rate():
    y, _ = jn.Dropout(0.2).apply({}, {}, jnp.ones(100_000), key=jax.random.key(1), train=True)
    assert abs(float(jnp.mean(y == 0)) - 0.2) < 0.005


def test_dropout_is_the_identity_at_evaluation_and_needs_no_key():
    x = jnp.arange(6.0)
    np.testing.assert_array_equal(jn.Dropout(0.5).apply({}, {}, x)[0], x)
    np.testing.assert_array_equal(jn.Dropout(0.0).apply({}, {}, x, train=True)[0], x)


def test_the_same_key_gives_the_same_mask():
    x = jnp.ones(50)
    a = jn.Dropout(0.5).apply({}, {}, x, key=jax.random.key(7), train=True)[0]
    b = jn.Dropout(0.5).apply({}, {}, x, key=jax.random.key(7), train=True)[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), float("inf")])
def test_a_rate_outside_zero_one_is_rejected(rate):
    with pytest.raises(ValueError, match=r"Dropout rate.*\[0, 1\), got"):
        jn.Dropout(rate)


@pytest.mark.parametrize("rate", ["0.5", None, [0.5]])
def test_a_rate_that_is_not_a_number_is_a_type_error(rate):
    with pytest.raises(TypeError, match="Dropout rate must be a real number"):
        jn.Dropout(rate)


def test_a_numpy_rate_is_a_rate():
    x = jnp.ones(1000)
    y, _ = jn.Dropout(np.float32(0.5)).apply({}, {}, x, key=jax.random.key(0), train=True)
    assert 400 < int(jnp.sum(y == 0)) < 600


def test_training_without_a_key_is_a_clear_error():
    with pytest.raises(jn.LayerError, match="needs a key"):
        jn.Dropout(0.5).apply({}, {}, jnp.ones(3), train=True)
