"""Successive halving (jn.sweep's schedule=jn.halving(...)): after each rung only the best
configurations go on, each exactly as an uninterrupted run of it; the others stop there."""

import jax
import numpy as np
import optax
import pytest

import jaxnet as jn

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 3, 240).astype(np.int32)
X = (RNG.normal(size=(240, 4)) + np.eye(3, 4)[Y]).astype(np.float32)
TRAIN, VALIDATION = (X[:192], Y[:192]), (X[192:], Y[192:])
CONFIGS = jn.grid(lr=[1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0], seed=[0])


def setup(lr, seed=0, dropout=0.1, width=16):
    model = jn.Sequential([jn.Dense(width), jn.relu, jn.Dropout(dropout), jn.Dense(3)])
    params, state = model.init(jax.random.key(seed), X[:1])
    return jn.Trial(jn.objective(model, jn.losses.softmax_cross_entropy),
                    optax.sgd(lr, momentum=0.9), params, state, jax.random.key(7 + seed))


def sweep(configs=CONFIGS, **kwargs):
    arguments = dict(epochs=5, batch_size=32, validation_data=VALIDATION, verbose=False)
    return jn.sweep(setup, configs, TRAIN, **{**arguments, **kwargs})


@pytest.fixture(scope="module")
def full():
    return sweep()


@pytest.fixture(scope="module")
def halved():
    return sweep(schedule=jn.halving(rungs=(1, 3), keep=0.5, metric="val_accuracy"))


def test_after_each_rung_the_best_go_on_and_the_others_stop_there(full, halved):
    # Rung 1 (epoch 1): 6 -> 3 go on; rung 2 (epoch 3): 3 -> 2 go on to epoch 5.
    epochs = [len(h["loss"]) for h in halved.histories]
    assert sorted(epochs) == [1, 1, 1, 3, 5, 5]
    assert halved.rungs == [{1: 1, 3: 2, 5: None}[e] for e in epochs]
    assert halved.stop_reasons == ["halved" if e < 5 else "epochs" for e in epochs]
    # Each rung kept the best by the metric at its last epoch.
    at_one = [h["val_accuracy"][0] for h in full.histories]
    first = [i for i, e in enumerate(epochs) if e > 1]
    assert min(at_one[i] for i in first) >= max(at_one[i] for i in range(6) if i not in first)
    at_three = {i: full.histories[i]["val_accuracy"][2] for i in first}
    last = [i for i, e in enumerate(epochs) if e == 5]
    assert min(at_three[i] for i in last) >= max(v for i, v in at_three.items() if i not in last)


def test_every_configuration_is_exactly_its_uninterrupted_run(full, halved):
    for i, history in enumerate(halved.histories):
        epochs = len(history["loss"])
        np.testing.assert_array_equal(history["val_loss"], full.histories[i]["val_loss"][:epochs])
        if epochs == 5:  # a survivor: its final parameters are those of the whole run
            for a, b in zip(jax.tree.leaves(halved.params[i]), jax.tree.leaves(full.params[i])):
                np.testing.assert_array_equal(a, b)
            assert halved.steps[i] == full.steps[i]


def test_halving_costs_a_fraction_of_the_grid(halved):
    configuration_epochs = sum(len(h["loss"]) for h in halved.histories)
    assert configuration_epochs == 6 * 1 + 3 * 2 + 2 * 2  # against 6 * 5 = 30 for the grid


@pytest.mark.slow
def test_a_halving_sweep_resumes_from_its_checkpoints_to_the_same_bits(halved, tmp_path):
    class Interrupt(Exception):
        pass

    def interrupt(epoch, history, run, config):
        if epoch == 4:  # in the last rung
            raise Interrupt

    schedule = jn.halving(rungs=(1, 3), keep=0.5, metric="val_accuracy")
    with pytest.raises(Interrupt):
        sweep(schedule=schedule, checkpoint_dir=tmp_path, callbacks=[interrupt])
    resumed = sweep(schedule=schedule, checkpoint_dir=tmp_path)
    assert resumed.rungs == halved.rungs and resumed.stop_reasons == halved.stop_reasons
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(halved.params)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_configurations_of_several_structures_are_ranked_together():
    configs = jn.grid(width=[4, 32], lr=[1e-3, 0.1, 0.3])  # two groups, one program each
    result = sweep(configs, schedule=jn.halving(rungs=(2,), keep=1 / 3))
    survivors = [i for i, rung in enumerate(result.rungs) if rung is None]
    assert len(survivors) == 2
    full = sweep(configs)
    at_two = [h["val_loss"][1] for h in full.histories]
    assert sorted(survivors) == sorted(np.argsort(at_two)[:2].tolist())
    for i in range(6):
        assert result.params[i]["dense_0"]["w"].shape == (4, configs[i]["width"])


@pytest.mark.slow
def test_configurations_stopped_by_patience_are_out_of_the_race():
    configs = jn.grid(lr=[0.0, 1e-2, 0.1, 0.3], seed=[0])
    result = sweep(configs, patience=1, schedule=jn.halving(rungs=(2,), keep=0.5))
    assert result.stop_reasons[0] == "patience"  # a rate of 0 never improves
    assert result.rungs[0] is None


@pytest.mark.parametrize("make, error, message", [
    (lambda: jn.halving(rungs=(1, 3), keep=0.0), ValueError, "keeps nobody"),
    (lambda: jn.halving(rungs=(1, 3), keep=1.5), ValueError, r"fraction in \(0, 1\]"),
    (lambda: jn.halving(rungs=(3, 1)), ValueError, "rungs must increase"),
    (lambda: jn.halving(rungs=()), ValueError, "at least one rung"),
    (lambda: jn.halving(rungs=(1,), mode="best"), ValueError, "mode must be"),
])
def test_bad_schedules_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(schedule=jn.halving(rungs=(1, 5))), ValueError, "rungs must end before epochs"),
    (dict(schedule=jn.halving(rungs=(1,)), validation_data=None), ValueError,
     "needs validation_data"),
    (dict(schedule=jn.halving(rungs=(1,), metric="train_loss")), ValueError,
     "needs evaluate_train"),
    (dict(schedule={"rungs": (1,)}), TypeError, r"schedule must be jn.halving"),
])
def test_schedules_that_do_not_suit_the_sweep_are_refused_before_compiling(kwargs, error,
                                                                          message):
    with pytest.raises(error, match=message):
        sweep(**kwargs)
