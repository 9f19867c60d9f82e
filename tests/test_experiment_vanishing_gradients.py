"""The vanishing-gradient experiment: per-layer gradient norms, checked by hand and by shape."""

import importlib.util
from pathlib import Path

import jax
import numpy as np
import pytest
from files import run_quick, run_script

import jaxnet as jn

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "vanishing_gradients.py"


@pytest.fixture
def script(monkeypatch):
    """The script as a module; its folder goes on sys.path, as when it runs, for _common."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("vanishing_gradients", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vanishing_gradients")
    return out, run_quick(SCRIPT, out)


def numpy_backprop_norms(params, x, y):
    """Backpropagation by the chain rule for sigmoid hidden layers and softmax cross-entropy."""
    layers = [{k: np.asarray(v, np.float64) for k, v in params[f"dense_{i}"].items()}
              for i in range(len(params))]
    activations = [x.astype(np.float64)]
    for layer in layers[:-1]:
        activations.append(1.0 / (1.0 + np.exp(-(activations[-1] @ layer["w"] + layer["b"]))))
    logits = activations[-1] @ layers[-1]["w"] + layers[-1]["b"]
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    delta = (probabilities - np.eye(logits.shape[1])[y]) / len(y)
    norms = []
    for i in reversed(range(len(layers))):
        norms.append(np.linalg.norm(activations[i].T @ delta))
        if i:
            delta = (delta @ layers[i]["w"].T) * activations[i] * (1.0 - activations[i])
    return np.array(norms[::-1])


def test_layer_gradient_norms_equal_hand_written_backpropagation(script):
    model = script.build_model(jn.sigmoid, depth=4, width=6)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5)).astype(np.float32)
    y = rng.integers(0, 10, 20).astype(np.int32)
    params, state = model.init(jax.random.key(0), x[:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    norms = script.layer_gradient_norms(objective, params, state, (x, y))
    assert norms.shape == (4,)
    np.testing.assert_allclose(norms, numpy_backprop_norms(params, x, y), rtol=1e-4)


def test_layers_to_fraction_counts_back_from_the_output_layer(script):
    assert script.layers_to_fraction(np.array([1e-5, 1e-3, 0.02, 0.3, 1.0])) == 3
    assert script.layers_to_fraction(np.array([0.005, 1.0])) == 1
    assert script.layers_to_fraction(np.array([0.5, 0.2, 1.0])) is None


def test_sigmoid_gradient_shrinks_towards_the_input_and_vanishes_within_a_few_layers(quick_run):
    _, metrics = quick_run
    sigmoid = np.array(metrics["activations"]["sigmoid"]["gradient_norms_at_init"])
    assert sigmoid.shape == (10,)
    assert np.all(np.diff(sigmoid) > 0)
    assert sigmoid[0] < 1e-4 * sigmoid[-1]
    assert 2 <= metrics["sigmoid_layers_to_1pct"] <= 6
    by_seed = metrics["activations"]["sigmoid"]["layers_to_1pct_at_init_by_seed"]
    assert all(2 <= n <= 6 for n in by_seed)


def test_tanh_and_relus_keep_their_gradient_through_all_layers(quick_run):
    _, metrics = quick_run
    for name in ("tanh", "relu", "leaky_relu"):
        norms = np.array(metrics["activations"][name]["gradient_norms_at_init"])
        assert metrics["activations"][name]["layers_to_1pct_at_init"] is None
        assert norms[0] > 0.1 * norms[-1]


def test_quick_run_writes_metrics_and_figures(quick_run):
    out, metrics = quick_run
    assert set(metrics["test_accuracy"]) == {"sigmoid", "tanh", "relu", "leaky_relu"}
    assert all(0.0 <= a <= 1.0 for a in metrics["test_accuracy"].values())
    assert metrics["settings"]["epochs"] == 2 and metrics["wall_time_s"] > 0
    for figure in ("gradient_norms.png", "training.png"):
        assert (out / figure).stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--out" in out and "--depth" in out
