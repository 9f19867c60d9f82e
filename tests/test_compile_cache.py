"""jn.compilation_cache: a second process reads the programs the first one compiled.

Each run is a fresh process: the cache is a setting of the whole process.
"""

import subprocess
import sys
from pathlib import Path

import pytest

import jaxnet as jn
from jaxnet.compile_cache import default_cache_dir

ROOT = Path(__file__).resolve().parents[1]

TRAIN = """
import logging, sys
import jax, numpy as np, optax
import jaxnet as jn

logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(message)s")
for name in logging.root.manager.loggerDict:
    logging.getLogger(name).setLevel(logging.WARNING)
logging.getLogger("jax._src.compiler").setLevel(logging.DEBUG)
jn.compilation_cache(sys.argv[1])
x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int32)
model = jn.Sequential([jn.Dense(8), jn.relu, jn.Dense(2)])
params, state = model.init(jax.random.key(0), x[:1])
result = jn.fit(jn.objective(model, jn.losses.softmax_cross_entropy), params, state,
                optax.sgd(0.1), (x, y), epochs=2, batch_size=16, key=jax.random.key(1),
                verbose=False)
print("loss", result.history["loss"][-1])
"""


def train(folder: Path) -> str:
    done = subprocess.run([sys.executable, "-c", TRAIN, str(folder)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_a_second_run_reads_every_program_from_the_cache(tmp_path):
    folder = tmp_path / "compiled"
    first = train(folder)
    written = sorted(p.name for p in folder.iterdir())
    assert written and "cache hit" not in first
    second = train(folder)
    assert second.count("Persistent compilation cache hit") >= len(
        [name for name in written if name.endswith("-cache")])
    assert sorted(p.name for p in folder.iterdir()) == written  # nothing compiled again
    loss = [line for line in first.splitlines() if line.startswith("loss")]
    assert loss == [line for line in second.splitlines() if line.startswith("loss")]


def test_the_default_folder_is_jax_s_setting_or_jaxnet_s_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert default_cache_dir() == tmp_path / "jax"
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache" / "jaxnet" / "xla"


def test_a_file_in_the_way_or_a_negative_time_is_refused(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="must be a folder"):
        jn.compilation_cache(tmp_path / "file")
    with pytest.raises(ValueError, match="min_compile_time must be >= 0"):
        jn.compilation_cache(tmp_path / "compiled", min_compile_time=-1)
