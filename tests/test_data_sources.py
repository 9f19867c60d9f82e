"""Tests for jaxnet.data.sources and jn.data.source: random access to examples on disk.

MNIST and CIFAR-10 sources are checked against ``jn.data.load`` on small files written here in
the official formats; the slow tests at the end do the same on the real MNIST files when they are
in the cache.
"""

import functools
import gzip
import os
import pickle
import shutil

import numpy as np
import pytest
from files import idx_bytes, read_only, real_mnist, sha256, tiny_cifar10
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnet as jn
from jaxnet.data import cifar10, download, mapped, mnist
from jaxnet.data.download import MissingDataError, checksum_of
from jaxnet.data.sources import ArraySource, Chain, int32_labels, unit_pixels

N_TRAIN, N_TEST = 30, 12


def _on_disk(folder, x, y):
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    return ArraySource.from_npy(folder / "x.npy", folder / "y.npy")


def _scale(x, y, factor):
    return x * factor, y


def _plus_one(x, y):
    return x, y + 1


def _plus_one_class(x, y):
    return x, {"class": y["class"] + 1}


class Recording(np.ndarray):
    """An array that records every index it is read with."""

    reads: list = []

    def __getitem__(self, key):
        Recording.reads.append(np.array(key, copy=True))
        return super().__getitem__(key)


# ArraySource over arrays and memory maps.


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_read_equals_fancy_indexing_in_memory_and_on_disk(n, data, tmp_path_factory):
    indices = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=50)), dtype=np.int64)
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 3, 2)).astype(np.float32)
    y = rng.integers(0, 10, n)
    for src in (ArraySource(x, y), _on_disk(tmp_path_factory.mktemp("npy"), x, y)):
        xb, yb = src.read(indices)
        assert type(xb) is np.ndarray and type(yb) is np.ndarray
        np.testing.assert_array_equal(xb, x[indices])
        np.testing.assert_array_equal(yb, y[indices])


def test_read_indexes_each_array_once_with_the_sorted_unique_indices():
    x = np.arange(20.0).reshape(10, 2).view(Recording)
    src = ArraySource(x, np.arange(10))
    Recording.reads.clear()
    xb, yb = src.read(np.array([7, 2, 7, 0]))
    assert len(Recording.reads) == 1
    np.testing.assert_array_equal(Recording.reads[0], [0, 2, 7])
    np.testing.assert_array_equal(yb, [7, 2, 7, 0])
    np.testing.assert_array_equal(np.asarray(xb), np.arange(20.0).reshape(10, 2)[[7, 2, 7, 0]])


def test_pytrees_of_arrays_read_with_their_structure():
    x = {"image": np.arange(24).reshape(6, 2, 2), "length": np.arange(6) * 10}
    y = (np.arange(6) % 2, np.eye(6, dtype=np.float32))
    src = ArraySource(x, y)
    xb, (labels, rows) = src.read(np.array([4, 1]))
    np.testing.assert_array_equal(xb["image"], x["image"][[4, 1]])
    np.testing.assert_array_equal(xb["length"], [40, 10])
    np.testing.assert_array_equal(rows, np.eye(6)[[4, 1]])
    xi, (label, row) = src[5]
    assert xi["image"].shape == (2, 2) and xi["length"] == 50 and label == 1 and row[5] == 1
    assert repr(src) == ("ArraySource(6 examples, x={'image': int64[2,2], 'length': int64[]}, "
                         "y=(int64[], float32[6]))")


def test_getitem_is_a_batch_of_one_transformed_and_counts_from_the_end():
    src = ArraySource(np.arange(12, dtype=np.uint8).reshape(4, 3), np.arange(4, dtype=np.uint8),
                      transform=unit_pixels)
    x, y = src[-1]
    np.testing.assert_array_equal(x, np.array([9, 10, 11], np.float32) / np.float32(255))
    assert x.dtype == np.float32 and y == 3 and y.dtype == np.int32
    assert src[np.int64(1)][1] == 1
    assert [int(y) for _, y in src] == [0, 1, 2, 3]  # the sequence protocol ends on IndexError
    x0, y0 = src.example()
    assert x0.shape == (3,) and x0.dtype == np.float32 and y0 == 0


