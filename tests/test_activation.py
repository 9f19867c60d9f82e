"""Activations are the jax.nn functions, usable by name, as functions and as layers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxnet as jn
from jaxnet.layers.activation import ACTIVATIONS

NAMES = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "swish", "softplus", "softmax",
         "identity"]


def test_every_activation_of_the_source_is_available_by_name_and_attribute():
    assert sorted(ACTIVATIONS) == sorted(NAMES)
    for name in NAMES:
        assert ACTIVATIONS[name] is getattr(jn, name)
    assert jn.relu is jax.nn.relu and jn.softmax is jax.nn.softmax and jn.swish is jax.nn.swish


def test_reference_values():
    x = jnp.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(jn.sigmoid(x), 1 / (1 + np.exp([2.0, 0.0, -3.0])), rtol=1e-6)
    np.testing.assert_allclose(jn.tanh(x), np.tanh([-2.0, 0.0, 3.0]), rtol=1e-6)
    np.testing.assert_allclose(jn.relu(x), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(jn.leaky_relu(x), [-0.02, 0.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(jn.elu(x), [np.exp(-2.0) - 1, 0.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(jn.softplus(x), np.log1p(np.exp([-2.0, 0.0, 3.0])), rtol=1e-6)
    np.testing.assert_allclose(jn.swish(x), np.array([-2.0, 0.0, 3.0]) * jn.sigmoid(x), rtol=1e-6)
    np.testing.assert_allclose(jn.identity(x), x)
    np.testing.assert_allclose(jnp.sum(jn.softmax(x)), 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_the_activation_layer_applies_its_function(name, transform):
    x = jax.random.normal(jax.random.key(0), (3, 4))
    y, state = transform(lambda x: jn.Activation(name).apply({}, {}, x))(x)
    np.testing.assert_allclose(y, ACTIVATIONS[name](x), rtol=1e-6)
    assert state == {}


@pytest.mark.parametrize("name", NAMES)
def test_activation_gradients_match_finite_differences(name):
    x = jnp.array([[-1.3, -0.4, 0.35, 1.7]])  # away from ReLU's kink at 0
    check_grads(ACTIVATIONS[name], (x,), order=1, eps=1e-3, atol=1e-2, rtol=1e-2)


def test_an_unknown_activation_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown activation 'rectifier'.*'relu'"):
        jn.Activation("rectifier")


def test_prelu_learns_one_slope_per_feature():
    layer = jn.PReLU()
    params, _ = layer.init(jax.random.key(0), jnp.zeros((1, 3)))
    np.testing.assert_array_equal(params["alpha"], [0.25, 0.25, 0.25])
    x = jnp.array([[-4.0, 2.0, -1.0]])
    y, _ = layer.apply({"alpha": jnp.array([0.5, 0.5, 0.1])}, {}, x)
    np.testing.assert_allclose(y, [[-2.0, 2.0, -0.1]], rtol=1e-6)
    check_grads(lambda p: layer.apply(p, {}, x)[0], (params,), order=1, eps=1e-2, atol=1e-2)
