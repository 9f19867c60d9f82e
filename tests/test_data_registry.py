"""Tests for jaxnet.data.registry: load by name."""

import pytest

import jaxnet as jn


def test_unknown_name_lists_the_known_data_sets():
    with pytest.raises(ValueError, match="unknown data set 'imagenet'") as error:
        jn.data.load("imagenet")
    for name in jn.data.LOADERS:
        assert repr(name) in str(error.value)


def test_options_a_set_does_not_take_are_an_error():
    with pytest.raises(TypeError, match="size"):
        jn.data.load("digits", size=3)


def test_a_misspelt_name_suggests_the_close_one():
    with pytest.raises(ValueError, match=r"unknown data set 'MNIST' \(did you mean 'mnist'\?\)"):
        jn.data.load("MNIST")
    with pytest.raises(ValueError, match=r"unknown data set 3; known data sets"):
        jn.data.load(3)


def test_the_time_limit_is_ignored_by_sets_that_download_nothing():
    assert jn.data.load("moons", n_samples=20, timeout=1.0).x_train.shape == (16, 2)
