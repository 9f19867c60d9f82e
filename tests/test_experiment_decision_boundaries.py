"""Study 1, decision boundaries while training: the quick run and the straight-line measure."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
from files import run_quick, run_script
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "decision_boundaries.py"


def load_script():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("decision_boundaries", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


def test_quick_run_writes_metrics_animations_and_figures(tmp_path):
    metrics = run_quick(SCRIPT, tmp_path)
    widths = metrics["widths"]
    assert sorted(widths, key=int) == ["1", "2", "3", "64"]
    assert metrics["settings"]["quick"] and metrics["wall_time_s"] > 0
    # One hidden neuron: the predicted class is constant along the lines w.x = c, so the
    # classes do not overlap along w and every boundary is a straight line.
    assert widths["1"]["class_overlap_along_direction"] < 1e-4
    # Three spirals are not separated by parallel lines; a wide layer bends around them.
    assert widths["64"]["test_accuracy"] > widths["1"]["test_accuracy"] + 0.2
    assert widths["64"]["train_accuracy"] > 0.9
    frames = metrics["settings"]["frames"]
    assert len(widths["1"]["snapshot_steps"]) == frames
    for width in widths:
        with Image.open(tmp_path / f"boundary_{width}.gif") as gif:
            assert gif.n_frames == frames
        assert (tmp_path / f"boundary_{width}.gif").stat().st_size < 500_000
    for figure in ("boundaries.png", "loss.png"):
        assert (tmp_path / figure).stat().st_size > 1000


def test_class_overlap_is_zero_for_a_straight_boundary_and_positive_for_a_curved_one():
    overlap = load_script().class_overlap_along
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (2000, 2))
    direction = np.array([1.0, 2.0])
    stripes = np.digitize(points @ direction, [-0.5, 0.7])
    assert overlap(direction, points, stripes) == 0.0
    disc = (np.linalg.norm(points, axis=1) < 0.6).astype(int)
    assert overlap(direction, points, disc) > 0.3


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--widths" in out
