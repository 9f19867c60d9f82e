"""fit's and sweep's callbacks (loggers, the live plot, TensorBoard), evaluation of the training
set, and progress display."""

import csv
import io
import json
import struct
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnet as jn
from jaxnet import callbacks
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


def sweep(callbacks, epochs=3):
    """Two learning rates of one model: one group, so both configurations train together."""
    def setup(learning_rate):
        model = jn.Sequential([jn.Dense(8), jn.relu, jn.Dense(2)])
        params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
        objective = jn.objective(model, jn.losses.softmax_cross_entropy)
        return jn.Trial(objective, optax.adam(learning_rate), params, state, jax.random.key(1))

    return jn.sweep(setup, jn.grid(learning_rate=[1e-2, 1e-1]), blobs(), epochs=epochs,
                    batch_size=16, callbacks=callbacks, verbose=False)


def as_float32(values):
    return [float(np.float32(value)) for value in values]


def tensorboard_events(folder):
    """Every event in the event files of ``folder``, file by file, each record's checksums
    checked: the TFRecord framing TensorBoard reads (length, masked CRC-32C of the length, the
    serialized Event, masked CRC-32C of it)."""
    pytest.importorskip("tensorboardX")
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    files = sorted(folder.glob("events.out.tfevents.*"), key=lambda f: f.stat().st_mtime_ns)
    events = []
    for file in files:
        data, at = file.read_bytes(), 0
        while at < len(data):
            header = data[at:at + 8]
            (length,) = struct.unpack("<Q", header)
            assert struct.unpack("<I", data[at + 8:at + 12])[0] == masked_crc32c(header)
            record = data[at + 12:at + 12 + length]
            assert struct.unpack("<I", data[at + 12 + length:at + 16 + length])[0] == \
                masked_crc32c(record)
            events.append(Event.FromString(record))
            at += 16 + length
    return events


def scalars(events):
    """``{tag: [value at step 1, 2, ...]}`` from the events' scalar summaries."""
    found = {}
    for event in events:
        for value in event.summary.value:
            found.setdefault(value.tag, {})[event.step] = value.simple_value
    return {tag: [steps[s] for s in sorted(steps)] for tag, steps in found.items()}


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


@pytest.mark.slow
def test_a_resumed_run_logs_each_epoch_once(tmp_path):
    log = tmp_path / "log.csv"
    train(epochs=2, checkpoint_dir=tmp_path / "run", callbacks=[jn.callbacks.CSVLogger(log)])
    train(epochs=4, checkpoint_dir=tmp_path / "run", callbacks=[jn.callbacks.CSVLogger(log)])
    rows = list(csv.DictReader(io.StringIO(log.read_text())))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4]


def test_a_sweep_logs_each_configuration_to_a_file_of_its_own(tmp_path):
    result = sweep([jn.callbacks.CSVLogger(tmp_path / "log_{config}.csv"),
                    jn.callbacks.JSONLogger(tmp_path / "log_{config}.json")])
    for index, history in enumerate(result.histories):
        rows = list(csv.DictReader(io.StringIO((tmp_path / f"log_{index}.csv").read_text())))
        assert [float(row["loss"]) for row in rows] == history["loss"]
        logged = json.loads((tmp_path / f"log_{index}.json").read_text())
        assert logged["history"]["loss"] == history["loss"]
    assert history["loss"] != result.histories[0]["loss"]


def test_fit_fills_a_config_placeholder_with_0(tmp_path):
    train(callbacks=[jn.callbacks.CSVLogger(tmp_path / "log_{config}.csv")])
    assert [p.name for p in tmp_path.iterdir()] == ["log_0.csv"]


@pytest.mark.parametrize("logger", [jn.callbacks.CSVLogger, jn.callbacks.JSONLogger])
def test_a_logger_without_a_config_placeholder_refuses_a_sweep(tmp_path, logger):
    with pytest.raises(ValueError, match=r"\{config\} placeholder"):
        logger(tmp_path / "log")(1, {"loss": [0.5]}, None, config=1)
    assert list(tmp_path.iterdir()) == []


def test_the_tensorboard_logger_writes_every_epochs_scalars(tmp_path):
    pytest.importorskip("tensorboardX")
    _, result = train(validation_data=blobs(seed=1),
                      callbacks=[jn.callbacks.TensorBoardLogger(tmp_path)])
    events = tensorboard_events(tmp_path)
    assert events[0].file_version == "brain.Event:2"
    logged = scalars(events)
    assert set(logged) == set(result.history)
    for name, values in result.history.items():
        assert logged[name] == as_float32(values)


