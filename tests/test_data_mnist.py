"""Tests for jaxnet.data.mnist: MNIST and Fashion-MNIST from tiny official-format IDX files.

The files are served from a local folder through file:// URLs, so loading runs the real download
path (temporary file, verification, rename) and the real IDX reader.
"""

import gzip

import numpy as np
import pytest
from files import idx_bytes, read_only, sha256

import jaxnet as jn
from jaxnet.data import mnist
from jaxnet.data.download import ChecksumError, MissingDataError

N_TRAIN, N_TEST = 20, 8


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Writes the four gzip IDX files to a mirror folder and points both loaders at it."""
    rng = np.random.default_rng(0)
    arrays = {
        mnist.TRAIN_IMAGES: rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        mnist.TRAIN_LABELS: np.arange(N_TRAIN, dtype=np.uint8) % 10,
        mnist.TEST_IMAGES: rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        mnist.TEST_LABELS: (np.arange(N_TEST, dtype=np.uint8) * 3) % 10,
    }
    arrays[mnist.TRAIN_IMAGES][0, 0, 0] = 255
    arrays[mnist.TRAIN_IMAGES][1, 0, 0] = 0
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    checksums = {}
    for name, array in arrays.items():
        data = gzip.compress(idx_bytes(array))
        (mirror / name).write_bytes(data)
        checksums[name] = sha256(data)
    urls = (mirror.as_uri() + "/",)
    for prefix in ("MNIST", "FASHION"):
        monkeypatch.setattr(mnist, f"{prefix}_CHECKSUMS", checksums)
        monkeypatch.setattr(mnist, f"{prefix}_MIRRORS", urls)
    return mirror, tmp_path / "cache", arrays


def test_mnist_loads_shapes_dtypes_ranges_and_labels(served):
    _, cache, arrays = served
    ds = jn.data.load("mnist", data_dir=cache)
    assert ds.name == "mnist" and ds.class_names == tuple("0123456789")
    assert ds.x_train.shape == (N_TRAIN, 28, 28, 1) and ds.x_test.shape == (N_TEST, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    np.testing.assert_allclose(ds.x_train[..., 0] * 255, arrays[mnist.TRAIN_IMAGES], atol=1e-4)
    np.testing.assert_array_equal(ds.y_train, arrays[mnist.TRAIN_LABELS])
    np.testing.assert_array_equal(ds.y_test, arrays[mnist.TEST_LABELS])
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(arrays)


def test_raw_mnist_gives_the_uint8_pixels(served):
    _, cache, arrays = served
    ds = jn.data.load("mnist", data_dir=cache, raw=True)
    assert ds.x_test.dtype == np.uint8
    np.testing.assert_array_equal(ds.x_test[..., 0], arrays[mnist.TEST_IMAGES])


def test_fashion_mnist_has_its_class_names_and_own_folder(served):
    _, cache, _ = served
    ds = jn.data.load("fashion_mnist", data_dir=cache)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert ds.input_shape == (28, 28, 1) and (cache / "fashion_mnist").is_dir()


def test_cached_files_load_offline_without_downloading(served):
    mirror, cache, arrays = served
    jn.data.load("mnist", data_dir=cache)
    for path in mirror.iterdir():
        path.unlink()
    ds = jn.data.load("mnist", data_dir=cache, download=False)
    np.testing.assert_array_equal(ds.y_train, arrays[mnist.TRAIN_LABELS])


def test_missing_files_without_download_name_files_folder_and_urls(served, monkeypatch):
    _, cache, _ = served
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", ("https://example.org/mnist/",))
    with pytest.raises(MissingDataError) as error:
        jn.data.load("mnist", data_dir=cache, download=False)
    for part in (mnist.TRAIN_IMAGES, mnist.TEST_LABELS, str(cache / "mnist"),
                 "https://example.org/mnist/"):
        assert part in str(error.value)


def test_a_wrong_published_checksum_is_an_error_and_leaves_no_file(served, monkeypatch):
    _, cache, _ = served
    wrong = dict(mnist.MNIST_CHECKSUMS, **{mnist.TRAIN_LABELS: "sha256:" + "ab" * 32})
    monkeypatch.setattr(mnist, "MNIST_CHECKSUMS", wrong)
    with pytest.raises(ChecksumError, match=r"train-labels-idx1-ubyte\.gz failed verification: "
                                            r"expected sha256 (ab){32}, got [0-9a-f]{64}"):
        jn.data.load("mnist", data_dir=cache)
    assert mnist.TRAIN_LABELS not in {p.name for p in (cache / "mnist").iterdir()}
    assert not [p for p in (cache / "mnist").iterdir() if p.name.startswith(".")]


def test_a_truncated_download_is_an_error_and_leaves_no_file(served):
    mirror, cache, _ = served
    data = (mirror / mnist.TEST_IMAGES).read_bytes()
    (mirror / mnist.TEST_IMAGES).write_bytes(data[: len(data) // 2])
    with pytest.raises(ChecksumError, match=r"t10k-images-idx3-ubyte\.gz failed verification"):
        jn.data.load("mnist", data_dir=cache)
    assert mnist.TEST_IMAGES not in {p.name for p in (cache / "mnist").iterdir()}


def test_a_hand_placed_truncated_file_with_its_own_checksum_fails_on_its_size(served, monkeypatch):
    mirror, cache, _ = served
    cut = gzip.compress(gzip.decompress((mirror / mnist.TRAIN_IMAGES).read_bytes())[:5000])
    (mirror / mnist.TRAIN_IMAGES).write_bytes(cut)
    checksums = dict(mnist.MNIST_CHECKSUMS, **{mnist.TRAIN_IMAGES: sha256(cut)})
    monkeypatch.setattr(mnist, "MNIST_CHECKSUMS", checksums)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz is truncated"):
        jn.data.load("mnist", data_dir=cache)


def test_image_and_label_counts_must_agree(served, monkeypatch):
    mirror, cache, _ = served
    data = gzip.compress(idx_bytes(np.zeros(N_TRAIN - 1, np.uint8)))
    (mirror / mnist.TRAIN_LABELS).write_bytes(data)
    checksums = dict(mnist.MNIST_CHECKSUMS, **{mnist.TRAIN_LABELS: sha256(data)})
    monkeypatch.setattr(mnist, "MNIST_CHECKSUMS", checksums)
    with pytest.raises(ValueError, match=f"holds {N_TRAIN} images but .* holds {N_TRAIN - 1}"):
        jn.data.load("mnist", data_dir=cache)


def test_a_damaged_cached_file_is_replaced_in_the_same_load(served):
    _, cache, arrays = served
    jn.data.load("mnist", data_dir=cache)
    path = cache / "mnist" / mnist.TRAIN_LABELS
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.warns(UserWarning, match=r"train-labels-idx1-ubyte\.gz failed verification.*"
                                         r"downloading a fresh copy"):
        ds = jn.data.load("mnist", data_dir=cache)
    np.testing.assert_array_equal(ds.y_train, arrays[mnist.TRAIN_LABELS])
    assert (cache / "mnist" / (mnist.TRAIN_LABELS + ".corrupt")).exists()


def test_a_read_only_cache_says_which_folder_and_how_to_choose_another(served):
    _, cache, _ = served
    with read_only(cache):
        with pytest.raises(MissingDataError, match=r"cache folder .*mnist is read-only \(not "
                                                   r"writable.*pass data_dir="):
            jn.data.load("mnist", data_dir=cache)


def test_the_time_limit_reaches_the_download(served):
    _, cache, _ = served
    with pytest.raises(ValueError, match=r"timeout must be a finite number > 0, got 0"):
        jn.data.load("mnist", data_dir=cache, timeout=0)
    ds = jn.data.load("fashion_mnist", data_dir=cache, timeout=30.0)
    assert ds.x_train.shape == (N_TRAIN, 28, 28, 1)
