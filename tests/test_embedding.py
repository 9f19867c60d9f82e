"""Embedding against indexing, one-hot products and flax.linen.Embed; ids out of range."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_gradients_match_finite_differences
from jax.experimental import checkify

import jaxnet as jn

IDS = jnp.array([[3, 0, 9, 3], [1, 1, 7, 2]], jnp.int32)


def table(num=10, features=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"embedding": jnp.asarray(rng.standard_normal((num, features)), jnp.float32)}


def test_embedding_rows_are_the_table_rows_of_the_ids(transform):
    params = table()
    y, _ = transform(lambda p, ids: jn.Embedding(10, 5).apply(p, {}, ids))(params, IDS)
    np.testing.assert_array_equal(y, np.asarray(params["embedding"])[np.asarray(IDS)])
    assert y.shape == (2, 4, 5) and y.dtype == jnp.float32


def test_embedding_matches_flax_embed_with_the_same_table():
    params = table()
    expected = nn.Embed(10, 5).apply({"params": params}, IDS)
    np.testing.assert_array_equal(jn.Embedding(10, 5).apply(params, {}, IDS)[0], expected)


def test_default_init_has_flax_embed_variance():
    params, _ = jn.Embedding(1000, 64).init(jax.random.key(0), jax.ShapeDtypeStruct((1,), int))
    flax_params = nn.Embed(1000, 64).init(jax.random.key(0), jnp.zeros((1,), jnp.int32))
    ours, theirs = params["embedding"], flax_params["params"]["embedding"]
    assert ours.shape == theirs.shape == (1000, 64)
    np.testing.assert_allclose(float(jnp.std(ours)), 1 / np.sqrt(64), rtol=0.02)
    np.testing.assert_allclose(float(jnp.std(ours)), float(jnp.std(theirs)), rtol=0.03)


def test_embedding_is_a_product_with_one_hot_vectors_and_so_are_its_gradients():
    params = table()
    layer = jn.Embedding(10, 5)
    weights = jnp.asarray(np.random.default_rng(1).standard_normal((2, 4, 5)), jnp.float32)

    def ours(p):
        return jnp.sum(layer.apply(p, {}, IDS)[0] * weights)

    def one_hot(p):
        return jnp.sum(jax.nn.one_hot(IDS, 10) @ p["embedding"] * weights)

    np.testing.assert_allclose(ours(params), one_hot(params), rtol=1e-5)
    np.testing.assert_allclose(jax.grad(ours)(params)["embedding"],
                               jax.grad(one_hot)(params)["embedding"], rtol=1e-5, atol=1e-6)
    assert_gradients_match_finite_differences(lambda p, w: jnp.sum(layer.apply(p, {}, IDS)[0] * w),
                                              params, weights)


def test_embedding_in_a_model_under_jit_and_vmap_over_models():
    model = jn.Sequential([jn.Embedding(10, 5), jn.GlobalAvgPool(), jn.Dense(2)])
    x = jax.ShapeDtypeStruct((1, 4), jnp.int32)
    keys = jax.random.split(jax.random.key(0), 3)
    stacked, _ = jax.jit(jax.vmap(lambda k: model.init(k, x)))(keys)
    assert stacked["embedding_0"]["embedding"].shape == (3, 10, 5)
    apply = jax.jit(lambda p: model.apply(p, {}, IDS)[0])
    batched = jax.jit(jax.vmap(apply))(stacked)
    for i in range(3):
        one = jax.tree.map(lambda leaf, i=i: leaf[i], stacked)
        np.testing.assert_allclose(batched[i], apply(one), rtol=1e-5, atol=1e-6)
        rows = np.asarray(one["embedding_0"]["embedding"])[np.asarray(IDS)].mean(axis=1)
        expected = rows @ np.asarray(one["dense_0"]["w"]) + np.asarray(one["dense_0"]["b"])
        np.testing.assert_allclose(batched[i], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad, found", [(10, "10 at index (1, 2)"), (-1, "-1 at index (1, 2)")])
def test_ids_out_of_range_are_an_error_naming_the_layer_and_the_id(bad, found):
    model = jn.Sequential([jn.Embedding(10, 5)])
    params, state = model.init(jax.random.key(0), IDS)
    ids = IDS.at[1, 2].set(bad)
    message = f"embedding_0 (Embedding): ids must be integers in [0, 10); found {found}"
    with pytest.raises(jn.LayerError, match=re.escape(message)):
        model.apply(params, state, ids)


def test_ids_out_of_range_under_jit_give_nan_rows_or_a_checkify_error():
    layer = jn.Embedding(10, 5)
    apply = jax.jit(lambda ids: layer.apply(table(), {}, ids)[0])
    y = np.asarray(apply(IDS.at[0, 1].set(10).at[1, 3].set(-2)))
    assert np.isnan(y[0, 1]).all() and np.isnan(y[1, 3]).all()
    assert np.isfinite(np.delete(y.reshape(8, 5), [1, 7], axis=0)).all()
    checked = jax.jit(checkify.checkify(lambda ids: layer.apply(table(), {}, ids)[0]))
    with jn.debug_checks():
        error, _ = checked(IDS.at[0, 1].set(12))
    with pytest.raises(checkify.JaxRuntimeError, match=r"ids must be integers in \[0, 10\); "
                       "found 12"):
        error.throw()


def test_ids_that_are_not_integers_are_an_error_at_init_and_apply():
    with pytest.raises(jn.LayerError, match=r"embedding_0 \(Embedding\): expected integer ids, "
                       r"got float32 inputs of shape \(1, 4\)"):
        jn.Sequential([jn.Embedding(10, 5)]).init(jax.random.key(0), jnp.zeros((1, 4)))
    with pytest.raises(jn.LayerError, match="expected integer ids, got float32"):
        jn.Embedding(10, 5).apply(table(), {}, jnp.zeros((1, 4)))


def test_a_table_of_other_sizes_is_a_shape_error_and_sizes_must_be_positive_integers():
    with pytest.raises(jn.ShapeError, match=r"params\['embedding'\] has shape \(10, 5\), but "
                       r"this layer expects \(12, 5\)"):
        jn.Embedding(12, 5).apply(table(), {}, IDS)
    with pytest.raises(ValueError, match="Embedding num_embeddings must be an integer >= 1"):
        jn.Embedding(0, 5)
    with pytest.raises(TypeError, match="Embedding features must be an integer, got 2.5"):
        jn.Embedding(10, 2.5)
