"""MNIST and Fashion-MNIST: 70,000 28x28 grey images each, in IDX files, downloaded once.

Checksums are the sha256 values tensorflow-datasets publishes; the mirrors are those of
tensorflow-datasets, torchvision and Keras. Both tables are module constants, read at each call.
``load_*`` read a whole set into memory; ``*_source`` give one split as an
[`ArraySource`][jaxnet.data.sources.ArraySource] over memory-mapped, uncompressed copies of the
files.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from jaxnet.data.dataset import Dataset
from jaxnet.data.download import cache_dir, fetch_all, gunzip_once
from jaxnet.data.idx import map_idx, read_idx
from jaxnet.data.sources import ArraySource, checked_split, int32_labels, unit_pixels

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"

MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_CHECKSUMS = {
    TRAIN_IMAGES: "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    TRAIN_LABELS: "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    TEST_IMAGES: "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    TEST_LABELS: "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

FASHION_MIRRORS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
FASHION_CHECKSUMS = {
    TRAIN_IMAGES: "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    TRAIN_LABELS: "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    TEST_IMAGES: "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    TEST_LABELS: "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
SPLITS = {"train": (TRAIN_IMAGES, TRAIN_LABELS), "test": (TEST_IMAGES, TEST_LABELS)}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


def load_mnist(
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    raw: bool = False,
    timeout: float | None = None,
) -> Dataset:
    """MNIST handwritten digits: 60,000 training and 10,000 test images, classes "0".."9".

    Args:
        data_dir: the cache root; the files live in its ``mnist/`` subfolder.
        download: whether missing files may be downloaded.
        raw: give uint8 pixels 0..255 instead of float32 in ``[0, 1]``.
        timeout: seconds one file's download from one mirror may take before the next mirror
            is tried (default ``jaxnet.data.download.TIMEOUT``, 300).

    Returns:
        A [`Dataset`][jaxnet.data.dataset.Dataset] of images ``(N, 28, 28, 1)`` and int32 labels.
    """
    names = tuple(str(i) for i in range(10))
    return _load("mnist", MNIST_CHECKSUMS, MNIST_MIRRORS, names, data_dir, download, raw,
                 timeout)


def load_fashion_mnist(
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    raw: bool = False,
    timeout: float | None = None,
) -> Dataset:
    """Fashion-MNIST: Zalando's clothing images in MNIST's format and sizes, ten classes.

    Args:
        data_dir: the cache root; the files live in its ``fashion_mnist/`` subfolder.
        download: whether missing files may be downloaded.
        raw: give uint8 pixels 0..255 instead of float32 in ``[0, 1]``.
        timeout: seconds one file's download from one mirror may take before the next mirror
            is tried (default ``jaxnet.data.download.TIMEOUT``, 300).

    Returns:
        A [`Dataset`][jaxnet.data.dataset.Dataset] of images ``(N, 28, 28, 1)`` and int32 labels.
    """
    return _load("fashion_mnist", FASHION_CHECKSUMS, FASHION_MIRRORS, FASHION_CLASSES,
                 data_dir, download, raw, timeout)


def mnist_source(
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    raw: bool = False,
    timeout: float | None = None,
) -> ArraySource:
    """One split of MNIST as a source over its files, read as training asks for examples.

    The split's two ``.gz`` files are fetched and verified as ``load_mnist`` does, decompressed
    once beside themselves (``train-images-idx3-ubyte`` ...; checked against the gzip trailer's
    CRC-32 at each call), and memory-mapped: only the labels (to check them) and the rows asked
    for are ever read.

    Args:
        split: ``"train"`` (60,000 examples) or ``"test"`` (10,000).
        data_dir: the cache root; the files live in its ``mnist/`` subfolder.
        download: whether missing files may be downloaded.
        raw: give uint8 pixels 0..255 instead of float32 in ``[0, 1]``.
        timeout: as for ``load_mnist``.

    Returns:
        An [`ArraySource`][jaxnet.data.sources.ArraySource] of images ``(28, 28, 1)`` and int32
        labels, equal to ``load_mnist``'s arrays of the split.
    """
    return _source("mnist", MNIST_CHECKSUMS, MNIST_MIRRORS, 10, split, data_dir, download, raw,
                   timeout)


def fashion_mnist_source(
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    raw: bool = False,
    timeout: float | None = None,
) -> ArraySource:
    """One split of Fashion-MNIST as a source over its files; as ``mnist_source``, with the
    ``fashion_mnist/`` subfolder of the cache root."""
    return _source("fashion_mnist", FASHION_CHECKSUMS, FASHION_MIRRORS, len(FASHION_CLASSES),
                   split, data_dir, download, raw, timeout)


def _source(name, checksums, mirrors, num_classes, split, data_dir, download, raw,
            timeout) -> ArraySource:
    images_name, labels_name = SPLITS[checked_split(split)]
    paths = fetch_all(cache_dir(data_dir) / name,
                      {file: checksums[file] for file in (images_name, labels_name)}, mirrors,
                      download=download, timeout=timeout)
    images_path, labels_path = gunzip_once(paths[images_name]), gunzip_once(paths[labels_name])
    images, labels = map_idx(images_path), map_idx(labels_path)
    _check_pair(images, labels, images_path, labels_path, num_classes)
    return ArraySource(images[..., None], labels,
                       transform=int32_labels if raw else unit_pixels)


def _load(name, checksums, mirrors, class_names, data_dir, download, raw, timeout) -> Dataset:
    paths = fetch_all(cache_dir(data_dir) / name, checksums, mirrors, download=download,
                      timeout=timeout)
    x_train, y_train = _pair(paths[TRAIN_IMAGES], paths[TRAIN_LABELS], len(class_names))
    x_test, y_test = _pair(paths[TEST_IMAGES], paths[TEST_LABELS], len(class_names))
    if not raw:
        x_train, x_test = (scaled(x) for x in (x_train, x_test))
    return Dataset(name, x_train, y_train, x_test, y_test, class_names)


def scaled(images: np.ndarray) -> np.ndarray:
    """uint8 ``images`` as float32 in ``[0, 1]``, in 64-byte aligned memory: JAX on a CPU takes
    such an array without a copy (``jax.device_put``), so training holds the data set once."""
    out = aligned_empty(images.shape, np.float32)
    return np.divide(images, np.float32(255.0), out=out, dtype=np.float32)


def aligned_empty(shape: tuple[int, ...], dtype: Any, alignment: int = 64) -> np.ndarray:
    """An uninitialised array whose data start at a multiple of ``alignment`` bytes."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    buffer = np.empty(nbytes + alignment, np.uint8)
    start = -buffer.ctypes.data % alignment
    return buffer[start:start + nbytes].view(dtype).reshape(shape)


def _pair(images_path, labels_path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    _check_pair(images, labels, images_path, labels_path, num_classes)
    return images[..., None], labels.astype(np.int32)


def _check_pair(images, labels, images_path, labels_path, num_classes: int) -> None:
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"{images_path} should hold uint8 images (N, rows, cols), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_path} should hold uint8 labels (N,), "
                         f"got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                         f"{len(labels)} labels")
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"{labels_path} holds label {labels.max()}; there are {num_classes} "
                         f"classes")
