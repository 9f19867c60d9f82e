"""Residual and Parallel against explicit sums and concatenations; models with several inputs and
several outputs: names, keys, state, summary, gradients, jit and vmap, errors."""

import dataclasses
import re
import zlib

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

X = random_normal((3, 4))


def dense(p, x):
    return np.asarray(x) @ np.asarray(p["w"]) + np.asarray(p["b"])


def name_key(key, name):
    return jax.random.fold_in(key, zlib.crc32(name.encode()))


# Residual


def test_residual_adds_the_block_output_to_its_input(transform):
    layer = jn.Residual([jn.Dense(4), jn.tanh])
    p = random_params(layer, X.shape)
    y, _ = transform(lambda p, x: layer.apply(p, {}, x))(p, X)
    np.testing.assert_allclose(y, X + np.tanh(dense(p["dense_0"], X)), rtol=1e-5, atol=1e-6)


def test_residual_with_a_projection_adds_the_projected_input():
    layer = jn.Residual([jn.Dense(8), jn.relu, jn.Dense(6)], projection=jn.Dense(6))
    p = random_params(layer, X.shape)
    assert sorted(p) == ["dense_0", "dense_1", "projection"]
    y, _ = layer.apply(p, {}, X)
    block = dense(p["dense_1"], np.maximum(dense(p["dense_0"], X), 0))
    np.testing.assert_allclose(y, dense(p["projection"], X) + block, rtol=1e-5, atol=1e-6)


def test_residual_block_layers_are_named_and_keyed_as_in_a_sequential():
    block = [jn.Dense(4), jn.relu, jn.Dense(4)]
    key = jax.random.key(3)
    ours, _ = jn.Residual(block, projection=jn.Dense(4)).init(key, X)
    sequential, _ = jn.Sequential(block).init(key, X)
    for name in ("dense_0", "dense_1"):
        jax.tree.map(np.testing.assert_array_equal, ours[name], sequential[name])
    projection, _ = jn.Dense(4).init(name_key(key, "projection"), X)
    jax.tree.map(np.testing.assert_array_equal, ours["projection"], projection)
    # A single layer or a Sequential are blocks too, held as a Sequential.
    assert jn.Residual(jn.Dense(4)).block == jn.Sequential([jn.Dense(4)])
    assert jn.Residual(jn.Sequential(block)) == jn.Residual(block)


def test_residual_nests_its_block_under_its_name_in_a_model_and_keeps_state():
    model = jn.Sequential([jn.Dense(4), jn.Residual([jn.Dense(4), jn.BatchNorm()]), jn.Dense(2)])
    params, state = model.init(jax.random.key(0), X)
    assert jax.tree.map(jnp.shape, params["residual_0"]) == {
        "dense_0": {"w": (4, 4), "b": (4,)}, "batchnorm_0": {"scale": (4,), "bias": (4,)}}
    assert sorted(state["residual_0"]["batchnorm_0"]) == ["mean", "var"]
    _, new_state = model.apply(params, state, X, train=True)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    h = dense(params["dense_0"], X) @ np.asarray(params["residual_0"]["dense_0"]["w"])
    h = h + np.asarray(params["residual_0"]["dense_0"]["b"])
    np.testing.assert_allclose(new_state["residual_0"]["batchnorm_0"]["mean"],
                               0.01 * h.mean(axis=0), rtol=1e-4, atol=1e-6)


def test_summary_and_count_params_see_through_a_residual(capsys):
    model = jn.Sequential([jn.Dense(100), jn.relu, jn.Residual([jn.Dense(100), jn.relu]),
                           jn.Dense(10)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 40)))
    assert jn.count_params(params) == 15_210  # the MNIST-1D MLP
    assert jn.count_params(params["residual_0"]) == 10_100
    table = jn.summary(model, params, state, jnp.zeros((32, 40)))
    assert re.search(r"residual_0 \(Residual\) +\(32, 100\) +10,100 +0\n", table)
    assert "Total: 15,210" in table


