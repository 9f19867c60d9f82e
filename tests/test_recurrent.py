"""SimpleRNN against the source's formula; GRU, LSTM and Bidirectional against flax.linen."""

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

BATCH, TIME, IN, HIDDEN = 3, 6, 4, 5
SHAPE = (BATCH, TIME, IN)
LENGTHS = jnp.array([6, 2, 4])
WITH_EMPTY = jnp.array([6, 0, 3])  # Flax leaves a length of 0 undefined


def inputs(seed=2):
    return random_normal(SHAPE, seed)


def flax_gru_params(p):
    dense = {"ir": ("w_r", "b_r"), "iz": ("w_z", "b_z"), "in": ("w_n", "b_n"),
             "hr": ("u_r", None), "hz": ("u_z", None), "hn": ("u_n", "b_un")}
    return {name: {"kernel": p[w], **({"bias": p[b]} if b else {})}
            for name, (w, b) in dense.items()}


def flax_lstm_params(p):
    params = {}
    for gate in "ifgo":
        params["i" + gate] = {"kernel": p["w_" + gate]}
        params["h" + gate] = {"kernel": p["u_" + gate], "bias": p["b_" + gate]}
    return params


FLAX_CELLS = {
    "GRU": (jn.GRU(HIDDEN), nn.GRUCell(HIDDEN), flax_gru_params),
    "LSTM": (jn.LSTM(HIDDEN), nn.LSTMCell(HIDDEN), flax_lstm_params),
}


def flax_run(cell, cell_params, x, initial_state, lengths, reverse=False):
    rnn = nn.RNN(cell, return_carry=True, reverse=reverse, keep_order=True)
    apply = jax.jit(lambda x, s, n: rnn.apply({"params": {"cell": cell_params}}, x,
                                             initial_carry=s, seq_lengths=n))
    return apply(x, initial_state, lengths)


def initial_state(layer, seed=5):
    leaves, tree = jax.tree.flatten(layer.zero_state(BATCH, jnp.float32))
    return tree.unflatten([random_normal(z.shape, seed + i) for i, z in enumerate(leaves)])


def assert_valid_steps_close(actual, expected, lengths=LENGTHS):
    valid = np.arange(TIME)[None, :] < np.asarray(lengths)[:, None]
    np.testing.assert_allclose(np.asarray(actual)[valid], np.asarray(expected)[valid],
                               rtol=1e-5, atol=1e-5)


def numpy_simple_rnn(p, x, h):
    """The source's formula, h_t = tanh(x_t W + h_{t-1} U + b), step by step in float64."""
    w, u, b = (np.asarray(p[k], np.float64) for k in "wub")
    states = []
    for t in range(x.shape[1]):
        h = np.tanh(np.asarray(x[:, t], np.float64) @ w + h @ u + b)
        states.append(h)
    return np.stack(states, axis=1)


def test_simple_rnn_follows_the_source_formula(transform):
    layer = jn.SimpleRNN(HIDDEN, return_sequences=True)
    p, x, h0 = random_params(layer, SHAPE), inputs(), initial_state(layer)
    outputs, last = transform(lambda p, x, h: layer.run(p, x, initial_state=h))(p, x, h0)
    expected = numpy_simple_rnn(p, x, np.asarray(h0, np.float64))
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(last, expected[:, -1], rtol=1e-5, atol=1e-5)
    last_only, _ = transform(jn.SimpleRNN(HIDDEN).apply)(p, {}, x)
    expected = numpy_simple_rnn(p, x, np.zeros((BATCH, HIDDEN)))
    np.testing.assert_allclose(last_only, expected[:, -1], rtol=1e-5, atol=1e-5)


def test_simple_rnn_with_the_source_sizes_has_49280_parameters():
    params, _ = jn.SimpleRNN(128).init(jax.random.key(0), jnp.zeros((1, 10, 256)))
    assert {k: v.shape for k, v in params.items()} == {
        "w": (256, 128), "u": (128, 128), "b": (128,)
    }
    assert jn.count_params(params) == 49_280


