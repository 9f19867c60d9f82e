"""Preemption in the engine, in one process: at the epoch end that JAX's preemption service
agrees on (here: a stand-in for it), fit and sweep save the run and raise ``jn.Preempted``; the
same call again resumes to the bits of an uninterrupted run. The real notice (SIGTERM) across
processes is tested in tests/test_faults.py."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet as jn
from jaxnet.training import preemption


def problem(n=256):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n).astype(np.int32)
    x = rng.normal(size=(n, 4)).astype(np.float32) + np.eye(3, 4, dtype=np.float32)[y]
    return x, y


def fit(epochs, checkpoint_dir=None):
    model = jn.Sequential([jn.Dense(16), jn.relu, jn.Dropout(0.3), jn.Dense(3)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 4)))
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    return jn.fit(objective, params, state, optax.adam(1e-2), problem(), epochs=epochs,
                  batch_size=32, key=jax.random.key(1), checkpoint_dir=checkpoint_dir,
                  verbose=False)


def setup(width, lr):
    model = jn.Sequential([jn.Dense(width), jn.relu, jn.Dropout(0.3), jn.Dense(3)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 4)))
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    return jn.Trial(objective, optax.sgd(lr), params, state, jax.random.key(1))


def sweep(epochs, checkpoint_dir=None):
    # Two widths: two groups, trained in turn.
    return jn.sweep(setup, jn.grid(width=[8, 16], lr=[0.1, 0.3]), problem(), epochs=epochs,
                    batch_size=32, checkpoint_dir=checkpoint_dir, verbose=False)


@pytest.fixture
def notice_at(monkeypatch):
    """Makes the ``n``-th epoch end of the process the agreed stop."""
    def at(n):
        calls = iter(range(1, 10_000))
        monkeypatch.setattr(preemption, "reached_stop", lambda: next(calls) == n)

    return at


def test_without_jax_distributed_no_epoch_end_is_a_stop():
    assert not jax.distributed.is_initialized()
    assert preemption.reached_stop() is False


def test_preempted_is_a_system_exit_with_status_42_that_says_what_was_saved():
    stop = jn.Preempted(3, "runs/mlp")
    assert isinstance(stop, SystemExit) and stop.code == jn.Preempted.EXIT_STATUS == 42
    assert stop.epoch == 3 and stop.checkpoint_dir == "runs/mlp"
    assert "stopped after epoch 3; its checkpoint is saved in runs/mlp" in str(stop)
    assert "nothing was saved" in str(jn.Preempted(1, None))


def test_a_script_that_does_not_catch_it_exits_with_42_and_no_traceback():
    done = subprocess.run([sys.executable, "-c", "import jaxnet as jn; raise jn.Preempted(2, 'x')"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 42
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_fit_preempted_saves_that_epoch_and_the_same_call_resumes_to_the_same_bits(
        notice_at, tmp_path, capsys):
    whole = fit(6)
    notice_at(3)
    with pytest.raises(jn.Preempted) as stop:
        fit(6, tmp_path)
    assert stop.value.epoch == 3 and stop.value.checkpoint_dir == tmp_path
    assert "jaxnet: training was preempted" in capsys.readouterr().err
    # The checkpoint of the stop, even with checkpoint_every beyond it.
    assert jn.checkpoint.Manager(tmp_path).latest_step() == 3
    notice_at(0)
    resumed = fit(6, tmp_path)
    jax.tree.map(np.testing.assert_array_equal, (resumed.params, resumed.opt_state),
                 (whole.params, whole.opt_state))
    assert resumed.history["loss"] == whole.history["loss"]


def test_fit_preempted_without_a_checkpoint_dir_says_nothing_was_saved(notice_at):
    notice_at(2)
    with pytest.raises(jn.Preempted, match="nothing was saved") as stop:
        fit(4)
    assert stop.value.epoch == 2 and stop.value.checkpoint_dir is None


@pytest.mark.slow
def test_a_sweep_preempted_in_its_second_group_resumes_to_the_same_bits(notice_at, tmp_path):
    whole = sweep(3)
    notice_at(5)  # epoch ends 1 to 3 are the first group's
    with pytest.raises(jn.Preempted) as stop:
        sweep(3, tmp_path)
    assert stop.value.epoch == 2
    assert jn.checkpoint.Manager(tmp_path / "group_0").latest_step() == 3
    assert jn.checkpoint.Manager(tmp_path / "group_1").latest_step() == 2
    notice_at(0)
    resumed = sweep(3, tmp_path)
    jax.tree.map(np.testing.assert_array_equal, resumed.params, whole.params)
    for a, b in zip(resumed.histories, whole.histories):
        assert a["loss"] == b["loss"] and a["accuracy"] == b["accuracy"]
