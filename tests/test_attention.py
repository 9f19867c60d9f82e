"""MultiHeadAttention against flax.linen.MultiHeadDotProductAttention with the same weights:
self- and cross-attention, causal and length masks; padding, dropout, gradients, errors."""

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
)

import jaxnet as jn

BATCH, TIME, FEATURES, HEADS = 3, 6, 8, 2
SHAPE = (BATCH, TIME, FEATURES)
LENGTHS = jnp.array([6, 2, 4])


def flax_params(p):
    """Flax's parameters: the same arrays, biases of query, key and value as (heads, head_dim)."""
    return {"params": {name: {"kernel": p[name]["w"],
                              "bias": p[name]["b"].reshape(p[name]["w"].shape[1:])
                              if name != "out" else p[name]["b"]}
                       for name in ("query", "key", "value", "out")}}


def valid_steps(lengths, time=TIME):
    return jnp.arange(time)[None, :] < lengths[:, None]


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_flax(causal, transform):
    layer = jn.MultiHeadAttention(HEADS, causal=causal)
    p, x = random_params(layer, SHAPE), random_normal(SHAPE)
    y, _ = transform(lambda p, x: layer.apply(p, {}, x))(p, x)
    mask = nn.make_causal_mask(jnp.ones((BATCH, TIME))) if causal else None
    expected = nn.MultiHeadDotProductAttention(num_heads=HEADS).apply(flax_params(p), x,
                                                                      mask=mask)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_cross_attention_with_other_widths_matches_flax(transform):
    layer = jn.MultiHeadAttention(HEADS, qkv_features=12, out_features=3)
    x, context = random_normal(SHAPE, 1), random_normal((BATCH, 9, 5), 2)
    spec = (jax.ShapeDtypeStruct(SHAPE, jnp.float32),
            jax.ShapeDtypeStruct(context.shape, jnp.float32))
    shapes, _ = jax.eval_shape(layer.init, jax.random.key(0), spec)
    assert jax.tree.map(lambda s: s.shape, shapes) == {
        "query": {"w": (8, 2, 6), "b": (12,)}, "key": {"w": (5, 2, 6), "b": (12,)},
        "value": {"w": (5, 2, 6), "b": (12,)}, "out": {"w": (2, 6, 3), "b": (3,)}}
    p, _ = layer.init(jax.random.key(0), spec)
    y, _ = transform(lambda p, x, c: layer.apply(p, {}, (x, c)))(p, x, context)
    flax_layer = nn.MultiHeadDotProductAttention(num_heads=HEADS, qkv_features=12,
                                                 out_features=3)
    np.testing.assert_allclose(y, flax_layer.apply(flax_params(p), x, context), rtol=1e-5,
                               atol=1e-5)


