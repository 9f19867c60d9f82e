"""The k-NN experiment: a quick run on digits, the CIFAR-10 path on a tiny archive, --help."""

import hashlib
import importlib.util
import io
import json
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

import jaxnet as jn
from jaxnet.data import cifar10

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "knn.py"
CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
           b"ship", b"truck"]


def load_script(path: Path, monkeypatch):
    """An experiment script as a module; its folder goes on sys.path, as when it runs."""
    monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_cifar10(data_dir: Path, monkeypatch, per_batch: int = 30, n_test: int = 40) -> None:
    """Writes a small CIFAR-10 archive in the official format under ``data_dir`` (random images)
    and makes its checksum the published one for the duration of the test."""
    rng = np.random.default_rng(0)

    def batch(n):
        return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                b"labels": rng.integers(0, 10, n).tolist()}

    members = {"batches.meta": {b"label_names": CLASSES}, cifar10.TEST_BATCH: batch(n_test)}
    members.update((name, batch(per_batch)) for name in cifar10.TRAIN_BATCHES)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            data = pickle.dumps(content, protocol=4)
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (data_dir / "cifar10").mkdir(parents=True)
    (data_dir / "cifar10" / cifar10.ARCHIVE).write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    monkeypatch.setattr(cifar10, "CHECKSUMS", {cifar10.ARCHIVE: f"sha256:{digest}"})


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("knn")
    subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
                   check=True, capture_output=True, text=True, timeout=300)
    return out, json.loads((out / "metrics.json").read_text())


def test_quick_run_writes_metrics_and_figures(quick_run):
    out, metrics = quick_run
    settings = metrics["settings"]
    assert settings["dataset"] == "digits" and settings["distance"] == "l1"
    assert settings["ks"] == [1, 3, 5, 10] and settings["folds"] == 3
    assert str(metrics["chosen_k"]) in metrics["cross_validation_accuracy"]
    assert len(metrics["cross_validation_folds"]["1"]) == 3
    assert set(metrics["test_accuracy_by_k"]) == {"1", "3", "5", "10"}
    assert metrics["test_accuracy"] == metrics["test_accuracy_by_k"][str(metrics["chosen_k"])]
    assert metrics["test_accuracy"] > 0.95 and metrics["wall_time_s"] > 0
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == 360
    for figure in ("confusion.png", "cross_validation.png", "neighbours.png"):
        assert (out / figure).stat().st_size > 1000


def test_test_accuracy_of_each_k_is_that_of_its_own_knn(quick_run):
    _, metrics = quick_run
    ds = jn.data.load("digits")
    for k in (1, 10):
        knn = jn.classic.KNN(k).fit(ds.x_train, ds.y_train)
        accuracy = float(np.mean(np.asarray(knn.predict(ds.x_test)) == ds.y_test))
        assert metrics["test_accuracy_by_k"][str(k)] == pytest.approx(accuracy)


def test_cifar10_from_the_cache(tmp_path, monkeypatch):
    tiny_cifar10(tmp_path / "data", monkeypatch)
    script = load_script(SCRIPT, monkeypatch)
    metrics = script.main(["--dataset", "cifar10", "--data-dir", str(tmp_path / "data"),
                           "--distance", "l2", "--quick", "--out", str(tmp_path / "out")])
    assert metrics["settings"]["n_train"] == 150 and metrics["settings"]["n_test"] == 40
    assert np.sum(metrics["confusion_matrix"]) == 40
    assert (tmp_path / "out" / "neighbours.png").stat().st_size > 1000


def test_help_describes_the_options():
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"],
                         check=True, capture_output=True, text=True).stdout
    for option in ("--quick", "--out", "--dataset", "--distance", "--ks", "--folds"):
        assert option in out
