"""Random access to examples that need not be in memory: ``ArraySource``.

A *source* is any object with ``len(source)`` and ``source[i] -> (x_i, y_i)``, Grain's
``RandomAccessDataSource`` protocol (so ``grain.MapDataset.source(source)`` works on one), with an
optional batched read ``source.read(indices) -> (x_batch, y_batch)`` that training uses. An
``ArraySource`` serves arrays, or pytrees of arrays, that may be NumPy memory maps of files on disk:
only the rows asked for are read, and a host-side transform (uint8 pixels to floats, flattening)
runs on each batch as it is read.
"""

from __future__ import annotations

import dataclasses
import operator
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxnet.data.mapped import Mapped, open_npy, pickled, read_rows, unpickled

Transform = Callable[[Any, Any], tuple[Any, Any]]
SPLITS = ("train", "test")


def unit_pixels(x, y):
    """uint8 pixels 0..255 to float32 in ``[0, 1]`` (as ``jn.data.load`` gives them), labels to
    int32: a transform for [`ArraySource`][jaxnet.data.sources.ArraySource]."""
    return np.divide(x, np.float32(255.0), dtype=np.float32), y.astype(np.int32, copy=False)


def int32_labels(x, y):
    """Labels to int32, inputs as they are: a transform for
    [`ArraySource`][jaxnet.data.sources.ArraySource]."""
    return x, y.astype(np.int32, copy=False)


def checked_split(split) -> str:
    """``split`` when it names one of ``SPLITS``, else a ValueError that lists them."""
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return split


