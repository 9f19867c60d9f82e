"""``load`` and ``source``: every data set by name, through one function each."""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable

from jaxnet.data.cifar10 import cifar10_source, load_cifar10
from jaxnet.data.dataset import Dataset
from jaxnet.data.digits import load_digits
from jaxnet.data.mnist import fashion_mnist_source, load_fashion_mnist, load_mnist, mnist_source
from jaxnet.data.mnist1d import load_mnist1d
from jaxnet.data.sources import ArraySource, checked_split
from jaxnet.data.toy import load_circles, load_moons, load_spirals, load_xor

LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist1d": load_mnist1d,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "moons": load_moons,
    "circles": load_circles,
    "spirals": load_spirals,
    "xor": load_xor,
}
# The sets whose files a source reads in place; the others are loaded into memory.
SOURCES: dict[str, Callable[..., ArraySource]] = {
    "mnist": mnist_source,
    "fashion_mnist": fashion_mnist_source,
    "cifar10": cifar10_source,
}


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    *,
    timeout: float | None = None,
    **options,
) -> Dataset:
    """Loads a data set by name, with its fixed train / test split.

    Args:
        name: one of ``jaxnet.data.LOADERS``: ``"digits"``, ``"mnist1d"``, ``"mnist"``,
            ``"fashion_mnist"``, ``"cifar10"``, ``"moons"``, ``"circles"``, ``"spirals"``,
            ``"xor"``.
        data_dir: the cache folder for sets kept in files; default ``$JAXNET_DATA``, else
            ``$XDG_CACHE_HOME/jaxnet`` (``~/.cache/jaxnet``). Ignored by sets built in memory.
        download: whether missing files may be downloaded; ignored by sets that need none.
        timeout: seconds one file's download from one mirror may take before the next mirror
            is tried; default ``jaxnet.data.download.TIMEOUT`` (300). Ignored by sets that
            download nothing.
        **options: the set's own options, e.g. ``raw=True`` for uint8 images, or ``n_samples``,
            ``noise`` and ``seed`` for the 2-D toy sets.

    Returns:
        A [`Dataset`][jaxnet.data.dataset.Dataset].

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
        MissingDataError: files are missing and cannot be downloaded, or the cache folder is
            read-only.
        ChecksumError: a file fails verification and no good copy can be downloaded.

    Example:
        >>> import jaxnet as jn
        >>> ds = jn.data.load("digits")
        >>> ds.x_train.shape, ds.x_test.shape, ds.num_classes
        ((1437, 8, 8, 1), (360, 8, 8, 1), 10)
    """
    loader = LOADERS[_known(name)]
    accepted = inspect.signature(loader).parameters
    common = {"data_dir": data_dir, "download": download, "timeout": timeout}
    return loader(**{k: v for k, v in common.items() if k in accepted}, **options)


def source(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    raw: bool = False,
    timeout: float | None = None,
    **options,
) -> ArraySource:
    """One split of a data set as a source, for training on data that need not fit in memory.

    ``"mnist"``, ``"fashion_mnist"`` and ``"cifar10"`` are read in place: their files are
    prepared once in the cache (MNIST's gzip files decompressed beside themselves, CIFAR-10's
    archive converted to ``.npy`` files) and memory-mapped, so only the examples asked for are
    read, when they are asked for. Every other set is loaded with ``load`` and served from
    memory. Either way the examples equal ``load``'s: float32 pixels in ``[0, 1]`` (uint8 with
    ``raw=True``) and int32 labels.

    Args:
        name: one of ``jaxnet.data.LOADERS``.
        split: ``"train"`` or ``"test"``.
        data_dir: the cache root, as for ``load``.
        download: whether missing files may be downloaded.
        raw: give uint8 pixels (for the image sets) instead of float32 in ``[0, 1]``.
        timeout: as for ``load``.
        **options: the set's own options, for the sets loaded into memory (e.g. ``n_samples``).

    Returns:
        An [`ArraySource`][jaxnet.data.sources.ArraySource]: ``len(src)``, ``src[i]``,
        ``src.read(indices)``.

    Raises:
        ValueError: for an unknown name or split.
        MissingDataError: files are missing and cannot be downloaded, or a file must be written
            to a read-only cache folder.
        ChecksumError: a file fails verification and no good copy can be downloaded.

    Example:
        >>> import numpy as np, jaxnet as jn
        >>> src = jn.data.source("digits", "test")
        >>> src
        ArraySource(360 examples, x=float32[8,8,1], y=int32[])
        >>> xb, yb = src.read(np.array([5, 0]))
        >>> xb.shape, yb.dtype
        ((2, 8, 8, 1), dtype('int32'))
    """
    split = checked_split(split)
    if _known(name) in SOURCES:
        if options:
            raise TypeError(f"source({name!r}) takes no options {sorted(options)}")
        return SOURCES[name](split, data_dir=data_dir, download=download, raw=raw,
                             timeout=timeout)
    if raw:
        options["raw"] = raw
    ds = load(name, data_dir, download, timeout=timeout, **options)
    return ArraySource(*((ds.x_train, ds.y_train) if split == "train" else (ds.x_test, ds.y_test)))


def _known(name) -> str:
    if not isinstance(name, str) or name not in LOADERS:
        close = difflib.get_close_matches(str(name).lower(), LOADERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown data set {name!r}{hint}; known data sets: {sorted(LOADERS)}")
    return name
