"""Mixed precision: the model computes in bfloat16, everything that accumulates stays float32."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet as jn


def problem(n=512):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n).astype(np.int32)
    x = (rng.normal(size=(n, 16)) + 2.0 * np.eye(4, 16)[y]).astype(np.float32)
    return x, y


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_parameters_state_and_loss():
    seen = []

    def spy(h):
        seen.append(h.dtype)
        return h

    model = jn.Sequential([jn.Dense(32), spy, jn.BatchNorm(), jn.relu, jn.Dense(4)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 16)))

    def loss(pred, target):
        seen.append(("loss input", pred.dtype))
        return jn.losses.softmax_cross_entropy(pred, target)

    objective = jn.objective(model, loss)
    data = problem()
    results = {dtype: jn.fit(objective, params, state, optax.adam(1e-2), data, epochs=4,
                             batch_size=64, key=jax.random.key(1), compute_dtype=dtype,
                             verbose=False)
               for dtype in (None, "bfloat16")}
    mixed = results["bfloat16"]
    assert jnp.dtype("bfloat16") in seen and ("loss input", jnp.dtype("float32")) in seen
    for tree in (mixed.params, mixed.state, mixed.opt_state):
        floats = [leaf for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype,
                                                                         jnp.floating)]
        assert floats and all(leaf.dtype == jnp.float32 for leaf in floats)
    full = results[None].history
    assert mixed.history["accuracy"][-1] == pytest.approx(full["accuracy"][-1], abs=0.03)
    assert mixed.history["loss"][-1] == pytest.approx(full["loss"][-1], rel=0.05)
    assert mixed.history["loss"][-1] < 0.7 * mixed.history["loss"][0]


def test_batchnorm_keeps_float32_statistics_for_bfloat16_inputs():
    layer = jn.BatchNorm()
    params, state = layer.init(jax.random.key(0), jnp.zeros((1, 3)))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 3)), jnp.bfloat16)
    y, new_state = layer.apply(params, state, x, train=True)
    assert y.dtype == jnp.bfloat16 and new_state["mean"].dtype == jnp.float32
    y32, state32 = layer.apply(params, state, x.astype(jnp.float32), train=True)
    np.testing.assert_allclose(new_state["mean"], state32["mean"], rtol=1e-6)
    np.testing.assert_allclose(y.astype(jnp.float32), y32, atol=2e-2)


def test_compute_dtype_must_be_a_float_dtype():
    with pytest.raises(ValueError, match="compute_dtype must be a floating-point dtype"):
        jn.objective(jn.Sequential([jn.Dense(2)]), jn.losses.mse, compute_dtype="int8")