class ArraySource:
    """Examples ``(x[i], y[i])`` read on demand from arrays, memory-mapped files included.

    ``x`` and ``y`` are NumPy arrays, or pytrees (tuples, dicts, ...) of them, whose leaves share
    the first axis, the example axis. Memory maps (``np.memmap``, ``np.load(path,
    mmap_mode="r")``) stay on disk: a read reads only the rows it asks for, from the file, so
    the process holds the batch and never the file. A source is
    immutable; ``map`` gives a new one. It pickles small when its arrays are memory maps (each
    is pickled as its file, offset, shape and strides, and mapped again where it is unpickled), so
    Grain's worker processes open the files rather than receive copies of them.

    Args:
        x: the inputs: an array ``(N, ...)`` or a pytree of such arrays.
        y: the targets: an array ``(N, ...)`` or a pytree of such arrays.
        transform: ``transform(x_batch, y_batch) -> (x_batch, y_batch)``, applied on the host to
            every batch as it is read (and to a batch of one for ``source[i]``); ``None`` for
            none. It sees NumPy arrays with a leading batch axis. Keep it a module-level function
            (or a ``functools.partial`` of one) for the source to pickle.

    Raises:
        TypeError: a leaf is not an array, or ``transform`` is not callable.
        ValueError: a leaf has no first axis, the leaves' first axes differ (the message names
            both leaves and their lengths), or there are no examples.

    Example:
        >>> import numpy as np, jaxnet as jn
        >>> x = np.arange(20, dtype=np.uint8).reshape(5, 2, 2)
        >>> src = jn.data.ArraySource(x, np.array([0, 1, 2, 3, 4]))
        >>> len(src)
        5
        >>> xb, yb = src.read(np.array([3, 1, 3]))
        >>> yb
        array([3, 1, 3])
        >>> src = src.map(jn.data.sources.unit_pixels)
        >>> src
        ArraySource(5 examples, x=uint8[2,2], y=int64[], transform=unit_pixels)
        >>> x1, y1 = src[1]
        >>> x1.dtype, x1.shape, int(y1), y1.dtype
        (dtype('float32'), (2, 2), 1, dtype('int32'))
    """

    __slots__ = ("_length", "_transform", "_x", "_y")

    def __init__(self, x, y, *, transform: Transform | None = None):
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a function (x_batch, y_batch) -> (x_batch, "
                            f"y_batch) or None, got {type(transform).__name__}")
        self._x = _arrays(x, "x")
        self._y = _arrays(y, "y")
        self._transform = transform
        self._length = _common_length(self._x, self._y)

    @classmethod
    def from_npy(cls, x_path: str | os.PathLike, y_path: str | os.PathLike, *,
                 transform: Transform | None = None) -> ArraySource:
        """A source over two ``.npy`` files (``np.save``'s format), memory-mapped read-only: only
        their headers are read now.

        Args:
            x_path: the inputs' file, an array ``(N, ...)``.
            y_path: the targets' file, an array ``(N, ...)``.
            transform: as for ``ArraySource``.

        Example:
            >>> import tempfile, pathlib, numpy as np, jaxnet as jn
            >>> folder = pathlib.Path(tempfile.mkdtemp())
            >>> np.save(folder / "x.npy", np.ones((1000, 3), np.float32))
            >>> np.save(folder / "y.npy", np.zeros(1000, np.int32))
            >>> src = jn.data.ArraySource.from_npy(folder / "x.npy", folder / "y.npy")
            >>> src
            ArraySource(1000 examples, x=float32[3] in x.npy, y=int32[] in y.npy)
            >>> x0, y0 = src.example()
            >>> x0, int(y0)
            (array([1., 1., 1.], dtype=float32), 0)
        """
        return cls(open_npy(x_path), open_npy(y_path), transform=transform)

    @property
    def x(self):
        """The inputs, as given (memory maps stay memory maps)."""
        return self._x

    @property
    def y(self):
        """The targets, as given."""
        return self._y

    @property
    def transform(self) -> Transform | None:
        """The transform applied to each batch read, or ``None``."""
        return self._transform

    def __len__(self) -> int:
        return self._length

    def read(self, indices) -> tuple[Any, Any]:
        """Reads a batch of examples, transformed.

        Each array is indexed once, with the sorted unique indices (so a memory map is read in
        file order, each row once), and the rows are then put in the order asked for.

        Args:
            indices: a 1-D integer array of example indices in ``[0, len(self))``, in any order,
                repeats allowed.

        Returns:
            ``(x_batch, y_batch)``: NumPy arrays (pytrees as ``x`` and ``y`` are) whose first
            axis follows ``indices``, after the transform.

        Raises:
            TypeError: ``indices`` are not integers.
            ValueError: ``indices`` are not 1-D.
            IndexError: an index lies outside ``[0, len(self))``.
        """
        indices = self._checked(indices)
        if np.all(indices[1:] > indices[:-1]):
            x, y = jax.tree.map(lambda a: read_rows(a, indices), (self._x, self._y))
        else:
            unique, inverse = np.unique(indices, return_inverse=True)
            x, y = jax.tree.map(lambda a: read_rows(a, unique)[inverse], (self._x, self._y))
        if self._transform is None:
            return x, y
        return _apply(self._transform, x, y)

    def __getitem__(self, index) -> tuple[Any, Any]:
        """Example ``index`` as ``(x_i, y_i)``, transformed (as a batch of one, then unbatched);
        negative indices count from the end, as for a sequence."""
        if isinstance(index, bool | np.bool_):
            raise TypeError(f"an example index must be an integer, got {index!r}")
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"an example index must be an integer, got "
                            f"{type(index).__name__}") from None
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"example index {i} is out of range for a source of {n} examples")
        batch = self.read(np.array([i % n]))
        return jax.tree.map(lambda a: a[0], batch)

    def example(self) -> tuple[Any, Any]:
        """The first example, ``self[0]``: what one transformed example looks like (its shapes
        and dtypes). It reads one row of each array."""
        return self[0]

    def map(self, fn: Transform) -> ArraySource:
        """A new source that applies ``fn(x_batch, y_batch) -> (x_batch, y_batch)`` after this
        one's transform; this one is unchanged.

        Example:
            >>> import numpy as np, jaxnet as jn
            >>> def flatten(x, y):
            ...     return x.reshape(len(x), -1), y
            >>> src = jn.data.ArraySource(np.zeros((4, 2, 3), np.uint8), np.arange(4))
            >>> src.map(jn.data.sources.unit_pixels).map(flatten).read(np.array([0, 2]))[0].shape
            (2, 6)
        """
        if not callable(fn):
            raise TypeError(f"map needs a function (x_batch, y_batch) -> (x_batch, y_batch), "
                            f"got {type(fn).__name__}")
        if self._transform is None:
            transform = fn
        elif isinstance(self._transform, Chain):
            transform = Chain((*self._transform.transforms, fn))
        else:
            transform = Chain((self._transform, fn))
        return ArraySource(self._x, self._y, transform=transform)

    def __repr__(self) -> str:
        transform = "" if self._transform is None else f", transform={_name(self._transform)}"
        return (f"ArraySource({len(self)} examples, x={_describe(self._x)}, "
                f"y={_describe(self._y)}{transform})")

    def __getstate__(self):
        return jax.tree.map(pickled, (self._x, self._y)), self._transform

    def __setstate__(self, state):
        (x, y), self._transform = state
        self._x, self._y = jax.tree.map(unpickled, (x, y),
                                        is_leaf=lambda a: isinstance(a, Mapped))
        self._length = _common_length(self._x, self._y)

    def _checked(self, indices) -> np.ndarray:
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
        if indices.ndim != 1:
            raise ValueError(f"indices must be a 1-D array, got shape {indices.shape}")
        n = len(self)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"indices must lie in [0, {n}) for a source of {n} examples, got "
                             f"values from {indices.min()} to {indices.max()}")
        return indices


