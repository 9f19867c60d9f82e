"""BatchNorm and LayerNorm against flax.linen, with running statistics and gradients."""

import warnings

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


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: jn.BatchNorm(epsilon=0.0), ValueError, r"BatchNorm epsilon must be a finite "
                                                          r"number > 0, got 0\.0"),
        (lambda: jn.BatchNorm(epsilon=-1e-5), ValueError, "BatchNorm epsilon"),
        (lambda: jn.LayerNorm(epsilon=0), ValueError, "LayerNorm epsilon must be a finite number"),
        (lambda: jn.LayerNorm(epsilon=float("nan")), ValueError, "LayerNorm epsilon"),
        (lambda: jn.LayerNorm(epsilon="1e-6"), TypeError, "LayerNorm epsilon must be a real"),
        (lambda: jn.BatchNorm(momentum=float("nan")), ValueError, "BatchNorm momentum"),
        (lambda: jn.BatchNorm(momentum=1.5), ValueError, r"momentum must lie in \[0, 1\]"),
        (lambda: jn.BatchNorm(momentum="0.9"), TypeError, "BatchNorm momentum must be a real"),
    ],
)
def test_invalid_hyperparameters_fail_at_construction(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_batchnorm_training_on_one_example_warns_that_the_variance_is_zero():
    params, state = jn.BatchNorm().init(jax.random.key(0), jnp.zeros((1, 3)))
    with pytest.warns(UserWarning, match=r"shape \(1, 3\).*batch variance is 0.*batch size > 1"):
        y, _ = jn.BatchNorm().apply(params, state, jnp.array([[1.0, 2.0, 3.0]]), train=True)
    np.testing.assert_array_equal(y, np.zeros((1, 3)))  # the bias, whatever the input
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jn.BatchNorm().apply(params, state, jnp.ones((1, 3)), train=False)
        jn.BatchNorm().apply(params, state, jnp.ones((2, 3)), train=True)
        # One image still has many values per channel.
        jn.BatchNorm().apply(params, state, jnp.ones((1, 2, 2, 3)), train=True)


def test_batchnorm_training_on_an_empty_batch_is_a_shape_error():
    model = jn.Sequential([jn.BatchNorm()])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 3)))
    with pytest.raises(jn.ShapeError, match=r"batchnorm_0 \(BatchNorm\): .*non-empty batch, got "
                                            r"inputs of shape \(0, 3\)"):
        model.apply(params, state, jnp.zeros((0, 3)), train=True)
