"""Sequential and the rule every container shares: names, keys, entries, errors and summary."""

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import source_mlp

import jaxnet as jn


def test_names_are_counted_per_kind_of_layer():
    model = source_mlp()
    assert model.names == (
        "dense_0", "relu_0", "dropout_0", "dense_1", "batchnorm_0", "relu_1", "dropout_1",
        "dense_2",
    )
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 784)))
    assert sorted(params) == ["batchnorm_0", "dense_0", "dense_1", "dense_2"]
    assert sorted(params["dense_0"]) == ["b", "w"]
    assert sorted(params["batchnorm_0"]) == ["bias", "scale"]
    assert sorted(state) == ["batchnorm_0"]
    assert sorted(state["batchnorm_0"]) == ["mean", "var"]


def test_inserting_an_activation_or_dropout_renames_no_parameter():
    plain = jn.Sequential([jn.Dense(4), jn.Dense(3)])
    padded = jn.Sequential([jn.Dense(4), jn.tanh, jn.Dropout(0.5), jn.Dense(3)])
    x = jnp.zeros((1, 2))
    p1, _ = plain.init(jax.random.key(0), x)
    p2, _ = padded.init(jax.random.key(0), x)
    assert jax.tree.structure(p1) == jax.tree.structure(p2)


def test_user_names_are_kept_and_must_be_unique():
    model = jn.Sequential([jn.Dense(4, name="hidden"), jn.relu, jn.Dense(2, name="out")])
    params, _ = model.init(jax.random.key(0), jnp.zeros((1, 3)))
    assert sorted(params) == ["hidden", "out"]
    with pytest.raises(ValueError, match="unique.*hidden"):
        jn.Sequential([jn.Dense(4, name="hidden"), jn.Dense(2, name="hidden")])


def test_summary_shows_each_layer_its_output_shape_and_the_totals(capsys):
    model = source_mlp()
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 784)))
    text = jn.summary(model, params, state, jax.ShapeDtypeStruct((128, 784), jnp.float32))
    assert text in capsys.readouterr().out
    lines = text.splitlines()
    dense_0 = next(line for line in lines if line.startswith("dense_0 (Dense)"))
    assert "(128, 512)" in dense_0 and "401,920" in dense_0
    batchnorm = next(line for line in lines if line.startswith("batchnorm_0"))
    assert batchnorm.split()[-2:] == ["1,024", "1,024"]
    assert "(128, 10)" in next(line for line in lines if line.startswith("dense_2"))
    assert "Total: 671,754" in text
    assert "Trainable params: 670,730" in text
    assert "Non-trainable state: 1,024" in text


def test_plain_functions_and_lambdas_are_layers():
    model = jn.Sequential([jn.Dense(3), lambda x: 2 * x, jax.nn.relu])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    x = jnp.array([[1.0, -2.0]])
    y, _ = model.apply(params, state, x)
    expected = np.maximum(2 * (x @ params["dense_0"]["w"] + params["dense_0"]["b"][None]), 0)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert model.names == ("dense_0", "lambda_0", "relu_0")


def test_a_wrong_input_shape_names_the_layer_and_both_shapes():
    model = source_mlp()
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 784)))
    with pytest.raises(jn.ShapeError, match=r"dense_0 \(Dense\).*\(\.\.\., 784\).*\(32, 100\)"):
        model.apply(params, state, jnp.zeros((32, 100)))


def test_shape_errors_inside_nested_sequentials_name_the_whole_path():
    model = jn.Sequential([jn.Sequential([jn.Dense(4), jn.Dense(2)]), jn.Dense(1)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 3)))
    assert sorted(params["sequential_0"]) == ["dense_0", "dense_1"]
    with pytest.raises(jn.ShapeError, match=r"sequential_0 \(Sequential\): dense_0 \(Dense\)"):
        model.apply(params, state, jnp.zeros((2, 5)))


def test_parameters_of_another_model_are_rejected_with_their_names():
    other = jn.Sequential([jn.Dense(2, name="a")])
    params, state = other.init(jax.random.key(0), jnp.zeros((1, 2)))
    with pytest.raises(jn.LayerError, match=r"\['a'\].*dense_0"):
        jn.Sequential([jn.Dense(2)]).apply(params, state, jnp.zeros((1, 2)))


def test_a_non_callable_layer_is_a_type_error():
    with pytest.raises(TypeError, match="Layer or a function"):
        jn.Sequential([jn.Dense(2), 3])


def test_sequential_takes_a_list_of_layer_instances():
    with pytest.raises(TypeError, match=r"Sequential takes a list of layers, got Dense\("):
        jn.Sequential(jn.Dense(3))
    with pytest.raises(TypeError, match=r"the class Dense itself; create an instance"):
        jn.Sequential([jn.Dense])


