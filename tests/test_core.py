"""The layer contract: names, shapes, determinism, counts, summary and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet as jn
from jaxnet.core import output_shape


def source_mlp(rate=0.2):
    """The source material's MNIST network (the L2 penalty lives in the objective)."""
    return jn.Sequential([
        jn.Dense(512), jn.relu, jn.Dropout(rate),
        jn.Dense(512), jn.BatchNorm(), jn.relu, jn.Dropout(rate),
        jn.Dense(10),
    ])


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


def test_source_mlp_has_the_keras_parameter_counts():
    model = source_mlp()
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 784)))
    assert jn.count_params(params) == 670_730
    assert jn.count_params(state) == 1_024
    assert jn.count_params((params, state)) == 671_754


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


def test_init_reads_only_shapes_so_an_abstract_input_gives_the_same_parameters():
    model = source_mlp()
    concrete = model.init(jax.random.key(3), jnp.zeros((1, 784)))
    abstract = model.init(jax.random.key(3), jax.ShapeDtypeStruct((1, 784), jnp.float32))
    jax.tree.map(np.testing.assert_array_equal, concrete, abstract)


def test_init_of_a_large_model_runs_no_forward_pass():
    wide = jn.Sequential([jn.Dense(8), jn.relu, jn.Dense(4)])
    # A batch of a million examples would take gigabytes if init ran the model on it.
    big = jax.ShapeDtypeStruct((1_000_000, 4096), jnp.float32)
    params, _ = wide.init(jax.random.key(0), big)
    assert params["dense_0"]["w"].shape == (4096, 8)


def test_same_inputs_and_key_give_bitwise_identical_outputs(transform):
    model = source_mlp()
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 784)))
    x = jax.random.normal(jax.random.key(1), (16, 784))
    apply = transform(lambda p, s, x, k: model.apply(p, s, x, key=k, train=True))
    y1, s1 = apply(params, state, x, jax.random.key(2))
    y2, s2 = apply(params, state, x, jax.random.key(2))
    np.testing.assert_array_equal(y1, y2)
    jax.tree.map(np.testing.assert_array_equal, s1, s2)
    y3, _ = apply(params, state, x, jax.random.key(3))
    assert not np.array_equal(y1, y3)


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


def test_shape_errors_are_raised_under_jit_too():
    model = jn.Sequential([jn.Dense(4)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 3)))
    with pytest.raises(jn.ShapeError, match="dense_0"):
        jax.jit(lambda x: model.apply(params, state, x))(jnp.zeros((2, 5)))


def test_training_with_dropout_but_no_key_is_a_clear_error():
    model = source_mlp()
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 784)))
    with pytest.raises(jn.LayerError, match=r"dropout_0 \(Dropout\).*needs a key"):
        model.apply(params, state, jnp.zeros((2, 784)), train=True)


def test_parameters_of_another_model_are_rejected_with_their_names():
    other = jn.Sequential([jn.Dense(2, name="a")])
    params, state = other.init(jax.random.key(0), jnp.zeros((1, 2)))
    with pytest.raises(jn.LayerError, match=r"\['a'\].*dense_0"):
        jn.Sequential([jn.Dense(2)]).apply(params, state, jnp.zeros((1, 2)))


def test_a_non_callable_layer_is_a_type_error():
    with pytest.raises(TypeError, match="Layer or a function"):
        jn.Sequential([jn.Dense(2), 3])


LAYERS = [
    (jn.Dense(5), (3, 4)),
    (jn.Dense(5, use_bias=False), (2, 7, 4)),
    (jn.Dropout(0.3), (3, 4)),
    (jn.BatchNorm(), (6, 4)),
    (jn.BatchNorm(), (2, 3, 3, 4)),
    (jn.LayerNorm(), (3, 4)),
    (jn.Flatten(), (2, 3, 4)),
    (jn.Reshape((2, -1)), (3, 8)),
    (jn.Activation("softmax"), (3, 4)),
    (jn.PReLU(), (3, 4)),
    (source_mlp(), (2, 6)),
]


@pytest.mark.parametrize("layer, shape", LAYERS, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("train", [False, True])
def test_the_shape_init_promises_is_the_shape_apply_returns(layer, shape, train):
    params, state = layer.init(jax.random.key(0), jax.ShapeDtypeStruct(shape, jnp.float32))
    promised = output_shape(layer, params, state, jax.ShapeDtypeStruct(shape, jnp.float32))
    x = jax.random.normal(jax.random.key(1), shape)
    y, new_state = layer.apply(params, state, x, key=jax.random.key(2), train=train)
    assert y.shape == promised.shape and y.dtype == promised.dtype
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
