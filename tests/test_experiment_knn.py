"""The k-NN experiment: a quick run on digits, the CIFAR-10 path on a tiny archive, --help."""

from pathlib import Path

import numpy as np
import pytest
from files import load_script, run_quick, run_script, tiny_cifar10

import jaxnet as jn

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "knn.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("knn")
    return out, run_quick(SCRIPT, out)


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
                           "--distance", "l2", "--quick", "--no-compile-cache",
                           "--out", str(tmp_path / "out")])
    assert metrics["settings"]["n_train"] == 150 and metrics["settings"]["n_test"] == 40
    assert np.sum(metrics["confusion_matrix"]) == 40
    assert (tmp_path / "out" / "neighbours.png").stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    for option in ("--quick", "--out", "--dataset", "--distance", "--ks", "--folds"):
        assert option in out
