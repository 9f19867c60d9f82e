"""Arrays in memory-mapped files: read rows from the file, pickle as where they lie.

Pages read through a mapping count in the process's resident memory until the kernel needs them
back; rows read with positioned reads do not. A view of a mapped file pickles as its file, offset,
shape and strides, so a worker process maps the file again instead of receiving its bytes.
"""

from __future__ import annotations

import dataclasses
import mmap
import os

import numpy as np


@dataclasses.dataclass(frozen=True)
class Mapped:
    """Where an array that views a memory-mapped file lies: the file, the mapped region (byte
    offset and size), and the view's start, shape, dtype and strides within the region."""

    filename: str
    offset: int
    nbytes: int
    start: int
    shape: tuple[int, ...]
    dtype: np.dtype
    strides: tuple[int, ...]

    @classmethod
    def of(cls, array: np.ndarray) -> Mapped | None:
        """The file region ``array`` views, or ``None`` when it holds its own memory."""
        root = array
        while not (isinstance(root, np.memmap) and isinstance(root.base, mmap.mmap)):
            root = getattr(root, "base", None)
            if root is None:
                return None
        if not root.filename or not array.size:
            return None
        start = array.ctypes.data - root.ctypes.data
        return cls(root.filename, root.offset, root.nbytes, start, array.shape, array.dtype,
                   array.strides)

    def open(self) -> np.ndarray:
        """Maps the region again (read-only) and views it as the array was."""
        region = np.memmap(self.filename, np.uint8, mode="r", offset=self.offset,
                           shape=(self.nbytes,))
        return np.ndarray(self.shape, self.dtype, buffer=region, offset=self.start,
                          strides=self.strides)


# Mapped regions up to this size are read through their mapping: a copy from memory, eight
# times faster than a system call per row for MNIST's 784-byte rows, at the cost of at most the
# region's size in resident memory. Larger ones are read with positioned reads.
READ_THROUGH_MAPPING = 256 * 2**20


def read_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` (``rows`` sorted, unique) as a new array. Rows of a large memory-mapped
    file are read with positioned reads (``os.preadv``, runs of consecutive rows at once)
    rather than through the mapping: pages touched through a mapping count in the process's
    resident memory until the kernel needs them back, so reading a large file through it would
    grow the process by the file's size; read, only the batch is held."""
    mapped = Mapped.of(array) if hasattr(os, "preadv") else None
    row_bytes = array.strides[0] if array.ndim else 0
    if mapped is None or mapped.nbytes <= READ_THROUGH_MAPPING or not rows.size \
            or not array[:1].flags.c_contiguous or row_bytes != array[0].nbytes:
        return np.asarray(array[rows])
    out = np.empty((len(rows), *array.shape[1:]), array.dtype)
    buffer = memoryview(out.reshape(-1).view(np.uint8))
    first = mapped.offset + mapped.start
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    with open(mapped.filename, "rb", buffering=0) as file:
        for begin, end in zip([0, *breaks.tolist()], [*breaks.tolist(), len(rows)]):
            part = buffer[begin * row_bytes:end * row_bytes]
            if os.preadv(file.fileno(), [part], first + int(rows[begin]) * row_bytes) \
                    != len(part):
                raise OSError(f"{mapped.filename} ended before row {int(rows[end - 1])}: was "
                              "it truncated after it was opened?")
    return out


def pickled(array: np.ndarray):
    """A view of a mapped file is pickled as where it lies; any other array as itself."""
    return Mapped.of(array) or array


def unpickled(leaf):
    return leaf.open() if isinstance(leaf, Mapped) else leaf


def open_npy(path: str | os.PathLike) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r")
    except ValueError as error:
        raise ValueError(f"{path} is not a .npy file of plain values ({error})") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise ValueError(f"{path} is an .npz archive; from_npy reads .npy files (np.save's "
                         f"format), one array each")
    return array
