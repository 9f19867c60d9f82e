"""jn.search.optuna_search: an Optuna study's trials, asked and told a batch at a time, each batch
one jn.sweep, with the study's pruner at epoch ends."""

import jax
import numpy as np
import optax
import pytest

import jaxnet as jn

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 8)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int32)
VALIDATION = (X[:64], Y[:64])
MODEL = jn.Sequential([jn.Dense(16), jn.relu, jn.Dense(2)])
LR = optuna.distributions.FloatDistribution(1e-4, 1.0, log=True)


def setup(lr, seed=0):
    init_key, run_key = jax.random.split(jax.random.key(seed))
    params, state = MODEL.init(init_key, X[:1])
    return jn.Trial(jn.objective(MODEL, jn.losses.softmax_cross_entropy),
                    optax.sgd(lr, momentum=0.9), params, state, run_key)


def study(direction="maximize", **kwargs):
    return optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=0),
                               **kwargs)


def search(s, space=None, **kwargs):
    arguments = dict(trials=12, batch=4, metric="val_accuracy", epochs=3, batch_size=32,
                     validation_data=VALIDATION, verbose=False)
    return jn.search.optuna_search(s, setup, space or {"lr": LR}, (X, Y),
                                   **{**arguments, **kwargs})


def test_each_batch_is_one_sweep_and_every_trial_is_told_its_final_metric():
    s = study()
    result = search(s, prune=False)
    assert [len(batch.configs) for batch in result.batches] == [4, 4, 4]
    assert len(s.trials) == 12 and result.trials == list(range(12))
    told = [t.value for t in s.trials]
    finals = [h["val_accuracy"][-1] for batch in result.batches for h in batch.histories]
    np.testing.assert_allclose(told, finals)
    np.testing.assert_allclose(result.values, finals)
    assert [c["lr"] for c in result.configs] == [t.params["lr"] for t in s.trials]
    # A trial's result is that of jn.sweep (so of jn.fit) for its configuration.
    alone = jn.sweep(setup, result.configs[5:6], (X, Y), epochs=3, batch_size=32,
                     validation_data=VALIDATION, verbose=False)
    assert alone.histories[0]["val_accuracy"][-1] == pytest.approx(result.values[5], abs=1e-6)
    assert s.best_value == max(finals)


@pytest.mark.slow
def test_the_sampler_learns_from_the_batches_before():
    s = study()
    search(s, trials=24, batch=8, prune=False)
    first, last = s.trials[:8], s.trials[16:]
    # TPE draws the first batch at random, the last near the good rates.
    assert np.median([t.value for t in last]) >= np.median([t.value for t in first])
    assert s.best_value > 0.85


def test_the_pruner_stops_trials_at_epoch_ends_and_they_are_told_pruned():
    s = study(pruner=optuna.pruners.ThresholdPruner(lower=0.8))
    result = search(s, space={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-3,
                                                                          log=True)},
                    trials=4, batch=4)
    assert all(result.pruned)
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in s.trials)
    # Pruned after its first epoch: the history stops there.
    assert all(len(h["val_accuracy"]) == 1 for h in result.batches[0].histories)
    assert all(list(t.intermediate_values) == [1] for t in s.trials)


def test_a_define_by_run_space_and_fixed_values():
    def space(trial):
        return {"lr": trial.suggest_float("lr", 1e-2, 1.0, log=True)}

    s = study()
    result = search(s, space=space, trials=4, batch=2, fixed={"seed": 3})
    assert all(c["seed"] == 3 and 1e-2 <= c["lr"] <= 1.0 for c in result.configs)
    assert len(s.trials) == 4


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(space={"learning_rate": LR}), TypeError, r"proposes \['learning_rate'\], which setup "
                                                   r"does not take"),
    (dict(space={"lr": 0.1}), TypeError, "must be an Optuna distribution"),
    (dict(metric="val_loss"), ValueError, "direction is maximize, but 'val_loss' is to "
                                          "minimize"),
    (dict(callbacks=[print]), TypeError, "callbacks= is not taken"),
    (dict(trials=0), ValueError, "trials"),
])
def test_bad_searches_are_refused_before_anything_is_asked(kwargs, error, message):
    s = study()
    with pytest.raises(error, match=message):
        search(s, **kwargs)
    assert not s.trials


def test_a_define_by_run_space_proposing_a_name_setup_does_not_take():
    s = study()
    with pytest.raises(TypeError, match=r"proposes \['momentum'\]"):
        search(s, space=lambda trial: {"lr": 0.1, "momentum": trial.suggest_float("m", 0, 1)})
    assert all(t.state == optuna.trial.TrialState.FAIL for t in s.trials)  # none left running
