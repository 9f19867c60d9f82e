"""Objective, train_step, evaluate and fit: learning, determinism, stopping rules, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet as jn


def blobs(n=200, seed=0):
    """Two Gaussian blobs in 2-D, labels 0 / 1: linearly separable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.normal(size=(n, 2)).astype(np.float32) + 3.0 * (2.0 * y[:, None] - 1.0)
    return x, y


def mlp():
    return jn.Sequential([jn.Dense(16), jn.BatchNorm(), jn.relu, jn.Dropout(0.1), jn.Dense(2)])


def setup(model=None, seed=0, **objective_kwargs):
    model = model or mlp()
    params, state = model.init(jax.random.key(seed), jnp.zeros((1, 2)))
    objective = jn.objective(model, jn.losses.softmax_cross_entropy, **objective_kwargs)
    return objective, params, state


def test_objective_adds_the_penalty_and_reports_metrics():
    objective, params, state = setup(penalty=jn.regularizers.l2(0.5))
    x, y = blobs(8)
    loss, (new_state, metrics) = objective(params, state, (x, y), jax.random.key(0))
    pred, _ = mlp().apply(params, state, x, key=jax.random.key(0), train=True)
    data_loss = jn.losses.softmax_cross_entropy(pred, y)
    np.testing.assert_allclose(metrics["penalty"], jn.regularizers.l2(0.5)(params), rtol=1e-6)
    np.testing.assert_allclose(loss, data_loss + metrics["penalty"], rtol=1e-6)
    np.testing.assert_allclose(metrics["accuracy"], jn.metrics.accuracy(pred, y))
    assert not np.array_equal(new_state["batchnorm_0"]["mean"], state["batchnorm_0"]["mean"])
    _, (eval_state, _) = objective(params, state, (x, y), train=False)
    jax.tree.map(np.testing.assert_array_equal, eval_state, state)


@pytest.mark.slow
def test_train_step_is_one_optax_update():
    objective, params, state = setup()
    optimizer = optax.sgd(0.1, momentum=0.9)
    opt_state = optimizer.init(params)
    batch, key = blobs(16), jax.random.key(1)
    new_params, *_ = jn.train_step(objective, optimizer)(params, state, opt_state, batch, key)
    grads, _ = jax.grad(objective, has_aux=True)(params, state, batch, key)
    updates, _ = optimizer.update(grads, opt_state, params)
    expected = optax.apply_updates(params, updates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                 new_params, expected)


