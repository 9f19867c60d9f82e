"""Tests for jaxnet.data.idx: the IDX reader."""

import gzip
import struct

import numpy as np
import pytest
from files import IDX_CODES, idx_bytes

from jaxnet.data.idx import map_idx, parse_idx, read_idx


def test_mnist_headers_have_the_official_magic_numbers():
    images = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    labels = idx_bytes(np.zeros(2, np.uint8))
    assert struct.unpack(">IIII", images[:16]) == (2051, 2, 28, 28)
    assert struct.unpack(">II", labels[:8]) == (2049, 2)


@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_every_idx_dtype_round_trips_in_native_order(dtype):
    values = np.arange(24).reshape(2, 3, 4) * 9
    array = (values if dtype is np.uint8 else values - 100).astype(dtype)
    out = parse_idx(idx_bytes(array))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_read_idx_reads_gzip_and_plain_files(tmp_path):
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    (tmp_path / "a").write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)


def test_a_truncated_payload_is_a_clear_error():
    data = idx_bytes(np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"is truncated: its header promises shape \(4, 28, 28\) "
                                         r"of uint8 \(3152 bytes with the header\), but it holds "
                                         r"3000 bytes"):
        parse_idx(data[:3000])


def test_a_truncated_header_and_extra_bytes_are_errors():
    data = idx_bytes(np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="ends inside its 16-byte header"):
        parse_idx(data[:10])
    with pytest.raises(ValueError, match="longer than its header says"):
        parse_idx(data + b"\0")


def test_a_truncated_gzip_file_is_a_clear_error(tmp_path):
    compressed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    (tmp_path / "cut.gz").write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz is a truncated or damaged gzip file"):
        read_idx(tmp_path / "cut.gz")


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"PK\x03"])
def test_a_wrong_magic_number_is_not_idx(magic):
    with pytest.raises(ValueError, match="is not an IDX file"):
        parse_idx(magic + bytes(8))


@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_map_idx_maps_the_data_in_place(dtype, tmp_path):
    array = np.arange(60).reshape(5, 3, 4).astype(dtype)
    (tmp_path / "a").write_bytes(idx_bytes(array))
    mapped = map_idx(tmp_path / "a")
    assert isinstance(mapped, np.memmap) and mapped.shape == (5, 3, 4)
    assert mapped.offset == 16 and mapped.dtype == np.dtype(dtype).newbyteorder(">")
    np.testing.assert_array_equal(mapped[[4, 0]], array[[4, 0]])


def test_map_idx_checks_the_file_size_against_the_header(tmp_path):
    data = idx_bytes(np.zeros((4, 28, 28), np.uint8))
    (tmp_path / "cut").write_bytes(data[:3000])
    with pytest.raises(ValueError, match=r"cut is truncated: its header promises shape "
                                         r"\(4, 28, 28\)"):
        map_idx(tmp_path / "cut")
    (tmp_path / "long").write_bytes(data + b"\0")
    with pytest.raises(ValueError, match="longer than its header says"):
        map_idx(tmp_path / "long")
