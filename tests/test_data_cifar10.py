"""Tests for jaxnet.data.cifar10: a tiny official-format archive and the restricted unpickler."""

import builtins
import hashlib
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

import jaxnet as jn
from jaxnet.data import cifar10
from jaxnet.data.download import ChecksumError

NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
         b"ship", b"truck"]
PER_BATCH, N_TEST = 4, 3


def py2_pickle(obj) -> bytes:
    """Pickles as Python 2's cPickle wrote the official batches: protocol 2, str as byte strings,
    arrays through ``numpy.core.multiarray._reconstruct`` (uint8 arrays, ints, lists, dicts)."""
    if isinstance(obj, bytes):
        if len(obj) < 256:
            return b"U" + bytes([len(obj)]) + obj
        return b"T" + struct.pack("<I", len(obj)) + obj
    if isinstance(obj, int):
        return b"J" + struct.pack("<i", obj)
    if isinstance(obj, list):
        return b"](" + b"".join(py2_pickle(v) for v in obj) + b"e"
    if isinstance(obj, dict):
        return b"}(" + b"".join(py2_pickle(k) + py2_pickle(v) for k, v in obj.items()) + b"u"
    assert isinstance(obj, np.ndarray) and obj.dtype == np.uint8
    dtype = (b"cnumpy\ndtype\n" + py2_pickle(b"u1") + b"K\x00K\x01\x87R(K\x03" + py2_pickle(b"|")
             + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    shape = b"(" + b"".join(py2_pickle(d) for d in obj.shape) + b"t"
    return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + py2_pickle(b"b")
            + b"\x87R(K\x01" + shape + dtype + b"\x89" + py2_pickle(obj.tobytes()) + b"tb")


def py2_dumps(obj) -> bytes:
    return b"\x80\x02" + py2_pickle(obj) + b"."


def _archive(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _members(rng, batch_1=None) -> dict[str, bytes]:
    members = {"batches.meta": py2_dumps({b"label_names": NAMES, b"num_cases_per_batch": 10000,
                                          b"num_vis": 3072})}
    for i, name in enumerate([*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH]):
        n = N_TEST if name == cifar10.TEST_BATCH else PER_BATCH
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in (np.arange(n) + i) % 10]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [b"img.png"] * n}
        members[name] = py2_dumps(batch)
    if batch_1 is not None:
        members["data_batch_1"] = batch_1
    return {f"{cifar10.FOLDER}/{name}": data for name, data in members.items()}


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """Returns a function that writes an archive to a mirror folder and points the loader at it."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()

    def write(members):
        _archive(mirror / cifar10.ARCHIVE, members)
        digest = hashlib.sha256((mirror / cifar10.ARCHIVE).read_bytes()).hexdigest()
        monkeypatch.setattr(cifar10, "CHECKSUMS", {cifar10.ARCHIVE: "sha256:" + digest})
        monkeypatch.setattr(cifar10, "MIRRORS", (mirror.as_uri() + "/",))
        return tmp_path / "cache"

    return write


def test_cifar10_loads_shapes_dtypes_labels_and_class_names(serve):
    rng = np.random.default_rng(0)
    members = _members(rng)
    ds = jn.data.load("cifar10", data_dir=serve(members))
    assert ds.name == "cifar10" and ds.class_names[0] == "airplane"
    assert ds.class_names == tuple(n.decode() for n in NAMES) and ds.num_classes == 10
    assert ds.x_train.shape == (5 * PER_BATCH, 32, 32, 3) and ds.x_test.shape == (N_TEST, 32, 32, 3)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    np.testing.assert_array_equal(ds.y_train[:PER_BATCH], np.arange(PER_BATCH))
    np.testing.assert_array_equal(ds.y_train[PER_BATCH:2 * PER_BATCH], np.arange(PER_BATCH) + 1)
    np.testing.assert_array_equal(ds.y_test, (np.arange(N_TEST) + 5) % 10)


def test_cifar10_planes_become_channels_in_rgb_order(serve):
    data = np.zeros((PER_BATCH, 3072), np.uint8)
    data[0, 0 * 1024 + 2 * 32 + 5] = 255
    data[0, 1 * 1024 + 7 * 32 + 1] = 255
    data[0, 2 * 1024 + 31 * 32 + 31] = 255
    batch = py2_dumps({b"labels": [0] * PER_BATCH, b"data": data})
    ds = jn.data.load("cifar10", data_dir=serve(_members(np.random.default_rng(1), batch)),
                      raw=True)
    first = ds.x_train[0]
    assert first.dtype == np.uint8 and first.sum() == 3 * 255
    assert first[2, 5, 0] == 255 and first[7, 1, 1] == 255 and first[31, 31, 2] == 255


def test_a_wrong_archive_checksum_leaves_no_file(serve, monkeypatch):
    cache = serve(_members(np.random.default_rng(2)))
    monkeypatch.setattr(cifar10, "CHECKSUMS", {cifar10.ARCHIVE: "sha256:" + "0" * 64})
    with pytest.raises(ChecksumError, match=r"cifar-10-python\.tar\.gz failed verification"):
        jn.data.load("cifar10", data_dir=cache)
    assert list((cache / "cifar10").iterdir()) == []


def test_an_archive_missing_a_batch_is_a_clear_error(serve):
    members = _members(np.random.default_rng(3))
    del members[f"{cifar10.FOLDER}/test_batch"]
    with pytest.raises(ValueError, match="lacks .*test_batch.*python version"):
        jn.data.load("cifar10", data_dir=serve(members))


def test_members_with_escaping_paths_are_never_written(serve, tmp_path):
    members = _members(np.random.default_rng(4))
    members["../../escaped"] = b"x"
    members[f"{cifar10.FOLDER}/../../escaped_too"] = b"x"
    cache = serve(members)
    jn.data.load("cifar10", data_dir=cache)
    assert not any(p.name.startswith("escaped") for p in tmp_path.rglob("*"))
    assert [p.name for p in (cache / "cifar10").iterdir()] == [cifar10.ARCHIVE]


class _Exploit:
    """Unpickling this calls ``function(*args)``, the classic pickle code-execution trick."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_pickle_that_calls_a_function_is_refused_before_it_runs(tmp_path, protocol):
    target = tmp_path / "created"
    for exploit in (_Exploit(os.mkdir, str(target)),
                    _Exploit(builtins.eval, f"__import__('os').mkdir({str(target)!r})")):
        data = pickle.dumps({"data": exploit, "labels": [0]}, protocol=protocol)
        with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global "
                                                         r"(posix|os|builtins|__builtin__)\.(mkdir|eval)"):
            cifar10.load_pickle(data)
        assert not target.exists()


def test_a_malicious_batch_inside_the_archive_is_refused(serve, tmp_path):
    target = tmp_path / "created"
    batch = pickle.dumps({"data": _Exploit(os.mkdir, str(target))}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global (posix|os)\.mkdir"):
        jn.data.load("cifar10", data_dir=serve(_members(np.random.default_rng(5), batch)))
    assert not target.exists()


@pytest.mark.parametrize("protocol", [2, 4])
def test_arrays_pickled_by_this_numpy_load_too(protocol):
    data = np.arange(6, dtype=np.uint8).reshape(2, 3)
    if protocol == 2:
        loaded = cifar10.load_pickle(py2_dumps({b"data": data}))
    else:
        loaded = cifar10.load_pickle(pickle.dumps({b"data": data}, protocol=protocol))
    np.testing.assert_array_equal(loaded[b"data"], data)
