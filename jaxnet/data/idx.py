"""The IDX format of MNIST and Fashion-MNIST: a small header, then one array in C order.

Header: two zero bytes, a dtype code byte, the number of dimensions ``d``, then ``d`` big-endian
uint32 sizes; the data follows, big-endian, last index fastest. MNIST images have the magic
number ``0x00000803`` (2051: uint8, 3 dimensions), labels ``0x00000801`` (2049: uint8, 1).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# The longest header: the magic number and 255 sizes.
MAX_HEADER = 4 + 4 * 255


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file, gzip-compressed or not.

    Raises:
        ValueError: the file is not IDX, or is truncated (its size differs from the header's).
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise ValueError(f"{path} is a truncated or damaged gzip file ({error})") from None
    return parse_idx(data, source=str(path))


def parse_idx(data: bytes, source: str = "IDX data") -> np.ndarray:
    """Parses the bytes of an (uncompressed) IDX file into an array in native byte order.

    Example:
        >>> from jaxnet.data.idx import parse_idx
        >>> parse_idx(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6)))
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)
    """
    dtype, shape, offset = idx_layout(data, len(data), source)
    array = np.frombuffer(data, dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def map_idx(path: str | os.PathLike) -> np.memmap:
    """Memory-maps an uncompressed IDX file, read-only: only its header is read now, and rows
    are read from disk when they are indexed.

    Returns:
        A ``np.memmap`` of the file's shape, in its byte order (big-endian; for uint8 the same).

    Raises:
        ValueError: the file is not IDX, or its size differs from the header's.

    Example:
        >>> import tempfile, pathlib
        >>> from jaxnet.data.idx import map_idx
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a"
        >>> _ = path.write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6)))
        >>> map_idx(path)[1]
        memmap([3, 4, 5], dtype=uint8)
    """
    with open(path, "rb") as f:
        head = f.read(MAX_HEADER)
        size = os.fstat(f.fileno()).st_size
    dtype, shape, offset = idx_layout(head, size, str(path))
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def idx_layout(head: bytes, size: int, source: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """Reads an IDX header and checks the data's size against it.

    Args:
        head: the file's first bytes (``MAX_HEADER`` of them cover any header), or all of it.
        size: the whole file's size in bytes.
        source: what the bytes are, for error messages.

    Returns:
        ``(dtype, shape, offset)``: the data's dtype (big-endian), its shape, and the header's
        size in bytes, where the data begins.

    Raises:
        ValueError: the magic number is not IDX's, the header is cut short, or ``size`` differs
            from the header size plus the data's size.
    """
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in DTYPES:
        raise ValueError(f"{source} is not an IDX file: its magic number {head[:4].hex()} should "
                         f"be two zero bytes, a dtype code in "
                         f"{[hex(c) for c in DTYPES]} and a dimension count")
    ndim = head[3]
    offset = 4 + 4 * ndim
    if len(head) < offset:
        raise ValueError(f"{source} is truncated: it ends inside its {offset}-byte header")
    shape = struct.unpack(f">{ndim}I", head[4:offset])
    dtype = np.dtype(DTYPES[head[2]])
    expected = offset + math.prod(shape) * dtype.itemsize
    if size != expected:
        kind = "truncated" if size < expected else "longer than its header says"
        raise ValueError(f"{source} is {kind}: its header promises shape {shape} of {dtype.name} "
                         f"({expected} bytes with the header), but it holds {size} bytes")
    return dtype, shape, offset