@pytest.mark.parametrize("kind", FLAX_CELLS)
def test_gated_layers_match_flax_cells_with_the_same_weights(kind):
    layer, cell, to_flax = FLAX_CELLS[kind]
    p, x, s0 = random_params(layer, SHAPE), inputs(), initial_state(layer)
    run = jax.jit(lambda p, x, s, n: layer.run(p, x, initial_state=s, lengths=n))
    outputs, last = run(p, x, s0, LENGTHS)
    expected_last, expected = flax_run(cell, to_flax(p), x, s0, LENGTHS)
    assert_valid_steps_close(outputs, expected)
    jax.tree.map(lambda a, e: np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5),
                 last, expected_last)
    zeros = cell.initialize_carry(jax.random.key(0), x[:, 0].shape)
    _, everything = flax_run(cell, to_flax(p), x, zeros, jnp.full((BATCH,), TIME))
    last_only = jax.jit(lambda p, x: layer.apply(p, {}, x)[0])(p, x)
    np.testing.assert_allclose(last_only, everything[:, -1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", FLAX_CELLS)
def test_reverse_reads_each_example_backwards_from_its_length(kind):
    layer, cell, to_flax = FLAX_CELLS[kind]
    layer = jn.GRU(HIDDEN, reverse=True) if kind == "GRU" else jn.LSTM(HIDDEN, reverse=True)
    p, x, s0 = random_params(layer, SHAPE), inputs(), initial_state(layer)
    outputs, last = jax.jit(layer.run)(p, x, initial_state=s0, lengths=LENGTHS)
    expected_last, expected = flax_run(cell, to_flax(p), x, s0, LENGTHS, reverse=True)
    assert_valid_steps_close(outputs, expected)
    jax.tree.map(lambda a, e: np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5),
                 last, expected_last)


def test_bidirectional_matches_flax_bidirectional():
    layer = jn.Bidirectional(jn.GRU(HIDDEN, return_sequences=True))
    p, x = random_params(layer, SHAPE), inputs()
    outputs, _ = jax.jit(layer.run)(p, x, lengths=LENGTHS)
    flax_layer = nn.Bidirectional(nn.RNN(nn.GRUCell(HIDDEN)), nn.RNN(nn.GRUCell(HIDDEN)))
    flax_params = {"forward_rnn": {"cell": flax_gru_params(p["forward"])},
                   "backward_rnn": {"cell": flax_gru_params(p["backward"])}}
    expected = jax.jit(flax_layer.apply)({"params": flax_params}, x, seq_lengths=LENGTHS)
    assert_valid_steps_close(outputs, expected)
    full, _ = jax.jit(layer.run)(p, x)
    np.testing.assert_allclose(layer.apply(p, {}, x)[0], full, rtol=1e-6)
    last, _ = jn.Bidirectional(jn.GRU(HIDDEN)).apply(p, {}, x)
    np.testing.assert_allclose(last, jnp.concatenate([full[:, -1, :HIDDEN], full[:, 0, HIDDEN:]],
                                                     axis=-1), rtol=1e-6)


LAYERS = {
    "SimpleRNN": jn.SimpleRNN(HIDDEN, return_sequences=True),
    "GRU": jn.GRU(HIDDEN, return_sequences=True),
    "LSTM-reverse": jn.LSTM(HIDDEN, return_sequences=True, reverse=True),
    "Bidirectional": jn.Bidirectional(jn.GRU(HIDDEN, return_sequences=True)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_garbage_after_each_length_changes_nothing(name):
    layer = LAYERS[name]
    p, x = random_params(layer, SHAPE), inputs()
    padded = np.arange(TIME)[None, :, None] >= np.asarray(WITH_EMPTY)[:, None, None]
    garbage = jnp.where(padded, 1e3 * inputs(seed=9), x)
    run = jax.jit(layer.run)
    outputs, last = run(p, x, lengths=WITH_EMPTY)
    garbage_outputs, garbage_last = run(p, garbage, lengths=WITH_EMPTY)
    np.testing.assert_array_equal(garbage_outputs, outputs)
    jax.tree.map(np.testing.assert_array_equal, garbage_last, last)
    np.testing.assert_array_equal(np.asarray(outputs)[np.broadcast_to(padded, outputs.shape)], 0.0)
    for b, length in enumerate(WITH_EMPTY.tolist()):
        if length:  # each example alone, cut at its length, gives the same outputs and state
            alone, alone_last = run(p, x[b:b + 1, :length])
            np.testing.assert_allclose(outputs[b:b + 1, :length], alone, rtol=1e-5, atol=1e-6)
            jax.tree.map(lambda a, e, b=b: np.testing.assert_allclose(a[b:b + 1], e, rtol=1e-5,
                                                                      atol=1e-6),
                         last, alone_last)


def test_an_empty_sequence_keeps_the_initial_state():
    layer = jn.LSTM(HIDDEN)
    p, s0 = random_params(layer, SHAPE), initial_state(layer)
    _, (c, h) = layer.run(p, inputs(), initial_state=s0, lengths=WITH_EMPTY)
    np.testing.assert_array_equal(c[1], s0[0][1])
    np.testing.assert_array_equal(h[1], s0[1][1])


@pytest.mark.parametrize("name", LAYERS)
def test_recurrent_gradients_match_finite_differences(name):
    layer = LAYERS[name]
    p, x = random_params(layer, SHAPE), inputs()
    assert_gradients_match_finite_differences(
        lambda p, x: layer.run(p, x, lengths=LENGTHS), p, x
    )


@pytest.mark.parametrize(
    "layer",
    [jn.SimpleRNN(HIDDEN), jn.GRU(HIDDEN, return_sequences=True), jn.LSTM(HIDDEN, reverse=True),
     jn.Bidirectional(jn.LSTM(HIDDEN)),
     jn.Bidirectional(jn.SimpleRNN(HIDDEN, return_sequences=True))],
    ids=["SimpleRNN", "GRU-sequences", "LSTM-reverse", "Bidirectional", "Bidirectional-sequences"],
)
def test_the_shape_init_promises_is_the_shape_apply_returns(layer):
    y = assert_shape_agreement(layer, SHAPE)
    inner = layer.layer if isinstance(layer, jn.Bidirectional) else layer
    width = 2 * HIDDEN if isinstance(layer, jn.Bidirectional) else HIDDEN
    assert y.shape == ((BATCH, TIME, width) if inner.return_sequences else (BATCH, width))


@pytest.mark.slow
def test_a_batch_of_models_under_vmap_matches_a_loop():
    assert_vmap_over_models_matches_loop(LAYERS["GRU"], inputs())


def test_initializers_are_selectable_and_recurrent_kernels_orthogonal():
    ones = jax.nn.initializers.ones
    params, _ = jn.GRU(8, kernel_init=ones, bias_init=ones).init(
        jax.random.key(0), jnp.zeros((1, 3, 2))
    )
    np.testing.assert_array_equal(params["w_z"], np.ones((2, 8)))
    np.testing.assert_array_equal(params["b_un"], np.ones(8))
    np.testing.assert_allclose(params["u_n"] @ params["u_n"].T, np.eye(8), atol=1e-5)


def test_source_bidirectional_gru_model_shapes_in_the_summary():
    model = jn.Sequential([jn.Reshape((40, 1)), jn.Bidirectional(jn.GRU(6, return_sequences=True)),
                           jn.Flatten(), jn.Dense(10)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 40)))
    # PyTorch's GRU has 24 more: two biases each for the r and z gates, which add up to one.
    assert jn.count_params(params) == 5110
    table = jn.summary(model, params, state, jnp.zeros((100, 40)))
    for shape in ["(100, 40, 12)", "(100, 480)", "(100, 10)"]:
        assert shape in table


def test_inputs_with_another_feature_count_name_the_layer_and_both_shapes():
    model = jn.Sequential([jn.GRU(HIDDEN)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, TIME, IN)))
    with pytest.raises(jn.ShapeError, match=r"gru_0 \(GRU\).*\(batch, time, 4\).*\(2, 6, 3\)"):
        model.apply(params, state, jnp.zeros((2, TIME, 3)))


@pytest.mark.parametrize("layer", [jn.SimpleRNN(3), jn.LSTM(3)])
def test_inputs_that_are_not_sequences_are_a_shape_error(layer):
    with pytest.raises(jn.ShapeError, match=r"\(batch, time, features\), got shape \(2, 4\)"):
        layer.init(jax.random.key(0), jnp.zeros((2, 4)))


def test_lengths_and_initial_states_of_the_wrong_shape_are_clear_errors():
    layer = jn.LSTM(HIDDEN)
    p, x = random_params(layer, SHAPE), inputs()
    with pytest.raises(jn.LayerError, match=r"lengths must be integers of shape \(3,\)"):
        layer.run(p, x, lengths=jnp.array([1, 2]))
    with pytest.raises(jn.LayerError, match="lengths must be integers"):
        layer.run(p, x, lengths=jnp.array([1.0, 2.0, 3.0]))
    with pytest.raises(jn.ShapeError, match=r"initial state of shape \(\(3, 5\), \(3, 5\)\)"):
        layer.run(p, x, initial_state=jnp.zeros((BATCH, HIDDEN)))


def test_invalid_constructions_fail_early():
    with pytest.raises(ValueError, match="GRU features must be an integer >= 1"):
        jn.GRU(0)
    with pytest.raises(TypeError, match="Bidirectional wraps a SimpleRNN, GRU or LSTM"):
        jn.Bidirectional(jn.Dense(3))


def test_a_sequential_passes_lengths_to_each_recurrent_layer_in_it():
    model = jn.Sequential([
        jn.GRU(HIDDEN, return_sequences=True), jn.tanh,
        jn.Parallel([jn.LSTM(HIDDEN), jn.Bidirectional(jn.SimpleRNN(HIDDEN))], merge="concat"),
        jn.Dense(2),
    ])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, TIME, IN)))
    x = inputs()
    padded = np.arange(TIME)[None, :, None] >= np.asarray(WITH_EMPTY)[:, None, None]
    garbage = jnp.where(padded, 1e3 * inputs(seed=9), x)
    apply = jax.jit(lambda x, n: model.apply(params, state, x, lengths=n)[0])
    y = apply(x, WITH_EMPTY)
    h, _ = jn.GRU(HIDDEN, return_sequences=True).run(params["gru_0"], x, lengths=WITH_EMPTY)
    branches = params["parallel_0"]
    _, (_, last) = jn.LSTM(HIDDEN).run(branches["lstm_0"], jnp.tanh(h), lengths=WITH_EMPTY)
    _, (forward, backward) = jn.Bidirectional(jn.SimpleRNN(HIDDEN)).run(
        branches["bidirectional_0"], jnp.tanh(h), lengths=WITH_EMPTY)
    expected, _ = jn.Dense(2).apply(params["dense_0"], {},
                                    jnp.concatenate([last, forward, backward], axis=-1))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(apply(garbage, WITH_EMPTY), y)
    assert not np.allclose(model.apply(params, state, x)[0], y, atol=1e-3)


def test_lengths_given_to_a_model_without_a_layer_that_reads_them_are_an_error():
    model = jn.Sequential([jn.Flatten(), jn.Dense(2)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, TIME, IN)))
    with pytest.raises(jn.LayerError, match="lengths were given, but no layer of this "
                       "Sequential reads them"):
        model.apply(params, state, inputs(), lengths=LENGTHS)
    assert jn.Sequential([jn.Residual([jn.GRU(IN, return_sequences=True)])]).reads_lengths
    assert not jn.Sequential([jn.Residual([jn.Dense(IN)])]).reads_lengths
