"""jn.sweep: each configuration equals its own fit; early stopping per configuration; errors."""

import os
import re
import textwrap
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import kill_after_checkpoints

import jaxnet as jn


def problem(n=256, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int32)
    x = rng.normal(size=(n, 4)).astype(np.float32) + np.eye(3, 4, dtype=np.float32)[y]
    return jnp.asarray(x), jnp.asarray(y)


DATA = problem()


def setup(lr=1e-2, l2=1e-3, dropout=0.2, seed=0, width=16, loss=jn.losses.softmax_cross_entropy):
    model = jn.Sequential([jn.Dense(width), jn.relu, jn.Dropout(dropout), jn.Dense(3)])
    params, state = model.init(jax.random.key(seed), DATA[0][:1])
    objective = jn.objective(model, loss, jn.regularizers.l2(l2))
    return jn.Trial(objective, optax.sgd(lr, momentum=0.9), params, state,
                    jax.random.key(100 + seed))


def fit_alone(config, **kwargs):
    trial = setup(**config)
    return jn.fit(trial.objective, trial.params, trial.state, trial.optimizer, DATA,
                  key=trial.key, verbose=False, **kwargs)


def assert_close(a, b, tolerance=1e-5):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=tolerance, atol=tolerance),
                 a, b)


@pytest.mark.slow
def test_each_configuration_equals_its_own_fit():
    configs = jn.grid(lr=[1e-2, 5e-2], l2=[0.0, 1e-3], dropout=[0.0, 0.3], seed=[0, 1])
    result = jn.sweep(setup, configs, DATA, epochs=3, batch_size=32, validation_data=DATA,
                      verbose=False)
    assert len(result.params) == len(configs) == 16
    for index in (6, 9):
        alone = fit_alone(configs[index], epochs=3, batch_size=32, validation_data=DATA)
        assert_close(result.params[index], alone.params)
        assert result.steps[index] == alone.steps
        np.testing.assert_allclose(result.histories[index]["val_loss"],
                                   alone.history["val_loss"], rtol=1e-5)


@pytest.mark.slow
def test_hidden_widths_each_train_exactly_the_narrow_model():
    configs = jn.grid(width=[1, 32], seed=[0, 1])
    result = jn.sweep(setup, configs, DATA, epochs=2, batch_size=32, verbose=False)
    for index, config in enumerate(configs[1:3], start=1):
        alone = fit_alone(config, epochs=2, batch_size=32)
        assert result.params[index]["dense_0"]["w"].shape == (4, config["width"])
        assert_close(result.params[index], alone.params)


# A structure's loss is traced twice: abstractly (the check that its numbers trace), then by
# its one compiled epoch. A compilation per configuration would trace it once more each.
TRACES_PER_STRUCTURE = 2


def test_the_configurations_compile_once():
    loss = chex.assert_max_traces(jn.losses.softmax_cross_entropy, n=TRACES_PER_STRUCTURE)
    configs = [{"lr": lr, "loss": loss} for lr in (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)]
    jn.sweep(setup, configs, DATA, epochs=2, batch_size=64, verbose=False)


def test_a_configuration_stopped_by_patience_stops_changing_while_others_go_on():
    configs = [{"lr": 0.0}, {"lr": 0.05}]
    result = jn.sweep(setup, configs, DATA, epochs=8, batch_size=32, patience=2,
                      validation_data=DATA, verbose=False)
    assert result.stop_reasons == ["patience", "epochs"]
    # The first epoch sets the best value, then two epochs without improvement stop it.
    assert len(result.histories[0]["loss"]) == 3 and len(result.histories[1]["loss"]) == 8
    assert_close(result.params[0], setup(lr=0.0).params, tolerance=0)


@pytest.mark.slow
def test_a_diverging_configuration_stops_with_finite_parameters_alone():
    configs = [{"lr": 0.05, "dropout": 0.0}, {"lr": 1e6, "dropout": 0.0}]
    result = jn.sweep(setup, configs, DATA, epochs=6, batch_size=32, verbose=False)
    assert result.stop_reasons == ["epochs", "nonfinite"]
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(result.params[1]))
    alone = fit_alone(configs[0], epochs=6, batch_size=32)
    assert_close(result.params[0], alone.params)


@pytest.mark.slow
def test_configurations_side_by_side_or_in_turn_give_the_same_results():
    configs = jn.grid(lr=[1e-2, 2e-2, 3e-2], seed=[0, 1])
    one_at_a_time = jn.sweep(setup, configs, DATA, epochs=2, batch_size=32, chunk_size=1,
                             verbose=False)
    for chunk_size in (4, 6):  # 4 side by side, then the other 2; all 6 side by side
        chunked = jn.sweep(setup, configs, DATA, epochs=2, batch_size=32,
                           chunk_size=chunk_size, verbose=False)
        for a, b in zip(one_at_a_time.params, chunked.params):
            assert_close(a, b)
    assert_close(one_at_a_time.params[4], fit_alone(configs[4], epochs=2, batch_size=32).params)


