"""The width sweep: the quick run writes what it promises."""

from pathlib import Path

from files import run_quick, run_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "width_sweep.py"


def test_quick_run_writes_metrics_and_figure(tmp_path):
    metrics = run_quick(SCRIPT, tmp_path)
    settings, widths = metrics["settings"], metrics["widths"]
    assert settings["quick"] and metrics["wall_time_s"] > metrics["sweep_time_s"] > 0
    assert [int(w) for w in widths] == settings["widths"] == [1, 256]
    assert metrics["configurations"] == 2 * settings["seeds"]
    for entry in widths.values():
        assert len(entry["test_accuracy"]["per_seed"]) == settings["seeds"]
        assert 0.0 <= entry["test_accuracy"]["mean"] <= 1.0
    # The wide network fits its training set better than the test set, and better than one
    # neuron does.
    assert widths["256"]["train_accuracy"]["mean"] > widths["1"]["train_accuracy"]["mean"] + 0.2
    assert widths["256"]["gap"] > widths["1"]["gap"] + 0.05
    assert (tmp_path / "accuracy.png").stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--max-width" in out