def test_inserting_layers_changes_no_other_layers_initial_parameters():
    plain = jn.Sequential([jn.Dense(4), jn.Dense(3), jn.BatchNorm(), jn.Dense(2)])
    padded = jn.Sequential([
        jn.Dense(4), jn.relu, jn.Dropout(0.5), jn.Dense(3), jn.BatchNorm(), jn.tanh,
        jn.Dropout(0.1), jn.Dense(2),
    ])
    x = jax.ShapeDtypeStruct((1, 5), jnp.float32)
    expected, padded_init = plain.init(jax.random.key(0), x), padded.init(jax.random.key(0), x)
    assert jax.tree.structure(expected) == jax.tree.structure(padded_init)
    jax.tree.map(np.testing.assert_array_equal, expected, padded_init)


def mask(model, x, key):
    """Where a model ending in dropout zeroes its (nowhere zero) input, in training."""
    params, state = model.init(jax.random.key(0), x)
    y, _ = model.apply(params, state, x, key=key, train=True)
    return np.asarray(y) == 0


def test_dropout_masks_do_not_move_when_a_layer_is_inserted_before_them():
    x = jnp.asarray(np.random.default_rng(0).uniform(1.0, 2.0, (16, 6)), jnp.float32)
    key = jax.random.key(3)
    named = mask(jn.Sequential([jn.Dense(6), jn.sigmoid, jn.Dropout(0.5, name="drop")]), x, key)
    inserted = mask(jn.Sequential([
        jn.Dense(6), jn.sigmoid, jn.Dense(6, name="extra"), jn.sigmoid,
        jn.Dropout(0.5, name="drop"),
    ]), x, key)
    assert 0 < named.sum() < named.size
    np.testing.assert_array_equal(named, inserted)
    # An automatic name survives an inserted activation as well.
    plain = mask(jn.Sequential([jn.sigmoid, jn.Dropout(0.5)]), x, key)
    padded = mask(jn.Sequential([jn.sigmoid, jn.Activation(jnp.abs), jn.Dropout(0.5)]), x, key)
    np.testing.assert_array_equal(plain, padded)


def test_each_layer_key_is_the_given_key_folded_with_a_hash_of_its_name():
    inner = jn.Sequential([jn.Dense(3)])
    model = jn.Sequential([jn.relu, inner, jn.Dense(2, name="out")])
    x = jax.ShapeDtypeStruct((1, 4), jnp.float32)
    key = jax.random.key(7)
    params, _ = model.init(key, x)

    def name_key(key, name):
        return jax.random.fold_in(key, zlib.crc32(name.encode()))

    expected_inner, _ = jn.Dense(3).init(name_key(name_key(key, "sequential_0"), "dense_0"), x)
    expected_out, _ = jn.Dense(2).init(name_key(key, "out"), jax.ShapeDtypeStruct((1, 3), float))
    jax.tree.map(np.testing.assert_array_equal, params["sequential_0"]["dense_0"], expected_inner)
    jax.tree.map(np.testing.assert_array_equal, params["out"], expected_out)


def test_names_that_hash_to_the_same_key_are_refused():
    # A known pair of CRC-32 collisions: the two layers would draw identical weights.
    with pytest.raises(ValueError, match=r"\['plumless', 'buckeroo'\] hash to the same"):
        jn.Sequential([jn.Dense(2, name="plumless"), jn.Dense(2, name="buckeroo")])


def test_params_missing_a_layers_entry_name_the_layer():
    model = jn.Sequential([jn.Dense(4), jn.relu, jn.Sequential([jn.Dense(3), jn.tanh])])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    x = jnp.zeros((5, 2))
    with pytest.raises(jn.LayerError, match=r"dense_0 \(Dense\): params have no entry 'dense_0' "
                                            r"for this layer, which holds \{'b': \(4,\), "
                                            r"'w': \(2, 4\)\}"):
        model.apply({"sequential_0": params["sequential_0"]}, state, x)
    nested = {"dense_0": params["dense_0"], "sequential_0": {}}
    with pytest.raises(jn.LayerError, match=r"sequential_0 \(Sequential\): dense_0 \(Dense\): "
                                            r"params have no entry 'dense_0'"):
        model.apply(nested, state, x)
    # A layer without parameters needs no entry, inside a Sequential or not.
    only_activations = jn.Sequential([jn.Dense(2), jn.Sequential([jn.relu])])
    p, s = only_activations.init(jax.random.key(0), x)
    assert sorted(p) == ["dense_0"]
    assert only_activations.apply(p, s, x)[0].shape == (5, 2)