def test_map_composes_after_the_transform_and_leaves_the_source_unchanged():
    src = ArraySource(np.ones((3, 2), np.float32), np.zeros(3, np.int64))
    scaled = src.map(functools.partial(_scale, factor=2.0))
    both = scaled.map(_plus_one)
    assert src.transform is None and not isinstance(scaled.transform, Chain)
    x, y = both.read(np.array([0, 2]))
    np.testing.assert_array_equal(x, np.full((2, 2), 2.0))
    np.testing.assert_array_equal(y, [1, 1])
    np.testing.assert_array_equal(src.read(np.array([0]))[0], np.ones((1, 2)))
    assert "transform=functools.partial(<function _scale" in repr(both)
    assert repr(both).endswith(" -> _plus_one)")
    assert len(both.map(int32_labels).transform.transforms) == 3


def test_sources_pickle_in_memory_arrays_and_transforms():
    src = ArraySource(np.arange(6.0), {"class": np.arange(6) % 3}).map(
        functools.partial(_scale, factor=3.0)).map(_plus_one_class)
    back = pickle.loads(pickle.dumps(src))
    x, y = back.read(np.array([5, 0]))
    np.testing.assert_array_equal(x, [15.0, 0.0])
    np.testing.assert_array_equal(y["class"], [3, 1])
    assert repr(back) == repr(src)


def test_a_memory_mapped_source_pickles_as_its_files_not_its_bytes(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (1000, 32, 32), dtype=np.uint8)
    src = _on_disk(tmp_path, x, np.arange(1000, dtype=np.int32)).map(unit_pixels)
    data = pickle.dumps(src)
    assert len(data) < 2000 < x.nbytes
    back = pickle.loads(data)
    assert repr(back) == repr(src)
    indices = np.array([999, 3, 500])
    np.testing.assert_array_equal(back.read(indices)[0], src.read(indices)[0])
    # Pickled again, the reopened maps stay files.
    assert len(pickle.dumps(back)) < 2000


def test_views_of_memory_maps_reopen_as_the_same_view(tmp_path):
    full = np.arange(2 * 50 * 6, dtype=np.int16).reshape(2, 50, 6)
    np.save(tmp_path / "a.npy", full)
    np.save(tmp_path / "f.npy", np.asfortranarray(full[0]))
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    fortran = np.load(tmp_path / "f.npy", mmap_mode="r")
    x = {"slice": mapped[1, 10:40, ::2], "flipped": mapped[0, 40:10:-1, None],
         "fortran": fortran[10:40]}
    src = ArraySource(x, np.arange(30))
    data = pickle.dumps(src)
    assert len(data) < 2000
    xb, _ = pickle.loads(data).read(np.arange(30))
    np.testing.assert_array_equal(xb["slice"], full[1, 10:40, ::2])
    np.testing.assert_array_equal(xb["flipped"], full[0, 40:10:-1, None])
    np.testing.assert_array_equal(xb["fortran"], full[0, 10:40])


def test_grain_reads_a_source_as_its_random_access_protocol(tmp_path):
    grain = pytest.importorskip("grain")
    src = _on_disk(tmp_path, np.arange(40, dtype=np.uint8).reshape(10, 4),
                   np.arange(10, dtype=np.uint8)).map(unit_pixels)
    dataset = grain.MapDataset.source(src)
    assert len(dataset) == 10
    for i in (0, 7, 9):
        x, y = dataset[i]
        np.testing.assert_array_equal(x, src[i][0])
        assert y == src[i][1]
    batch = next(iter(grain.MapDataset.source(src).batch(4)))
    np.testing.assert_array_equal(batch[1], [0, 1, 2, 3])


