"""The layer contract: names, shapes, determinism, counts, summary and errors."""

import dataclasses
import zlib

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


def test_a_layer_subclass_without_the_dataclass_decorator_is_a_type_error():
    class Scale(jn.Layer):
        def __init__(self, factor):
            object.__setattr__(self, "factor", factor)

        def apply(self, params, state, x, *, key=None, train=False):
            return self.factor * x, state

    # Undecorated, Scale(1.0) would equal and hash as Scale(10.0), and jit would reuse the
    # program compiled for the one to run the other.
    with pytest.raises(TypeError, match=r"Scale must be decorated with "
                                        r"@dataclasses\.dataclass\(frozen=True\)"):
        Scale(10.0)

    @dataclasses.dataclass(frozen=True, eq=False)
    class Unequal(jn.Layer):
        factor: float

    with pytest.raises(TypeError, match="Unequal must be decorated"):
        Unequal(2.0)


def test_a_decorated_layer_compares_and_compiles_by_its_fields():
    @dataclasses.dataclass(frozen=True)
    class Scale(jn.Layer):
        factor: float

        def apply(self, params, state, x, *, key=None, train=False):
            return self.factor * x, state

    assert Scale(1.0) != Scale(10.0) and hash(Scale(1.0)) != hash(Scale(10.0))
    assert Scale(2.0) == Scale(2.0)
    apply = jax.jit(lambda model, x: model.apply({}, {}, x)[0], static_argnums=0)
    assert float(apply(Scale(1.0), jnp.ones(()))) == 1.0
    assert float(apply(Scale(10.0), jnp.ones(()))) == 10.0


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


@pytest.mark.parametrize(
    "build, fields",
    [
        (lambda: jn.Dense(np.int64(8)), {"features": 8}),
        (lambda: jn.Conv1D(np.int32(4), kernel_size=np.int64(3), strides=(np.int64(2),),
                           padding=np.int64(1), dilation=np.int16(1),
                           feature_group_count=np.int64(2)),
         {"features": 4, "kernel_size": (3,), "strides": (2,), "padding": ((1, 1),),
          "dilation": (1,), "feature_group_count": 2}),
        (lambda: jn.Conv2D(np.int64(2), kernel_size=(np.int64(3), 3), padding=[(np.int8(1), 0), 2]),
         {"kernel_size": (3, 3), "padding": ((1, 0), (2, 2))}),
        (lambda: jn.MaxPool(np.int64(2), strides=np.int64(1), padding=np.int64(1)),
         {"window": 2, "strides": 1, "padding": 1}),
        (lambda: jn.AvgPool((np.int64(2), 3), padding=[np.int64(1), (0, np.int64(1))]),
         {"window": (2, 3), "padding": ((1, 1), (0, 1))}),
        (lambda: jn.GRU(np.int64(5)), {"features": 5}),
        (lambda: jn.LSTM(np.uint8(5)), {"features": 5}),
        (lambda: jn.Reshape((np.int64(8), -1)), {"shape": (8, -1)}),
    ],
    ids=["Dense", "Conv1D", "Conv2D", "MaxPool", "AvgPool", "GRU", "LSTM", "Reshape"],
)
def test_numpy_integers_are_accepted_and_stored_as_python_ints(build, fields):
    layer = build()
    for field, value in fields.items():
        stored = getattr(layer, field)
        assert stored == value
        assert all(type(v) is int for v in jax.tree.leaves(stored)), (field, stored)
    assert layer == dataclasses.replace(layer, **fields)
    assert hash(layer) == hash(dataclasses.replace(layer, **fields))


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: jn.Dense(8.0), TypeError, "Dense features must be an integer, got 8.0"),
        (lambda: jn.Conv2D(4, kernel_size=2.5), TypeError, "kernel_size takes a positive int"),
        (lambda: jn.Conv1D(4, kernel_size=(3.0,)), TypeError, "kernel_size must be an integer"),
        (lambda: jn.MaxPool("2"), TypeError, "window takes a positive int"),
        (lambda: jn.SimpleRNN(True), TypeError, "SimpleRNN features must be an integer"),
        (lambda: jn.Reshape((8, 2.5)), TypeError, "Reshape shape sizes must be an integer"),
        (lambda: jn.Reshape(64), TypeError, r"Reshape takes a tuple of sizes"),
        (lambda: jn.Conv1D(4, 3, padding=1.5), ValueError, "explicit padding takes"),
    ],
)
def test_sizes_that_are_not_integers_are_refused_at_construction(build, error, message):
    with pytest.raises(error, match=message):
        build()


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


def test_a_layer_entry_missing_a_parameter_is_a_layer_error():
    model = jn.Sequential([jn.Dense(4)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    with pytest.raises(jn.LayerError, match=r"dense_0 \(Dense\): params have no entry 'w' "
                                            r"\(entries: \['b'\], expected: \['w', 'b'\]\)"):
        model.apply({"dense_0": {"b": params["dense_0"]["b"]}}, state, jnp.zeros((1, 2)))


def widths_model(width):
    return jn.Sequential([
        jn.Reshape((4, 2)), jn.Conv1D(width, 2), jn.GRU(width, return_sequences=True),
        jn.LayerNorm(), jn.Flatten(), jn.Dense(width), jn.PReLU(), jn.BatchNorm(), jn.Dense(2),
    ])


@pytest.mark.parametrize(
    "layer, message",
    [
        ("conv1d_0", r"conv1d_0 \(Conv1D\): params\['w'\] has shape \(2, 2, 16\), but this layer "
                     r"expects \(2, in_channels // feature_group_count, 8\)"),
        ("gru_0", r"gru_0 \(GRU\): params\['w_r'\] has shape \(16, 16\), but this layer expects "
                  r"\(in_features, 8\)"),
        ("layernorm_0", r"layernorm_0 \(LayerNorm\): expected inputs of shape \(\.\.\., 16\) as "
                        r"at init, got shape \(3, 3, 8\)"),
        ("dense_0", r"dense_0 \(Dense\): params\['w'\] has shape \(48, 16\), but this layer "
                    r"expects \(in_features, 8\)"),
        ("prelu_0", r"prelu_0 \(PReLU\): expected inputs of shape \(\.\.\., 16\) as at init, "
                    r"got shape \(3, 8\)"),
        ("batchnorm_0", r"batchnorm_0 \(BatchNorm\): expected inputs of shape \(\.\.\., 16\)"),
        ("dense_1", r"dense_1 \(Dense\): expected inputs of shape \(\.\.\., 16\) for a kernel "
                    r"of shape \(16, 2\), got shape \(3, 8\)"),
    ],
)
def test_params_of_a_model_with_other_widths_name_the_layer_and_both_shapes(layer, message):
    x = jnp.ones((3, 8))
    params, state = widths_model(8).init(jax.random.key(0), x)
    wide_params, wide_state = widths_model(16).init(jax.random.key(0), x)
    params = {**params, layer: wide_params[layer]}
    if layer in state:
        state = {**state, layer: wide_state[layer]}
    with pytest.raises(jn.ShapeError, match=message):
        widths_model(8).apply(params, state, x)


def test_a_missing_state_entry_is_a_layer_error():
    model = jn.Sequential([jn.Dense(3), jn.BatchNorm()])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    with pytest.raises(jn.LayerError, match=r"batchnorm_0 \(BatchNorm\): state has no entry "
                                            r"'mean'"):
        model.apply(params, {"batchnorm_0": {"var": state["batchnorm_0"]["var"]}},
                    jnp.zeros((4, 2)))
