"""Tests for jaxnet.data.mnist1d: offline generation, caching, untouched global random state,
and a cached file that is not MNIST-1D."""

import os
import random
import socket
import time

import numpy as np
import pytest
from files import read_only

import jaxnet as jn
from jaxnet.data import download
from jaxnet.data import mnist1d as mnist1d_module


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """Generates MNIST-1D once, with sockets disabled, and records the global random states."""
    cache = tmp_path_factory.mktemp("mnist1d_cache")
    random.seed(123)
    np.random.seed(321)
    before = random.getstate(), np.random.get_state()

    def no_network(*args, **kwargs):
        raise OSError("network access in a test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "socket", no_network)
        ds = jn.data.load("mnist1d", data_dir=cache)
    after = random.getstate(), np.random.get_state()
    return cache, ds, before, after


def test_mnist1d_has_the_standard_split_shapes_and_dtypes(generated):
    _, ds, _, _ = generated
    assert ds.name == "mnist1d" and ds.class_names == tuple("0123456789")
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.y_test.shape == (1000,) and ds.input_shape == (40,)


def test_mnist1d_train_class_counts_match_the_published_set(generated):
    _, ds, _, _ = generated
    np.testing.assert_array_equal(np.bincount(ds.y_train),
                                  [398, 396, 411, 394, 394, 402, 401, 404, 402, 398])


def test_mnist1d_is_standardised_over_both_splits(generated):
    _, ds, _, _ = generated
    x = np.concatenate([ds.x_train, ds.x_test]).astype(np.float64)
    assert abs(x.mean()) < 1e-5 and abs(x.std() - 1) < 1e-5


def test_mnist1d_generation_leaves_the_global_random_state_alone(generated):
    _, _, (py_before, np_before), (py_after, np_after) = generated
    assert py_before == py_after
    assert np_before[0] == np_after[0] and np_before[2:] == np_after[2:]
    np.testing.assert_array_equal(np_before[1], np_after[1])


def test_mnist1d_is_cached_and_not_generated_again(generated, monkeypatch):
    cache, ds, _, _ = generated
    assert sorted(p.name for p in (cache / "mnist1d").iterdir()) == ["mnist1d.npz"]
    import mnist1d.data

    def fail(*args, **kwargs):
        raise AssertionError("generated again")

    monkeypatch.setattr(mnist1d.data, "make_dataset", fail)
    again = jn.data.load("mnist1d", data_dir=cache)
    np.testing.assert_array_equal(again.x_test, ds.x_test)
    np.testing.assert_array_equal(again.y_train, ds.y_train)


def test_mnist1d_cache_follows_the_environment_variable(generated, monkeypatch):
    cache, ds, _, _ = generated
    monkeypatch.setenv("JAXNET_DATA", str(cache))
    np.testing.assert_array_equal(jn.data.load("mnist1d").y_test, ds.y_test)


def _arrays(ds):
    return {"x_train": ds.x_train.copy(), "y_train": ds.y_train.copy(),
            "x_test": ds.x_test.copy(), "y_test": ds.y_test.copy()}


def _savez(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _garbage(path, good):
    path.write_bytes(b"not an npz file at all")


def _truncated(path, good):
    _savez(path, good)
    path.write_bytes(path.read_bytes()[:5000])


def _missing_key(path, good):
    _savez(path, {k: v for k, v in good.items() if k != "y_test"})


def _short(path, good):
    _savez(path, dict(good, x_train=good["x_train"][:10]))


def _float64(path, good):
    _savez(path, dict(good, x_test=good["x_test"].astype(np.float64)))


def _label_10(path, good):
    y = good["y_train"].copy()
    y[7] = 10
    _savez(path, dict(good, y_train=y))


def _nan(path, good):
    x = good["x_test"].copy()
    x[3, 5] = np.nan
    x[9, 0] = np.inf
    _savez(path, dict(good, x_test=x))


def _one_array(path, good):
    with open(path, "wb") as f:
        np.save(f, good["x_train"])


@pytest.mark.parametrize("damage, problem", [
    (_garbage, r"it is not a readable \.npz file"),
    (_truncated, r"it is not a readable \.npz file"),
    (_missing_key, r"it holds the arrays \['x_test', 'x_train', 'y_train'\], not"),
    (_short, r"x_train is float32 of shape \(10, 40\), not float32 of shape \(4000, 40\)"),
    (_float64, r"x_test is float64 of shape \(1000, 40\), not float32"),
    (_label_10, r"y_train holds labels from 0 to 10, not 0 to 9"),
    (_nan, r"x_test holds 2 NaN or infinite values"),
    (_one_array, r"it holds a single array, not an \.npz archive"),
])
def test_a_cached_file_that_is_not_mnist1d_is_moved_aside_and_regenerated(
        generated, tmp_path, monkeypatch, damage, problem):
    _, ds, _, _ = generated
    folder = tmp_path / "mnist1d"
    folder.mkdir()
    damage(folder / "mnist1d.npz", _arrays(ds))
    bad = (folder / "mnist1d.npz").read_bytes()
    monkeypatch.setattr(mnist1d_module, "_generate", lambda: _arrays(ds))
    with pytest.warns(UserWarning, match=r"mnist1d\.npz is not MNIST-1D: " + problem + r".*moved "
                                         r"aside to mnist1d\.npz\.corrupt; generating MNIST-1D"):
        again = jn.data.load("mnist1d", data_dir=tmp_path)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    np.testing.assert_array_equal(again.y_test, ds.y_test)
    assert (folder / "mnist1d.npz.corrupt").read_bytes() == bad
    with np.load(folder / "mnist1d.npz") as npz:
        assert mnist1d_module.check_arrays({k: npz[k] for k in npz.files}) is None


def test_a_damaged_cache_is_regenerated_to_the_same_bits(generated, tmp_path):
    _, ds, _, _ = generated
    (tmp_path / "mnist1d").mkdir()
    (tmp_path / "mnist1d" / "mnist1d.npz").write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="is not MNIST-1D"):
        again = jn.data.load("mnist1d", data_dir=tmp_path)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, name), getattr(ds, name))


