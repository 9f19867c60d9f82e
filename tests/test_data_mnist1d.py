"""Tests for jaxnet.data.mnist1d: offline generation, caching, untouched global random state."""

import random
import socket

import numpy as np
import pytest

import jaxnet as jn


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
