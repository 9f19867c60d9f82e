"""Data sets and input-pipeline helpers.

``load(name)`` returns a [`Dataset`][jaxnet.data.dataset.Dataset] of NumPy arrays with a fixed
train / test split; the pipeline helpers turn it into what a training loop needs.
``source(name, split)`` gives one split as an [`ArraySource`][jaxnet.data.sources.ArraySource]
that reads examples from files on demand, for data that need not fit in memory.

    >>> import jax, jaxnet as jn
    >>> ds = jn.data.load("digits")
    >>> x_train, x_test = jn.data.standardize(ds.x_train, ds.x_test)
    >>> xb, yb = next(jn.data.batches(x_train, ds.y_train, 128, key=jax.random.key(0)))
    >>> xb.shape, jn.data.one_hot(yb, ds.num_classes).shape
    ((128, 8, 8, 1), (128, 10))
"""

from jaxnet.data.augment import random_crop, random_flip, random_translate
from jaxnet.data.dataset import Dataset
from jaxnet.data.download import ChecksumError, MissingDataError
from jaxnet.data.pipeline import batches, one_hot, split, standardize
from jaxnet.data.registry import LOADERS, SOURCES, load, source
from jaxnet.data.sources import ArraySource

__all__ = [
    "LOADERS",
    "SOURCES",
    "ArraySource",
    "ChecksumError",
    "Dataset",
    "MissingDataError",
    "batches",
    "load",
    "one_hot",
    "random_crop",
    "random_flip",
    "random_translate",
    "source",
    "split",
    "standardize",
]
