"""Conv1D and Conv2D against flax.linen.Conv and a NumPy loop; gradients, batching and errors."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    assert_gradients_match_finite_differences,
    assert_shape_agreement,
    assert_vmap_over_models_matches_loop,
    random_normal,
    random_params,
    same_pads,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnet as jn
from jaxnet.core import output_shape


def numpy_conv(x, w, b, strides, pads, dilation, groups):
    """The convolution written out: every output position, kernel tap and group, in float64."""
    n = x.ndim - 2
    x = np.pad(np.asarray(x, np.float64), [(0, 0), *pads, (0, 0)])
    w = np.asarray(w, np.float64)
    kernel, group_in, features = w.shape[:n], w.shape[-2], w.shape[-1]
    group_out = features // groups
    out = [
        (x.shape[1 + i] - (kernel[i] - 1) * dilation[i] - 1) // strides[i] + 1 for i in range(n)
    ]
    y = np.zeros((x.shape[0], *out, features))
    for o in np.ndindex(*out):
        for k in np.ndindex(*kernel):
            patch = x[(slice(None), *(o[i] * strides[i] + k[i] * dilation[i] for i in range(n)))]
            for g in range(groups):
                cin, cout = slice(g * group_in, (g + 1) * group_in), slice(
                    g * group_out, (g + 1) * group_out
                )
                y[(slice(None), *o, cout)] += patch[:, cin] @ w[k][:, cout]
    return y + (0.0 if b is None else np.asarray(b, np.float64))


def explicit_pads(layer, spatial):
    padding = layer.padding
    if padding == "VALID":
        return [(0, 0)] * len(spatial)
    if padding == "SAME":
        return same_pads(spatial, layer.window, layer.strides)
    return list(padding)


CONFIGS = [
    (jn.Conv1D(4, 3), (2, 9, 3)),
    (jn.Conv1D(25, 5, strides=2, padding=1), (2, 40, 1)),
    (jn.Conv1D(4, 3, strides=2, padding="SAME", dilation=2), (2, 10, 3)),
    (jn.Conv1D(4, 3, padding=[(2, 0)]), (1, 7, 2)),
    (jn.Conv1D(6, 3, feature_group_count=3, use_bias=False), (2, 8, 6)),
    (jn.Conv2D(4, (3, 2), strides=(2, 1), padding="SAME"), (2, 7, 6, 3)),
    (jn.Conv2D(4, 3, dilation=(2, 1), padding=((1, 2), (0, 1))), (1, 8, 5, 2)),
    (jn.Conv2D(6, 3, feature_group_count=3, padding=1), (2, 5, 5, 3)),
]
IDS = [f"{type(layer).__name__}-{i}" for i, (layer, _) in enumerate(CONFIGS)]


def flax_conv(layer):
    return nn.Conv(
        layer.features, layer.kernel_size, strides=layer.strides, padding=layer.padding,
        kernel_dilation=layer.dilation, feature_group_count=layer.feature_group_count,
        use_bias=layer.use_bias,
    )


def random_case(layer, shape, seed=0):
    return random_params(layer, shape, seed), random_normal(shape, seed + 1)


@pytest.mark.parametrize("layer, shape", CONFIGS, ids=IDS)
def test_conv_matches_flax_and_a_numpy_loop_with_the_same_weights(layer, shape):
    params, x = random_case(layer, shape)
    y, _ = jax.jit(layer.apply)(params, {}, x)
    assert output_shape(layer, params, {}, x).shape == y.shape
    flax_params = {"kernel": params["w"], **({"bias": params["b"]} if layer.use_bias else {})}
    expected = jax.jit(flax_conv(layer).apply)({"params": flax_params}, x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    expected = numpy_conv(
        x, params["w"], params.get("b"), layer.strides, explicit_pads(layer, shape[1:-1]),
        layer.dilation, layer.feature_group_count,
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=6, deadline=None)
@given(
    spatial_dims=st.integers(1, 2), kernel=st.integers(1, 3), stride=st.integers(1, 3),
    dilation=st.integers(1, 2), padding=st.sampled_from(["SAME", "VALID", 0, 1, ((0, 2),)]),
    groups=st.integers(1, 2), group_in=st.integers(1, 2), group_out=st.integers(1, 2),
    extra=st.integers(0, 4), seed=st.integers(0, 2**16),
)
def test_random_convolutions_match_a_numpy_loop(
    spatial_dims, kernel, stride, dilation, padding, groups, group_in, group_out, extra, seed
):
    if isinstance(padding, tuple):
        padding = padding * spatial_dims
    conv = jn.Conv1D if spatial_dims == 1 else jn.Conv2D
    layer = conv(groups * group_out, kernel, strides=stride, padding=padding, dilation=dilation,
                 feature_group_count=groups)
    shape = (2, *(layer.window[0] + extra,) * spatial_dims, groups * group_in)
    params, x = random_case(layer, shape, seed)
    y, _ = jax.jit(layer.apply)(params, {}, x)
    expected = numpy_conv(x, params["w"], params["b"], layer.strides,
                          explicit_pads(layer, shape[1:-1]), layer.dilation, groups)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer, shape", [CONFIGS[1], CONFIGS[5]], ids=[IDS[1], IDS[5]])
def test_the_shape_init_promises_is_the_shape_apply_returns(layer, shape):
    assert_shape_agreement(layer, shape)


@pytest.mark.parametrize("layer, shape", [CONFIGS[2], CONFIGS[6]], ids=[IDS[2], IDS[6]])
def test_conv_gradients_match_finite_differences(layer, shape):
    params, x = random_case(layer, shape)
    assert_gradients_match_finite_differences(lambda p, x: layer.apply(p, {}, x)[0], params, x)


@pytest.mark.parametrize("layer, shape", [CONFIGS[1], CONFIGS[6]], ids=[IDS[1], IDS[6]])
def test_a_batch_of_models_under_vmap_matches_a_loop(layer, shape):
    assert_vmap_over_models_matches_loop(layer, random_normal(shape))


def test_kernel_layout_and_default_initializers():
    params, _ = jn.Conv2D(64, (3, 5), feature_group_count=2).init(
        jax.random.key(0), jnp.zeros((1, 9, 9, 32))
    )
    assert params["w"].shape == (3, 5, 16, 64) and params["b"].shape == (64,)
    limit = np.sqrt(6 / (3 * 5 * 16 + 3 * 5 * 64))  # Glorot: fans include the kernel's extent
    assert 0.95 * limit < float(jnp.max(jnp.abs(params["w"]))) <= limit
    np.testing.assert_array_equal(params["b"], np.zeros(64))


def test_initializers_are_selectable():
    ones = jax.nn.initializers.ones
    layer = jn.Conv1D(8, 3, kernel_init=ones, bias_init=ones)
    params, _ = layer.init(jax.random.key(0), jnp.zeros((1, 5, 2)))
    np.testing.assert_array_equal(params["w"], np.ones((3, 2, 8)))
    np.testing.assert_array_equal(params["b"], np.ones(8))


def test_source_cnn_has_the_published_shapes_and_parameter_count(capsys):
    model = jn.Sequential([
        jn.Reshape((40, 1)),
        jn.Conv1D(25, 5, strides=2, padding=1), jn.relu,
        jn.Conv1D(25, 3, strides=2, padding=1), jn.relu,
        jn.Conv1D(25, 3, strides=2, padding=1), jn.relu,
        jn.Flatten(), jn.Dense(10),
    ])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 40)))
    assert jn.count_params(params) == 5210
    table = jn.summary(model, params, state, jnp.zeros((100, 40)))
    for shape in ["(100, 19, 25)", "(100, 10, 25)", "(100, 5, 25)", "(100, 125)", "(100, 10)"]:
        assert shape in table


def test_inputs_with_another_channel_count_name_both_shapes():
    model = jn.Sequential([jn.Conv1D(4, 3)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 8, 3)))
    message = r"conv1d_0 \(Conv1D\).*\(batch, length, 3\).*\(2, 8, 5\)"
    with pytest.raises(jn.ShapeError, match=message):
        model.apply(params, state, jnp.zeros((2, 8, 5)))


@pytest.mark.parametrize(
    "layer, shape",
    [(jn.Conv2D(4, 3), (2, 8, 3)), (jn.Conv1D(4, 3), (8, 3)), (jn.Conv1D(4, 3), (2, 4, 4, 3))],
)
def test_inputs_of_the_wrong_rank_are_a_shape_error(layer, shape):
    with pytest.raises(jn.ShapeError, match=r"expected inputs of shape \(batch, .*got shape"):
        layer.init(jax.random.key(0), jnp.zeros(shape))


def test_a_kernel_larger_than_the_padded_input_is_a_shape_error():
    layer = jn.Conv1D(4, 3, dilation=3)
    params, _ = layer.init(jax.random.key(0), jnp.zeros((1, 10, 2)))
    with pytest.raises(jn.ShapeError, match=r"window spanning \(7,\).*\(5,\)"):
        layer.apply(params, {}, jnp.zeros((1, 5, 2)))


def test_channels_that_do_not_split_into_the_groups_are_a_shape_error():
    with pytest.raises(jn.ShapeError, match="3 channels.*feature_group_count=2"):
        jn.Conv1D(4, 3, feature_group_count=2).init(jax.random.key(0), jnp.zeros((1, 8, 3)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"features": 0, "kernel_size": 3}, "features must be an integer >= 1"),
        ({"features": 5, "kernel_size": 3, "feature_group_count": 2}, "positive divisor"),
        ({"features": 4, "kernel_size": (3, 3)}, "kernel_size takes an int or 1 ints"),
        ({"features": 4, "kernel_size": 0}, "kernel_size takes a positive int"),
        ({"features": 4, "kernel_size": 3, "strides": -1}, "strides takes a positive int"),
        ({"features": 4, "kernel_size": 3, "padding": "FULL"}, 'padding must be "SAME"'),
        ({"features": 4, "kernel_size": 3, "padding": -1}, "non-negative"),
        ({"features": 4, "kernel_size": 3, "padding": [1, 1]}, "one int or"),
    ],
)
def test_invalid_hyperparameters_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jn.Conv1D(**kwargs)
