"""The losses experiment: loss shapes against their formulas, and the fits against closed forms."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from files import run_quick, run_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "loss_functions.py"


@pytest.fixture
def script(monkeypatch):
    """The script as a module; its folder goes on sys.path, as when it runs, for _common."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("loss_functions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("loss_functions")
    return out, run_quick(SCRIPT, out)


def test_loss_shapes_follow_their_formulas_and_derivatives(script):
    s = np.linspace(-3.0, 3.0, 61)
    shapes = script.loss_shapes(s)
    expected = {
        ("regression", "MSE"): (s**2, 2 * s),
        ("regression", "MAE"): (np.abs(s), np.sign(s)),
        ("binary", "binary cross-entropy"): (np.logaddexp(0.0, -s), -1 / (1 + np.exp(s))),
        ("binary", "hinge"): (np.maximum(0.0, 1 - s), np.where(s < 1, -1.0, 0.0)),
        ("binary", "0-1"): ((s <= 0).astype(float), np.zeros_like(s)),
        ("multi-class", "softmax cross-entropy"): (np.log1p(2 * np.exp(-s)),
                                                   -2 / (np.exp(s) + 2)),
        ("multi-class", "multi-class SVM (hinge)"): (2 * np.maximum(0.0, 1 - s),
                                                     np.where(s < 1, -2.0, 0.0)),
        ("multi-class", "0-1"): ((s < 0).astype(float), np.zeros_like(s)),
    }
    away_from_kinks = (np.abs(s) > 1e-6) & (np.abs(s - 1) > 1e-6)
    for (panel, name), (value, slope) in expected.items():
        got_value, got_slope = shapes[panel][name]
        np.testing.assert_allclose(got_value, value, atol=1e-5, err_msg=f"{panel} {name}")
        np.testing.assert_allclose(got_slope[away_from_kinks], slope[away_from_kinks],
                                   atol=1e-5, err_msg=f"{panel} {name} derivative")


def test_mse_fit_is_least_squares_and_mae_ignores_the_outliers(quick_run, script):
    _, metrics = quick_run
    x, y, outlier = script.line_with_outliers(100, 10, metrics["settings"]["seed"])
    assert outlier.sum() == 10 and np.all(y[outlier, 0] > 2.0 * x[outlier, 0] + 0.5 + 2.5)
    slope, intercept = np.polyfit(x[:, 0].astype(np.float64), y[:, 0].astype(np.float64), 1)
    mse, mae = metrics["regression"]["mse"], metrics["regression"]["mae"]
    assert mse["slope"] == pytest.approx(slope, abs=5e-3)
    assert mse["intercept"] == pytest.approx(intercept, abs=5e-3)
    assert mae["slope"] == pytest.approx(2.0, abs=0.1)
    assert mae["intercept"] == pytest.approx(0.5, abs=0.1)
    assert mae["test_mae"] < 0.2 * mse["test_mae"]


def test_hinge_leaves_smaller_margins_than_cross_entropy(quick_run):
    _, metrics = quick_run
    cross_entropy = metrics["classification"]["binary_cross_entropy"]
    hinge = metrics["classification"]["hinge"]
    assert cross_entropy["test_accuracy"] > 0.9 and hinge["test_accuracy"] > 0.9
    assert hinge["median_margin"] < cross_entropy["median_margin"]


def test_quick_run_writes_metrics_and_figures(quick_run):
    out, metrics = quick_run
    assert metrics["settings"]["moons_epochs"] == 10 and metrics["wall_time_s"] > 0
    for figure in ("loss_shapes.png", "regression_outliers.png", "classification.png"):
        assert (out / figure).stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--epochs" in out
