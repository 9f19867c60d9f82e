"""jaxnet.checkpoint: bit-identical round trips, atomic saves, damaged files and wrong targets."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from jaxnet import checkpoint
from jaxnet.checkpoint import CheckpointError, Manager

ROOT = Path(__file__).resolve().parents[1]

# When a read of a damaged checkpoint fails, Orbax's abandoned reads report to a closed event
# loop, and pytest would show that at whichever test is running when they are collected.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def run_state(seed=0):
    """A training run's state as fit keeps it: params, layer state, Adam's state, int32
    counters, the run's typed key and what early stopping tracks. Values are drawn by NumPy, so
    nothing compiles."""
    rng = np.random.default_rng(seed)

    def draw(*shape):
        return jnp.asarray(rng.standard_normal(shape, np.float32))

    def draw_positive(*shape):
        return jnp.asarray(rng.random(shape, np.float32))

    params = {
        "dense_0": {"w": draw(6, 5), "b": draw(5)},
        "dense_1": {"w": draw(5, 3), "b": draw(3)},
    }
    adam, empty = optax.adam(1e-3).init(params)
    adam = adam._replace(count=jnp.int32(120),
                         mu=jax.tree.map(lambda p: draw(*p.shape), params),
                         nu=jax.tree.map(lambda p: draw_positive(*p.shape), params))
    return {
        "params": params,
        "state": {"batchnorm_0": {"mean": draw(5), "var": draw_positive(5)}},
        "opt_state": (adam, empty),
        "epoch": jnp.int32(3),
        "step": jnp.int32(120),
        "key": jax.random.key(seed),
        "best_loss": jnp.float32(0.25),
        # Bits that a conversion through another type would lose.
        "odd": jnp.array([-0.0, np.nan, np.inf, 1e-45], jnp.float32),
    }


def raw(leaf):
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf))
    return np.asarray(leaf)


def assert_identical(restored, saved):
    assert jax.tree.structure(restored) == jax.tree.structure(saved)
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(saved)):
        assert type(got) is type(want)
        assert np.shape(got) == np.shape(want)
        if isinstance(want, (jax.Array, np.ndarray, np.generic)):
            assert got.dtype == want.dtype
        if isinstance(want, jax.Array) and jax.dtypes.issubdtype(want.dtype, jax.dtypes.prng_key):
            assert jax.random.key_impl(got) == jax.random.key_impl(want)
        assert raw(got).tobytes() == raw(want).tobytes()


def files_of(path):
    return sorted(p for p in Path(path).rglob("*") if p.is_file())


# Round trips


def test_a_run_state_comes_back_bit_identical(tmp_path):
    state = run_state()
    assert checkpoint.save(tmp_path / "ckpt", state) == tmp_path / "ckpt"
    assert_identical(checkpoint.restore(tmp_path / "ckpt", state), state)


def test_host_leaves_come_back_as_they_were_given(tmp_path):
    tree = {"rbg_key": jax.random.key(1, impl="rbg"), "half": jnp.ones(3, jnp.bfloat16),
            "numpy": np.arange(4, dtype=np.int64), "numpy_scalar": np.float32(1.5),
            "python": [0.1, 7, True]}
    checkpoint.save(tmp_path / "ckpt", tree)
    assert_identical(checkpoint.restore(str(tmp_path / "ckpt"), tree), tree)


def test_shape_dtype_structs_are_enough_to_restore(tmp_path):
    state = run_state()
    checkpoint.save(tmp_path / "ckpt", state)
    like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
    assert_identical(checkpoint.restore(tmp_path / "ckpt", like), state)


def test_metadata_comes_back_equal(tmp_path):
    history = {"loss": [2.3, 0.5, float("nan")], "val_accuracy": [0.9, 0.95, float("inf")]}
    settings = {"epochs": 30, "optimizer": "adam", "lr": 1e-3, "patience": None, "nested": [[]]}
    checkpoint.save(tmp_path / "ckpt", run_state(), metadata={"history": history, **settings})
    got = checkpoint.metadata(tmp_path / "ckpt")
    assert got.keys() == {"history", *settings}
    assert np.array_equal(got["history"]["loss"], history["loss"], equal_nan=True)
    assert {k: got[k] for k in settings} == settings
    checkpoint.save(tmp_path / "bare", {})
    assert checkpoint.metadata(tmp_path / "bare") == {}


@pytest.mark.parametrize("value, where", [
    ((1, 2), r"metadata\['a'\] is a tuple"),
    (np.float32(1.0), r"metadata\['a'\] is a float32"),
    ({1: "x"}, r"metadata\['a'\] has the key 1"),
    ([jnp.ones(2)], r"metadata\['a'\]\[0\] is a"),
])
def test_metadata_that_json_would_change_is_refused(tmp_path, value, where):
    with pytest.raises(TypeError, match=where):
        checkpoint.save(tmp_path / "ckpt", {}, metadata={"a": value})
    assert not (tmp_path / "ckpt").exists()


def test_leaves_that_are_not_arrays_are_refused(tmp_path):
    with pytest.raises(TypeError, match="leaf settings/name is a str"):
        checkpoint.save(tmp_path / "ckpt", {"settings": {"name": "mlp"}})


# Atomic saves


def test_replacing_a_checkpoint_leaves_only_the_new_one(tmp_path):
    checkpoint.save(tmp_path / "ckpt", run_state(0), metadata={"run": 0})
    checkpoint.save(tmp_path / "ckpt", run_state(1), metadata={"run": 1})
    assert_identical(checkpoint.restore(tmp_path / "ckpt", run_state(0)), run_state(1))
    assert checkpoint.metadata(tmp_path / "ckpt") == {"run": 1}
    assert os.listdir(tmp_path) == ["ckpt"]


def test_a_save_that_fails_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    checkpoint.save(tmp_path / "ckpt", run_state(0))

    async def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ocp.JsonCheckpointHandler, "async_save", fail)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path / "ckpt", run_state(1))
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path / "new", run_state(1))
    monkeypatch.undo()
    # Orbax may still be writing the abandoned arrays under a hidden name; the next save of
    # either path removes them.
    assert [name for name in os.listdir(tmp_path) if not name.startswith(".")] == ["ckpt"]
    assert_identical(checkpoint.restore(tmp_path / "ckpt", run_state(0)), run_state(0))


def test_a_save_that_fails_at_its_rename_puts_the_previous_checkpoint_back(tmp_path, monkeypatch):
    checkpoint.save(tmp_path / "ckpt", run_state(0))
    rename = Path.rename

    def fail_for_the_new_checkpoint(self, target):
        if self.name.startswith(".ckpt.saving-"):
            raise OSError("rename failed")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", fail_for_the_new_checkpoint)
    with pytest.raises(OSError, match="rename failed"):
        checkpoint.save(tmp_path / "ckpt", run_state(1))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt"]
    assert_identical(checkpoint.restore(tmp_path / "ckpt", run_state(0)), run_state(0))


def test_a_replacement_cut_between_its_renames_is_reported_and_cleaned_up(tmp_path):
    checkpoint.save(tmp_path / ".ckpt.replaced", run_state(0))  # the old one, moved aside
    checkpoint.save(tmp_path / ".ckpt.saving-0", run_state(1))  # the new one, not yet renamed
    with pytest.raises(FileNotFoundError, match=r"ckpt.*interrupted save.*\.ckpt\.saving-0"):
        checkpoint.restore(tmp_path / "ckpt", run_state(0))
    checkpoint.save(tmp_path / "ckpt", run_state(2))
    assert os.listdir(tmp_path) == ["ckpt"]
    assert_identical(checkpoint.restore(tmp_path / "ckpt", run_state(0)), run_state(2))


def test_a_directory_that_is_not_a_checkpoint_is_never_replaced(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a checkpoint"):
        checkpoint.save(tmp_path / "notes", run_state())
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        checkpoint.restore(tmp_path / "notes", run_state())


KILLED_SAVER = """
import sys
import numpy as np
from jaxnet import checkpoint

