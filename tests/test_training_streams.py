"""Streamed training data: a random-access source read in the engine's order trains exactly as
the same arrays in memory; a function of (epoch, key) streams anything else; bad streams fail
clearly, naming the batch."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet as jn
from jaxnet.training import streamed
from jaxnet.training.source import StreamError

ROOT = Path(__file__).resolve().parents[1]


def problem(n=300, seed=0, width=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int32)
    x = rng.normal(size=(n, width)).astype(np.float32) + np.eye(3, width, dtype=np.float32)[y]
    return x, y


class Examples:
    """A random-access source that reads one example at a time (no batched read)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], self.y[index]


class Batches(Examples):
    """A random-access source with a batched read, counting what it reads."""

    def __init__(self, x, y):
        super().__init__(x, y)
        self.rows = 0

    def read(self, indices):
        self.rows += len(indices)
        return self.x[indices], self.y[indices]


def mlp_setup(learning_rate=1e-2, seed=0):
    model = jn.Sequential([jn.Dense(16), jn.BatchNorm(), jn.relu, jn.Dropout(0.3), jn.Dense(3)])
    params, state = model.init(jax.random.key(seed), jnp.zeros((1, 4)))
    objective = jn.objective(model, jn.losses.softmax_cross_entropy, jn.regularizers.l2(1e-3))
    return objective, params, state, optax.adam(learning_rate)


def fit(data, epochs=3, batch_size=32, **kwargs):
    objective, params, state, optimizer = mlp_setup()
    kwargs.setdefault("key", jax.random.key(7))
    return jn.fit(objective, params, state, optimizer, data, epochs=epochs,
                  batch_size=batch_size, verbose=False, **kwargs)


def assert_same_bits(a, b):
    jax.tree.map(np.testing.assert_array_equal, (a.params, a.state, a.opt_state),
                 (b.params, b.state, b.opt_state))


