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
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in DTYPES:
        raise ValueError(f"{source} is not an IDX file: its magic number {data[:4].hex()} should "
                         f"be two zero bytes, a dtype code in "
                         f"{[hex(c) for c in DTYPES]} and a dimension count")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise ValueError(f"{source} is truncated: it ends inside its {offset}-byte header")
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    dtype = np.dtype(DTYPES[data[2]])
    expected = offset + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(f"{source} is {kind}: its header promises shape {shape} of {dtype.name} "
                         f"({expected} bytes with the header), but it holds {len(data)} bytes")
    array = np.frombuffer(data, dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))
