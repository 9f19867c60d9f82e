"""Study 3, penalty strength: the quick run writes what it promises, and L1 is the sparse one."""

from pathlib import Path

from files import run_quick, run_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "penalty_strength.py"


def test_quick_run_writes_metrics_and_figures(tmp_path):
    metrics = run_quick(SCRIPT, tmp_path)
    settings, penalties = metrics["settings"], metrics["penalties"]
    assert settings["quick"] and metrics["wall_time_s"] > 0
    strengths = settings["strengths"]
    assert strengths[0] == 0.0 and sorted(penalties) == ["l1", "l2"]
    for runs in penalties.values():
        assert [r["strength"] for r in runs] == strengths
        assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in runs)
    l1, l2 = penalties["l1"], penalties["l2"]
    # L1 zeroes most weights at every positive strength; L2 shrinks them but zeroes almost none.
    assert all(r["near_zero_fraction"] > 0.5 for r in l1[1:])
    assert all(r["near_zero_fraction"] < 0.05 for r in l2)
    # Both shrink the weights as lambda grows.
    for runs, norm in ((l1, "l1_norm"), (l2, "l2_norm")):
        assert runs[-1][norm] < runs[0][norm]
    for figure in ("boundaries.png", "accuracy.png", "sparsity.png"):
        assert (tmp_path / figure).stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--threshold" in out