@pytest.mark.parametrize("source", [pytest.param(Examples, marks=pytest.mark.slow), Batches])
def test_a_random_access_source_trains_as_its_arrays_in_memory(source):
    x, y = problem()
    memory = fit((x, y), validation_data=(x[:100], y[:100]), evaluate_train=True)
    stream = fit(source(x, y), validation_data=source(x[:100], y[:100]), evaluate_train=True)
    assert_same_bits(stream, memory)
    assert stream.steps == memory.steps == 3 * (300 // 32)
    assert stream.history["loss"] == memory.history["loss"]
    for name in ("val_loss", "val_accuracy", "train_loss", "train_accuracy"):
        np.testing.assert_allclose(stream.history[name], memory.history[name], rtol=1e-6)


def test_a_grain_map_dataset_trains_as_its_arrays():
    grain = pytest.importorskip("grain")
    x, y = problem()
    dataset = grain.MapDataset.source(Examples(x, y)).map(lambda e: (e[0] * 2, e[1]))
    assert_same_bits(fit(dataset, epochs=2), fit((x * 2, y), epochs=2))


@pytest.mark.slow
def test_chunks_of_any_size_give_the_bits_of_the_epoch_in_memory(monkeypatch):
    x, y = problem()  # 9 batches an epoch: in chunks of 2 or 4, a lone batch is left at the end
    memory = fit((x, y), epochs=2)
    for size in (2, 4, 5, 16):
        monkeypatch.setattr(streamed, "CHUNK", size)
        assert_same_bits(fit(Batches(x, y), epochs=2), memory)


@pytest.mark.slow
def test_a_convolutional_model_streams_as_in_memory():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 2, 64).astype(np.int32)
    model = jn.Sequential([jn.Conv2D(4, 3), jn.relu, jn.Flatten(), jn.Dense(2)])
    params, state = model.init(jax.random.key(0), x[:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    results = [jn.fit(objective, params, state, optax.sgd(0.1), data, epochs=2, batch_size=16,
                      key=jax.random.key(1), verbose=False)
               for data in ((x, y), Batches(x, y))]
    assert_same_bits(*results)


@pytest.mark.slow
def test_a_sweep_streams_each_configuration_as_its_arrays():
    x, y = problem()

    def setup(learning_rate, seed):
        objective, params, state, optimizer = mlp_setup(learning_rate)
        return jn.Trial(objective, optimizer, params, state, jax.random.key(seed))

    configs = jn.grid(learning_rate=[1e-2, 3e-2], seed=[1, 2])
    kwargs = dict(epochs=2, batch_size=32, verbose=False)
    memory = jn.sweep(setup, configs, (x, y), validation_data=(x, y), **kwargs)
    source = Batches(x, y)
    stream = jn.sweep(setup, configs, source, validation_data=Batches(x, y), **kwargs)
    # The same batches and keys; configurations in turn (a CPU's default) run the in-memory
    # epoch as a loop over chunks inside lax.map, which XLA may round differently.
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 stream.params, memory.params)
    for a, b in zip(stream.histories, memory.histories):
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-6)
    # Two seeds: each batch is read once per seed (2 epochs of 9 batches of 32), not once per
    # configuration; and one batch to check the data against the model.
    assert source.rows == (2 * 2 * (300 // 32) + 1) * 32


@pytest.mark.slow
def test_a_streamed_run_resumes_to_the_bits_of_an_uninterrupted_one(tmp_path):
    x, y = problem()
    whole = fit(Batches(x, y), epochs=4)
    fit(Batches(x, y), epochs=2, checkpoint_dir=tmp_path)
    resumed = fit(Batches(x, y), epochs=4, checkpoint_dir=tmp_path)
    assert_same_bits(resumed, whole)
    assert resumed.history["loss"] == whole.history["loss"]


@pytest.mark.slow
def test_a_blown_up_streamed_run_recovers_as_in_memory():
    x, y = problem()
    objective, params, state, _ = mlp_setup()
    runs = []
    for data in ((x, y), Batches(x, y)):
        with pytest.warns(RuntimeWarning, match="NaN or infinite"):
            runs.append(jn.fit(objective, params, state, optax.sgd(1e6), data, epochs=3,
                               batch_size=32, key=jax.random.key(0), verbose=False))
    assert runs[0].stop_reason == runs[1].stop_reason == "nonfinite"
    assert runs[0].steps == runs[1].steps
    assert_same_bits(*runs)


def test_patience_stops_a_stream_and_its_reader():
    x, y = problem()
    objective, params, state, _ = mlp_setup()
    result = jn.fit(objective, params, state, optax.sgd(0.0), Batches(x, y), epochs=20,
                    batch_size=32, key=jax.random.key(0), patience=1, verbose=False)
    assert result.stop_reason == "patience"
    assert len(result.history["loss"]) < 20


@pytest.mark.slow
def test_evaluate_reads_a_source_in_chunks_to_the_mean_of_its_arrays():
    x, y = problem(n=2500)
    objective, params, state, _ = mlp_setup()
    for batch_size in (1000, 64, 7):
        memory = jn.evaluate(objective, params, state, (x, y), batch_size=batch_size)
        stream = jn.evaluate(objective, params, state, Batches(x, y), batch_size=batch_size)
        assert stream.keys() == memory.keys()
        for name in memory:
            np.testing.assert_allclose(stream[name], memory[name], rtol=1e-5)


def epoch_function(x, y, batch_size=32):
    """A function of (epoch, key): the epoch's batches in an order drawn from both."""
    def batches(epoch, key):
        seed = int(jax.random.randint(jax.random.fold_in(key, epoch), (), 0, 2 ** 30))
        order = np.random.default_rng(seed).permutation(len(x))
        for start in range(0, len(x) - batch_size + 1, batch_size):
            rows = order[start:start + batch_size]
            yield x[rows], y[rows]

    return batches


def test_a_function_of_epoch_and_key_trains_and_repeats_its_bits():
    x, y = problem()
    a = fit(epoch_function(x, y), epochs=3)
    b = fit(epoch_function(x, y), epochs=3)
    assert_same_bits(a, b)
    assert a.steps == 3 * (300 // 32)
    assert a.history["loss"][-1] < a.history["loss"][0]
    c = fit(epoch_function(x, y), epochs=3, key=jax.random.key(8))
    assert a.history["loss"] != c.history["loss"]


@pytest.mark.slow
def test_a_function_stream_resumes_exactly(tmp_path):
    x, y = problem()
    whole = fit(epoch_function(x, y), epochs=4)
    fit(epoch_function(x, y), epochs=2, checkpoint_dir=tmp_path)
    assert_same_bits(fit(epoch_function(x, y), epochs=4, checkpoint_dir=tmp_path), whole)


def test_a_one_shot_iterator_is_refused_before_training():
    x, y = problem()
    batches = iter([(x[:32], y[:32])] * 3)
    with pytest.raises(TypeError, match="one-shot iterator.*once per epoch.*function"):
        fit(batches)


def test_a_function_that_returns_an_exhausted_iterator_is_named_at_its_epoch():
    x, y = problem()
    once = iter([(x[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32)])
    with pytest.raises(StreamError, match="no batch in epoch 2.*new one"):
        fit(lambda epoch, key: once, epochs=3)


def test_a_batch_of_another_shape_is_named():
    x, y = problem()

    def batches(epoch, key):
        for start in range(0, 300, 32):  # the last batch holds 12 examples
            yield x[start:start + 32], y[start:start + 32]

    with pytest.raises(StreamError, match=r"batch 10 of epoch 1 has shapes.*\[12, 4\].*"
                                          r"first batch had.*\[32, 4\].*drop or pad"):
        fit(batches)


def test_a_stream_shorter_than_one_batch_is_refused():
    x, y = problem(n=20)
    with pytest.raises(ValueError, match="holds 20 examples, fewer than one batch of 32"):
        fit(Batches(x, y))
    with pytest.raises(StreamError, match="first batch holds \\[20\\] examples, but batch_size "
                                          "is 32"):
        fit(lambda epoch, key: iter([(x, y)]))


def test_nan_and_bad_labels_in_a_later_batch_are_named():
    x, y = problem()
    bad_x = x.copy()
    bad_x[200, 1] = np.nan
    with pytest.raises(StreamError, match="batches 1 to 9 of epoch 1 hold NaN"):
        fit(Batches(bad_x, y), epochs=1)
    bad_y = y.copy()
    bad_y[250] = 7
    with pytest.raises(ValueError, match="batches 1 to 9 of epoch 1.*label"):
        fit(Batches(x, bad_y), epochs=1)


def test_an_error_in_the_reader_surfaces_in_the_caller():
    x, y = problem()

    def failing(epoch, key):
        for start in range(0, 256, 32):
            if start == 96 and epoch == 1:
                raise OSError("the disk went away")
            yield x[start:start + 32], y[start:start + 32]

    with pytest.raises(OSError, match="the disk went away"):
        fit(failing, epochs=3)


def test_a_function_cannot_be_evaluated_and_says_what_can():
    x, y = problem()
    objective, params, state, _ = mlp_setup()
    with pytest.raises(TypeError, match="read whole and in order.*random-access source"):
        jn.evaluate(objective, params, state, epoch_function(x, y))
    with pytest.raises(ValueError, match="evaluate_train=True.*random-access"):
        fit(epoch_function(x, y), evaluate_train=True)


@pytest.mark.slow
def test_a_grain_worker_that_dies_fails_fit_without_a_hang():
    pytest.importorskip("grain")
    script = Path(__file__).parent / "scripts" / "grain_worker_dies.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "RAISED RuntimeError: Worker process was terminated unexpectedly" in done.stdout, \
        done.stdout + done.stderr[-2000:]
    assert float(done.stdout.split("SECONDS")[1]) < 60


def write_npy(path, shape, dtype, fill):
    """A .npy file written block by block through a file (never mapped, never whole in
    memory), so the test process holds none of it either."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": shape}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        rows = 8192
        for start in range(0, shape[0], rows):
            f.write(fill(start, min(rows, shape[0] - start)).astype(dtype).tobytes())


@pytest.mark.slow
def test_training_on_a_2_gb_file_holds_under_500_mb_more(tmp_path):
    n, width = 540_000, 1000  # 2.16 GB of float32
    write_npy(tmp_path / "x.npy", (n, width), np.float32,
              lambda start, count: np.random.default_rng(start).normal(size=(count, width)))
    write_npy(tmp_path / "y.npy", (n,), np.int32, lambda start, count: np.arange(count) % 2)
    assert (tmp_path / "x.npy").stat().st_size > 2 * 1024 ** 3
    script = Path(__file__).parent / "scripts" / "train_from_disk.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy")], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    out = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert int(out["STEPS"]) == n // 1024
    assert np.isfinite(float(out["LOSS"]))
    growth = int(out["PEAK"]) - int(out["BEFORE"])
    assert growth < 500, f"resident memory grew by {growth} MB while training"
