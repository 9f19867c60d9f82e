"""fit's callbacks, loggers, evaluation of the training set, and progress display."""

import csv
import io
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnet as jn
from jaxnet.training.progress import Progress


def blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    return rng.normal(size=(n, 2)).astype(np.float32) + 3.0 * (2.0 * y[:, None] - 1.0), y


def train(**kwargs):
    model = jn.Sequential([jn.Dense(8), jn.relu, jn.Dropout(0.5), jn.Dense(2)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    arguments = dict(epochs=4, batch_size=16, key=jax.random.key(1), verbose=False)
    arguments.update(kwargs)
    return objective, jn.fit(objective, params, state, optax.adam(1e-2), blobs(), **arguments)


def test_a_callback_sees_every_epoch_with_the_history_and_parameters():
    seen = []

    def record(epoch, history, run):
        seen.append((epoch, len(history["loss"]), run.params, int(run.step)))

    _, result = train(callbacks=[record])
    assert [s[0] for s in seen] == [1, 2, 3, 4] and [s[1] for s in seen] == [1, 2, 3, 4]
    assert [s[3] for s in seen] == [4, 8, 12, 16]
    jax.tree.map(np.testing.assert_array_equal, seen[-1][2], result.params)


def test_a_callback_returning_true_stops_training():
    _, result = train(epochs=10, callbacks=[lambda epoch, history, run: epoch == 3])
    assert result.stop_reason == "callback" and len(result.history["loss"]) == 3
    assert result.steps == 3 * 4


def test_the_loggers_write_one_row_per_epoch(tmp_path):
    _, result = train(callbacks=[jn.callbacks.CSVLogger(tmp_path / "log.csv"),
                                 jn.callbacks.JSONLogger(tmp_path / "log.json")])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "log.csv").read_text())))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4]
    assert [float(row["loss"]) for row in rows] == result.history["loss"]
    logged = json.loads((tmp_path / "log.json").read_text())
    assert logged["epoch"] == 4 and logged["history"]["accuracy"] == result.history["accuracy"]


def test_a_resumed_run_logs_each_epoch_once(tmp_path):
    log = tmp_path / "log.csv"
    train(epochs=2, checkpoint_dir=tmp_path / "run", callbacks=[jn.callbacks.CSVLogger(log)])
    train(epochs=4, checkpoint_dir=tmp_path / "run", callbacks=[jn.callbacks.CSVLogger(log)])
    rows = list(csv.DictReader(io.StringIO(log.read_text())))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4]


def test_evaluate_train_measures_the_training_set_in_evaluation_mode():
    objective, result = train(evaluate_train=True)
    assert {"train_loss", "train_accuracy"} <= set(result.history)
    whole = jn.evaluate(objective, result.params, result.state, blobs())
    assert result.history["train_loss"][-1] == whole["loss"]
    # Dropout at 0.5 makes the training-mode mean differ from the evaluation-mode value.
    assert result.history["train_loss"][-1] != result.history["loss"][-1]


def test_progress_in_a_log_file_is_one_line_per_epoch():
    stream = io.StringIO()
    progress = Progress(3, enabled=True, stream=stream)
    for loss in (0.5, 0.25, 0.125):
        progress.update({"loss": loss, "time": 0.01})
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines == ["epoch 1/3  loss 0.5  (0.01 s)", "epoch 2/3  loss 0.25  (0.01 s)",
                     "epoch 3/3  loss 0.125  (0.01 s)"]


def test_fit_shows_nothing_when_not_verbose(capsys):
    train(verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_import_jaxnet_does_not_import_tqdm():
    import subprocess
    import sys

    code = "import sys, jaxnet; print('tqdm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
