"""Bad inputs of the data sets and the input pipeline, with the errors they must give.

Cases that need files build them in the folder they are given, in the official formats, and
serve them through ``file://`` URLs or a local HTTP server; none reaches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
from pathlib import Path

import jax
import numpy as np
from bad_inputs import Case
from files import idx_bytes, read_only, trickling_server

import jaxnet as jn
from jaxnet.data import cifar10, mnist
from jaxnet.data.download import ChecksumError, MissingDataError, fetch_all
from jaxnet.data.idx import parse_idx, read_idx

CONTENT = b"official bytes " * 100


def _checksum(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _mirror(folder: Path, data: bytes = CONTENT) -> str:
    """A folder served as a mirror through a file:// URL, holding ``a.gz``."""
    (folder / "mirror").mkdir()
    (folder / "mirror" / "a.gz").write_bytes(data)
    return (folder / "mirror").as_uri() + "/"


def _damaged_mnist_in_cache(folder: Path):
    for name in mnist.MNIST_CHECKSUMS:
        (folder / "mnist").mkdir(exist_ok=True)
        (folder / "mnist" / name).write_bytes(b"not MNIST")
    return jn.data.load("mnist", data_dir=folder, download=False)


def _truncated_download(folder: Path):
    mirror = _mirror(folder, CONTENT[:100])
    return fetch_all(folder / "cache", {"a.gz": _checksum(CONTENT)}, [mirror], download=True)


def _truncated_idx(folder: Path):
    data = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    (folder / "images.gz").write_bytes(gzip.compress(data[:1000]))
    return read_idx(folder / "images.gz")


def _read_only_cache(folder: Path):
    with read_only(folder / "cache"):
        return jn.data.load("mnist", data_dir=folder / "cache")


def _slow_mirror(folder: Path):
    with trickling_server(CONTENT) as url:
        return fetch_all(folder, {"a.gz": _checksum(CONTENT)}, [url], download=True,
                         timeout=0.2)


def _not_mnist1d_in_cache(folder: Path):
    (folder / "mnist1d").mkdir()
    (folder / "mnist1d" / "mnist1d.npz").write_bytes(b"not an npz file")
    return jn.data.load("mnist1d", data_dir=folder)


class _Exploit:
    def __reduce__(self):
        return (print, ("a pickle ran code",))


def _nan_dataset(folder: Path):
    x = np.zeros((4, 2), np.float32)
    x[2, 1] = np.nan
    return jn.data.Dataset("mine", x, np.zeros(4, np.int32), x[:2], np.zeros(2, np.int32),
                           ("a",))


def _npz_for_from_npy(folder: Path):
    np.savez(folder / "x.npz", x=X)
    np.save(folder / "y.npy", Y)
    return jn.data.ArraySource.from_npy(folder / "x.npz", folder / "y.npy")


def _read_only_mnist_source(folder: Path):
    (folder / "mnist").mkdir()
    checksums = {}
    for name, shape in ((mnist.TRAIN_IMAGES, (2, 28, 28)), (mnist.TRAIN_LABELS, (2,))):
        data = gzip.compress(idx_bytes(np.zeros(shape, np.uint8)))
        (folder / "mnist" / name).write_bytes(data)
        checksums[name] = _checksum(data)
    saved = mnist.MNIST_CHECKSUMS
    mnist.MNIST_CHECKSUMS = checksums
    try:
        with read_only(folder / "mnist"):
            return jn.data.source("mnist", data_dir=folder)
    finally:
        mnist.MNIST_CHECKSUMS = saved


def x_only(x, y):
    return x


X, Y = np.zeros((10, 3), np.float32), np.arange(10)

