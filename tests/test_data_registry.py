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
