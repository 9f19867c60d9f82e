"""The searches at equal compute: the quick run writes what it promises."""

from pathlib import Path

from files import run_quick, run_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "search.py"


def test_quick_run_compares_every_method_by_its_cost(tmp_path):
    metrics = run_quick(SCRIPT, tmp_path)
    settings, methods = metrics["settings"], metrics["methods"]
    assert settings["quick"]
    assert set(methods) == {"grid", "halving", "pbt", "pbt fixed", "optuna"}
    grid = settings["grid"]
    assert methods["grid"]["configuration_epochs"] == grid * settings["epochs"]
    # Halving (rungs 1 and 2 of 4 epochs, keeping a third): 8 + 3 + 1 * 2 of the grid's 32.
    assert methods["halving"]["configuration_epochs"] == 8 + 3 + 2
    population = settings["population"] * settings["epochs"]
    assert methods["pbt"]["configuration_epochs"] == population
    assert methods["pbt fixed"]["configuration_epochs"] == population
    assert methods["optuna"]["configuration_epochs"] <= settings["optuna_trials"] * 4
    for entry in methods.values():
        assert 0.0 < entry["best_val_accuracy"] <= 1.0 and 0.0 < entry["test_accuracy"] <= 1.0
        curve = entry["curve"]
        assert curve["configuration_epochs"][-1] == entry["configuration_epochs"]
        assert curve["best"] == sorted(curve["best"])  # the best so far never falls
    assert len(metrics["pbt_lineage"]) == settings["population"]
    assert (tmp_path / "search.png").stat().st_size > 1000


def test_help_describes_the_options():
    out = run_script(SCRIPT, "--help")
    assert "--quick" in out and "--epochs" in out and "halving" in out
