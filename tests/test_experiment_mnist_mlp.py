"""The source's MLP experiment runs end to end and writes what it promises."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_writes_metrics_and_figures(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "mnist_mlp.py"), "--quick", "--out",
         str(tmp_path)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["dataset"] == "digits"
    assert metrics["epochs_run"] == 3 and len(metrics["history"]["val_accuracy"]) == 3
    assert metrics["state_params"] == 1_024
    assert metrics["trainable_params"] == 64 * 512 + 512 + 512 * 512 + 512 + 2 * 512 + 512 * 10 + 10
    assert 0.5 < metrics["test_accuracy"] <= 1.0
    assert metrics["settings"]["batch_size"] == 128 and metrics["wall_time_s"] > 0
    for figure in ("curves.png", "first_images.png"):
        assert (tmp_path / figure).stat().st_size > 1000


def test_help_describes_the_options():
    out = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "mnist_mlp.py"), "--help"],
        check=True, capture_output=True, text=True,
    ).stdout
    assert "--quick" in out and "--out" in out and "--dataset" in out
