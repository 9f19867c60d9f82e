"""CIFAR-10: 60,000 32x32 colour images in ten classes, from the official python-version archive.

The archive ``cifar-10-python.tar.gz`` holds the folder ``cifar-10-batches-py/`` with five
training batches, a test batch and ``batches.meta``, each a Python pickle. The members are read
straight from the archive (nothing is extracted, so no path in it can escape the cache), and the
pickles are read by ``CifarUnpickler``, which admits only the globals the format needs.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np

from jaxnet.data.dataset import Dataset
from jaxnet.data.download import cache_dir, fetch_all

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
CHECKSUMS = {ARCHIVE: "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"}
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, strings, numbers and NumPy arrays.

    A pickle can name any importable callable and have it called while loading; this one refuses
    every global except those a pickled NumPy array needs, under both of NumPy's module names.
    """

    ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: a CIFAR batch holds only dicts, "
                f"lists, strings, numbers and NumPy arrays, so this file is not one (or was "
                f"tampered with)")
        return super().find_class(module, name)


def load_pickle(data: bytes):
    """Unpickles the bytes of a CIFAR batch as the format prescribes (``encoding="bytes"``)."""
    return CifarUnpickler(io.BytesIO(data), encoding="bytes").load()


def load_cifar10(
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    raw: bool = False,
    timeout: float | None = None,
) -> Dataset:
    """CIFAR-10: 50,000 training and 10,000 test images, class names from ``batches.meta``.

    Args:
        data_dir: the cache root; the archive lives in its ``cifar10/`` subfolder.
        download: whether a missing archive may be downloaded.
        raw: give uint8 pixels 0..255 instead of float32 in ``[0, 1]``.
        timeout: seconds the archive's download from one mirror may take (default
            ``jaxnet.data.download.TIMEOUT``, 300; the archive is 170 MB, so a connection
            slower than about 570 KB/s needs more).

    Returns:
        A [`Dataset`][jaxnet.data.dataset.Dataset] of images ``(N, 32, 32, 3)`` (channels R, G,
        B) and int32 labels.
    """
    paths = fetch_all(cache_dir(data_dir) / "cifar10", CHECKSUMS, MIRRORS, download=download,
                      timeout=timeout)
    members = _read_members(paths[ARCHIVE], (*TRAIN_BATCHES, TEST_BATCH, META))
    meta = load_pickle(members[META])
    class_names = tuple(name.decode() for name in meta[b"label_names"])
    train = [_batch(members[name], name, len(class_names)) for name in TRAIN_BATCHES]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = _batch(members[TEST_BATCH], TEST_BATCH, len(class_names))
    if not raw:
        x_train, x_test = (x.astype(np.float32) / np.float32(255.0) for x in (x_train, x_test))
    return Dataset("cifar10", x_train, y_train, x_test, y_test, class_names)


def _read_members(archive, names) -> dict[str, bytes]:
    wanted = {f"{FOLDER}/{name}": name for name in names}
    found = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name in wanted:
                found[wanted[member.name]] = tar.extractfile(member).read()
    missing = [name for name in wanted if wanted[name] not in found]
    if missing:
        raise ValueError(f"{archive} lacks {missing}; is it the python version of CIFAR-10?")
    return found


def _batch(data: bytes, name: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = load_pickle(data)
    pixels, labels = batch[b"data"], np.asarray(batch[b"labels"], dtype=np.int32)
    if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8
            and pixels.shape[1:] == (3 * 32 * 32,)):
        raise ValueError(f"{name}: b'data' should be a uint8 array (N, 3072), got "
                         f"{getattr(pixels, 'dtype', type(pixels))} {np.shape(pixels)}")
    if labels.shape != (len(pixels),) or np.any((labels < 0) | (labels >= num_classes)):
        raise ValueError(f"{name}: b'labels' should be {len(pixels)} class indices in "
                         f"[0, {num_classes}), got shape {labels.shape}")
    # Each row holds the R plane, then G, then B, each 32x32 row-major: NCHW, made NHWC here.
    images = np.ascontiguousarray(pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels
