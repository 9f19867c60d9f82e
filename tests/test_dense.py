"""Dense against NumPy, its gradients, initializers and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

import jaxnet as jn


@settings(max_examples=15, deadline=None)
@given(
    batch=st.integers(1, 5), n_in=st.integers(1, 6), n_out=st.integers(1, 6),
    use_bias=st.booleans(), seed=st.integers(0, 2**16),
)
def test_dense_is_x_times_w_plus_b(batch, n_in, n_out, use_bias, seed):
    layer = jn.Dense(n_out, use_bias=use_bias)
    params, _ = layer.init(jax.random.key(seed), jnp.zeros((1, n_in)))
    x = np.random.default_rng(seed).normal(size=(batch, n_in)).astype(np.float32)
    y, _ = layer.apply(params, {}, x)
    expected = x @ np.asarray(params["w"]) + (np.asarray(params["b"]) if use_bias else 0)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert ("b" in params) == use_bias


def test_dense_acts_on_the_last_axis_of_any_rank(transform):
    layer = jn.Dense(3)
    params, _ = layer.init(jax.random.key(0), jnp.zeros((1, 4)))
    x = jax.random.normal(jax.random.key(1), (2, 5, 4))
    y, _ = transform(lambda p, x: layer.apply(p, {}, x))(params, x)
    np.testing.assert_allclose(y[1, 2], x[1, 2] @ params["w"] + params["b"], rtol=1e-5)


def test_dense_gradients_match_finite_differences():
    layer = jn.Dense(3)
    params, _ = layer.init(jax.random.key(0), jnp.zeros((1, 4)))
    x = jax.random.normal(jax.random.key(1), (2, 4))
    check_grads(lambda p, x: layer.apply(p, {}, x)[0], (params, x), order=2, eps=1e-2,
                atol=1e-2, rtol=1e-2)


def test_dense_initializers_are_selectable():
    layer = jn.Dense(
        64, kernel_init=jax.nn.initializers.he_normal(), bias_init=jax.nn.initializers.ones
    )
    params, _ = layer.init(jax.random.key(0), jnp.zeros((1, 512)))
    np.testing.assert_array_equal(params["b"], np.ones(64))
    assert abs(float(jnp.std(params["w"])) - np.sqrt(2 / 512)) < 0.1 * np.sqrt(2 / 512)


def test_default_kernel_is_glorot_uniform():
    params, _ = jn.Dense(300).init(jax.random.key(0), jnp.zeros((1, 200)))
    limit = np.sqrt(6 / (200 + 300))
    assert float(jnp.max(jnp.abs(params["w"]))) <= limit
    assert float(jnp.max(jnp.abs(params["w"]))) > 0.95 * limit
    np.testing.assert_array_equal(params["b"], np.zeros(300))


@pytest.mark.parametrize(
    "features, error, message",
    [(0, ValueError, "an integer >= 1, got 0"), (-3, ValueError, "an integer >= 1, got -3"),
     (2.5, TypeError, "an integer, got 2.5"), ("8", TypeError, "an integer, got '8'")],
)
def test_dense_rejects_a_width_that_is_not_a_positive_integer(features, error, message):
    with pytest.raises(error, match=f"Dense features must be {message}"):
        jn.Dense(features)