def test_the_table_and_the_best_configuration():
    configs = [{"lr": 0.0}, {"lr": 0.05}]
    result = jn.sweep(setup, configs, DATA, epochs=3, batch_size=32, validation_data=DATA,
                      verbose=False)
    table = result.table()
    assert table[1]["lr"] == 0.05 and table[1]["epochs"] == 3
    assert table[1]["val_accuracy"] == result.histories[1]["val_accuracy"][-1]
    assert result.best("val_accuracy") == 1 and result.best("val_loss") == 1
    assert result.stacked_params()["dense_0"]["w"].shape == (2, 4, 16)


@pytest.mark.parametrize("configs, error, message", [
    ([], ValueError, "configs is empty"),
    ([{"lr": 0.1, "momentum": 0.9}], TypeError, "setup\\(\\*\\*config\\) failed"),
    ([{"lr": -0.1}], ValueError, "lr is a rate and must be >= 0"),
    ([{"lr": float("nan")}], ValueError, "lr must be finite"),
    ({"lr": []}, ValueError, "grid axis 'lr' must be a non-empty list"),
    ([{"lr": 0.1}, {"lr": "1e-3"}], TypeError,
     r"configuration 1 \{'lr': '1e-3'\}: the optimizer cannot update .*the string '1e-3'"),
])
def test_bad_configurations_are_refused_before_compiling(configs, error, message):
    with pytest.raises(error, match=message):
        jn.sweep(setup, configs, DATA, epochs=1, batch_size=32, verbose=False)


def test_zipped_needs_lists_of_one_length():
    with pytest.raises(ValueError, match="lists of one length"):
        jn.zipped(lr=[0.1, 0.2], l2=[0.0])


def test_fit_compiles_once_for_optimizers_whose_rates_live_in_their_state():
    loss = chex.assert_max_traces(jn.losses.softmax_cross_entropy, n=TRACES_PER_STRUCTURE)
    for lr in (1e-3, 1e-2, 1e-1):
        trial = setup(lr=lr, loss=loss)
        optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=lr)
        result = jn.fit(trial.objective, trial.params, trial.state, optimizer, DATA, epochs=1,
                        batch_size=64, key=trial.key, verbose=False)
        np.testing.assert_allclose(result.opt_state.hyperparams["learning_rate"], lr)


def test_an_optimizer_built_with_a_string_is_refused_with_the_reason():
    trial = setup()
    with pytest.raises(TypeError, match="optimizer cannot update .*a number of the wrong kind"):
        jn.fit(trial.objective, trial.params, trial.state, optax.adam("1e-3"), DATA, epochs=1,
               batch_size=64, key=trial.key, verbose=False)


