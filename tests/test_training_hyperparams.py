"""Hyperparameters as arguments: one compilation per structure, never a stale program."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

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


@dataclasses.dataclass(frozen=True)
class Gate(jn.Layer):
    """A layer whose float steers Python code: it cannot be traced."""

    threshold: float = 0.5

    def apply(self, params, state, x, *, key=None, train=False):
        return (x if self.threshold > 0.25 else -x), state


def test_a_number_used_in_python_is_kept_a_constant_named_in_a_warning():
    model = jn.Sequential([jn.Dense(2), Gate(0.75)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 3)))
    _, _, _, (x, _) = _data_and_model()
    y = (x[:, 0] > 0).astype(jnp.int32)
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    with pytest.warns(UserWarning, match=r"layers\[1\].threshold is used in Python code"):
        result = jn.fit(objective, params, state, optax.sgd(0.1), (x, y), epochs=2,
                        batch_size=4, key=jax.random.key(1), verbose=False)
    assert result.stop_reason == "epochs" and len(result.history["loss"]) == 2


def test_jaxnet_objects_are_pytrees_whose_floats_are_leaves():
    model = jn.Sequential([jn.Dense(4), jn.relu, jn.Dropout(0.2), jn.BatchNorm()])
    objective = jn.objective(model, jn.losses.mse + 0.1 * jn.losses.mae,
                             jn.regularizers.l2(1e-3, where="dense_0"))
    leaves, treedef = jax.tree.flatten(objective)
    assert leaves == [0.2, 0.99, 1e-5, 0.1, 1e-3]
    other = jn.objective(jn.Sequential([jn.Dense(4), jn.relu, jn.Dropout(0.5), jn.BatchNorm()]),
                         jn.losses.mse + 0.3 * jn.losses.mae,
                         jn.regularizers.l2(1e-2, where="dense_0"))
    assert jax.tree.structure(other) == treedef  # one compilation serves both
    rebuilt = jax.tree.unflatten(treedef, [0.5, 0.9, 1e-3, 0.3, 1e-2])
    assert rebuilt.model.layers[2].rate == 0.5 and rebuilt.penalty.scalar == 1e-2
