"""Trains one epoch on a float32 data set in a .npy file, streamed, and prints the process's
resident memory (MB) before training and at its peak: `python train_from_disk.py X.npy Y.npy`."""

import re
import sys
from pathlib import Path

import jax
import optax

import jaxnet as jn


def memory() -> dict[str, int]:
    status = Path("/proc/self/status").read_text()
    return {name: int(re.search(rf"{name}:\s+(\d+)", status).group(1)) // 1024
            for name in ("VmRSS", "VmHWM")}


def main(x_path: str, y_path: str) -> None:
    source = jn.data.ArraySource.from_npy(x_path, y_path)
    model = jn.Sequential([jn.Dense(32), jn.relu, jn.Dense(2)])
    x0, _ = source.example()
    params, state = model.init(jax.random.key(0), x0[None])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    before = memory()["VmRSS"]
    result = jn.fit(objective, params, state, optax.sgd(0.01), source, epochs=1,
                    batch_size=1024, key=jax.random.key(1), verbose=False)
    print(f"STEPS {result.steps}")
    print(f"LOSS {result.history['loss'][0]:.4f}")
    print(f"BEFORE {before}")
    print(f"PEAK {memory()['VmHWM']}")


if __name__ == "__main__":
    main(*sys.argv[1:])