class Chain:
    """Transforms applied one after another: ``Chain((f, g))(x, y)`` is ``g(*f(x, y))``.

    It is what ``ArraySource.map`` builds; it pickles when each of its transforms does.
    """

    __slots__ = ("transforms",)

    def __init__(self, transforms):
        self.transforms = tuple(transforms)

    def __call__(self, x, y):
        for transform in self.transforms:
            x, y = _apply(transform, x, y)
        return x, y

    def __getstate__(self):
        return self.transforms

    def __setstate__(self, state):
        self.transforms = state

    def __repr__(self) -> str:
        return " -> ".join(_name(t) for t in self.transforms)


def _apply(transform: Transform, x, y) -> tuple[Any, Any]:
    out = transform(x, y)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"transform {_name(transform)} must return a pair (x_batch, y_batch), "
                        f"got {type(out).__name__}")
    return out


def _name(transform) -> str:
    if isinstance(transform, Chain):
        return repr(transform)
    return getattr(transform, "__qualname__", None) or repr(transform)


def _arrays(tree, what: str):
    """The pytree with JAX arrays made NumPy arrays; anything else than an array with a first
    axis is refused, naming its path."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    if not leaves:
        raise TypeError(f"{what} must be an array (N, ...) or a pytree of arrays, got "
                        f"{type(tree).__name__} with no arrays in it")
    checked = []
    for path, leaf in leaves:
        name = what + jax.tree_util.keystr(path)
        if isinstance(leaf, jax.Array):
            leaf = np.asarray(leaf)
        if not isinstance(leaf, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array (a memory map, or an array in "
                            f"memory) with the examples along its first axis, got "
                            f"{type(leaf).__name__}; pass np.asarray(...) of it")
        if leaf.ndim == 0:
            raise ValueError(f"{name} must have a first axis, the examples, got a scalar array")
        checked.append(leaf)
    return jax.tree.unflatten(treedef, checked)


def _common_length(x, y) -> int:
    named = [("x" + jax.tree_util.keystr(path), len(leaf))
             for path, leaf in jax.tree_util.tree_flatten_with_path(x)[0]]
    named += [("y" + jax.tree_util.keystr(path), len(leaf))
              for path, leaf in jax.tree_util.tree_flatten_with_path(y)[0]]
    first, n = named[0]
    for name, length in named[1:]:
        if length != n:
            raise ValueError(f"{first} holds {n} examples but {name} holds {length}; every "
                             f"array of a source holds the same number of examples")
    if n == 0:
        raise ValueError(f"a source needs at least one example, but {first} holds 0")
    return n


def _describe(tree) -> str:
    if isinstance(tree, np.ndarray):
        return repr(_Leaf(tree))
    return repr(jax.tree.map(_Leaf, tree))


@dataclasses.dataclass(frozen=True)
class _Leaf:
    """One array as a source's repr shows it: dtype, the shape of one example, its file."""

    array: np.ndarray

    def __repr__(self) -> str:
        text = f"{self.array.dtype.name}[{','.join(map(str, self.array.shape[1:]))}]"
        mapped = Mapped.of(self.array)
        return text if mapped is None else f"{text} in {os.path.basename(mapped.filename)}"
