"""Study 2, hidden width and over-fitting: the quick run writes what it promises."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "hidden_width.py"


def test_quick_run_writes_metrics_and_figures(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)],
                   check=True, capture_output=True, text=True, timeout=300)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    widths, settings = metrics["widths"], metrics["settings"]
    assert [int(w) for w in widths] == settings["widths"] == [1, 4, 32, 512]
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
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"],
                         check=True, capture_output=True, text=True).stdout
    assert "--quick" in out and "--out" in out and "--n-train" in out
