"""The one-neuron experiment counts the iterations a hand-written gradient descent takes."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from files import run_quick, run_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "one_neuron.py"


@pytest.fixture
def script(monkeypatch):
    """The script as a module; its folder goes on sys.path, as when it runs, for _common."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("one_neuron", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("one_neuron")
    return out, run_quick(SCRIPT, out)


def numpy_gradient_descent(x, y, w, b, alpha, epsilon, max_iterations):
    """The source's recipe by hand: full-batch steps until every parameter moves < epsilon."""
    w, b = np.asarray(w, np.float64), float(b)
    for iteration in range(1, max_iterations + 1):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        step_w = alpha * x.T @ (p - y) / len(y)
        step_b = alpha * np.mean(p - y)
        w, b = w - step_w, b - step_b
        if max(np.max(np.abs(step_w)), abs(step_b)) < epsilon:
            return iteration, w, b
    return max_iterations, w, b


def test_gradient_descent_takes_as_many_iterations_as_a_numpy_loop(quick_run, script):
    _, metrics = quick_run
    settings = metrics["settings"]
    x, y = script.make_blobs(settings["samples"], settings["spread"], settings["seed"])
    iterations, w, b = numpy_gradient_descent(
        x.astype(np.float64), y, metrics["initial"]["w"], metrics["initial"]["b"],
        settings["alpha"], settings["epsilon"], settings["max_iterations"])
    run = metrics["gradient_descent"]
    assert run["stop_reason"] == "converged"
    assert abs(run["iterations"] - iterations) <= 1
    np.testing.assert_allclose(run["w"], w, atol=1e-3)
    np.testing.assert_allclose(run["b"], b, atol=1e-3)


def test_adam_converges_in_fewer_iterations_and_closer_to_the_minimiser(quick_run):
    out, metrics = quick_run
    gd, adam = metrics["gradient_descent"], metrics["adam"]
    assert adam["stop_reason"] == "converged"
    assert adam["iterations"] < gd["iterations"]
    assert adam["largest_distance_to_minimiser"] < gd["largest_distance_to_minimiser"]
    assert metrics["minimiser"]["loss"] <= adam["final_loss"] <= gd["final_loss"]
    assert metrics["wall_time_s"] > 0 and metrics["settings"]["quick"]
    assert (out / "one_neuron.png").stat().st_size > 1000


def test_newton_minimiser_zeroes_the_gradient(script):
    x, y = script.make_blobs(200, 0.6, 0)
    theta, loss = script.newton_minimiser(x, y)
    features = np.concatenate([x, np.ones((len(x), 1))], axis=1).astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-features @ theta))
    np.testing.assert_allclose(features.T @ (p - y) / len(y), 0.0, atol=1e-10)
    assert 0.0 < loss < np.log(2.0)


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--epsilon" in out and "--alpha" in out
