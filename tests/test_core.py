"""The layer contract: shapes, determinism, counts, the dataclass rule, entry checks and errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import source_mlp

import jaxnet as jn
from jaxnet.core import check_fits_in_memory, output_shape


def test_source_mlp_has_the_keras_parameter_counts():
    model = source_mlp()
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 784)))
    assert jn.count_params(params) == 670_730
    assert jn.count_params(state) == 1_024
    assert jn.count_params((params, state)) == 671_754


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
@pytest.mark.slow
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


FLOAT_LAYERS = [
    (jn.Dense(5), (3, 4)),
    (jn.Conv1D(2, 3), (2, 6, 3)),
    (jn.Conv2D(2, 3), (2, 5, 5, 1)),
    (jn.BatchNorm(), (6, 4)),
    (jn.LayerNorm(), (3, 4)),
    (jn.SimpleRNN(3), (2, 4, 3)),
    (jn.GRU(3), (2, 4, 3)),
    (jn.LSTM(3), (2, 4, 3)),
    (jn.MultiHeadAttention(2), (2, 4, 4)),
    (jn.AvgPool(2), (2, 4, 4, 1)),
    (jn.GlobalAvgPool(), (2, 4, 4, 1)),
    (jn.Dropout(0.5), (3, 4)),
]


@pytest.mark.parametrize("layer, shape", FLOAT_LAYERS, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("train", [False, True])
def test_layers_that_compute_in_float_cast_integer_inputs_to_float32(layer, shape, train):
    pixels = jax.random.randint(jax.random.key(1), shape, 0, 256).astype(jnp.uint8)
    params, state = layer.init(jax.random.key(0), pixels)
    run = dict(key=jax.random.key(2), train=train)
    y, _ = layer.apply(params, state, pixels, **run)
    expected, _ = layer.apply(params, state, pixels.astype(jnp.float32), **run)
    assert y.dtype == jnp.float32
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("layer, shape", [
    (jn.Dense(3), (2, 0)),
    (jn.Conv2D(3, 2), (2, 4, 4, 0)),
    (jn.GRU(3), (2, 5, 0)),
    (jn.MultiHeadAttention(2, 4), (2, 5, 0)),
], ids=lambda v: type(v).__name__)
def test_inputs_with_no_features_are_a_shape_error_naming_the_layer(layer, shape):
    label = f"{layer.kind}_0 \\({type(layer).__name__}\\)"
    with pytest.raises(jn.ShapeError, match=f"{label}: expected inputs of shape .* with at least "
                                            f"one feature on the last axis, got shape"):
        jn.Sequential([layer]).init(jax.random.key(0), jnp.zeros(shape))


def test_a_nested_list_of_numbers_is_read_as_one_array_by_init_and_apply():
    model = jn.Sequential([jn.Dense(3), jn.relu, jn.Dense(2)])
    rows = [[0.5, -1.0], [2.0, 0.25]]
    from_list = model.init(jax.random.key(0), rows)
    params, state = model.init(jax.random.key(0), jnp.asarray(rows))
    jax.tree.map(np.testing.assert_array_equal, from_list, (params, state))
    np.testing.assert_array_equal(model.apply(params, state, rows)[0],
                                  model.apply(params, state, jnp.asarray(rows))[0])
    np.testing.assert_array_equal(model.apply(params, state, [[1, 2]])[0],
                                  model.apply(params, state, jnp.array([[1.0, 2.0]]))[0])


def test_a_list_of_arrays_is_still_several_inputs():
    pair = [jnp.zeros((2, 3)), jnp.ones((2, 3))]
    with pytest.raises(jn.ShapeError, match="expected one array, got list of shapes"):
        jn.Sequential([jn.Dense(3)]).init(jax.random.key(0), pair)


class _Device:
    """A device whose allocator holds 1 MB, 200 kB of it in use."""

    def memory_stats(self):
        return {"bytes_limit": 1_000_000, "bytes_in_use": 200_000}

    def __str__(self):
        return "gpu:0"


def test_a_layer_bigger_than_the_device_memory_left_is_refused_before_it_is_allocated(
        monkeypatch):
    model = jn.Sequential([jn.Dense(8), jn.Dense(500, name="wide")])
    x = jnp.zeros((1, 400))
    monkeypatch.setattr(jax, "local_devices", lambda *args, **kwargs: [_Device()])
    # dense_0: 400 * 8 + 8 floats, 12.8 kB; wide: 8 * 500 + 500 floats, 18 kB: both fit.
    model.init(jax.random.key(0), x)
    wide = jn.Sequential([jn.Dense(500, name="wide")])
    with pytest.raises(jn.LayerError, match=r"wide \(Dense\): its parameters and state need "
                                            r"802.0 kB \(802,000 bytes\), more than gpu:0 has "
                                            r"free \(800.0 kB\)"):
        wide.init(jax.random.key(0), x)


def test_without_device_statistics_the_limit_is_the_machine_memory(monkeypatch):
    import os

    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    fits = jax.ShapeDtypeStruct((machine // 8,), jnp.float32)
    too_big = jax.ShapeDtypeStruct((machine // 4 + 1,), jnp.float32)
    monkeypatch.setattr(jax.Device, "memory_stats", lambda self: None, raising=False)
    check_fits_in_memory({"w": fits})
    with pytest.raises(jn.LayerError, match="more than this machine's memory"):
        check_fits_in_memory({"w": too_big})