def test_a_residual_whose_block_changes_the_shape_needs_a_projection():
    model = jn.Sequential([jn.Residual([jn.Dense(8)])])
    with pytest.raises(jn.ShapeError, match=r"residual_0 \(Residual\): the block's output has "
                       r"shape \(1, 8\) but the input has shape \(1, 4\).*projection="):
        model.init(jax.random.key(0), jnp.zeros((1, 4)))
    with pytest.raises(jn.ShapeError, match=r"projection's output has shape \(1, 5\)"):
        jn.Residual([jn.Dense(8)], projection=jn.Dense(5)).init(jax.random.key(0), X[:1])
    with pytest.raises(ValueError, match="rename the block's layer"):
        jn.Residual([jn.Dense(4, name="projection")], projection=jn.Dense(4))


def test_residual_gradients_match_finite_differences():
    layer = jn.Residual([jn.Dense(5), jn.tanh, jn.Dense(3)], projection=jn.Dense(3))
    assert_gradients_match_finite_differences(lambda p, x: layer.apply(p, {}, x)[0],
                                              random_params(layer, X.shape), X)


# Parallel


def test_parallel_concat_of_two_dense_layers_is_one_wider_dense(transform):
    layer = jn.Parallel([jn.Dense(3), jn.Dense(5)], merge="concat")
    p = random_params(layer, X.shape)
    y, _ = transform(lambda p, x: layer.apply(p, {}, x))(p, X)
    wide = {k: np.concatenate([p["dense_0"][k], p["dense_1"][k]], axis=-1) for k in "wb"}
    np.testing.assert_allclose(y, dense(wide, X), rtol=1e-5, atol=1e-6)


def test_parallel_sum_adds_the_branches_and_none_keeps_them_apart():
    branches = [jn.Dense(3), jn.Sequential([jn.Dense(3), jn.tanh])]
    summed, apart = jn.Parallel(branches, merge="sum"), jn.Parallel(branches)
    p = random_params(summed, X.shape)
    first, second = dense(p["dense_0"], X), np.tanh(dense(p["sequential_0"]["dense_0"], X))
    np.testing.assert_allclose(summed.apply(p, {}, X)[0], first + second, rtol=1e-5, atol=1e-6)
    y, _ = apart.apply(p, {}, X)
    assert isinstance(y, tuple) and len(y) == 2
    np.testing.assert_allclose(y[0], first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[1], second, rtol=1e-5, atol=1e-6)


def test_parallel_branches_are_named_and_keyed_as_in_a_sequential():
    layer = jn.Parallel([jn.Dense(3), jn.relu, jn.Dense(2, name="small"), jn.Dense(3)])
    assert layer.names == ("dense_0", "relu_0", "small", "dense_1")
    key = jax.random.key(5)
    params, _ = layer.init(key, X)
    assert sorted(params) == ["dense_0", "dense_1", "small"]
    expected, _ = jn.Dense(3).init(name_key(key, "dense_1"), X)
    jax.tree.map(np.testing.assert_array_equal, params["dense_1"], expected)
    named = jn.Parallel({"logits": jn.Dense(3), "value": jn.Dense(1)})
    assert named.names == ("logits", "value")
    with pytest.raises(ValueError, match="unique within a Parallel"):
        jn.Parallel([jn.Dense(3, name="a"), jn.Dense(2, name="a")])


def test_split_branches_each_read_their_own_input():
    image, meta = random_normal((2, 3, 3), 4), random_normal((2, 5), 5)
    layer = jn.Parallel([jn.Flatten(), jn.Dense(2)], merge="concat", split=True)
    params, _ = layer.init(jax.random.key(0), (image, meta))
    y, _ = layer.apply(params, {}, (image, meta))
    np.testing.assert_allclose(y, np.concatenate(
        [np.reshape(image, (2, 9)), dense(params["dense_0"], meta)], axis=-1), rtol=1e-5)
    by_name = jn.Parallel({"meta": jn.Dense(2), "image": jn.Flatten()}, split=True)
    params, _ = by_name.init(jax.random.key(0), {"image": image, "meta": meta})
    y, _ = by_name.apply(params, {}, {"image": image, "meta": meta})
    assert list(y) == ["meta", "image"]
    np.testing.assert_allclose(y["meta"], dense(params["meta"], meta), rtol=1e-5)


