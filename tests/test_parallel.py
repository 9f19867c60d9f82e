"""Data parallelism: 8 simulated devices and 2 processes give the single-device results, from
arrays in memory or from a streamed source that each process reads only its share of.

Each run is a fresh process (tests/scripts/parallel_run.py), since the number of devices is
fixed when JAX starts.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

import jaxnet as jn
from jaxnet.training.epoch import batch_order, key_seed

SCRIPT = Path(__file__).parent / "scripts" / "parallel_run.py"
ROOT = Path(__file__).resolve().parents[1]


# The training in parallel_run.py: its examples, batch size, epochs and key.
EXAMPLES, BATCH, EPOCHS, KEY = 512, 64, 3, 1
# What parallel_run.py records about the run besides its results.
RUN_FACTS = ("devices", "spread_devices")


def run(out, *arguments, devices=1, background=False):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(SCRIPT), str(out), *arguments]
    if background:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out)


def assert_same(a, b, tolerance=1e-5):
    names = [name for name in a.files if name not in RUN_FACTS]
    assert sorted(names) == sorted(name for name in b.files if name not in RUN_FACTS)
    for name in names:
        np.testing.assert_allclose(a[name], b[name], rtol=tolerance, atol=tolerance,
                                   err_msg=name)


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    return run(tmp_path_factory.mktemp("one") / "params.npz")


@pytest.mark.slow
def test_eight_devices_give_the_single_device_parameters(one_device, tmp_path):
    eight = run(tmp_path / "params.npz", "--mesh", devices=8)
    assert int(eight["devices"]) == 8
    assert_same(one_device, eight)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start_two_processes(out, *arguments):
    """parallel_run.py as one job of two processes of four devices each, on this host."""
    port = str(free_port())
    processes = [run(out, "--mesh", "--processes", "2", "--process", str(i), "--port", port,
                     *arguments, devices=4, background=True) for i in range(2)]
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output[-3000:]
    return np.load(out)


@pytest.mark.slow
def test_two_processes_form_one_job_with_the_single_device_parameters_and_a_checkpoint(
        one_device, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    two = start_two_processes(tmp_path / "params.npz", "--checkpoint", str(checkpoints))
    assert int(two["devices"]) == 8
    assert_same(one_device, two)
    assert jn.checkpoint.Manager(checkpoints).steps() == [1, 2, 3]

    # The checkpoint that the two processes wrote restores in this one process.
    manager = jn.checkpoint.Manager(checkpoints)
    model = jn.Sequential([jn.Dense(128), jn.relu, jn.Dropout(0.2), jn.Dense(128),
                           jn.BatchNorm(), jn.relu, jn.Dropout(0.2), jn.Dense(10)])
    params, state = model.init(jax.random.key(0), np.zeros((1, 64), np.float32))
    like = jn.training.run_state.start_run(
        params, state, optax.sgd(0.05, momentum=0.9).init(params), jax.random.key(1))
    # A checkpoint holds the run states with a leading configuration axis (one, for fit).
    restored = manager.restore(3, jax.tree.map(lambda a: a[None], like))
    leaves = jax.tree.leaves(jax.tree.map(lambda a: a[0], (restored.params, restored.state)))
    for index, leaf in enumerate(leaves):
        np.testing.assert_allclose(np.asarray(leaf), two[str(index)], rtol=1e-6, atol=1e-6)


def reads(out, process):
    """The indices of each read of the training and evaluation sources by ``process``."""
    recorded = np.load(f"{out}.reads{process}.npz")
    return {name: np.split(recorded[f"{name}_rows"], np.cumsum(recorded[f"{name}_sizes"])[:-1])
            for name in ("train", "evaluation")}


@pytest.mark.slow
def test_two_processes_streaming_a_source_read_only_their_share_and_give_the_single_device_run(
        one_device, tmp_path):
    two = start_two_processes(tmp_path / "params.npz", "--stream")
    assert int(two["devices"]) == 8
    assert_same(one_device, two)

    half = BATCH // 2
    orders = [batch_order(key_seed(jax.random.key(KEY)), epoch, EXAMPLES, BATCH)
              for epoch in range(EPOCHS)]
    read = [reads(tmp_path / "params.npz", process) for process in range(2)]
    trained = []
    for process in range(2):
        train = read[process]["train"]
        # The model's check of the first examples (half a batch), then reads of whole chunks
        # of batches: this process's block of every batch of every epoch, in order, and
        # nothing else.
        assert train[0].tolist() == list(range(half))
        assert all(len(rows) % half == 0 for rows in train[1:])
        blocks = [batch[process * half:(process + 1) * half] for order in orders
                  for batch in order]
        np.testing.assert_array_equal(np.concatenate(train[1:]), np.concatenate(blocks))
        trained.append(np.concatenate(train[1:]))
    # Together the two processes read each example once an epoch, each half of them.
    assert len(trained[0]) == len(trained[1]) == EPOCHS * EXAMPLES // 2
    assert (np.bincount(np.concatenate(trained), minlength=EXAMPLES) == EPOCHS).all()

    # Evaluation reads the whole set, each process a disjoint half of it, after a check of the
    # first examples.
    evaluated = [np.concatenate(read[process]["evaluation"][1:]) for process in range(2)]
    assert len(evaluated[0]) == len(evaluated[1]) == EXAMPLES // 2
    assert not set(evaluated[0].tolist()) & set(evaluated[1].tolist())
    assert sorted(np.concatenate(evaluated).tolist()) == list(range(EXAMPLES))


@pytest.mark.slow
def test_eight_devices_streaming_a_source_give_the_single_device_parameters(one_device, tmp_path):
    eight = run(tmp_path / "params.npz", "--mesh", "--stream", devices=8)
    assert int(eight["devices"]) == 8
    assert_same(one_device, eight)
    train = reads(tmp_path / "params.npz", 0)["train"]
    assert all(len(rows) % BATCH == 0 for rows in train)  # one process reads whole batches
    assert sum(len(rows) for rows in train[1:]) == EPOCHS * (EXAMPLES // BATCH) * BATCH


@pytest.mark.slow
def test_a_sweep_spread_over_eight_devices_equals_the_unsharded_sweep(tmp_path):
    one = run(tmp_path / "one.npz", "--sweep")
    eight = run(tmp_path / "eight.npz", "--sweep", "--mesh", devices=8)
    assert_same(one, eight)


@pytest.mark.slow
def test_a_sweep_spread_over_two_processes_equals_the_unsharded_sweep(tmp_path):
    one = run(tmp_path / "one.npz", "--sweep")
    two = start_two_processes(tmp_path / "two.npz", "--sweep")
    assert int(two["devices"]) == 8
    assert_same(one, two)
    streamed = run(tmp_path / "streamed.npz", "--sweep", "--mesh", "--stream", devices=8)
    assert_same(one, streamed)


@pytest.mark.slow
def test_a_sweep_on_a_cpu_of_two_devices_spreads_its_configurations_by_itself(tmp_path):
    one = run(tmp_path / "one.npz", "--sweep")
    assert int(one["spread_devices"]) == 1
    cores = run(tmp_path / "cores.npz", "--sweep", "--cores", "2")
    assert int(cores["devices"]) == 2 and int(cores["spread_devices"]) == 2
    assert_same(one, cores)


def test_a_mesh_must_be_a_mesh():
    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
        jn.parallel.data_parallel("all")