@pytest.mark.slow
def test_grain_worker_processes_read_a_memory_mapped_source(tmp_path):
    grain = pytest.importorskip("grain")
    from absl import flags

    flags.FLAGS.mark_as_parsed()
    src = _on_disk(tmp_path, np.arange(200 * 3, dtype=np.uint8).reshape(200, 3),
                   np.arange(200, dtype=np.int32)).map(unit_pixels)
    sampler = grain.samplers.IndexSampler(len(src), num_epochs=1, shuffle=True, seed=0)
    loader = grain.DataLoader(data_source=src, sampler=sampler, worker_count=2,
                              operations=[grain.transforms.Batch(20)])
    batches = [(np.asarray(x), np.asarray(y)) for x, y in loader]
    labels = np.concatenate([y for _, y in batches])
    assert sorted(labels) == list(range(200))
    x = np.concatenate([x for x, _ in batches])
    np.testing.assert_array_equal(x, src.read(labels)[0])


# jn.data.source: MNIST and Fashion-MNIST from IDX files.


@pytest.fixture
def idx_cache(tmp_path, monkeypatch):
    """Small official-format MNIST and Fashion-MNIST files in a cache, their checksums the
    published ones for the test; returns the cache root and the arrays."""
    rng = np.random.default_rng(0)
    arrays = {
        mnist.TRAIN_IMAGES: rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        mnist.TRAIN_LABELS: rng.integers(0, 10, N_TRAIN).astype(np.uint8),
        mnist.TEST_IMAGES: rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        mnist.TEST_LABELS: rng.integers(0, 10, N_TEST).astype(np.uint8),
    }
    checksums = {}
    for name, array in arrays.items():
        data = gzip.compress(idx_bytes(array))
        checksums[name] = sha256(data)
        for folder in ("mnist", "fashion_mnist"):
            (tmp_path / folder).mkdir(exist_ok=True)
            (tmp_path / folder / name).write_bytes(data)
    monkeypatch.setattr(mnist, "MNIST_CHECKSUMS", checksums)
    monkeypatch.setattr(mnist, "FASHION_CHECKSUMS", checksums)
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", ((tmp_path / "nowhere").as_uri() + "/",))
    return tmp_path, arrays


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("raw", [False, True])
def test_an_idx_source_equals_load(idx_cache, name, raw):
    cache, _ = idx_cache
    ds = jn.data.load(name, data_dir=cache, raw=raw)
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        src = jn.data.source(name, split, data_dir=cache, raw=raw)
        assert len(src) == len(x)
        indices = np.random.default_rng(1).integers(0, len(x), 50)
        xb, yb = src.read(indices)
        assert xb.dtype == x.dtype and yb.dtype == np.int32
        np.testing.assert_array_equal(xb, x[indices])
        np.testing.assert_array_equal(yb, y[indices])
        xi, yi = src.example()
        np.testing.assert_array_equal(xi, x[0])
        assert yi == y[0]


def test_an_idx_source_maps_the_decompressed_files_beside_the_gzip_files(idx_cache):
    cache, arrays = idx_cache
    src = jn.data.source("mnist", data_dir=cache)
    raw = cache / "mnist" / "train-images-idx3-ubyte"
    assert raw.read_bytes() == idx_bytes(arrays[mnist.TRAIN_IMAGES])
    assert isinstance(src.x.base, np.memmap) and src.x.shape == (N_TRAIN, 28, 28, 1)
    assert repr(src) == (f"ArraySource({N_TRAIN} examples, x=uint8[28,28,1] in "
                         f"train-images-idx3-ubyte, y=uint8[] in train-labels-idx1-ubyte, "
                         f"transform=unit_pixels)")
    assert not (cache / "mnist" / "t10k-images-idx3-ubyte").exists()  # only the split asked for
    before = raw.stat()
    jn.data.source("mnist", data_dir=cache)
    assert raw.stat().st_ino == before.st_ino and raw.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in (cache / "mnist").iterdir() if p.name.startswith(".")) == []