def test_the_tensorboard_logger_keeps_a_run_per_sweep_configuration(tmp_path):
    pytest.importorskip("tensorboardX")
    result = sweep([jn.callbacks.TensorBoardLogger(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config_0", "config_1"]
    for index, history in enumerate(result.histories):
        assert scalars(tensorboard_events(tmp_path / f"config_{index}"))["loss"] == \
            as_float32(history["loss"])


def test_a_resumed_run_marks_the_epoch_its_tensorboard_events_start_from(tmp_path):
    pytest.importorskip("tensorboardX")
    from tensorboardX.proto.event_pb2 import SessionLog

    train(epochs=2, checkpoint_dir=tmp_path / "run",
          callbacks=[jn.callbacks.TensorBoardLogger(tmp_path / "logs")])
    _, result = train(epochs=4, checkpoint_dir=tmp_path / "run",
                      callbacks=[jn.callbacks.TensorBoardLogger(tmp_path / "logs")])
    events = tensorboard_events(tmp_path / "logs")
    starts = [e.step for e in events if e.session_log.status == SessionLog.START]
    # TensorBoard ignores a run's first START and drops the steps from a later one on.
    assert starts == [1, 3]
    assert scalars(events)["loss"] == as_float32(result.history["loss"])


def test_the_live_plot_redraws_its_image_file_each_epoch(tmp_path):
    images = []

    def read(epoch, history, run):
        images.append((tmp_path / "curves.png").read_bytes())

    train(callbacks=[jn.callbacks.LivePlot(path=tmp_path / "curves.png"), read])
    assert len(images) == 4 and len(set(images)) == 4
    assert all(image.startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]   # no temporary file left


def test_the_live_plot_draws_one_image_per_sweep_configuration(tmp_path):
    sweep([jn.callbacks.LivePlot(metrics=("loss",), path=tmp_path / "curves_{config}.svg")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves_0.svg", "curves_1.svg"]
    assert "configuration 1" in (tmp_path / "curves_1.svg").read_text()


class FakeDisplay:
    """IPython.display.display with ``display_id=True``: records each figure shown and each
    update of a display handle."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, figure, display_id):
        assert display_id is True
        self.shown.append(figure)
        number = len(self.shown) - 1

        class Handle:
            def update(handle, figure):
                self.updates.append(number)

        return Handle()


@pytest.mark.slow
def test_the_live_plot_redraws_in_place_in_a_notebook(monkeypatch):
    pytest.importorskip("IPython")
    display, cell = FakeDisplay(), [1]
    monkeypatch.setattr(callbacks, "in_notebook", lambda: True)
    monkeypatch.setattr(callbacks, "_notebook_cell", lambda: cell[0])
    monkeypatch.setattr("IPython.display.display", display)
    plot = jn.callbacks.LivePlot()
    train(callbacks=[plot])
    assert len(display.shown) == 1 and display.updates == [0, 0, 0]
    train(epochs=2, callbacks=[plot])             # another run in the same cell: a new figure
    cell[0] = 2
    train(epochs=2, callbacks=[plot])             # another cell: a new figure there
    assert len(display.shown) == 3 and display.updates == [0, 0, 0, 1, 2]
    sweep([jn.callbacks.LivePlot()], epochs=2)    # one figure per configuration
    assert len(display.shown) == 5 and display.updates[5:] == [3, 4]


def test_the_live_plot_needs_a_path_with_an_extension_outside_a_notebook(tmp_path):
    with pytest.raises(ValueError, match="outside a notebook needs path="):
        jn.callbacks.LivePlot()
    with pytest.raises(ValueError, match="no extension"):
        jn.callbacks.LivePlot(path=tmp_path / "curves")


@pytest.mark.parametrize("module, make, extra", [
    ("matplotlib", lambda path: jn.callbacks.LivePlot(path=path / "c.png"), "examples"),
    ("tensorboardX", lambda path: jn.callbacks.TensorBoardLogger(path), "tensorboard"),
])
def test_a_missing_optional_dependency_names_its_extra(tmp_path, monkeypatch, module, make,
                                                      extra):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"jaxnet-fn\[{extra}\]"):
        make(tmp_path)


@pytest.mark.slow
def test_the_live_plot_is_one_figure_redrawn_under_a_notebook_cell(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    code = """
import jax, jax.numpy as jnp, numpy as np, optax
import jaxnet as jn
x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int32)
model = jn.Sequential([jn.Dense(8), jn.relu, jn.Dense(2)])
params, state = model.init(jax.random.key(0), x[:1])
objective = jn.objective(model, jn.losses.softmax_cross_entropy)
result = jn.fit(objective, params, state, optax.adam(1e-2), (x, y), epochs=3, batch_size=16,
                key=jax.random.key(1), verbose=False, callbacks=[jn.callbacks.LivePlot()])
"""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    assert [output.output_type for output in outputs] == ["display_data"]
    assert "image/png" in outputs[0].data


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