def test_lengths_mask_the_keys_as_a_flax_attention_mask_does():
    layer = jn.MultiHeadAttention(HEADS, causal=True)
    p, x = random_params(layer, SHAPE), random_normal(SHAPE)
    y, _ = jax.jit(lambda p, x, n: layer.apply(p, {}, x, lengths=n))(p, x, LENGTHS)
    valid = valid_steps(LENGTHS)
    mask = nn.combine_masks(nn.make_causal_mask(jnp.ones((BATCH, TIME))),
                            nn.make_attention_mask(valid, valid))
    expected = nn.MultiHeadDotProductAttention(num_heads=HEADS).apply(flax_params(p), x,
                                                                      mask=mask)
    np.testing.assert_allclose(np.asarray(y)[valid], np.asarray(expected)[valid], rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(np.asarray(y)[~valid], 0.0)


@pytest.mark.parametrize("causal", [False, True])
def test_garbage_after_each_length_changes_nothing(causal):
    lengths = jnp.array([6, 0, 3])
    layer = jn.MultiHeadAttention(HEADS, causal=causal)
    p, x = random_params(layer, SHAPE), random_normal(SHAPE)
    padded = ~valid_steps(lengths)[:, :, None]
    garbage = jnp.where(padded, 1e3 * random_normal(SHAPE, 9), x)
    apply = jax.jit(lambda x: layer.apply(p, {}, x, lengths=lengths)[0])
    np.testing.assert_array_equal(apply(garbage), apply(x))
    for b, length in enumerate(lengths.tolist()):
        if length:  # each example alone, cut at its length
            alone, _ = layer.apply(p, {}, x[b:b + 1, :length])
            np.testing.assert_allclose(apply(x)[b, :length], alone[0], rtol=1e-5, atol=1e-6)


def test_a_sequential_passes_lengths_to_attention_inside_a_residual():
    model = jn.Sequential([jn.Residual([jn.LayerNorm(), jn.MultiHeadAttention(HEADS)]),
                           jn.Dense(2)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, TIME, FEATURES)))
    x = random_normal(SHAPE)
    y, _ = model.apply(params, state, x, lengths=LENGTHS)
    inner = params["residual_0"]
    h = jn.LayerNorm().apply(inner["layernorm_0"], {}, x)[0]
    a, _ = jn.MultiHeadAttention(HEADS).apply(inner["multiheadattention_0"], {}, h,
                                              lengths=LENGTHS)
    expected, _ = jn.Dense(2).apply(params["dense_0"], {}, x + a)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    full, _ = model.apply(params, state, x)
    assert not np.allclose(np.asarray(y)[1, :2], np.asarray(full)[1, :2], atol=1e-3)


@pytest.mark.slow
def test_attention_dropout_is_unbiased_needs_a_key_and_is_off_in_evaluation():
    layer = jn.MultiHeadAttention(HEADS, causal=True, dropout_rate=0.3)
    p, x = random_params(layer, SHAPE), random_normal(SHAPE)
    evaluation, _ = layer.apply(p, {}, x)
    np.testing.assert_allclose(evaluation, jn.MultiHeadAttention(HEADS, causal=True).apply(
        p, {}, x)[0], rtol=1e-6)
    train = jax.jit(jax.vmap(lambda k: layer.apply(p, {}, x, key=k, train=True)[0]))
    samples = train(jax.random.split(jax.random.key(0), 4000))
    assert not np.allclose(samples[0], evaluation, atol=1e-2)
    np.testing.assert_array_equal(samples[0], train(jax.random.split(jax.random.key(0), 4000))[0])
    # Inverted dropout on the weights leaves their expectation, so the output's, unchanged.
    standard_error = samples.std(axis=0) / np.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(axis=0) - evaluation) < 5 * standard_error + 1e-6)
    with pytest.raises(jn.LayerError, match="attention dropout draws random masks"):
        layer.apply(p, {}, x, train=True)


@pytest.mark.slow
def test_attention_gradients_match_finite_differences():
    # In training with dropout the layer computes the softmax itself, in the inputs' dtype: the
    # check runs in float64. (jax.nn.dot_product_attention, used otherwise, always takes the
    # softmax in float32, so its float64 gradients are float32-accurate; the next test compares
    # them with Flax's.)
    layer = jn.MultiHeadAttention(HEADS, causal=True, dropout_rate=0.3)
    p, x = random_params(layer, SHAPE), random_normal(SHAPE)
    assert_gradients_match_finite_differences(
        lambda p, x: layer.apply(p, {}, x, key=jax.random.key(0), train=True,
                                 lengths=LENGTHS)[0], p, x)


@pytest.mark.slow
def test_attention_gradients_match_flax_gradients():
    layer = jn.MultiHeadAttention(HEADS, causal=True)
    p, x = random_params(layer, SHAPE), random_normal(SHAPE)
    weights = random_normal(SHAPE, 3)
    mask = nn.make_causal_mask(jnp.ones((BATCH, TIME)))
    flax_layer = nn.MultiHeadDotProductAttention(num_heads=HEADS)

    def ours(p, x):
        return jnp.sum(layer.apply(p, {}, x)[0] * weights)

    def theirs(p, x):
        return jnp.sum(flax_layer.apply(flax_params(p), x, mask=mask) * weights)

    grad_p, grad_x = jax.grad(ours, (0, 1))(p, x)
    flax_p, flax_x = jax.grad(theirs, (0, 1))(p, x)
    np.testing.assert_allclose(grad_x, flax_x, rtol=1e-4, atol=1e-5)
    for name in ("query", "key", "value", "out"):
        for leaf in "wb":
            np.testing.assert_allclose(grad_p[name][leaf], flax_p[name][leaf], rtol=1e-4,
                                       atol=1e-5)