def test_a_changed_decompressed_file_is_written_again_with_a_warning(idx_cache):
    cache, arrays = idx_cache
    jn.data.source("mnist", data_dir=cache)
    raw = cache / "mnist" / "train-labels-idx1-ubyte"
    data = bytearray(raw.read_bytes())
    data[-1] ^= 1
    raw.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="does not hold the contents of "
                                         "train-labels-idx1-ubyte.gz.*decompressing it again"):
        src = jn.data.source("mnist", data_dir=cache)
    np.testing.assert_array_equal(src.read(np.arange(N_TRAIN))[1], arrays[mnist.TRAIN_LABELS])


def test_an_interrupted_decompression_leaves_no_file(idx_cache, monkeypatch):
    cache, arrays = idx_cache

    def half_then_interrupt(source, target, length):
        target.write(source.read(1000))
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(download.shutil, "copyfileobj", half_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            jn.data.source("mnist", "test", data_dir=cache)
    names = {p.name for p in (cache / "mnist").iterdir()}
    assert names == set(arrays)  # the four .gz files: no decompressed file, no temporary file
    src = jn.data.source("mnist", "test", data_dir=cache)
    np.testing.assert_array_equal(src.read(np.arange(N_TEST))[1], arrays[mnist.TEST_LABELS])


def test_an_idx_source_in_a_read_only_cache(idx_cache):
    cache, _ = idx_cache
    with read_only(cache / "fashion_mnist"):
        with pytest.raises(MissingDataError, match="cannot decompress train-images-idx3-ubyte.gz "
                                                   ".*read-only.*pass data_dir="):
            jn.data.source("fashion_mnist", data_dir=cache)
    jn.data.source("fashion_mnist", data_dir=cache)
    with read_only(cache / "fashion_mnist"):  # decompressed already: only read
        assert len(jn.data.source("fashion_mnist", data_dir=cache)) == N_TRAIN


def test_an_idx_source_without_its_files_says_which_are_missing(idx_cache):
    cache, _ = idx_cache
    (cache / "mnist" / mnist.TEST_LABELS).unlink()
    with pytest.raises(MissingDataError, match="missing t10k-labels-idx1-ubyte.gz in "):
        jn.data.source("mnist", "test", data_dir=cache, download=False)
    assert len(jn.data.source("mnist", "train", data_dir=cache, download=False)) == N_TRAIN


def test_an_idx_source_pickles_small_and_reads_the_same(idx_cache):
    cache, _ = idx_cache
    src = jn.data.source("mnist", data_dir=cache)
    data = pickle.dumps(src)
    assert len(data) < 2000
    indices = np.array([3, 29, 0, 3])
    for a, b in zip(pickle.loads(data).read(indices), src.read(indices)):
        np.testing.assert_array_equal(a, b)


# jn.data.source: CIFAR-10 from its archive, converted once.


@pytest.mark.parametrize("raw", [False, True])
def test_a_cifar10_source_equals_load(tmp_path, monkeypatch, raw):
    tiny_cifar10(tmp_path, monkeypatch)
    ds = jn.data.load("cifar10", data_dir=tmp_path, raw=raw)
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        src = jn.data.source("cifar10", split, data_dir=tmp_path, raw=raw)
        indices = np.random.default_rng(2).permutation(len(x))
        xb, yb = src.read(indices)
        assert xb.dtype == x.dtype and yb.dtype == np.int32
        np.testing.assert_array_equal(xb, x[indices])
        np.testing.assert_array_equal(yb, y[indices])


def test_a_cifar10_source_converts_once_then_maps_without_the_archive(tmp_path, monkeypatch):
    tiny_cifar10(tmp_path, monkeypatch)
    first = jn.data.source("cifar10", "test", data_dir=tmp_path)
    folder = tmp_path / "cifar10"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [cifar10.ARCHIVE, "test_images.npy", "test_labels.npy", "train_images.npy",
         "train_labels.npy"])
    assert isinstance(first.x, np.memmap) and first.x.shape[1:] == (32, 32, 3)
    expected = first.read(np.arange(len(first)))
    (folder / cifar10.ARCHIVE).unlink()
    again = jn.data.source("cifar10", "test", data_dir=tmp_path, download=False)
    for a, b in zip(again.read(np.arange(len(again))), expected):
        np.testing.assert_array_equal(a, b)


