"""The dropout experiment: dropout narrows the gap between training and test accuracy."""

from pathlib import Path

import pytest
from files import run_quick, run_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "dropout.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dropout")
    return out / "run", run_quick(SCRIPT, out / "run", "--data-dir", str(out / "data"))


def test_dropout_narrows_the_generalization_gap(quick_run):
    _, metrics = quick_run
    gap = metrics["accuracy_gap"]
    assert list(gap) == ["0", "0.2", "0.5"]
    assert gap["0.5"] < gap["0"]
    assert metrics["runs"]["0"]["train_accuracy"] > metrics["runs"]["0.5"]["train_accuracy"]


def test_both_sets_are_measured_after_every_epoch(quick_run):
    _, metrics = quick_run
    for run in metrics["runs"].values():
        history = run["history"]
        assert set(history) == {"train_loss", "train_accuracy", "test_loss", "test_accuracy",
                                "time"}
        assert all(len(values) == 8 for values in history.values())
        assert run["test_accuracy"] == history["test_accuracy"][-1]
        assert run["accuracy_gap"] == pytest.approx(run["train_accuracy"] - run["test_accuracy"])
        assert history["train_loss"][-1] < history["train_loss"][0]
        assert 0.3 < run["test_accuracy"] <= 1.0


def test_quick_run_writes_metrics_and_figures(quick_run):
    out, metrics = quick_run
    assert metrics["dataset"] == "mnist1d" and metrics["settings"]["n_train"] == 4000
    assert metrics["settings"]["epochs"] == 8 and metrics["wall_time_s"] > 0
    assert (out / "curves.png").stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--rates" in out
