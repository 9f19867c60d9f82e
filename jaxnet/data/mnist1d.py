"""MNIST-1D: 5,000 one-dimensional signals of length 40 in 10 classes, generated offline.

The ``mnist1d`` package builds the set from ten templates with its default arguments (seed 42),
and the result equals the authors' published file. Generation takes a few seconds, so the arrays
are cached as ``<cache>/mnist1d/mnist1d.npz`` after the first call.
"""

from __future__ import annotations

import os
import random
import tempfile

import numpy as np

from jaxnet.data.dataset import Dataset
from jaxnet.data.download import cache_dir

FILE_NAME = "mnist1d.npz"
KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_mnist1d(*, data_dir: str | os.PathLike | None = None) -> Dataset:
    """MNIST-1D with its standard split of 4,000 training and 1,000 test signals.

    The caller's global ``random`` and ``np.random`` states are left as they were, although the
    generator seeds both.

    Args:
        data_dir: the cache root (see :func:`jaxnet.data.download.cache_dir`).

    Returns:
        A :class:`Dataset` with ``x`` float32 ``(N, 40)`` (standardised by the package, over all
        5,000 signals), labels int32 0..9 and class names "0".."9".
    """
    path = cache_dir(data_dir) / "mnist1d" / FILE_NAME
    if not path.exists():
        _save_atomically(path, _generate())
    with np.load(path) as arrays:
        x_train, y_train, x_test, y_test = (arrays[k] for k in KEYS)
    names = tuple(str(i) for i in range(10))
    return Dataset("mnist1d", x_train, y_train, x_test, y_test, names)


def _generate() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return {"x_train": data["x"].astype(np.float32), "y_train": data["y"].astype(np.int32),
            "x_test": data["x_test"].astype(np.float32), "y_test": data["y_test"].astype(np.int32)}


def _save_atomically(path, arrays: dict[str, np.ndarray]) -> None:
    """Writes beside ``path`` and renames, so a reader never sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