manager = checkpoint.Manager(sys.argv[1], max_to_keep=2)
step = 0
while True:
    w = np.random.default_rng(step).standard_normal((1024, 512), dtype=np.float32)
    manager.save(step, {"w": w, "step": np.int64(step)}, metadata={"step": step})
    step += 1
"""


def test_a_process_killed_while_saving_leaves_only_complete_checkpoints(tmp_path):
    script = tmp_path / "saver.py"
    script.write_text(KILLED_SAVER)
    directory = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    saver = subprocess.Popen([sys.executable, str(script), str(directory)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manager = Manager(directory, max_to_keep=2)
    deadline = time.monotonic() + 60
    try:
        # Kill it in the middle of a save: once two steps exist and the next is being written.
        while not (len(manager.steps()) == 2 and any(
            p.name.startswith(f".{manager.latest_step() + 1}.saving") for p in directory.iterdir()
        )):
            assert saver.poll() is None, saver.stderr.read().decode()
            assert time.monotonic() < deadline, "the saver made no progress"
            time.sleep(0.002)
        saver.send_signal(signal.SIGKILL)
    finally:
        saver.kill()
        saver.wait()
        saver.stderr.close()
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")]  # a partial save
    steps = manager.steps()
    assert len(steps) == 2
    like = {"w": np.zeros((1024, 512), np.float32), "step": np.int64(0)}
    for step in steps:
        restored = manager.restore(step, like)
        assert restored["step"] == step and manager.metadata(step) == {"step": step}
        w = np.random.default_rng(step).standard_normal((1024, 512), dtype=np.float32)
        assert restored["w"].tobytes() == w.tobytes()
    manager.save(steps[-1] + 1, like)
    assert sorted(p.name for p in directory.iterdir()) == [str(steps[-1]), str(steps[-1] + 1)]


# Damaged checkpoints


def damage(file, how):
    data = file.read_bytes()
    if how == "flip":
        middle = len(data) // 2
        file.write_bytes(data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1:])
    else:
        file.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_a_damaged_file_is_an_error_and_the_previous_checkpoint_still_restores(tmp_path, how):
    manager = Manager(tmp_path)
    state = run_state()
    state["params"]["dense_0"]["w"] = jax.random.normal(jax.random.key(5), (256, 256))
    manager.save(1, state)
    manager.save(2, state)
    largest = max(files_of(manager.path(2)), key=lambda p: p.stat().st_size)
    damage(largest, how)
    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(manager.path(2)))} is "
                                              r"damaged.*leaf params/dense_0/w"):
        manager.restore(2, state)
    assert_identical(manager.restore(1, state), state)


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_damage_to_any_file_never_gives_wrong_values(tmp_path, how):
    state, meta = run_state(), {"history": {"loss": [0.5, 0.25]}}
    checkpoint.save(tmp_path / "good", state, metadata=meta)
    for i, file in enumerate(files_of(tmp_path / "good")):
        bad = tmp_path / f"bad_{i}"
        shutil.copytree(tmp_path / "good", bad)
        damage(bad / file.relative_to(tmp_path / "good"), how)
        try:
            assert_identical(checkpoint.restore(bad, state), state)
        except CheckpointError as error:
            assert str(bad) in str(error)
        try:
            assert checkpoint.metadata(bad) == meta
        except CheckpointError as error:
            assert str(bad) in str(error)


# Targets that do not match


def test_a_target_of_another_shape_names_the_leaf_and_both_shapes(tmp_path):
    checkpoint.save(tmp_path / "ckpt", run_state())
    like = run_state()
    like["params"]["dense_0"]["w"] = jnp.zeros((6, 4))
    with pytest.raises(CheckpointError, match=r"leaf params/dense_0/w is float32\[6, 5\] in the "
                                              r"checkpoint but float32\[6, 4\] in `like`"):
        checkpoint.restore(tmp_path / "ckpt", like)


def test_a_target_of_another_dtype_names_the_leaf(tmp_path):
    checkpoint.save(tmp_path / "ckpt", run_state())
    like = run_state()
    like["epoch"] = jnp.float32(3)
    with pytest.raises(CheckpointError, match=r"leaf epoch is int32\[\] in the checkpoint but "
                                              r"float32\[\] in `like`"):
        checkpoint.restore(tmp_path / "ckpt", like)
    like = run_state()
    like["key"] = jax.random.key(0, impl="rbg")
    with pytest.raises(CheckpointError, match=r"leaf key is key<fry>\[\] .* key<rbg>\[\]"):
        checkpoint.restore(tmp_path / "ckpt", like)


def test_a_target_of_another_structure_names_the_first_leaf_that_differs(tmp_path):
    checkpoint.save(tmp_path / "ckpt", run_state())
    like = run_state()
    del like["state"]
    with pytest.raises(CheckpointError, match="leaf state/batchnorm_0/mean of the checkpoint is "
                                              "not in `like`"):
        checkpoint.restore(tmp_path / "ckpt", like)
    like = run_state()
    like["params"]["dense_2"] = {"w": jnp.zeros((3, 2))}
    with pytest.raises(CheckpointError, match="leaf params/dense_2/w of `like` is not in the "
                                              "checkpoint"):
        checkpoint.restore(tmp_path / "ckpt", like)


def test_a_missing_checkpoint_names_its_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no checkpoint at {re.escape(str(tmp_path))}"):
        checkpoint.restore(tmp_path / "nowhere", run_state())
    with pytest.raises(FileNotFoundError, match="nowhere"):
        checkpoint.metadata(tmp_path / "nowhere")


# Manager


def test_the_manager_keeps_the_last_steps(tmp_path):
    manager = Manager(tmp_path / "run", max_to_keep=2)
    assert manager.steps() == [] and manager.latest_step() is None
    for step in [0, 1, 2, 10]:
        assert manager.save(step, run_state(step), metadata={"epoch": step}) == manager.path(step)
    assert manager.steps() == [2, 10] and manager.latest_step() == 10
    assert sorted(os.listdir(tmp_path / "run")) == ["10", "2"]
    assert_identical(manager.restore(2, run_state()), run_state(2))
    assert manager.metadata(10) == {"epoch": 10}
    manager.save(10, run_state(11))
    assert_identical(manager.restore(10, run_state()), run_state(11))
    everything = Manager(tmp_path / "all", max_to_keep=None)
    for step in range(4):
        everything.save(step, {"step": np.int32(step)})
    assert everything.steps() == [0, 1, 2, 3]


def test_the_manager_lists_only_checkpoints_and_cleans_leftovers(tmp_path):
    manager = Manager(tmp_path)
    manager.save(1, run_state())
    for leftover in [".2.saving-1", ".2.saving-1.orbax-checkpoint-tmp", ".0.deleting", "3"]:
        (tmp_path / leftover).mkdir()
    (tmp_path / "notes.txt").write_text("")
    assert manager.steps() == [1]
    manager.save(2, run_state())
    assert sorted(os.listdir(tmp_path)) == ["1", "2", "3", "notes.txt"]


@pytest.mark.parametrize("bad", [0, -1, 2.0])
def test_the_manager_refuses_a_bad_max_to_keep(bad):
    with pytest.raises((TypeError, ValueError), match="max_to_keep"):
        Manager("run", max_to_keep=bad)


# Placement and the package


FRESH_PROCESS = """
import os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
import jaxnet
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"orbax", "flax"})
assert not heavy, f"import jaxnet loaded {heavy}"

