"""Suite-wide settings: strict NumPy semantics turn silent broadcasting bugs into errors."""

import jax
import pytest

# Scripts that tests run in fresh processes; importing them would run them.
collect_ignore_glob = ["scripts/*"]

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(params=["eager", "jit"])
def transform(request):
    """Runs a test twice: with the function as it is, and under `jax.jit`."""
    return (lambda f: f) if request.param == "eager" else jax.jit


def pytest_collection_modifyitems(items):
    """Tests of the experiment scripts start them in new processes and train: the default run
    leaves them to ``-m slow``."""
    for item in items:
        if item.path.name.startswith("test_experiment_"):
            item.add_marker(pytest.mark.slow)