@pytest.mark.parametrize("layer", [
    jn.MultiHeadAttention(HEADS), jn.MultiHeadAttention(4, qkv_features=16, out_features=5,
                                                        use_bias=False, causal=True)],
    ids=["default", "widths-no-bias"])
def test_the_shape_init_promises_is_the_shape_apply_returns_and_vmap_matches_a_loop(layer):
    y = assert_shape_agreement(layer, SHAPE)
    assert y.shape == (BATCH, TIME, layer.out_features or FEATURES)
    assert_vmap_over_models_matches_loop(layer, random_normal(SHAPE))


def test_kernels_are_drawn_as_matrices_of_the_whole_width():
    params, _ = jn.MultiHeadAttention(4, kernel_init=jax.nn.initializers.ones,
                                      bias_init=jax.nn.initializers.ones).init(
        jax.random.key(0), jnp.zeros((1, 5, 16)))
    np.testing.assert_array_equal(params["value"]["w"], np.ones((16, 4, 4)))
    np.testing.assert_array_equal(params["out"]["b"], np.ones(16))
    glorot, _ = jn.MultiHeadAttention(4).init(jax.random.key(0), jnp.zeros((1, 5, 64)))
    limit = np.sqrt(6 / (64 + 64))  # fan in 64, fan out 4 heads x 16
    assert limit * 0.95 < float(jnp.max(jnp.abs(glorot["query"]["w"]))) <= limit


@pytest.mark.parametrize("x, message", [
    (jnp.zeros((2, 8)), r"expected queries of shape \(batch, time, features\), got shape \(2, 8\)"),
    (jnp.zeros((2, 5, 4)), r"params\['w'\] has shape \(8, 2, 4\), but this layer expects "
                           r"\(4, 2, head_dim\)"),
    ((jnp.zeros((2, 5, 8)), jnp.zeros((3, 5, 8))), r"must hold the same number of examples"),
    ((jnp.zeros((2, 5, 8)),) * 3, r"or a pair \(queries, context\) of them"),
], ids=["rank", "width", "batch", "three"])
def test_inputs_that_do_not_fit_name_the_layer_and_the_shapes(x, message):
    model = jn.Sequential([jn.MultiHeadAttention(HEADS)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 5, FEATURES)))
    with pytest.raises(jn.ShapeError, match=r"multiheadattention_0 \(MultiHeadAttention\): .*"
                       + message):
        model.apply(params, state, x)


def test_invalid_constructions_fail_early():
    with pytest.raises(ValueError, match=r"qkv_features \(10\) must be divisible by num_heads"):
        jn.MultiHeadAttention(4, qkv_features=10)
    with pytest.raises(jn.ShapeError, match="query width 6 .* divisible by num_heads"):
        jn.MultiHeadAttention(4).init(jax.random.key(0), jnp.zeros((1, 5, 6)))
    with pytest.raises(ValueError, match=r"dropout_rate must lie in \[0, 1\)"):
        jn.MultiHeadAttention(2, dropout_rate=1.0)
    with pytest.raises(ValueError, match="num_heads must be an integer >= 1"):
        jn.MultiHeadAttention(0)


def test_default_penalties_read_the_kernels_and_no_bias():
    params, _ = jn.MultiHeadAttention(HEADS).init(jax.random.key(0), jnp.zeros((1, TIME,
                                                                               FEATURES)))
    params = jax.tree.map(jnp.ones_like, params)
    kernels = sum(params[name]["w"].size for name in params)
    np.testing.assert_allclose(jn.regularizers.l1(1.0)(params), kernels)