CASES = [
    Case("data", '`jn.data.load("imagenet")`', ValueError,
         "unknown data set 'imagenet'; known data sets",
         lambda tmp: jn.data.load("imagenet")),
    Case("data", '`jn.data.load("MNIST")` (a close name)', ValueError,
         "did you mean 'mnist'",
         lambda tmp: jn.data.load("MNIST")),
    Case("data", '`jn.data.load("digits", size=3)` (an option the set does not take)', TypeError,
         "size",
         lambda tmp: jn.data.load("digits", size=3)),
    Case("data", "a file in the cache that fails its published checksum, with `download=False`",
         ChecksumError,
         "failed verification: expected sha256 .* got .* moved aside to "
         "train-images-idx3-ubyte.gz.corrupt",
         _damaged_mnist_in_cache),
    Case("data", "a download that arrives truncated (every mirror)", ChecksumError,
         "failed verification: .*a truncated or corrupt download.*nothing was saved",
         _truncated_download),
    Case("data", "an IDX file shorter than its header says (checksum matching)", ValueError,
         "is truncated: its header promises shape",
         _truncated_idx),
    Case("data", "bytes that are not an IDX file", ValueError,
         "is not an IDX file: its magic number",
         lambda tmp: parse_idx(b"\x1f\x8b\x08\x00")),
    Case("data", "missing files with `download=False`", MissingDataError,
         "missing train-images-idx3-ubyte.gz, .* and download=False",
         lambda tmp: jn.data.load("mnist", data_dir=tmp, download=False)),
    Case("data", "an unreachable mirror", MissingDataError,
         "missing a.gz in .* the download failed",
         lambda tmp: fetch_all(tmp, {"a.gz": _checksum(CONTENT)}, [(tmp / "gone").as_uri() + "/"],
                               download=True)),
    Case("data", "a mirror slower than the time limit (`timeout=`)", MissingDataError,
         "took longer than 0.2 s, the time limit of one download",
         _slow_mirror),
    Case("data", "a read-only cache folder", MissingDataError,
         "the cache folder .* is read-only \\(not writable.* pass data_dir=",
         _read_only_cache),
    Case("data", '`jn.data.load("mnist", timeout=0)`', ValueError,
         "timeout must be a finite number > 0, got 0",
         lambda tmp: jn.data.load("mnist", data_dir=tmp, timeout=0)),
    Case("data", "a cached `mnist1d.npz` that is not MNIST-1D", UserWarning,
         "is not MNIST-1D: it is not a readable .npz file.* generating MNIST-1D again",
         _not_mnist1d_in_cache, warns=True),
    Case("data", "a CIFAR batch whose pickle calls a function", pickle.UnpicklingError,
         "refusing to load global builtins.print",
         lambda tmp: cifar10.load_pickle(pickle.dumps({b"data": _Exploit()}))),
    Case("data", "a `Dataset` holding NaN values", ValueError,
         "mine: x_train holds 1 NaN or infinite values \\(of 8\\)",
         _nan_dataset),
    Case("data", '`jn.data.load("moons", n_samples=100.0)`', TypeError,
         "n_samples must be an integer, got 100.0",
         lambda tmp: jn.data.load("moons", n_samples=100.0)),
    Case("data", '`jn.data.load("circles", noise=-0.1)`', ValueError,
         "noise must be a finite number >= 0, got -0.1",
         lambda tmp: jn.data.load("circles", noise=-0.1)),
    Case("data", "`jn.data.split(x, y, 1.5)`", ValueError,
         "fraction must be a number strictly between 0 and 1",
         lambda tmp: jn.data.split(X, Y, 1.5)),
    Case("data", "`jn.data.split(x, y, 0.01)` on 10 examples", ValueError,
         "gives parts of 10 and 0; both must be non-empty",
         lambda tmp: jn.data.split(X, Y, 0.01)),
    Case("data", "`jn.data.split` of 10 inputs and 9 labels", ValueError,
         "x holds 10 examples but y holds 9",
         lambda tmp: jn.data.split(X, Y[:9], 0.5)),
    Case("data", "`jn.data.batches(x, y, 0)`", ValueError,
         "batch_size must be an integer >= 1, got 0",
         lambda tmp: jn.data.batches(X, Y, 0)),
    Case("data", "`jn.data.batches(x, y, 2.5)`", TypeError,
         "batch_size must be an integer, got 2.5",
         lambda tmp: jn.data.batches(X, Y, 2.5)),
    Case("data", "`jn.data.batches` with `batch_size` above N and `drop_last=True`", ValueError,
         "batch_size=11 exceeds the 10 examples, so drop_last=True would give no batch",
         lambda tmp: jn.data.batches(X, Y, 11)),
    Case("data", "`jn.data.one_hot([0, 3], 3)`", ValueError,
         "labels must lie in \\[0, 3\\) for 3 classes, got values from 0 to 3",
         lambda tmp: jn.data.one_hot(np.array([0, 3]), 3)),
    Case("data", "`jn.data.one_hot` of float labels", TypeError,
         "one_hot needs integer labels, got dtype float64",
         lambda tmp: jn.data.one_hot(np.array([0.0, 1.0]), 3)),
    Case("data", "`jn.data.standardize` of data holding NaN", ValueError,
         "standardize: train holds 1 NaN or infinite values",
         lambda tmp: jn.data.standardize(np.array([[0.0], [np.nan]]))),
    Case("data", "`jn.data.standardize` of arrays whose examples differ in shape", ValueError,
         "array 1 has examples of shape \\(3,\\) but the training examples have shape \\(2,\\)",
         lambda tmp: jn.data.standardize(np.zeros((4, 2)), np.zeros((4, 3)))),
    Case("data", "`jn.data.random_crop` larger than the padded image", ValueError,
         "crop size \\(40, 40\\) does not fit images of \\(32, 32\\) padded by 2",
         lambda tmp: jn.data.random_crop(jax.random.key(0), np.zeros((1, 32, 32, 3)), 40,
                                         padding=2)),
    Case("data", "`jn.data.ArraySource` of 10 inputs and 9 labels", ValueError,
         "x holds 10 examples but y holds 9; every array of a source holds the same number",
         lambda tmp: jn.data.ArraySource(X, Y[:9])),
    Case("data", "`jn.data.ArraySource` of a dict whose arrays differ in length", ValueError,
         "x\\['image'\\] holds 10 examples but x\\['mask'\\] holds 8",
         lambda tmp: jn.data.ArraySource({"image": X, "mask": X[:8]}, Y)),
    Case("data", "`jn.data.ArraySource` of no examples", ValueError,
         "a source needs at least one example, but x holds 0",
         lambda tmp: jn.data.ArraySource(X[:0], Y[:0])),
    Case("data", "`jn.data.ArraySource` of a Python list", TypeError,
         "x\\[0\\] must be a NumPy array .* got float; pass np.asarray",
         lambda tmp: jn.data.ArraySource([0.0, 1.0], Y[:2])),
    Case("data", "`ArraySource.read` of an index past the end", IndexError,
         "indices must lie in \\[0, 10\\) for a source of 10 examples, got values from 2 to "
         "10",
         lambda tmp: jn.data.ArraySource(X, Y).read(np.array([2, 10]))),
    Case("data", "`ArraySource.read` of float indices", TypeError,
         "indices must be an integer array, got dtype float64",
         lambda tmp: jn.data.ArraySource(X, Y).read(np.array([1.0]))),
    Case("data", "`source[10]` of a source of 10 examples", IndexError,
         "example index 10 is out of range for a source of 10 examples",
         lambda tmp: jn.data.ArraySource(X, Y)[10]),
    Case("data", "an `ArraySource` transform that returns one array", TypeError,
         "transform x_only must return a pair \\(x_batch, y_batch\\), got ndarray",
         lambda tmp: jn.data.ArraySource(X, Y, transform=x_only)[0]),
    Case("data", "`ArraySource.from_npy` of an `.npz` file", ValueError,
         "x.npz is an .npz archive; from_npy reads .npy files",
         _npz_for_from_npy),
    Case("data", '`jn.data.source("mnist", "validation")`', ValueError,
         "split must be one of \\['train', 'test'\\], got 'validation'",
         lambda tmp: jn.data.source("mnist", "validation", data_dir=tmp)),
    Case("data", '`jn.data.source("mnist")` with a read-only cache holding only the `.gz` files',
         MissingDataError,
         "cannot decompress train-images-idx3-ubyte.gz .* the cache folder .* is read-only",
         _read_only_mnist_source),
    Case("data", "`jn.data.random_flip` of one image without a batch axis", ValueError,
         "augmentation expects a batch of images \\(N, H, W, C\\)",
         lambda tmp: jn.data.random_flip(jax.random.key(0), np.zeros((32, 32, 3)))),
]
