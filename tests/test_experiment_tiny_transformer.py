"""The tiny transformer learns, in a test-sized run, whether a sequence is sorted."""

from pathlib import Path

import numpy as np
from files import load_script, run_quick, run_script

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "tiny_transformer.py"


def test_the_task_has_balanced_classes_decided_by_one_pair_of_neighbours(monkeypatch):
    x, y = load_script(SCRIPT, monkeypatch).make_data(2000, 10, 10, np.random.default_rng(0))
    assert x.shape == (2000, 10) and x.dtype == np.int32 and 0 <= x.min() and x.max() < 10
    descents = (np.diff(x, axis=1) < 0).sum(axis=1)
    np.testing.assert_array_equal(descents == 0, y == 1)
    np.testing.assert_array_equal(descents[y == 0], 1)  # one swapped pair of unequal neighbours
    assert 0.45 < y.mean() < 0.55


def test_quick_run_reaches_high_test_accuracy_and_writes_its_curves(tmp_path):
    metrics = run_quick(SCRIPT, tmp_path)
    assert metrics["test_accuracy"] > 0.95
    assert metrics["settings"]["quick"] and metrics["settings"]["epochs"] == 8
    history = metrics["models"]["transformer"]["history"]
    assert len(history["val_accuracy"]) == 8 and history["val_accuracy"][-1] > 0.95
    assert metrics["params"] == 9_314 and metrics["wall_time_s"] > 0
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    for option in ("--quick", "--out", "--epochs", "--heads", "--blocks"):
        assert option in out
