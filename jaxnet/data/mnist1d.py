"""MNIST-1D: 5,000 one-dimensional signals of length 40 in 10 classes, generated offline.

The ``mnist1d`` package builds the set from ten templates with its default arguments (seed 42),
and the result equals the authors' published file. Generation takes a few seconds, so the arrays
are cached as ``<cache>/mnist1d/mnist1d.npz`` after the first call. The cached file is checked
each time it is read (keys, shapes, dtypes, labels in 0..9, finite values); one that fails is
moved aside to ``mnist1d.npz.corrupt`` with a warning and the set is generated again, since
generation is offline and deterministic.
"""

from __future__ import annotations

import os
import random
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from jaxnet.data.dataset import Dataset
from jaxnet.data.download import (
    cache_dir,
    is_read_only,
    move_aside,
    read_only_advice,
    remove_stale_parts,
)
from jaxnet.validation import count_nonfinite

FILE_NAME = "mnist1d.npz"
# The arrays of the standard split, as cached: name -> (shape, dtype).
LAYOUT = {
    "x_train": ((4000, 40), np.float32),
    "y_train": ((4000,), np.int32),
    "x_test": ((1000, 40), np.float32),
    "y_test": ((1000,), np.int32),
}
NUM_CLASSES = 10


def load_mnist1d(*, data_dir: str | os.PathLike | None = None) -> Dataset:
    """MNIST-1D with its standard split of 4,000 training and 1,000 test signals.

    The caller's global ``random`` and ``np.random`` states are left as they were, although the
    generator seeds both. A cached file that is not MNIST-1D is never returned: it is moved
    aside and the set generated again, with a warning. Where the cache folder is read-only the
    set is generated and returned without being cached, with a warning.

    Args:
        data_dir: the cache root (see ``jaxnet.data.download.cache_dir``).

    Returns:
        A [`Dataset`][jaxnet.data.dataset.Dataset] with ``x`` float32 ``(N, 40)`` (standardised
        by the package, over all 5,000 signals), labels int32 0..9 and class names "0".."9".
    """
    path = cache_dir(data_dir) / "mnist1d" / FILE_NAME
    remove_stale_parts(path.parent, [FILE_NAME])
    arrays = None
    if path.exists():
        arrays = _read_checked(path)
    if arrays is None:
        arrays = _generate()
        try:
            _save_atomically(path, arrays)
        except OSError as error:
            if not is_read_only(error):
                raise
            warnings.warn(f"MNIST-1D was generated but not cached, so the next load generates "
                          f"it again: {read_only_advice(path.parent, error)}", stacklevel=3)
    names = tuple(str(i) for i in range(NUM_CLASSES))
    return Dataset("mnist1d", *(arrays[key] for key in LAYOUT), names)


def check_arrays(arrays) -> str | None:
    """What makes ``arrays`` (a mapping, e.g. an open ``.npz``) differ from the cached MNIST-1D
    layout, or ``None`` when it matches: keys, shapes, dtypes, labels 0..9, finite values."""
    if sorted(arrays.keys()) != sorted(LAYOUT):
        return f"it holds the arrays {sorted(arrays.keys())}, not {sorted(LAYOUT)}"
    for key, (shape, dtype) in LAYOUT.items():
        array = arrays[key]
        if array.shape != shape or array.dtype != dtype:
            return (f"{key} is {array.dtype} of shape {array.shape}, not "
                    f"{np.dtype(dtype).name} of shape {shape}")
        if key.startswith("y") and (array.min() < 0 or array.max() >= NUM_CLASSES):
            return (f"{key} holds labels from {array.min()} to {array.max()}, not 0 to "
                    f"{NUM_CLASSES - 1}")
        bad = count_nonfinite(array)
        if bad:
            return f"{key} holds {bad} NaN or infinite values"
    return None


def _read_checked(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or ``None`` (after moving the file aside, with a warning) when the file
    is not MNIST-1D."""
    try:
        loaded = np.load(path)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded as npz:
                arrays = {key: npz[key] for key in npz.files}
            problem = check_arrays(arrays)
        else:
            problem = "it holds a single array, not an .npz archive of the split"
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        problem = f"it is not a readable .npz file ({error})"
    if problem is None:
        return arrays
    try:
        what = f"moved aside to {move_aside(path).name}"
    except OSError as error:
        if not is_read_only(error):
            raise
        what = f"left in place since {read_only_advice(path.parent, error)}"
    warnings.warn(f"{path} is not MNIST-1D: {problem}. It was {what}; generating MNIST-1D "
                  f"again (offline, a few seconds).", stacklevel=4)
    return None


def _generate() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    arrays = {"x_train": data["x"].astype(np.float32), "y_train": data["y"].astype(np.int32),
              "x_test": data["x_test"].astype(np.float32),
              "y_test": data["y_test"].astype(np.int32)}
    problem = check_arrays(arrays)
    if problem is not None:
        raise RuntimeError(f"the mnist1d package generated a set unlike the standard MNIST-1D: "
                           f"{problem}; is its version one jaxnet supports?")
    return arrays


def _save_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
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