def test_parallel_gradients_match_finite_differences():
    layer = jn.Parallel([jn.Dense(3), jn.Sequential([jn.Dense(4), jn.tanh])], merge="concat")
    assert_gradients_match_finite_differences(lambda p, x: layer.apply(p, {}, x)[0],
                                              random_params(layer, X.shape), X)


@pytest.mark.parametrize("layer", [
    jn.Residual([jn.Dense(4), jn.relu, jn.Dense(4)]),
    jn.Residual([jn.Dense(6)], projection=jn.Dense(6)),
    jn.Parallel([jn.Dense(3), jn.Dense(5)], merge="concat"),
    jn.Parallel([jn.Dense(3), jn.Dense(3)], merge="sum"),
], ids=["residual", "residual-projection", "parallel-concat", "parallel-sum"])
def test_the_shape_init_promises_is_the_shape_apply_returns_and_vmap_matches_a_loop(layer):
    assert_shape_agreement(layer, X.shape)
    assert_vmap_over_models_matches_loop(layer, X)


# Several inputs and several outputs


def two_headed_model():
    return jn.Sequential([
        jn.Parallel({"image": jn.Sequential([jn.Flatten(), jn.Dense(8)]), "meta": jn.Dense(8)},
                    merge="concat", split=True),
        jn.relu,
        jn.Parallel({"logits": jn.Dense(10), "value": jn.Dense(1)}),
    ])


INPUTS = {"image": random_normal((2, 4, 4), 6), "meta": random_normal((2, 3), 7)}


def test_a_model_with_two_inputs_and_two_outputs_follows_the_contract(transform):
    model = two_headed_model()
    params, state = model.init(jax.random.key(0), jax.tree.map(lambda a: a[:1], INPUTS))
    assert jax.tree.map(jnp.shape, params) == {
        "parallel_0": {"image": {"dense_0": {"w": (16, 8), "b": (8,)}},
                       "meta": {"w": (3, 8), "b": (8,)}},
        "parallel_1": {"logits": {"w": (16, 10), "b": (10,)}, "value": {"w": (16, 1), "b": (1,)}},
    }
    y, _ = transform(lambda p, x: model.apply(p, state, x))(params, INPUTS)
    p0, p1 = params["parallel_0"], params["parallel_1"]
    hidden = np.maximum(np.concatenate([dense(p0["image"]["dense_0"],
                                              np.reshape(INPUTS["image"], (2, 16))),
                                        dense(p0["meta"], INPUTS["meta"])], axis=-1), 0)
    np.testing.assert_allclose(y["logits"], dense(p1["logits"], hidden), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y["value"], dense(p1["value"], hidden), rtol=1e-5, atol=1e-5)


def test_summary_and_gradients_of_a_model_with_several_inputs_and_outputs(capsys):
    model = two_headed_model()
    params, state = model.init(jax.random.key(0), INPUTS)
    table = jn.summary(model, params, state, INPUTS)
    assert "{'logits': (2, 10), 'value': (2, 1)}" in table
    assert f"Total: {16 * 8 + 8 + 3 * 8 + 8 + 16 * 10 + 10 + 16 + 1:,}" in table

    def loss(p, x):
        y, _ = model.apply(p, state, x)
        return jn.losses.softmax_cross_entropy(y["logits"], jnp.array([1, 7])) + jnp.mean(
            jnp.square(y["value"]))

    assert_gradients_match_finite_differences(loss, params, INPUTS)


def test_a_function_selects_one_of_several_inputs():
    model = jn.Sequential([lambda xs: xs["meta"], jn.Dense(2)])
    params, state = model.init(jax.random.key(0), INPUTS)
    y, _ = model.apply(params, state, INPUTS)
    np.testing.assert_allclose(y, dense(params["dense_0"], INPUTS["meta"]), rtol=1e-5)