def test_a_read_only_cache_gives_the_set_uncached_with_a_warning(generated, tmp_path,
                                                                 monkeypatch):
    _, ds, _, _ = generated
    monkeypatch.setattr(mnist1d_module, "_generate", lambda: _arrays(ds))
    with read_only(tmp_path / "cache"):
        with pytest.warns(UserWarning, match=r"generated but not cached.*cache folder .*mnist1d "
                                             r"is read-only \(not writable.*data_dir="):
            again = jn.data.load("mnist1d", data_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.x_test, ds.x_test)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_bad_file_in_a_read_only_cache_is_never_returned(generated, tmp_path, monkeypatch):
    _, ds, _, _ = generated
    folder = tmp_path / "mnist1d"
    folder.mkdir()
    _nan(folder / "mnist1d.npz", _arrays(ds))
    monkeypatch.setattr(mnist1d_module, "_generate", lambda: _arrays(ds))
    with read_only(folder), pytest.warns(UserWarning) as record:
        again = jn.data.load("mnist1d", data_dir=tmp_path)
    assert np.isfinite(again.x_test).all()
    assert [str(w.message)[:40] for w in record] == [
        f"{folder / 'mnist1d.npz'} is not MNIST-1D: x_test holds 2 NaN"[:40],
        "MNIST-1D was generated but not cached, s"]
    assert "left in place since the cache folder" in str(record[0].message)
    assert all(w.filename == __file__ for w in record)  # the warnings point at the caller


def test_a_stale_temporary_file_is_removed(generated, monkeypatch):
    cache, _, _, _ = generated
    stale = cache / "mnist1d" / ".mnist1d.npz.k1ll3d.part"
    stale.write_bytes(b"half")
    old = time.time() - download.STALE_AFTER - 60
    os.utime(stale, (old, old))
    jn.data.load("mnist1d", data_dir=cache)
    assert sorted(p.name for p in (cache / "mnist1d").iterdir()) == ["mnist1d.npz"]
