"""Population-based training (jn.sweep's schedule=jn.pbt(...)): every few epochs the worst
members copy a best one's run and take its values, perturbed; lineage in the result; exact
resume."""

import jax
import numpy as np
import optax
import pytest

import jaxnet as jn

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 3, 240).astype(np.int32)
X = (RNG.normal(size=(240, 4)) + np.eye(3, 4)[Y]).astype(np.float32)
TRAIN, VALIDATION = (X[:192], Y[:192]), (X[192:], Y[192:])


def setup(lr, seed=0, width=16):
    model = jn.Sequential([jn.Dense(width), jn.relu, jn.Dense(3)])
    params, state = model.init(jax.random.key(seed), X[:1])
    return jn.Trial(jn.objective(model, jn.losses.softmax_cross_entropy),
                    optax.sgd(lr, momentum=0.9), params, state, jax.random.key(7 + seed))


def sweep(configs, **kwargs):
    arguments = dict(epochs=6, batch_size=32, validation_data=VALIDATION, verbose=False)
    return jn.sweep(setup, configs, TRAIN, **{**arguments, **kwargs})


CONFIGS = jn.grid(lr=[1e-3, 3e-3, 3e-2, 0.1], seed=[0])  # one seed: one key for all


@pytest.fixture(scope="module")
def population():
    return sweep(CONFIGS, schedule=jn.pbt(every=2, perturb="lr", fraction=0.5, factors=(1.0,)))


def test_the_worst_copy_the_best_and_take_their_values(population):
    grid = sweep(CONFIGS)
    at_two = [h["val_loss"][1] for h in grid.histories]
    losers = sorted(np.argsort(at_two)[2:])
    for i, lineage in enumerate(population.lineage):
        assert lineage[0] == {"epoch": 0, "copied": None, "lr": CONFIGS[i]["lr"]}
        if i in losers:
            event = lineage[1]
            assert event["epoch"] == 2 and event["copied"] not in losers
            assert event["lr"] == CONFIGS[event["copied"]]["lr"]  # factor 1: the same rate
    # Before the first exchange every member is its own run.
    for i in range(4):
        np.testing.assert_array_equal(population.histories[i]["val_loss"][:2],
                                      grid.histories[i]["val_loss"][:2])


def test_a_copy_with_the_same_key_and_values_is_its_source_bit_for_bit(population):
    # With one key and factor 1, a member that copied another at the last exchange (epoch 4)
    # is that member from then on, when the source itself was not replaced then.
    checked = 0
    for i, lineage in enumerate(population.lineage):
        last = lineage[-1]
        sources = population.lineage[last["copied"]] if last["copied"] is not None else None
        if last["epoch"] == 4 and sources[-1]["epoch"] < 4:
            j = last["copied"]
            np.testing.assert_array_equal(population.histories[i]["val_loss"][4:],
                                          population.histories[j]["val_loss"][4:])
            for a, b in zip(jax.tree.leaves(population.params[i]),
                            jax.tree.leaves(population.params[j])):
                np.testing.assert_array_equal(a, b)
            checked += 1
    assert checked, population.lineage


def test_every_member_trains_every_epoch_and_perturbed_values_are_factors_of_the_source():
    configs = jn.grid(lr=[1e-3, 1e-2, 0.1, 0.3], seed=[0, 1])
    result = sweep(configs, schedule=jn.pbt(every=2, perturb=("lr",), seed=3))
    assert all(len(h["loss"]) == 6 for h in result.histories)
    assert result.stop_reasons == ["epochs"] * 8
    for lineage in result.lineage:
        for event in lineage[1:]:
            assert event["epoch"] in (2, 4)
            source = result.lineage[event["copied"]]
            rate = [e for e in source if e["epoch"] < event["epoch"]][-1]["lr"]
            assert min(abs(event["lr"] / rate - f) for f in (0.8, 1.25)) < 1e-9


@pytest.mark.slow
def test_a_pbt_sweep_resumes_from_its_checkpoints_to_the_same_bits(tmp_path):
    schedule = jn.pbt(every=2, perturb="lr", fraction=0.5, seed=1)
    configs = jn.grid(lr=[1e-3, 1e-2, 0.1, 0.3], seed=[0, 1])
    whole = sweep(configs, schedule=schedule)

    class Interrupt(Exception):
        pass

    def interrupt(epoch, history, run, config):
        if epoch == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        sweep(configs, schedule=schedule, checkpoint_dir=tmp_path, callbacks=[interrupt])
    resumed = sweep(configs, schedule=schedule, checkpoint_dir=tmp_path)
    assert resumed.lineage == whole.lineage
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(whole.params)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make, message", [
    (lambda: jn.pbt(every=2, perturb=()), "at least one value to perturb"),
    (lambda: jn.pbt(every=2, perturb="lr", fraction=0.8), r"in \(0, 0.5\]"),
    (lambda: jn.pbt(every=2, perturb="lr", factors=(0.0, 2.0)), "positive"),
    (lambda: jn.pbt(every=0, perturb="lr"), "every"),
])
def test_bad_schedules_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("configs, kwargs, message", [
    ([{"lr": 0.1}], {}, "population of at least two"),
    (jn.grid(lr=[0.1, 0.2], width=[8, 16]), {}, "share one structure.*2 groups"),
    (CONFIGS, dict(schedule=jn.pbt(every=2, perturb="seed")), "no float value of it"),
    (CONFIGS, dict(patience=2), "patience would stop some"),
    (CONFIGS, dict(restore_best=True), "restore_best"),
    (CONFIGS, dict(schedule=jn.pbt(every=6, perturb="lr")), "every must be fewer than epochs"),
])
def test_populations_that_cannot_exchange_are_refused_before_compiling(configs, kwargs,
                                                                        message):
    arguments = {"schedule": jn.pbt(every=2, perturb="lr"), **kwargs}
    with pytest.raises(ValueError, match=message):
        sweep(configs, **arguments)
