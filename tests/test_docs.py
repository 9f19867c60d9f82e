"""The documentation's code runs as written and its figures are true."""

import re
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Pages whose python blocks form one runnable program, in order.
RUNNABLE_PAGES = ["docs/getting-started.md", "README.md"]


def python_blocks(path: Path) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_the_page_code_runs(page, capsys):
    namespace: dict = {}
    # Run as a user would, with JAX's default dtype promotion rather than the suite's strict one.
    with jax.numpy_dtype_promotion("standard"):
        exec(compile(python_blocks(ROOT / page), page, "exec"), namespace)
    if page == "docs/getting-started.md":
        assert namespace["result"].history["val_accuracy"][-1] > 0.95


def test_the_summary_shown_in_getting_started_is_what_summary_prints(capsys):
    import jax.numpy as jnp

    import jaxnet as jn

    page = (ROOT / "docs/getting-started.md").read_text()
    shown = re.search(r"```\n(layer \(type\).*?)```", page, flags=re.S).group(1).strip()
    model = jn.Sequential([
        jn.Dense(512), jn.relu, jn.Dropout(0.2),
        jn.Dense(512), jn.BatchNorm(), jn.relu, jn.Dropout(0.2),
        jn.Dense(10),
    ])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 784)))
    assert jn.summary(model, params, state, jnp.zeros((1, 784))).strip() == shown


def test_every_page_linked_from_the_index_exists():
    index = (ROOT / "docs/index.md").read_text()
    for target in re.findall(r"\]\(([\w\-/]+\.(?:md|ipynb))(?:#[\w\-]+)?\)", index):
        assert (ROOT / "docs" / target).exists(), target
