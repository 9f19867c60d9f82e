"""Tests for jaxnet.data.dataset: the Dataset type."""

import dataclasses

import numpy as np
import pytest

import jaxnet as jn


def _tiny(**changes):
    fields = dict(name="tiny", x_train=np.zeros((4, 3, 3, 1), np.float32),
                  y_train=np.array([0, 1, 2, 0], np.int32),
                  x_test=np.zeros((2, 3, 3, 1), np.float32), y_test=np.array([1, 2], np.int32),
                  class_names=["a", "b", "c"])
    fields.update(changes)
    return jn.data.Dataset(**fields)


def test_properties_give_class_count_and_example_shape():
    ds = _tiny()
    assert ds.num_classes == 3
    assert ds.input_shape == (3, 3, 1)
    assert ds.class_names == ("a", "b", "c")


def test_dataset_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _tiny().name = "other"


def test_mismatched_example_and_label_counts_are_rejected():
    with pytest.raises(ValueError, match="test inputs hold 2 examples but test labels hold 3"):
        _tiny(y_test=np.array([0, 1, 2], np.int32))


def test_repr_shows_shapes_not_values():
    assert repr(_tiny()) == ("Dataset(name='tiny', train=(4, 3, 3, 1) float32, "
                             "test=(2, 3, 3, 1) float32, classes=3)")


def test_nan_or_infinite_values_are_refused_and_counted():
    x = np.zeros((4, 3, 3, 1), np.float32)
    x[1, 0, 0, 0], x[2, 1, 1, 0] = np.nan, -np.inf
    with pytest.raises(ValueError, match=r"tiny: x_train holds 2 NaN or infinite values \(of 36\)"
                                         r"; .* the file it was read from is corrupt"):
        _tiny(x_train=x)
    with pytest.raises(ValueError, match=r"tiny: y_test holds 1 NaN"):
        _tiny(y_test=np.array([1.0, np.nan]))
