"""Study 2, hidden width and over-fitting: the quick run writes what it promises."""

from pathlib import Path

from files import run_quick, run_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "hidden_width.py"


def test_quick_run_writes_metrics_and_figures(tmp_path):
    metrics = run_quick(SCRIPT, tmp_path)
    widths, settings = metrics["widths"], metrics["settings"]
    assert [int(w) for w in widths] == settings["widths"] == [1, 32, 512]
    assert settings["quick"] and settings["n_train"] == 60 and metrics["wall_time_s"] > 0
    for result in widths.values():
        assert len(result["test_accuracy"]["per_seed"]) == settings["seeds"]
        assert 0.0 <= result["test_accuracy"]["mean"] <= 1.0
    # The widest network fits its 60 noisy training points better than it predicts the test
    # set, and better than the narrowest network fits them.
    assert widths["512"]["train_accuracy"]["mean"] > 0.95
    assert widths["512"]["gap"] > widths["1"]["gap"] + 0.05
    for figure in ("accuracy.png", "boundaries.png"):
        assert (tmp_path / figure).stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--n-train" in out
