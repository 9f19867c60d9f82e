"""Hyperparameters as arguments: one compilation per structure, never a stale program."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxnet as jn

SHIFT = 0.0


@jn.composable
def shifted_mse(pred, target):
    """Reads the module global SHIFT, as notebook code reads its globals."""
    return jn.losses.mse(pred, target) + SHIFT


def _data_and_model():
    model = jn.Sequential([jn.Dense(2)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 3)))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 3)), jnp.float32)
    return model, params, state, (x, x[:, :2])


def test_a_new_objective_sees_the_current_value_of_a_global_its_loss_reads():
    global SHIFT
    model, params, state, data = _data_and_model()
    try:
        SHIFT = 0.0
        before = jn.evaluate(jn.objective(model, shifted_mse, metrics={}), params, state, data)
        SHIFT = 1.0
        after = jn.evaluate(jn.objective(model, shifted_mse, metrics={}), params, state, data)
    finally:
        SHIFT = 0.0
    expected = float(jn.losses.mse(model.apply(params, state, data[0])[0], data[1]))
    np.testing.assert_allclose(before["loss"], expected, rtol=1e-6)
    np.testing.assert_allclose(after["loss"], expected + 1.0, rtol=1e-6)


def test_the_same_objective_sees_a_changed_global_too():
    global SHIFT
    model, params, state, data = _data_and_model()
    objective = jn.objective(model, shifted_mse, metrics={})
    try:
        SHIFT = 0.0
        before = jn.evaluate(objective, params, state, data)
        SHIFT = 2.0
        after = jn.evaluate(objective, params, state, data)
    finally:
        SHIFT = 0.0
    np.testing.assert_allclose(after["loss"] - before["loss"], 2.0, rtol=1e-6)