def test_a_damaged_converted_file_is_converted_again_with_a_warning(tmp_path, monkeypatch):
    tiny_cifar10(tmp_path, monkeypatch)
    expected = jn.data.source("cifar10", data_dir=tmp_path).read(np.arange(150))
    np.save(tmp_path / "cifar10" / "train_labels.npy", np.zeros(150, np.int64))
    with pytest.warns(UserWarning, match=r"train_labels\.npy should hold 150 int32 labels, got "
                                         r"int64.*converting the archive again"):
        src = jn.data.source("cifar10", data_dir=tmp_path)
    np.testing.assert_array_equal(src.read(np.arange(150))[1], expected[1])


def test_an_interrupted_conversion_leaves_no_file(tmp_path, monkeypatch):
    tiny_cifar10(tmp_path, monkeypatch)
    real_save = np.save

    def save_then_interrupt(file, array):
        real_save(file, array[: len(array) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(cifar10.np, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        jn.data.source("cifar10", data_dir=tmp_path)
    assert [p.name for p in (tmp_path / "cifar10").iterdir()] == [cifar10.ARCHIVE]


# jn.data.source: every other set, from memory.


def test_other_sets_are_served_from_load_arrays():
    ds = jn.data.load("digits")
    src = jn.data.source("digits", "test")
    np.testing.assert_array_equal(src.read(np.arange(len(ds.x_test)))[0], ds.x_test)
    np.testing.assert_array_equal(jn.data.source("digits", raw=True).x,
                                  jn.data.load("digits", raw=True).x_train)
    moons = jn.data.source("moons", n_samples=50, seed=3)
    np.testing.assert_array_equal(moons.y, jn.data.load("moons", n_samples=50, seed=3).y_train)


# The real MNIST files, when the cache holds them (.ci/run puts a copy there).


@pytest.mark.slow
def test_the_real_mnist_files_match_their_published_checksums():
    real_mnist()
    folder = jn.data.download.cache_dir() / "mnist"
    for name, checksum in mnist.MNIST_CHECKSUMS.items():
        algorithm, expected = checksum.split(":")
        assert checksum_of(folder / name, algorithm) == expected, name


@pytest.mark.slow
def test_a_source_over_the_real_mnist_files_equals_load(tmp_path):
    ds = real_mnist()
    (tmp_path / "mnist").mkdir()
    for name in mnist.MNIST_CHECKSUMS:
        shutil.copy(jn.data.download.cache_dir() / "mnist" / name, tmp_path / "mnist" / name)
    rng = np.random.default_rng(0)
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        src = jn.data.source("mnist", split, data_dir=tmp_path, download=False)
        assert len(src) == len(x) == {"train": 60_000, "test": 10_000}[split]
        indices = rng.integers(0, len(x), 300)
        xb, yb = src.read(indices)
        np.testing.assert_array_equal(xb, x[indices])
        np.testing.assert_array_equal(yb, y[indices])
    raw = tmp_path / "mnist" / "train-images-idx3-ubyte"
    assert os.path.getsize(raw) == 16 + 60_000 * 784


@pytest.mark.parametrize("through_mapping", [0, mapped.READ_THROUGH_MAPPING],
                         ids=["positioned_reads", "through_the_mapping"])
def test_views_of_a_memory_map_read_their_own_rows_from_the_file(tmp_path, monkeypatch,
                                                                  through_mapping):
    monkeypatch.setattr(mapped, "READ_THROUGH_MAPPING", through_mapping)
    x = np.arange(60, dtype=">i4").reshape(20, 3)
    np.save(tmp_path / "x.npy", x)
    on_disk = np.load(tmp_path / "x.npy", mmap_mode="r")
    indices = np.array([0, 3, 4, 5, 9, 9, 2])
    for view, whole in ((on_disk[5:], x[5:]), (on_disk[:, 1:], x[:, 1:]),
                        (on_disk[::2], x[::2])):
        xb, _ = ArraySource(view, np.zeros(len(view))).read(indices)
        assert type(xb) is np.ndarray
        np.testing.assert_array_equal(xb, whole[indices])