import jax, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from jaxnet import checkpoint

mesh = jax.make_mesh((4, 2), ("data", "model"))
rows, replicated = NamedSharding(mesh, P("data", "model")), NamedSharding(mesh, P())
tree = {
    "w": jax.device_put(np.arange(32, dtype=np.float32).reshape(8, 4), rows),
    "keys": jax.device_put(jax.random.split(jax.random.key(0), 8), NamedSharding(mesh, P("data"))),
    "b": jax.device_put(np.ones(3, np.float32), replicated),
}
checkpoint.save(sys.argv[1], tree)
like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)
restored = checkpoint.restore(sys.argv[1], like)
for name in tree:
    assert restored[name].sharding == tree[name].sharding, name
assert np.array_equal(restored["w"], tree["w"])
assert np.array_equal(jax.random.key_data(restored["keys"]), jax.random.key_data(tree["keys"]))
unplaced = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)
single = checkpoint.restore(sys.argv[1], unplaced)
assert single["w"].sharding == jax.sharding.SingleDeviceSharding(jax.devices()[0])
print("ok")
"""


def test_in_a_fresh_process_import_is_light_and_restore_honours_shardings(tmp_path):
    # One process for both checks: starting one costs seconds.
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "ckpt")], capture_output=True,
        text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


@pytest.mark.slow
def test_the_checkpoints_page_runs_and_prints_what_it_shows(tmp_path, monkeypatch, capsys):
    page = (ROOT / "docs/checkpoints.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", page, flags=re.S))
    monkeypatch.chdir(tmp_path)
    # Run as a user would, with JAX's default dtype promotion rather than the suite's strict one.
    with jax.numpy_dtype_promotion("standard"):
        exec(compile(code, "docs/checkpoints.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed and all(f"\n{line}\n" in page for line in printed)
