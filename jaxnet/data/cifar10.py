"""CIFAR-10: 60,000 32x32 colour images in ten classes, from the official python-version archive.

The archive ``cifar-10-python.tar.gz`` holds the folder ``cifar-10-batches-py/`` with five
training batches, a test batch and ``batches.meta``, each a Python pickle. The members are read
straight from the archive (nothing is extracted, so no path in it can escape the cache), and the
pickles are read by ``CifarUnpickler``, which admits only the globals the format needs.
``cifar10_source`` converts the archive once to ``.npy`` files beside it and memory-maps them.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import warnings
from pathlib import Path

import numpy as np

from jaxnet.data.dataset import Dataset
from jaxnet.data.download import (
    MissingDataError,
    atomic_file,
    cache_dir,
    fetch_all,
    is_read_only,
    read_only_advice,
    remove_stale_parts,
)
from jaxnet.data.sources import SPLITS, ArraySource, checked_split, unit_pixels

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
CHECKSUMS = {ARCHIVE: "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"}
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
# The converted arrays, written by cifar10_source beside the archive.
NPY = {split: (f"{split}_images.npy", f"{split}_labels.npy") for split in SPLITS}


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
    arrays, class_names = _read_archive(paths[ARCHIVE])
    (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
    if not raw:
        x_train, x_test = (x.astype(np.float32) / np.float32(255.0) for x in (x_train, x_test))
    return Dataset("cifar10", x_train, y_train, x_test, y_test, class_names)


def cifar10_source(
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    raw: bool = False,
    timeout: float | None = None,
) -> ArraySource:
    """One split of CIFAR-10 as a source over files, read as training asks for examples.

    The first call fetches and verifies the archive as ``load_cifar10`` does and converts it to
    four ``.npy`` files beside it (``train_images.npy``, ``train_labels.npy``,
    ``test_images.npy``, ``test_labels.npy``; uint8 NHWC images and int32 labels), each written
    whole or not at all; later calls only memory-map them, without reading the archive. The
    conversion holds the set in memory once (about 180 MB); afterwards only the labels (to check
    them) and the rows asked for are read. A converted file that fails its checks (shape, dtype,
    labels) is written again from the archive, with a warning.

    Args:
        split: ``"train"`` (50,000 examples) or ``"test"`` (10,000).
        data_dir: the cache root; the files live in its ``cifar10/`` subfolder.
        download: whether a missing archive may be downloaded.
        raw: give uint8 pixels 0..255 instead of float32 in ``[0, 1]``.
        timeout: as for ``load_cifar10``.

    Returns:
        An [`ArraySource`][jaxnet.data.sources.ArraySource] of images ``(32, 32, 3)`` and int32
        labels, equal to ``load_cifar10``'s arrays of the split.
    """
    folder = cache_dir(data_dir) / "cifar10"
    split = checked_split(split)
    remove_stale_parts(folder, [name for names in NPY.values() for name in names])
    try:
        images, labels = _mapped(folder, split)
    except FileNotFoundError:
        _convert(folder, download, timeout)
        images, labels = _mapped(folder, split)
    except ValueError as error:
        warnings.warn(f"{error}; converting the archive again", stacklevel=2)
        _convert(folder, download, timeout)
        images, labels = _mapped(folder, split)
    return ArraySource(images, labels, transform=None if raw else unit_pixels)


def _mapped(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's converted arrays, memory-mapped and checked (the labels are read)."""
    images_path, labels_path = (folder / name for name in NPY[split])
    try:
        images = np.load(images_path, mmap_mode="r")
        labels = np.load(labels_path, mmap_mode="r")
    except (ValueError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{folder} holds a damaged converted file ({error})") from None
    if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"{images_path} should hold uint8 images (N, 32, 32, 3), got "
                         f"{images.dtype} {images.shape}")
    if labels.dtype != np.int32 or labels.shape != images.shape[:1]:
        raise ValueError(f"{labels_path} should hold {len(images)} int32 labels, got "
                         f"{labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= 10:
        raise ValueError(f"{labels_path} holds labels outside [0, 10)")
    return images, labels


def _convert(folder: Path, download: bool, timeout: float | None) -> None:
    """Writes the four ``.npy`` files from the verified archive, each through a temporary file."""
    paths = fetch_all(folder, CHECKSUMS, MIRRORS, download=download, timeout=timeout)
    arrays, _ = _read_archive(paths[ARCHIVE])
    try:
        for split, names in NPY.items():
            for name, array in zip(names, arrays[split]):
                with atomic_file(folder / name) as out:
                    np.save(out, array)
    except OSError as error:
        if not is_read_only(error):
            raise
        raise MissingDataError(f"cannot convert {ARCHIVE} to .npy files: "
                               f"{read_only_advice(folder, error)}.") from None


def _read_archive(archive) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[str, ...]]:
    """``({"train": (images, labels), "test": ...}, class_names)`` from the archive."""
    members = _read_members(archive, (*TRAIN_BATCHES, TEST_BATCH, META))
    meta = load_pickle(members[META])
    class_names = tuple(name.decode() for name in meta[b"label_names"])
    train = [_batch(members[name], name, len(class_names)) for name in TRAIN_BATCHES]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    test = _batch(members[TEST_BATCH], TEST_BATCH, len(class_names))
    return {"train": (x_train, y_train), "test": test}, class_names


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
