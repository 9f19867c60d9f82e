"""What fit and evaluate refuse before anything compiles, and the warnings they give."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet as jn


def blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    return rng.normal(size=(n, 2)).astype(np.float32) + 3.0 * (2.0 * y[:, None] - 1.0), y


def setup(width=2):
    model = jn.Sequential([jn.Dense(width)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    return jn.objective(model, jn.losses.softmax_cross_entropy), params, state


def fit(objective=None, params=None, state=None, optimizer=None, data=None, **kwargs):
    default_objective, default_params, default_state = setup()
    arguments = dict(epochs=1, batch_size=8, key=jax.random.key(0), verbose=False)
    arguments.update(kwargs)
    return jn.fit(objective or default_objective, params or default_params,
                  default_state if state is None else state, optimizer or optax.sgd(0.1),
                  blobs() if data is None else data, **arguments)


@pytest.mark.parametrize("epochs, error, message", [
    (-1, ValueError, "epochs must be an integer >= 0"),
    (2.0, TypeError, "epochs must be an integer, got 2.0"),
    ("3", TypeError, "epochs must be an integer"),
])
def test_epochs_must_be_a_whole_number(epochs, error, message):
    with pytest.raises(error, match=message):
        fit(epochs=epochs)


def test_numpy_integers_are_accepted_as_counts():
    result = fit(epochs=np.int64(2), batch_size=np.int32(16))
    assert result.steps == 2 * (64 // 16)


def test_zero_epochs_returns_the_starting_parameters():
    objective, params, state = setup()
    result = fit(objective, params, state, epochs=0)
    assert result.steps == 0 and result.history == {} and result.stop_reason == "epochs"
    jax.tree.map(np.testing.assert_array_equal, result.params, params)


@pytest.mark.parametrize("data, error, message", [
    (blobs()[0], TypeError, "train_data must be a pair \\(x, y\\)"),
    ((blobs()[0],), TypeError, "train_data must be a pair"),
    ((np.zeros((0, 2), np.float32), np.zeros(0, np.int32)), ValueError, "train_data is empty"),
])
def test_training_data_must_be_a_nonempty_pair(data, error, message):
    with pytest.raises(error, match=message):
        fit(data=data, batch_size=1)


def test_an_empty_validation_set_is_refused():
    empty = (np.zeros((0, 2), np.float32), np.zeros(0, np.int32))
    with pytest.raises(ValueError, match="validation_data is empty"):
        fit(validation_data=empty)


@pytest.mark.parametrize("batch_size", [0, -3])
def test_evaluate_refuses_a_batch_size_below_one(batch_size):
    objective, params, state = setup()
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        jn.evaluate(objective, params, state, blobs(), batch_size=batch_size)


def test_an_optimizer_state_of_another_optimizer_is_refused():
    objective, params, state = setup()
    with pytest.raises(ValueError, match="opt_state does not belong to this optimizer"):
        fit(objective, params, state, optax.adam(1e-3),
            opt_state=optax.sgd(0.1, momentum=0.9).init(params))


def test_an_optimizer_state_for_other_parameters_names_the_entry():
    objective, params, state = setup()
    other, _ = jn.Sequential([jn.Dense(3)]).init(jax.random.key(0), jnp.zeros((1, 2)))
    message = r"opt_state.*\['dense_0'\]\['b'\] has shape \(3,\).*makes \(2,\)"
    with pytest.raises(ValueError, match=message):
        fit(objective, params, state, optax.adam(1e-3), opt_state=optax.adam(1e-3).init(other))


def test_parameters_of_another_model_name_the_entry_and_both_shapes():
    objective, _, state = setup(width=2)
    wider, _ = jn.Sequential([jn.Dense(3)]).init(jax.random.key(0), jnp.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"params\['dense_0'\]\['b'\] has shape \(3,\), but "
                                         r"the model makes \(2,\)"):
        fit(objective, wider, state)


def test_inputs_of_another_shape_than_at_init_are_blamed_with_the_shape_the_params_fit():
    model = jn.Sequential([jn.Dense(4), jn.relu, jn.Dense(2)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 6)))
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    x, y = blobs()
    wide = np.concatenate([x, x, x, x], axis=1)  # 8 features where the params take 6
    with pytest.raises(ValueError, match=r"train_data: x holds examples of shape \(8,\), but the "
                                         r"parameters were made by model.init for examples of "
                                         r"shape \(6,\) \(params\['dense_0'\]\['w'\] has shape "
                                         r"\(6, 4\)\); pass inputs of that shape"):
        fit(objective, params, state, data=(wide, y))
    grid = wide[:, :6].reshape(-1, 2, 3)  # each example's 6 values as a (2, 3) grid
    with pytest.raises(ValueError, match=r"examples of shape \(2, 3\), .* shape \(6,\) .* the "
                                         r"2\*3 = 6 values of each example fit as one row"):
        fit(objective, params, state, data=(grid, y))
    fit(objective, params, state, data=(grid.reshape(len(grid), -1), y))


def test_nested_lists_are_read_as_arrays_by_fit_and_evaluate():
    objective, params, state = setup()
    x, y = blobs()
    from_lists = fit(objective, params, state, data=(x.tolist(), y.tolist()))
    from_arrays = fit(objective, params, state, data=(x, y))
    jax.tree.map(np.testing.assert_array_equal, from_lists.params, from_arrays.params)
    assert jn.evaluate(objective, from_arrays.params, state, (x.tolist(), y.tolist())) == \
        jn.evaluate(objective, from_arrays.params, state, (x, y))


def test_parameters_missing_a_layer_are_named():
    model = jn.Sequential([jn.Dense(4), jn.relu, jn.Dense(2)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    del params["dense_1"]
    with pytest.raises((ValueError, jn.LayerError), match="dense_1"):
        fit(objective, params, state)


def test_a_key_must_be_a_jax_key():
    with pytest.raises(TypeError, match="key must be a JAX key"):
        fit(key=0)


def test_a_legacy_uint32_key_gives_the_same_run_as_its_typed_key():
    a = fit(key=jax.random.PRNGKey(3), epochs=2)
    b = fit(key=jax.random.wrap_key_data(jax.random.PRNGKey(3)), epochs=2)
    jax.tree.map(np.testing.assert_array_equal, a.params, b.params)


def test_a_softmax_before_softmax_cross_entropy_warns():
    model = jn.Sequential([jn.Dense(3), jn.softmax])
    with pytest.warns(UserWarning, match="ends in softmax.*takes logits"):
        jn.objective(model, jn.losses.softmax_cross_entropy)


@pytest.mark.parametrize("patience, min_delta, error, message", [
    (0, 0.0, ValueError, "patience must be an integer >= 1"),
    (2, -1.0, ValueError, "min_delta must be a finite number >= 0"),
])
def test_stopping_arguments_are_checked(patience, min_delta, error, message):
    with pytest.raises(error, match=message):
        fit(patience=patience, min_delta=min_delta)


def test_epsilon_must_be_positive():
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0"):
        fit(epsilon=0.0)


def test_checks_of_device_arrays_are_remembered_across_calls(monkeypatch):
    from jaxnet.training import checks

    objective, params, state = setup()
    data = tuple(jnp.asarray(a) for a in blobs())
    fit(objective, params, state, data=data)
    calls = []
    monkeypatch.setattr(checks, "check_params", lambda *a: calls.append(a))
    fit(objective, params, state, data=data)
    assert calls == []
    fit(objective, params, state, data=tuple(jnp.asarray(a) for a in blobs()))
    assert len(calls) == 1