def test_fit_learns_and_records_a_history_per_epoch():
    objective, params, state = setup()
    x, y = blobs(256)
    xv, yv = blobs(100, seed=1)
    result = jn.fit(objective, params, state, optax.adam(1e-2), (x, y), epochs=5,
                    batch_size=32, key=jax.random.key(0), validation_data=(xv, yv),
                    verbose=False)
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "time"}
    assert all(len(v) == 5 for v in result.history.values())
    assert result.stop_reason == "epochs" and result.steps == 5 * (256 // 32)
    assert result.history["val_accuracy"][-1] > 0.97
    assert result.history["loss"][-1] < result.history["loss"][0]
    final = jn.evaluate(objective, result.params, result.state, (xv, yv))
    assert final["accuracy"] == pytest.approx(result.history["val_accuracy"][-1])
    moved = result.state["batchnorm_0"]["mean"]
    assert not np.allclose(moved, state["batchnorm_0"]["mean"])


def test_fit_is_deterministic_for_a_key():
    objective, params, state = setup()
    data = blobs(128)
    runs = [jn.fit(objective, params, state, optax.adam(1e-2), data, epochs=2, batch_size=16,
                   key=jax.random.key(k), verbose=False) for k in (3, 3, 4)]
    jax.tree.map(np.testing.assert_array_equal, runs[0].params, runs[1].params)
    assert not np.array_equal(runs[0].params["dense_0"]["w"], runs[2].params["dense_0"]["w"])


def test_fit_shows_a_progress_bar_only_when_verbose(capsys):
    objective, params, state = setup()
    jn.fit(objective, params, state, optax.sgd(0.1), blobs(64), epochs=1, batch_size=64,
           key=jax.random.key(0), verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    jn.fit(objective, params, state, optax.sgd(0.1), blobs(64), epochs=1, batch_size=64,
           key=jax.random.key(0), verbose=True)
    assert "1/1" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_stops_when_every_parameter_changes_less_than_epsilon():
    model = jn.Sequential([jn.Dense(1)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    objective = jn.objective(model, jn.losses.binary_cross_entropy, metrics={})
    x, y = blobs(64)
    x = x / 3.0
    epsilon, alpha = 1e-4, 0.5
    result = jn.fit(objective, params, state, optax.sgd(alpha), (x, y), epochs=10_000,
                    batch_size=64, key=jax.random.key(0), epsilon=epsilon, verbose=False)
    assert result.stop_reason == "converged"

    # The same rule by hand: plain gradient descent until a step moves no parameter by epsilon.
    grad = jax.jit(jax.grad(lambda p: objective(p, {}, (x, y))[0]))
    p, steps = params, 0
    while True:
        new = jax.tree.map(lambda w, g: w - alpha * g, p, grad(p))
        steps += 1
        change = max(float(jnp.max(jnp.abs(a - b))) for a, b in
                     zip(jax.tree.leaves(new), jax.tree.leaves(p)))
        p = new
        if change < epsilon:
            break
    assert abs(result.steps - steps) <= 1
    assert len(result.history["loss"]) == result.steps


def test_nan_in_the_data_is_refused_before_training_and_counted():
    objective, params, state = setup()
    x, y = blobs(64)
    x[5, 0] = x[9, 1] = np.nan
    with pytest.raises(ValueError, match="train_data x holds 2 NaN or infinite values"):
        jn.fit(objective, params, state, optax.sgd(0.1), (x, y), epochs=3, batch_size=64,
               key=jax.random.key(0), verbose=False)
    with pytest.raises(ValueError, match="validation_data x holds 2 NaN"):
        jn.fit(objective, params, state, optax.sgd(0.1), blobs(64), epochs=1, batch_size=64,
               key=jax.random.key(0), validation_data=(x, y), verbose=False)
    with pytest.raises(ValueError, match="data x holds 2 NaN"):
        jn.evaluate(objective, params, state, (x, y))


def linear_regression(scale=100.0):
    """A linear model on inputs scaled up so that a large rate diverges within a few steps."""
    model = jn.Sequential([jn.Dense(1)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    x, _ = blobs(64)
    return jn.objective(model, jn.losses.mse, metrics={}), params, state, (
        scale * x, (1e3 * x[:, :1]).astype(np.float32))


def full_batch_loss(objective, result, data):
    return jn.evaluate(objective, result.params, result.state, data)["loss"]


def test_a_nan_learning_rate_returns_the_parameters_before_the_bad_update():
    objective, params, state, data = linear_regression()
    with pytest.warns(RuntimeWarning, match="NaN or infinite.*after step 0"):
        result = jn.fit(objective, params, state, optax.sgd(float("nan")), data, epochs=5,
                        batch_size=8, key=jax.random.key(0), verbose=False)
    assert result.stop_reason == "nonfinite" and result.steps == 0
    jax.tree.map(np.testing.assert_array_equal, result.params, params)
    assert np.isnan(result.history["loss"][-1])  # an epoch with no applied step records NaN


def test_a_diverging_rate_returns_parameters_whose_loss_is_finite():
    objective, params, state, data = linear_regression()
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        result = jn.fit(objective, params, state, optax.sgd(10.0), data, epochs=50,
                        batch_size=64, key=jax.random.key(0), verbose=False)
    assert result.stop_reason == "nonfinite" and result.steps > 0
    assert np.isfinite(full_batch_loss(objective, result, data))
    # One step per epoch: the update of the last finite epoch gave parameters whose loss
    # overflowed, so that update is undone too, and the failed epoch records NaN.
    assert result.steps == len(result.history["loss"]) - 2
    assert np.isnan(result.history["loss"][-1])
    assert np.all(np.isfinite(result.history["loss"][:-1]))


def test_a_diverging_rate_with_mini_batches_keeps_finite_parameters():
    objective, params, state, data = linear_regression()
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        result = jn.fit(objective, params, state, optax.sgd(10.0, momentum=0.9), data,
                        epochs=50, batch_size=8, key=jax.random.key(0), verbose=False)
    assert result.stop_reason == "nonfinite"
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(result.params))
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(result.opt_state))


def test_a_nan_made_inside_the_model_returns_parameters_whose_loss_is_finite():
    # sqrt(z + 1) is NaN once training pushes z below -1, which the target -5 does.
    model = jn.Sequential([jn.Dense(1, kernel_init=jax.nn.initializers.zeros),
                           lambda z: jnp.sqrt(z + 1.0)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    objective = jn.objective(model, jn.losses.mse, metrics={})
    x, _ = blobs(32)
    data = (x, np.full((32, 1), -5.0, np.float32))
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        result = jn.fit(objective, params, state, optax.sgd(0.002), data, epochs=200,
                        batch_size=32, key=jax.random.key(0), verbose=False)
    assert result.stop_reason == "nonfinite" and result.steps > 0
    assert np.isfinite(full_batch_loss(objective, result, data))


def test_a_loss_not_finite_at_the_start_is_an_error():
    model = jn.Sequential([jn.Dense(1), lambda z: jnp.log(z - 1e6)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    objective = jn.objective(model, jn.losses.mse, metrics={})
    x, _ = blobs(32)
    with pytest.raises(jn.NonFiniteError, match="not finite at the parameters this call"):
        jn.fit(objective, params, state, optax.sgd(0.1), (x, x[:, :1]), epochs=2,
               batch_size=8, key=jax.random.key(0), verbose=False)


def test_the_linear_classifier_stops_on_a_nan_rate_with_finite_weights():
    x, y = blobs(64)
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        clf = jn.classic.LinearClassifier("svm", learning_rate=float("nan"), epochs=3).fit(x, y)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(clf.params))


def test_fit_stops_after_patience_epochs_without_improvement():
    objective, params, state = setup(jn.Sequential([jn.Dense(2)]))
    result = jn.fit(objective, params, state, optax.sgd(0.0), blobs(64), epochs=20,
                    batch_size=16, key=jax.random.key(0), validation_data=blobs(32, seed=2),
                    patience=3, verbose=False)
    assert result.stop_reason == "patience"
    assert len(result.history["val_loss"]) == 4


def test_evaluate_is_the_exact_mean_over_uneven_chunks():
    objective, params, state = setup()
    x, y = blobs(103)
    pred, _ = mlp().apply(params, state, x)
    whole = jn.evaluate(objective, params, state, (x, y), batch_size=10)
    assert whole["loss"] == pytest.approx(float(jn.losses.softmax_cross_entropy(pred, y)), rel=1e-5)
    assert whole["accuracy"] == pytest.approx(float(jn.metrics.accuracy(pred, y)), rel=1e-6)


@pytest.mark.parametrize("sizes", [(1001, 1500, 2000), (300, 400, 512),
                                   pytest.param((2100, 3000, 4000), marks=pytest.mark.slow)])
@pytest.mark.slow
def test_evaluate_compiles_once_for_data_sets_of_one_bucket(sizes):
    traced = []

    def loss(pred, target):  # called when the evaluation is traced, for a compilation
        traced.append(pred.shape)
        return jn.losses.softmax_cross_entropy(pred, target)

    model = mlp()
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    objective = jn.objective(model, loss, jn.regularizers.l2(0.1))
    traces = []
    for n in sizes:
        x, y = blobs(n, seed=n)
        metrics = jn.evaluate(objective, params, state, (x, y))
        pred, _ = model.apply(params, state, x)
        penalty = float(jn.regularizers.l2(0.1)(params))
        expected = float(jn.losses.softmax_cross_entropy(pred, y)) + penalty
        assert metrics["loss"] == pytest.approx(expected, rel=1e-5)
        assert metrics["penalty"] == pytest.approx(penalty, rel=1e-6)
        assert metrics["accuracy"] == pytest.approx(float(jn.metrics.accuracy(pred, y)))
        traces.append(len(traced))
    assert traces[0] > 0 and traces[1:] == traces[:1] * (len(sizes) - 1)


@pytest.mark.slow
def test_one_hot_targets_train_like_integer_labels():
    objective, params, state = setup()
    x, y = blobs(64)
    a = jn.fit(objective, params, state, optax.sgd(0.1), (x, y), epochs=2, batch_size=16,
               key=jax.random.key(0), verbose=False)
    b = jn.fit(objective, params, state, optax.sgd(0.1), (x, np.eye(2, dtype=np.float32)[y]),
               epochs=2, batch_size=16, key=jax.random.key(0), verbose=False)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6),
                 a.params, b.params)


def test_labels_out_of_range_are_rejected_before_compiling():
    objective, params, state = setup()
    x, y = blobs(32)
    y[3] = 7
    message = r"train_data: .*labels must be integers in \[0, 2\).*found 7"
    with pytest.raises(ValueError, match=message):
        jn.fit(objective, params, state, optax.sgd(0.1), (x, y), epochs=1, batch_size=8,
               key=jax.random.key(0))
    with pytest.raises(ValueError, match="validation_data: .*labels"):
        jn.fit(objective, params, state, optax.sgd(0.1), blobs(32), epochs=1, batch_size=8,
               key=jax.random.key(0), validation_data=(x, y))


@pytest.mark.parametrize(
    "data, batch_size, message",
    [
        ((np.zeros((10, 2), np.float32), np.zeros(9, np.int32)), 5, "same number of examples"),
        ((np.zeros((10, 2), np.float32), np.zeros((10, 3), np.float32)), 5, "one-hot or prob"),
        (blobs(10), 11, "batch_size must be"),
        (blobs(10), 0, "batch_size must be"),
    ],
)
def test_bad_training_data_is_a_clear_error(data, batch_size, message):
    objective, params, state = setup()
    with pytest.raises(ValueError, match=message):
        jn.fit(objective, params, state, optax.sgd(0.1), data, epochs=1, batch_size=batch_size,
               key=jax.random.key(0))


def test_fit_reuses_the_compiled_epoch_for_the_same_objective_and_optimizer():
    import chex

    model = jn.Sequential([jn.Dense(2)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    # The loss is traced once abstractly (the check that its numbers trace), once by the
    # compiled epoch and once by the compiled evaluation; never again for other seeds.
    loss = chex.assert_max_traces(jn.losses.softmax_cross_entropy, n=3)
    objective = jn.objective(model, loss, metrics={})
    optimizer = optax.sgd(0.1)
    x, y = (jnp.asarray(a) for a in blobs(64))
    for seed in range(3):
        jn.fit(objective, params, state, optimizer, (x, y), epochs=2, batch_size=16,
               key=jax.random.key(seed), validation_data=(x, y), verbose=False)


def test_fit_and_evaluate_train_a_model_with_two_inputs():
    x, y = blobs(128)
    inputs = {"a": x[:, :1], "b": x[:, 1:]}
    model = jn.Sequential([
        jn.Parallel({"a": jn.Dense(8), "b": jn.Dense(8)}, merge="concat", split=True),
        jn.relu, jn.Dense(2),
    ])
    params, state = model.init(jax.random.key(0), {"a": x[:1, :1], "b": x[:1, 1:]})
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    result = jn.fit(objective, params, state, optax.adam(1e-2), (inputs, y), epochs=5,
                    batch_size=16, key=jax.random.key(0), validation_data=(inputs, y),
                    verbose=False)
    assert result.history["val_accuracy"][-1] > 0.95
    assert jn.evaluate(objective, result.params, result.state, (inputs, y),
                       batch_size=50)["accuracy"] == pytest.approx(
        result.history["val_accuracy"][-1])
    with pytest.raises(ValueError, match="same number of examples"):
        jn.fit(objective, params, state, optax.adam(1e-2), ({"a": x[:, :1], "b": x[:5, 1:]}, y),
               epochs=1, batch_size=16, key=jax.random.key(0), verbose=False)