def test_several_inputs_given_to_a_layer_that_takes_one_name_the_layer_and_the_shapes():
    with pytest.raises(jn.ShapeError, match=r"dense_0 \(Dense\): expected one array, got tuple "
                       r"of shapes \(\(2, 3\), \(2, 4\)\)"):
        jn.Sequential([jn.Dense(2)]).init(jax.random.key(0), (jnp.zeros((2, 3)),
                                                              jnp.zeros((2, 4))))


@pytest.mark.parametrize("layer, x, message", [
    (jn.Parallel([jn.Dense(2), jn.Dense(2)], split=True), (jnp.zeros((2, 3)),),
     r"parallel_0 \(Parallel\): split branches expect a tuple of 2 inputs, one per branch, got "
     r"\(\(2, 3\),\)"),
    (jn.Parallel({"a": jn.Dense(2), "b": jn.Dense(2)}, split=True), {"a": jnp.zeros((2, 3))},
     r"split branches \['a', 'b'\] expect a dict of inputs with those keys, got \['a'\]"),
    (jn.Parallel([jn.Dense(2), jn.Dense(3)], merge="sum"), jnp.zeros((2, 3)),
     r"merge='sum' needs branch outputs of the same shape, got dense_0: \(2, 2\), dense_1: "
     r"\(2, 3\)"),
    (jn.Parallel([jn.Dense(2), jn.Flatten()], merge="concat"), jnp.zeros((2, 3, 3)),
     r"merge='concat' needs branch outputs of the same shape but for the last axis, got "
     r"dense_0: \(2, 3, 2\), flatten_0: \(2, 9\)"),
    (jn.Parallel([jn.Dense(2), jn.Parallel([jn.Dense(2), jn.Dense(2)])], merge="concat"),
     jnp.zeros((2, 3)), r"merge='concat' takes one array from each branch"),
    (jn.Parallel([jn.Dense(2), jn.Dense(2, name="x")], split=True),
     (jnp.zeros((2, 3)), (jnp.zeros((2, 4)), jnp.zeros((2, 5)))),
     r"parallel_0 \(Parallel\): x \(Dense\): expected one array"),
], ids=["split-count", "split-keys", "sum-shapes", "concat-shapes", "merge-tuple", "branch"])
def test_inputs_and_outputs_that_do_not_fit_are_shape_errors_naming_the_layer(layer, x, message):
    spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), x)
    with pytest.raises(jn.ShapeError, match=message):
        jn.Sequential([layer]).init(jax.random.key(0), spec)


def test_invalid_parallel_constructions_fail_early():
    with pytest.raises(ValueError, match="merge must be one of"):
        jn.Parallel([jn.Dense(2)], merge="mean")
    with pytest.raises(TypeError, match="list or dict of branches"):
        jn.Parallel(jn.Dense(2))
    with pytest.raises(ValueError, match="at least one branch"):
        jn.Parallel([])
    with pytest.raises(TypeError, match="split must be True or False"):
        jn.Parallel([jn.Dense(2)], split=1)


def test_combinators_compare_and_hash_by_their_fields_and_survive_replace():
    a = jn.Parallel({"x": jn.Dense(2)}, merge="concat")
    assert a == jn.Parallel({"x": jn.Dense(2)}, merge="concat") and hash(a) == hash(
        jn.Parallel({"x": jn.Dense(2)}, merge="concat"))
    assert a != jn.Parallel({"y": jn.Dense(2)}, merge="concat")
    assert jn.Residual([jn.Dense(2)]) != jn.Residual([jn.Dense(3)])
    summed = dataclasses.replace(a, merge="sum")
    assert summed.names == ("x",) and summed.merge == "sum"
    with pytest.raises(TypeError, match="branch names must be strings"):
        jn.Parallel({1: jn.Dense(2)})