@pytest.mark.slow
def test_fit_says_when_an_optimizer_compiles_again_for_other_numbers():
    trial = setup()
    for lr, expected in ((1e-3, None), (2e-3, "differs from one compiled before only in its "
                                              "numbers.*inject_hyperparams")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            jn.fit(trial.objective, trial.params, trial.state, optax.adam(lr), DATA, epochs=1,
                   batch_size=64, key=trial.key, verbose=False)
        messages = [str(w.message) for w in caught]
        assert (expected is None) == (not any(re.search(expected or "$^", m)
                                              for m in messages)), messages


def test_a_number_used_in_python_is_a_constant_named_in_a_warning():
    def gated(rate):
        def gate(x):
            return x if rate > 0.5 else -x  # Python control flow on the number
        model = jn.Sequential([jn.Dense(3), gate])
        params, state = model.init(jax.random.key(0), DATA[0][:1])
        objective = jn.objective(model, jn.losses.softmax_cross_entropy)
        return jn.Trial(objective, optax.sgd(0.1), params, state, jax.random.key(1))

    with pytest.warns(UserWarning, match="configuration's 'rate' is used in Python code"):
        result = jn.sweep(gated, jn.grid(rate=[0.2, 0.8]), DATA, epochs=1, batch_size=64,
                          verbose=False)
    assert result.stop_reasons == ["epochs", "epochs"]
    for index, rate in enumerate((0.2, 0.8)):
        trial = gated(rate)
        alone = jn.fit(trial.objective, trial.params, trial.state, trial.optimizer, DATA,
                       epochs=1, batch_size=64, key=trial.key, verbose=False)
        assert_close(result.params[index], alone.params)


def test_penalty_strengths_and_where_share_one_compilation():
    loss = chex.assert_max_traces(jn.losses.softmax_cross_entropy, n=TRACES_PER_STRUCTURE)

    def penalized(l2):
        trial = setup(loss=loss)
        model = trial.objective.model
        objective = jn.objective(model, loss, 0.5 * jn.regularizers.l2(l2, where="dense_1"))
        return jn.Trial(objective, trial.optimizer, trial.params, trial.state, trial.key)

    jn.sweep(penalized, {"l2": [1e-4, 1e-3, 1e-2]}, DATA, epochs=1, batch_size=64,
             verbose=False)


def _patience_rule_stops_at(losses, patience):
    """The epoch after which the patience rule stops, computed from a history alone: float32
    values, an improvement is a strictly smaller value."""
    best, waited = np.float32(np.inf), 0
    for epoch, value in enumerate(losses, start=1):
        if np.float32(value) < best:
            best, waited = np.float32(value), 0
        else:
            waited += 1
        if waited >= patience:
            return epoch
    return len(losses)


@pytest.mark.parametrize("seed", [0, 4])  # seed 4 stopped fit and sweep apart before
def test_fit_and_sweep_stop_a_flat_loss_at_the_same_epoch(seed):
    # sgd(0.0): the loss only moves by float rounding between epochs (other batches, same sum).
    trial = setup(seed=seed, dropout=0.0)
    alone = jn.fit(trial.objective, trial.params, trial.state, optax.sgd(0.0), DATA, epochs=8,
                   batch_size=32, key=trial.key, patience=2, verbose=False)
    swept = jn.sweep(lambda lr: setup(lr=lr, seed=seed, dropout=0.0), [{"lr": 0.0}], DATA,
                     epochs=8, batch_size=32, patience=2, verbose=False)
    free = jn.fit(trial.objective, trial.params, trial.state, optax.sgd(0.0), DATA, epochs=8,
                  batch_size=32, key=trial.key, verbose=False)
    expected = _patience_rule_stops_at(free.history["loss"], patience=2)
    assert len(alone.history["loss"]) == len(swept.histories[0]["loss"]) == expected
    assert alone.stop_reason == swept.stop_reasons[0] == "patience"


@pytest.mark.slow
def test_a_bfloat16_sweep_with_dropout_equals_its_fit():
    def mixed(lr):
        trial = setup(lr=lr, dropout=0.3)
        objective = jn.objective(trial.objective.model, jn.losses.softmax_cross_entropy,
                                 compute_dtype="bfloat16")
        return jn.Trial(objective, trial.optimizer, trial.params, trial.state, trial.key)

    swept = jn.sweep(mixed, [{"lr": 0.05}], DATA, epochs=2, batch_size=32, verbose=False)
    trial = mixed(0.05)
    alone = jn.fit(trial.objective, trial.params, trial.state, trial.optimizer, DATA, epochs=2,
                   batch_size=32, key=trial.key, verbose=False)
    assert_close(swept.params[0], alone.params, tolerance=1e-6)


@pytest.mark.slow
def test_restore_best_returns_each_configuration_s_best_epoch_as_its_fit_does():
    configs = [{"lr": 0.3}, {"lr": 0.02}]
    swept = jn.sweep(setup, configs, DATA, epochs=6, batch_size=32, validation_data=DATA,
                     restore_best=True, verbose=False)
    for index, config in enumerate(configs):
        alone = fit_alone(config, epochs=6, batch_size=32, validation_data=DATA,
                          restore_best=True)
        assert swept.best_epochs[index] == alone.best_epoch
        best = int(np.argmin(np.float32(alone.history["val_loss"]))) + 1
        assert alone.best_epoch == best
        assert_close(swept.params[index], alone.params)


def test_callbacks_are_told_the_configuration_and_stop_only_it():
    seen = []

    def stop_the_second_after_two(epoch, history, run, config):
        seen.append((epoch, config, len(history["loss"]), int(run.epoch)))
        return config == 1 and epoch == 2

    result = jn.sweep(setup, [{"lr": 0.01}, {"lr": 0.02}, {"lr": 0.03}], DATA, epochs=4,
                      batch_size=64, callbacks=[stop_the_second_after_two], verbose=False)
    assert result.stop_reasons == ["epochs", "callback", "epochs"]
    assert [len(h["loss"]) for h in result.histories] == [4, 2, 4]
    assert (2, 1, 2, 2) in seen and not any(config == 1 and epoch > 2
                                            for epoch, config, *_ in seen)
    assert all(length == epoch == run_epoch for epoch, _, length, run_epoch in seen)


@pytest.mark.slow
def test_a_sweep_s_compute_dtype_trains_each_configuration_as_its_fit():
    swept = jn.sweep(setup, [{"lr": 0.05}], DATA, epochs=2, batch_size=32,
                     compute_dtype="bfloat16", verbose=False)
    alone = fit_alone({"lr": 0.05}, epochs=2, batch_size=32, compute_dtype="bfloat16")
    assert_close(swept.params[0], alone.params, tolerance=1e-6)
    plain = fit_alone({"lr": 0.05}, epochs=2, batch_size=32)
    with pytest.raises(AssertionError):  # bfloat16 really changed the computation
        assert_close(swept.params[0], plain.params, tolerance=1e-6)


SWEEP_CONFIGS = jn.grid(lr=[0.01, 0.05], seed=[0, 1])


def sweep_in(directory, epochs):
    return jn.sweep(setup, SWEEP_CONFIGS, DATA, epochs=epochs, batch_size=32,
                    validation_data=DATA, patience=3, checkpoint_dir=directory, verbose=False)


@pytest.mark.slow
def test_a_sweep_resumed_from_its_checkpoints_equals_an_uninterrupted_one(tmp_path):
    sweep_in(tmp_path, 2)
    resumed, whole = sweep_in(tmp_path, 4), sweep_in(None, 4)
    jax.tree.map(np.testing.assert_array_equal, resumed.params, whole.params)
    assert resumed.histories == [{**h, "time": r["time"]}
                                 for h, r in zip(whole.histories, resumed.histories)]
    with pytest.raises(ValueError, match="another run|other configurations"):
        jn.sweep(setup, SWEEP_CONFIGS[:2], DATA, epochs=4, batch_size=32,
                 validation_data=DATA, patience=3, checkpoint_dir=tmp_path, verbose=False)


def cnn_setup(lr, seed=0):
    model = jn.Sequential([jn.Reshape((4, 1)), jn.Conv1D(3, 2), jn.relu, jn.Flatten(),
                           jn.Dense(3)])
    params, state = model.init(jax.random.key(seed), DATA[0][:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    return jn.Trial(objective, optax.adam(lr), params, state, jax.random.key(seed))


@pytest.mark.slow
def test_a_convolutional_sweep_trains_each_configuration_as_its_fit():
    configs = jn.grid(lr=[0.01, 0.03], seed=[0, 1])
    swept = jn.sweep(cnn_setup, configs, DATA, epochs=2, batch_size=64, verbose=False)
    for index in (0, 3):
        trial = cnn_setup(**configs[index])
        alone = jn.fit(trial.objective, trial.params, trial.state, trial.optimizer, DATA,
                       epochs=2, batch_size=64, key=trial.key, verbose=False)
        assert_close(swept.params[index], alone.params)


KILLED_SWEEP = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_training_sweep import long_sweep
    long_sweep({directory!r})
""")


def long_sweep(directory, epochs=300):
    return jn.sweep(setup, SWEEP_CONFIGS, DATA, epochs=epochs, batch_size=32,
                    checkpoint_dir=directory, verbose=False)


@pytest.mark.slow
def test_a_sweep_killed_mid_run_resumes_to_the_bits_of_an_uninterrupted_one(tmp_path):
    directory = tmp_path / "sweep"
    script = KILLED_SWEEP.format(tests=os.path.dirname(__file__), directory=str(directory))
    killed_at = kill_after_checkpoints(script, directory / "group_0")
    assert 0 < killed_at < 300
    resumed, whole = long_sweep(directory), long_sweep(None)
    jax.tree.map(np.testing.assert_array_equal, resumed.params, whole.params)
    assert [h["loss"] for h in resumed.histories] == [h["loss"] for h in whole.histories]


def test_best_scores_a_setting_by_the_mean_over_its_seeds_as_the_heat_map_does():
    histories = [{"val_accuracy": [v]} for v in (0.90, 0.50, 0.80, 0.79)]
    configs = jn.grid(lr=[0.1, 0.2], seed=[0, 1])
    result = jn.SweepResult(configs, [None] * 4, [None] * 4, histories, ["epochs"] * 4,
                            [1] * 4, [None] * 4, [0.0] * 4)
    assert result.best("val_accuracy") == 2  # lr=0.2: mean 0.795 beats 0.70
    assert result.best("val_accuracy", over=()) == 0  # the single luckiest run


@pytest.mark.slow
def test_compile_time_is_recorded_apart_from_the_first_epoch_in_fit_and_sweep():
    jn.clear_caches()
    trial = setup(width=7)  # a structure no other test compiles
    alone = jn.fit(trial.objective, trial.params, trial.state, trial.optimizer, DATA, epochs=2,
                   batch_size=64, key=trial.key, verbose=False)
    swept = jn.sweep(setup, jn.grid(lr=[0.01, 0.02], width=[9]), DATA, epochs=2, batch_size=64,
                     verbose=False)
    for compile_time, times in ((alone.compile_time, alone.history["time"]),
                                (swept.compile_times[0], swept.histories[0]["time"])):
        assert len(times) == 2 and all(t > 0 for t in times)
        assert compile_time > times[0]  # compiling a program takes longer than running it
