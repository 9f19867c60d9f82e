"""Flatten and Reshape keep the batch axis and explain bad shapes."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet as jn


def test_flatten_keeps_the_batch_axis(transform):
    x = jnp.arange(24.0).reshape(2, 3, 4)
    y, _ = transform(lambda x: jn.Flatten().apply({}, {}, x))(x)
    np.testing.assert_array_equal(y, np.arange(24.0).reshape(2, 12))


def test_reshape_to_an_image_and_back():
    x = jnp.arange(2 * 64.0).reshape(2, 64)
    image, _ = jn.Reshape((8, 8, 1)).apply({}, {}, x)
    assert image.shape == (2, 8, 8, 1)
    back, _ = jn.Reshape((-1,)).apply({}, {}, image)
    np.testing.assert_array_equal(back, x)


def test_reshape_that_cannot_fit_names_both_shapes():
    with pytest.raises(jn.ShapeError, match=r"\(10,\).*\(3, 3\).*\(2, 10\)"):
        jn.Reshape((3, 3)).apply({}, {}, jnp.zeros((2, 10)))


def test_reshape_rejects_two_unknown_sizes():
    with pytest.raises(ValueError, match="at most one -1"):
        jn.Reshape((-1, -1))
