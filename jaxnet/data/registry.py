"""``load``: every data set by name, through one function."""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable

from jaxnet.data.cifar10 import load_cifar10
from jaxnet.data.dataset import Dataset
from jaxnet.data.digits import load_digits
from jaxnet.data.mnist import load_fashion_mnist, load_mnist
from jaxnet.data.mnist1d import load_mnist1d
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
    if not isinstance(name, str) or name not in LOADERS:
        close = difflib.get_close_matches(str(name).lower(), LOADERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown data set {name!r}{hint}; known data sets: {sorted(LOADERS)}")
    loader = LOADERS[name]
    accepted = inspect.signature(loader).parameters
    common = {"data_dir": data_dir, "download": download, "timeout": timeout}
    return loader(**{k: v for k, v in common.items() if k in accepted}, **options)
