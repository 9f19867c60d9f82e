"""The linear-classifier experiment: a quick run on digits, CIFAR-10 from the cache, --help."""

from pathlib import Path

import numpy as np
import pytest
from files import load_script, run_quick, run_script, tiny_cifar10

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "linear_classifier.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("linear_classifier")
    return out, run_quick(SCRIPT, out)


def test_quick_run_writes_metrics_and_figures(quick_run):
    out, metrics = quick_run
    settings = metrics["settings"]
    assert settings["dataset"] == "digits" and settings["l2"] == [0.0, 0.01]
    assert settings["epochs"] == 10 and metrics["wall_time_s"] > 0
    for loss in ("svm", "softmax"):
        assert metrics["test_accuracy"][loss] > 0.9
        assert set(metrics["validation_accuracy"][loss]) == {"0", "0.01"}
        assert metrics["chosen_l2"][loss] in (0.0, 0.01)
        confusion = np.array(metrics["confusion_matrix"][loss])
        assert confusion.shape == (10, 10) and confusion.sum() == 360
        assert np.trace(confusion) / 360 == pytest.approx(metrics["test_accuracy"][loss])
        for figure in (f"confusion_{loss}.png", f"templates_{loss}.png"):
            assert (out / figure).stat().st_size > 1000
    assert (out / "validation.png").stat().st_size > 1000


def test_cifar10_from_the_cache_gives_colour_templates(tmp_path, monkeypatch):
    tiny_cifar10(tmp_path / "data", monkeypatch)
    script = load_script(SCRIPT, monkeypatch)
    metrics = script.main(["--dataset", "cifar10", "--data-dir", str(tmp_path / "data"),
                           "--losses", "svm", "--quick", "--no-compile-cache",
                           "--out", str(tmp_path / "out")])
    assert set(metrics["test_accuracy"]) == {"svm"} and metrics["settings"]["n_train"] == 150
    assert (tmp_path / "out" / "templates_svm.png").stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    for option in ("--quick", "--out", "--dataset", "--losses", "--l2", "--epochs"):
        assert option in out
