"""The stepwise epoch: convolutional models on a CPU train one jitted step at a time, with the
randomness, guard and results of the scanned epoch."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet as jn
from jaxnet.training.epoch import (
    Plan,
    batch_order,
    begin_host_epoch,
    key_seed,
    runs_on_host,
    scanned_epoch,
)
from jaxnet.training.group import Trial, example_step
from jaxnet.training.hyperparams import as_arguments, fit_recipe
from jaxnet.training.run_state import start_run


def cnn_problem(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int32)
    x = rng.normal(size=(n, 12)).astype(np.float32) + y[:, None].astype(np.float32)
    model = jn.Sequential([jn.Reshape((12, 1)), jn.Conv1D(4, 3, strides=2, padding=1), jn.relu,
                           jn.Dropout(0.2), jn.Flatten(), jn.Dense(3)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 12)))
    objective = jn.objective(model, jn.losses.softmax_cross_entropy, jn.regularizers.l2(1e-3))
    return objective, params, state, (jnp.asarray(x), jnp.asarray(y))


def test_a_convolutional_model_runs_stepwise_on_a_cpu_and_an_mlp_does_not():
    objective, params, state, (x, _) = cnn_problem()
    assert runs_on_host(objective, params, state, x) == (jax.default_backend() == "cpu")
    mlp = jn.Sequential([jn.Flatten(), jn.Dense(3)])
    mlp_params, mlp_state = mlp.init(jax.random.key(0), jnp.zeros((1, 12)))
    assert not runs_on_host(jn.objective(mlp, jn.losses.softmax_cross_entropy), mlp_params,
                             mlp_state, x)


@pytest.mark.parametrize("guarded", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_the_stepwise_epoch_equals_the_scanned_epoch(guarded):
    objective, params, state, (x, y) = cnn_problem()
    optimizer = optax.adam(1e-2)
    key = jax.random.key(3)
    run = dataclasses.replace(start_run(params, state, optimizer.init(params), key),
                              stopping=None)
    runs = jax.tree.map(lambda a: a[None], run)  # one configuration
    orders = batch_order(key_seed(key), 0, x.shape[0], 16)[None]
    trial = Trial(objective, optimizer, params, state, key)
    recipe, numbers = fit_recipe(objective, optimizer, example_step(trial, x, y, 16))
    plan, values = Plan(recipe, count=1, side=1, guarded=guarded), (as_arguments(numbers), None)
    scanned = scanned_epoch(plan, values, runs, x, y, orders)
    stepped = begin_host_epoch(plan, values, runs, x, y, orders)()
    assert jax.tree.structure(scanned) == jax.tree.structure(stepped)
    scanned, stepped = ((dataclasses.replace(r, key=jax.random.key_data(r.key)), *rest)
                        for r, *rest in (scanned, stepped))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 scanned, stepped)
    assert int(stepped[0].epoch[0]) == 1 and int(stepped[0].step[0]) == 6


@pytest.mark.slow
def test_a_nan_rate_stops_a_stepwise_run_with_its_starting_parameters():
    objective, params, state, data = cnn_problem()
    with pytest.warns(RuntimeWarning, match="NaN or infinite.*after step 0"):
        result = jn.fit(objective, params, state, optax.sgd(float("nan")), data, epochs=3,
                        batch_size=16, key=jax.random.key(0), verbose=False)
    assert result.stop_reason == "nonfinite" and result.steps == 0
    jax.tree.map(np.testing.assert_array_equal, result.params, params)


@pytest.mark.slow
def test_a_stepwise_run_resumes_bit_for_bit(tmp_path):
    objective, params, state, data = cnn_problem()

    def train(epochs, directory=None):
        return jn.fit(objective, params, state, optax.adam(1e-2), data, epochs=epochs,
                      batch_size=16, key=jax.random.key(7), validation_data=data,
                      checkpoint_dir=directory, verbose=False)

    whole = train(4)
    train(2, tmp_path)
    resumed = train(4, tmp_path)
    jax.tree.map(np.testing.assert_array_equal, (whole.params, whole.opt_state),
                 (resumed.params, resumed.opt_state))
    assert resumed.history["val_loss"] == whole.history["val_loss"]
    assert whole.history["accuracy"][-1] > whole.history["accuracy"][0]
