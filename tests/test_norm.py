"""BatchNorm and LayerNorm against flax.linen, with running statistics and gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxnet as jn


def random_affine(features, seed=0):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return {
        "scale": 1.0 + 0.1 * jax.random.normal(k1, (features,)),
        "bias": 0.1 * jax.random.normal(k2, (features,)),
    }


@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 3, 5)])
def test_batchnorm_matches_flax_over_training_steps_and_evaluation(shape, transform):
    ours = jn.BatchNorm(momentum=0.9)
    flax_train = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
    flax_eval = nn.BatchNorm(use_running_average=True, momentum=0.9, epsilon=1e-5)
    params, state = ours.init(jax.random.key(0), jnp.zeros(shape))
    params = random_affine(shape[-1])
    stats = {"mean": state["mean"], "var": state["var"]}
    train = transform(lambda p, s, x: ours.apply(p, s, x, train=True))
    for step in range(3):
        x = 2.0 + 3.0 * jax.random.normal(jax.random.key(step + 1), shape)
        y, state = train(params, state, x)
        y_flax, updates = flax_train.apply(
            {"params": params, "batch_stats": stats}, x, mutable=["batch_stats"]
        )
        stats = updates["batch_stats"]
        np.testing.assert_allclose(y, y_flax, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(state["mean"], stats["mean"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state["var"], stats["var"], rtol=1e-5, atol=1e-6)

    x = jax.random.normal(jax.random.key(9), shape)
    y, eval_state = ours.apply(params, state, x, train=False)
    y_flax = flax_eval.apply({"params": params, "batch_stats": stats}, x)
    np.testing.assert_allclose(y, y_flax, rtol=1e-5, atol=1e-5)
    jax.tree.map(np.testing.assert_array_equal, eval_state, state)


def test_batchnorm_in_training_normalises_each_feature_of_the_batch():
    x = 5.0 + 2.0 * jax.random.normal(jax.random.key(0), (256, 3))
    params, state = jn.BatchNorm().init(jax.random.key(0), x)
    y, _ = jn.BatchNorm().apply(params, state, x, train=True)
    np.testing.assert_allclose(jnp.mean(y, axis=0), np.zeros(3), atol=1e-5)
    np.testing.assert_allclose(jnp.std(y, axis=0), np.ones(3), atol=1e-3)


def test_batchnorm_starts_with_zero_mean_and_unit_variance_statistics():
    params, state = jn.BatchNorm().init(jax.random.key(0), jnp.zeros((1, 4)))
    np.testing.assert_array_equal(state["mean"], np.zeros(4))
    np.testing.assert_array_equal(state["var"], np.ones(4))
    np.testing.assert_array_equal(params["scale"], np.ones(4))
    np.testing.assert_array_equal(params["bias"], np.zeros(4))


def test_layernorm_matches_flax(transform):
    x = 3.0 + jax.random.normal(jax.random.key(0), (4, 6, 5))
    params = random_affine(5, seed=1)
    y, state = transform(lambda p, x: jn.LayerNorm().apply(p, {}, x))(params, x)
    y_flax = nn.LayerNorm().apply({"params": params}, x)
    np.testing.assert_allclose(y, y_flax, rtol=1e-5, atol=1e-5)
    assert state == {}


@pytest.mark.parametrize("layer", [jn.BatchNorm(), jn.LayerNorm()], ids=["batchnorm", "layernorm"])
def test_normalisation_gradients_match_finite_differences(layer):
    x = jax.random.normal(jax.random.key(0), (6, 3))
    params, state = layer.init(jax.random.key(0), x)
    params = random_affine(3)

    def f(p, x):
        return layer.apply(p, state, x, train=True)[0]

    check_grads(f, (params, x), order=1, eps=1e-2, atol=2e-2, rtol=2e-2)


def test_normalisation_rejects_inputs_with_another_feature_count():
    params, state = jn.BatchNorm().init(jax.random.key(0), jnp.zeros((1, 4)))
    with pytest.raises(jn.ShapeError, match=r"\(\.\.\., 4\).*\(2, 5\)"):
        jn.BatchNorm().apply(params, state, jnp.zeros((2, 5)))
