"""The source's MLP experiment runs end to end and writes what it promises."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from files import idx_bytes, load_script, real_mnist, run_quick, run_script, sha256

from jaxnet.data import mnist

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "mnist_mlp.py"


def test_quick_run_writes_metrics_and_figures(tmp_path):
    metrics = run_quick(SCRIPT, tmp_path)
    assert metrics["dataset"] == "digits"
    assert metrics["epochs_run"] == 3 and len(metrics["history"]["val_accuracy"]) == 3
    assert metrics["state_params"] == 1_024
    assert metrics["trainable_params"] == 64 * 512 + 512 + 512 * 512 + 512 + 2 * 512 + 512 * 10 + 10
    assert 0.5 < metrics["test_accuracy"] <= 1.0
    assert metrics["settings"]["batch_size"] == 128 and metrics["wall_time_s"] > 0
    for figure in ("curves.png", "first_images.png"):
        assert (tmp_path / figure).stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--dataset" in out


@pytest.mark.parametrize("name, checksums", [("mnist", "MNIST_CHECKSUMS"),
                                             ("fashion_mnist", "FASHION_CHECKSUMS")])
def test_mnist_and_fashion_mnist_run_from_files_in_the_cache(name, checksums, tmp_path,
                                                             monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cache" / name
    folder.mkdir(parents=True)
    files = {
        mnist.TRAIN_IMAGES: rng.integers(0, 256, (300, 28, 28), dtype=np.uint8),
        mnist.TRAIN_LABELS: (np.arange(300) % 10).astype(np.uint8),
        mnist.TEST_IMAGES: rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
        mnist.TEST_LABELS: (np.arange(50) % 10).astype(np.uint8),
    }
    sums = {}
    for filename, array in files.items():
        data = gzip.compress(idx_bytes(array))
        (folder / filename).write_bytes(data)
        sums[filename] = sha256(data)
    monkeypatch.setattr(mnist, checksums, sums)
    experiment = load_script(SCRIPT, monkeypatch)
    arguments = ["--dataset", name, "--quick", "--no-compile-cache", "--data-dir",
                 str(tmp_path / "cache")]
    metrics = experiment.main([*arguments, "--out", str(tmp_path / "out")])
    assert metrics["dataset"] == name and metrics["settings"]["n_train"] == 300
    streamed = experiment.main([*arguments, "--stream", "--out", str(tmp_path / "streamed")])
    assert streamed["settings"]["stream"] and streamed["settings"]["n_train"] == 300
    assert streamed["history"]["loss"] == metrics["history"]["loss"]  # the very same batches
    assert streamed["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert metrics["trainable_params"] == 670_730 and metrics["state_params"] == 1_024
    assert (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize("stream", [False, True], ids=["in_memory", "streamed"])
def test_the_source_four_epochs_on_the_real_mnist_reach_97_percent(tmp_path, stream):
    real_mnist()
    run_script(SCRIPT, "--dataset", "mnist", "--out", str(tmp_path), *(["--stream"] * stream))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["settings"]["stream"] == stream
    assert metrics["epochs_run"] == 4
    assert metrics["settings"]["n_train"] == 60_000 and metrics["settings"]["n_test"] == 10_000
    assert metrics["test_accuracy"] >= 0.97
