"""The MNIST-1D experiment runs end to end and writes what it promises."""

from pathlib import Path

from files import run_quick, run_script

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "mnist1d_models.py"


def test_quick_run_writes_accuracy_and_time_per_model_over_seeds(tmp_path):
    metrics = run_quick(SCRIPT, tmp_path)
    models = metrics["models"]
    assert {name: m["params"] for name, m in models.items()} == {
        "logistic": 410, "mlp": 15_210, "cnn": 5_210, "gru": 5_110
    }
    for name, model in models.items():
        accuracy = model["test_accuracy"]
        assert len(accuracy["per_seed"]) == 2 and accuracy["std"] >= 0
        assert 0.15 < accuracy["mean"] <= 1.0  # above chance (0.1) after 80 steps
        assert metrics["test_accuracy"][name] == accuracy["mean"]
        assert model["train_time_s"]["mean"] > 0
    assert metrics["settings"]["steps"] == 80 and metrics["settings"]["seeds"] == [0, 1]
    assert metrics["wall_time_s"] > 0
    assert (tmp_path / "accuracy.png").stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    for option in ("--quick", "--out", "--seeds", "--steps"):
        assert option in out
