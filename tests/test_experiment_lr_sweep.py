"""The learning-rate sweep: the quick run writes what it promises."""

from pathlib import Path

from files import run_quick, run_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "lr_sweep.py"


def test_quick_run_writes_metrics_and_figure(tmp_path):
    metrics = run_quick(SCRIPT, tmp_path)
    settings, rates = metrics["settings"], metrics["rates"]
    assert settings["quick"] and metrics["wall_time_s"] > metrics["sweep_time_s"] > 0
    assert [float(lr) for lr in rates] == settings["rates"]
    assert metrics["configurations"] == len(settings["rates"]) * settings["seeds"]
    for entry in rates.values():
        assert len(entry["stop_reasons"]) == settings["seeds"]
        accuracy = entry["val_accuracy"]
        assert 0.0 <= accuracy["min"] <= accuracy["mean"] <= accuracy["max"] <= 1.0
    # After three epochs, 0.1 has learned more than 1e-3, which has barely moved from chance.
    assert rates["0.1"]["val_accuracy"]["mean"] > rates["0.001"]["val_accuracy"]["mean"] + 0.1
    best = metrics["best"]
    assert best["config"]["lr"] == 0.1 and 0.2 < best["test_accuracy"] <= 1.0
    assert (tmp_path / "accuracy.png").stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--rates" in out
