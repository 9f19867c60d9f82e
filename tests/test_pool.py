"""MaxPool, AvgPool and GlobalAvgPool against flax.linen's pooling and a NumPy loop."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_gradients_match_finite_differences, assert_shape_agreement, same_pads

import jaxnet as jn
from jaxnet.core import output_shape


def numpy_pool(x, window, strides, pads, reduce):
    """Each window's cells that lie inside the input, reduced by ``reduce`` (np.max or np.mean)."""
    n = x.ndim - 2
    x = np.asarray(x, np.float64)
    sizes = x.shape[1:-1]
    out = [(sizes[i] + sum(pads[i]) - window[i]) // strides[i] + 1 for i in range(n)]
    y = np.zeros((x.shape[0], *out, x.shape[-1]))
    for o in np.ndindex(*out):
        cells = [
            range(max(o[i] * strides[i] - pads[i][0], 0),
                  min(o[i] * strides[i] - pads[i][0] + window[i], sizes[i]))
            for i in range(n)
        ]
        patch = x[np.ix_(range(x.shape[0]), *cells, range(x.shape[-1]))]
        y[(slice(None), *o)] = reduce(patch.reshape(x.shape[0], -1, x.shape[-1]), axis=1)
    return y


CONFIGS = [
    ((2,), None, "VALID", (2, 9, 3)),
    ((3,), (2,), "SAME", (2, 8, 2)),
    ((2, 2), None, "VALID", (2, 6, 7, 3)),
    ((3, 2), (2, 1), "SAME", (1, 7, 5, 2)),
    ((3, 3), (2, 2), ((1, 1), (0, 2)), (2, 6, 6, 1)),
]
IDS = [f"{len(c[0])}d-{c[2] if isinstance(c[2], str) else 'explicit'}" for c in CONFIGS]


def expand(window, strides, padding, shape):
    """Strides (the window by default, which Flax does not do) and explicit pads."""
    strides = window if strides is None else strides
    if padding == "VALID":
        pads = [(0, 0)] * len(window)
    elif padding == "SAME":
        pads = same_pads(shape[1:-1], window, strides)
    else:
        pads = list(padding)
    return strides, pads


@pytest.mark.parametrize("window, strides, padding, shape", CONFIGS, ids=IDS)
def test_maxpool_matches_flax_and_a_numpy_loop(window, strides, padding, shape, transform):
    x = jax.random.normal(jax.random.key(0), shape)
    layer = jn.MaxPool(window, strides, padding)
    y, _ = transform(lambda x: layer.apply({}, {}, x))(x)
    assert output_shape(layer, {}, {}, x).shape == y.shape
    strides, pads = expand(window, strides, padding, shape)
    np.testing.assert_allclose(y, nn.max_pool(x, window, strides, padding), rtol=1e-6)
    np.testing.assert_allclose(y, numpy_pool(x, window, strides, pads, np.max), rtol=1e-6)


@pytest.mark.parametrize("window, strides, padding, shape", CONFIGS, ids=IDS)
def test_avgpool_averages_only_input_cells(window, strides, padding, shape, transform):
    x = jax.random.normal(jax.random.key(0), shape)
    layer = jn.AvgPool(window, strides, padding)
    y, _ = transform(lambda x: layer.apply({}, {}, x))(x)
    assert output_shape(layer, {}, {}, x).shape == y.shape
    strides, pads = expand(window, strides, padding, shape)
    expected = nn.avg_pool(x, window, strides, padding, count_include_pad=False)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, numpy_pool(x, window, strides, pads, np.mean), rtol=1e-5,
                               atol=1e-6)


def test_an_int_window_pools_every_spatial_axis_of_the_input():
    image = jax.random.normal(jax.random.key(0), (2, 6, 4, 3))
    np.testing.assert_array_equal(jn.MaxPool(2).apply({}, {}, image)[0],
                                  nn.max_pool(image, (2, 2), (2, 2)))
    sequence = image[:, :, 0, :]
    np.testing.assert_array_equal(jn.AvgPool(3, strides=1).apply({}, {}, sequence)[0],
                                  nn.avg_pool(sequence, (3,), (1,), count_include_pad=False))


@pytest.mark.parametrize("dtype", [jnp.uint8, jnp.int32, jnp.bool_])
def test_maxpool_keeps_integer_inputs_and_pads_with_their_lowest_value(dtype):
    x = jax.random.randint(jax.random.key(0), (2, 5, 5, 1), -100, 256).astype(dtype)
    y, _ = jn.MaxPool(2, padding="SAME").apply({}, {}, x)
    expected, _ = jn.MaxPool(2, padding="SAME").apply({}, {}, x.astype(jnp.float32))
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.astype(jnp.float32), expected)


def test_global_avg_pool_is_the_mean_over_spatial_axes():
    x = jax.random.normal(jax.random.key(0), (2, 5, 4, 3))
    y, _ = jn.GlobalAvgPool().apply({}, {}, x)
    np.testing.assert_allclose(y, np.asarray(x).mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jn.GlobalAvgPool().apply({}, {}, x[:, 0])[0],
                               np.asarray(x[:, 0]).mean(axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "layer, shape",
    [(jn.MaxPool((3, 2), (2, 1), "SAME"), (2, 7, 5, 2)), (jn.AvgPool(2), (2, 9, 3)),
     (jn.AvgPool(3, strides=2, padding=1), (1, 6, 6, 2)), (jn.GlobalAvgPool(), (2, 5, 3))],
    ids=["max", "avg", "avg-padded", "global"],
)
def test_pooling_gradients_and_shapes(layer, shape):
    assert_shape_agreement(layer, shape)
    x = jax.random.normal(jax.random.key(1), shape)
    assert_gradients_match_finite_differences(lambda p, x: layer.apply(p, {}, x)[0], {}, x)


def test_pooling_in_a_model_reports_shapes_in_the_summary():
    model = jn.Sequential([jn.Conv2D(4, 3, padding="SAME"), jn.relu, jn.MaxPool(2),
                           jn.AvgPool(2, padding="SAME"), jn.GlobalAvgPool(), jn.Dense(10)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 9, 9, 1)))
    table = jn.summary(model, params, state, jnp.zeros((8, 9, 9, 1)))
    for shape in ["(8, 9, 9, 4)", "(8, 4, 4, 4)", "(8, 2, 2, 4)", "(8, 4)", "(8, 10)"]:
        assert shape in table


def test_a_window_for_another_rank_names_the_expected_and_given_shapes():
    model = jn.Sequential([jn.MaxPool((2, 2))])
    with pytest.raises(jn.ShapeError, match=r"maxpool_0 \(MaxPool\).*\(batch, height, width, "
                                            r"channels\); got shape \(4, 8, 3\)"):
        model.apply({}, {}, jnp.zeros((4, 8, 3)))


@pytest.mark.parametrize("layer", [jn.MaxPool(2), jn.AvgPool(2), jn.GlobalAvgPool()])
def test_inputs_without_spatial_axes_are_a_shape_error(layer):
    with pytest.raises(jn.ShapeError, match=r"\(batch, length, channels\).*got shape \(4, 8\)"):
        layer.apply({}, {}, jnp.zeros((4, 8)))


def test_a_window_larger_than_the_input_is_a_shape_error():
    with pytest.raises(jn.ShapeError, match=r"window spanning \(5,\)"):
        jn.MaxPool(5).apply({}, {}, jnp.zeros((1, 4, 2)))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"window": 0}, "window takes a positive int"), ({"window": 2, "strides": (1, 0)}, "strides"),
     ({"window": 2, "padding": "FULL"}, 'padding must be "SAME"')],
)
def test_invalid_hyperparameters_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jn.AvgPool(**kwargs)
