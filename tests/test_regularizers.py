import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

import jaxnet as jn
from jaxnet.composable import Composable

R = jn.regularizers
TRANSFORMS = pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])


def model_params():
    """Parameters of a model with every kind of leaf: kernels, biases, normalisation, nesting."""
    model = jn.Sequential(
        [
            jn.Dense(4),
            jn.BatchNorm(),
            jn.relu,
            jn.Sequential([jn.Dense(3), jn.Dense(3)]),
            jn.Dense(2),
        ]
    )
    params, _ = model.init(jax.random.key(0), jnp.zeros((1, 5)))
    # Non-zero biases and scales, so that reading them by mistake would show.
    return jax.tree.map(lambda leaf: leaf + 0.5, params)


PARAMS = model_params()
KERNELS = {
    "dense_0/w": PARAMS["dense_0"]["w"],
    "sequential_0/dense_0/w": PARAMS["sequential_0"]["dense_0"]["w"],
    "sequential_0/dense_1/w": PARAMS["sequential_0"]["dense_1"]["w"],
    "dense_1/w": PARAMS["dense_1"]["w"],
}


def l1_of(*paths):
    return sum(float(np.abs(KERNELS[path]).sum()) for path in paths)


def l2_of(*paths):
    return sum(0.5 * float(np.square(KERNELS[path]).sum()) for path in paths)


def test_source_example_l2_prefers_spread_out_weights_that_l1_and_the_data_cannot_tell_apart():
    x = jnp.ones((1, 4))
    w1 = {"dense_0": {"w": jnp.array([[1.0], [0.0], [0.0], [0.0]]), "b": jnp.zeros(1)}}
    w2 = {"dense_0": {"w": jnp.full((4, 1), 0.25), "b": jnp.zeros(1)}}
    assert float((x @ w1["dense_0"]["w"])[0, 0]) == float((x @ w2["dense_0"]["w"])[0, 0]) == 1.0
    assert float(R.l2()(w1)) == pytest.approx(0.5)
    assert float(R.l2()(w2)) == pytest.approx(0.125)
    assert float(R.l1()(w1)) == pytest.approx(1.0)
    assert float(R.l1()(w2)) == pytest.approx(1.0)


@TRANSFORMS
def test_default_reads_every_kernel_at_any_depth_and_no_bias_or_normalisation_scale(transform):
    assert float(transform(R.l1(2.0))(PARAMS)) == pytest.approx(2.0 * l1_of(*KERNELS), rel=1e-6)
    assert float(transform(R.l2(2.0))(PARAMS)) == pytest.approx(2.0 * l2_of(*KERNELS), rel=1e-6)


@pytest.mark.parametrize(
    "where, paths",
    [
        ("dense_1", ["dense_1/w", "sequential_0/dense_1/w"]),
        ("sequential_0", ["sequential_0/dense_0/w", "sequential_0/dense_1/w"]),
        ("sequential_0/dense_1", ["sequential_0/dense_1/w"]),
        (
            ["dense_0", "sequential_0/dense_1"],
            ["dense_0/w", "sequential_0/dense_0/w", "sequential_0/dense_1/w"],
        ),
        ("dense_1/w", ["dense_1/w", "sequential_0/dense_1/w"]),
    ],
)
def test_names_select_the_kernels_under_whole_path_components(where, paths):
    assert float(R.l1(where=where)(PARAMS)) == pytest.approx(l1_of(*paths), rel=1e-6)


def test_a_name_does_not_match_a_longer_name_with_the_same_prefix():
    params = {"dense_1": {"w": jnp.ones((2, 2))}, "dense_10": {"w": jnp.ones((3, 3))}}
    assert float(R.l1(where="dense_1")(params)) == 4.0
    assert float(R.l1(where="dense_10")(params)) == 9.0


def test_a_function_where_has_full_control_biases_included():
    biases = R.l1(where=lambda path, leaf: path.endswith("/b"))
    expected = sum(
        float(np.abs(leaf).sum())
        for path, leaf in jax.tree.leaves_with_path(PARAMS)
        if jax.tree_util.keystr(path, simple=True, separator="/").endswith("/b")
    )
    assert float(biases(PARAMS)) == pytest.approx(expected, rel=1e-6)


def test_elastic_net_is_the_sum_of_l1_and_l2_on_the_same_leaves():
    penalty = R.elastic_net(0.3, 0.7, where="dense_1")
    paths = ["dense_1/w", "sequential_0/dense_1/w"]
    expected = 0.3 * l1_of(*paths) + 0.7 * l2_of(*paths)
    assert float(penalty(PARAMS)) == pytest.approx(expected, rel=1e-6)
    assert repr(penalty) == "elastic_net(0.3, 0.7, where='dense_1')"


@TRANSFORMS
def test_a_sum_of_penalties_is_the_sum_of_their_values_and_gradients(transform):
    strong, sparse = R.l2(1e-3), R.l1(1e-4, where="dense_0")
    total = strong + sparse
    assert repr(total) == "l2(0.001) + l1(0.0001, where='dense_0')"
    expected = float(strong(PARAMS)) + float(sparse(PARAMS))
    assert float(transform(total)(PARAMS)) == pytest.approx(expected, rel=1e-6)
    grads = transform(jax.grad(total))(PARAMS)
    # l2's gradient is strength * w (thanks to the 1/2), l1's strength * sign(w); biases get none.
    w = PARAMS["dense_0"]["w"]
    np.testing.assert_allclose(grads["dense_0"]["w"], 1e-3 * w + 1e-4 * jnp.sign(w), rtol=1e-6)
    np.testing.assert_allclose(grads["dense_1"]["w"], 1e-3 * PARAMS["dense_1"]["w"], rtol=1e-6)
    assert not np.any(grads["dense_0"]["b"]) and not np.any(grads["batchnorm_0"]["scale"])


def test_penalties_scale_and_subtract_like_functions():
    penalty = 2 * R.l1() - R.l2() / 4
    assert float(penalty(PARAMS)) == pytest.approx(2 * l1_of(*KERNELS) - l2_of(*KERNELS) / 4)
    assert isinstance(penalty, Composable)


def test_a_traced_strength_sweeps_under_vmap():
    strengths = jnp.array([0.0, 1e-3, 1e-2])
    values = jax.vmap(lambda strength: R.l2(strength)(PARAMS))(strengths)
    np.testing.assert_allclose(values, np.asarray(strengths) * l2_of(*KERNELS), rtol=1e-5)


@pytest.mark.parametrize(
    "penalty, order",
    [(R.l1(), 1), (R.l2(), 2), (R.elastic_net(0.5, 2.0, where="dense_0"), 1)],
    ids=["l1", "l2", "elastic_net"],
)
def test_gradients_match_finite_differences(penalty, order):
    # Finite differences need float64; |w| is piecewise linear, so L1 is checked to first order.
    with jax.enable_x64(True):
        params = {
            "dense_0": {"w": jnp.array([[0.3, -1.2], [2.0, 0.7]]), "b": jnp.array([0.1, -0.4])},
            "sequential_0": {"dense_0": {"w": jnp.array([[-0.6], [1.5]])}},
        }
        check_grads(jax.jit(penalty), (params,), order=order, modes=("fwd", "rev"))


JIT_L1 = jax.jit(lambda strength, params: R.l1(strength)(params))
JIT_L2 = jax.jit(lambda strength, params: R.l2(strength)(params))


# A few layer shapes, many values: each new shape costs a compilation.
@settings(max_examples=20, deadline=None)
@given(
    widths=st.sampled_from([(3, 1), (2, 5, 4)]),
    strength=st.floats(1e-4, 10.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_penalties_match_numpy_on_random_dense_stacks(widths, strength, seed):
    rng = np.random.default_rng(seed)
    params = {
        f"dense_{i}": {
            "w": rng.normal(size=(n_in, n_out)).astype(np.float32),
            "b": rng.normal(size=n_out).astype(np.float32),
        }
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True))
    }
    kernels = [layer["w"].astype(np.float64) for layer in params.values()]
    l1 = strength * sum(np.abs(w).sum() for w in kernels)
    l2 = strength * 0.5 * sum(np.square(w).sum() for w in kernels)
    assert float(JIT_L1(strength, params)) == pytest.approx(l1, rel=1e-5)
    assert float(JIT_L2(strength, params)) == pytest.approx(l2, rel=1e-5)


@TRANSFORMS
@pytest.mark.parametrize(
    "where", ["dense_5", ["dense_5", "conv_0"], "dense_0/b", "sequential_0/dense_5", []]
)
def test_a_where_that_selects_nothing_names_the_layers_present(transform, where):
    pattern = (
        r"selects no parameter; the layers present are \['batchnorm_0', 'dense_0', 'dense_1', "
        r"'sequential_0/dense_0', 'sequential_0/dense_1'\].*ndim >= 2"
    )
    with pytest.raises(ValueError, match=pattern):
        transform(R.l2(where=where))(PARAMS)


def test_a_function_that_selects_nothing_is_an_error_too():
    def nothing(path, leaf):
        return False

    with pytest.raises(ValueError, match=r"where=nothing selects no parameter.*'dense_1'"):
        R.l1(where=nothing)(PARAMS)


@pytest.mark.parametrize("where", [3, [1, 2], ("dense_0", None)])
def test_a_where_of_another_type_is_rejected_when_the_penalty_is_built(where):
    with pytest.raises(TypeError, match="where must be"):
        R.l2(where=where)


def test_penalties_are_named_by_their_factory_and_arguments():
    assert repr(R.l1()) == "l1(1.0)"
    penalty = R.l2(0.001, where=["dense_0", "dense_2"])
    assert repr(penalty) == "l2(0.001, where=['dense_0', 'dense_2'])"
    assert R.l2(0.5).__name__ == "l2(0.5)"


def test_the_l1_gradient_at_zero_is_zero_as_sign_zero():
    params = {"dense_0": {"w": jnp.array([[0.0, 2.0], [-3.0, 0.0]])}}
    grads = jax.grad(R.l1(0.5))(params)
    np.testing.assert_array_equal(grads["dense_0"]["w"], [[0.0, 0.5], [-0.5, 0.0]])
    grads = jax.grad(R.elastic_net(0.5, 1.0))(params)
    np.testing.assert_array_equal(grads["dense_0"]["w"], [[0.0, 2.5], [-3.5, 0.0]])


def test_l1_with_sgd_keeps_a_zero_weight_at_zero():
    optimizer = optax.sgd(0.1)
    params = {"dense_0": {"w": jnp.array([[0.0, 1.0], [-1.0, 0.0]])}}
    state = optimizer.init(params)
    penalty = R.l1(1.0)
    for _ in range(5):
        updates, state = optimizer.update(jax.grad(penalty)(params), state)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(params["dense_0"]["w"], [[0.0, 0.5], [-0.5, 0.0]], atol=1e-6)
    assert float(params["dense_0"]["w"][0, 0]) == 0.0 == float(params["dense_0"]["w"][1, 1])


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: R.l2(-1), ValueError, r"l2 strength must be a finite number >= 0, got -1"),
        (lambda: R.l2(float("nan")), ValueError, r"l2 strength .* got nan"),
        (lambda: R.l2(float("inf")), ValueError, r"l2 strength .* got inf"),
        (lambda: R.l2("0.01"), TypeError, r"l2 strength must be a real number, got '0\.01'"),
        (lambda: R.l1(-0.5), ValueError, r"l1 strength must be a finite number >= 0"),
        (lambda: R.l1(float("nan")), ValueError, r"l1 strength"),
        (lambda: R.l1(None), TypeError, r"l1 strength must be a real number, got None"),
        (lambda: R.elastic_net(-1.0, 0.1), ValueError, r"elastic_net l1_strength"),
        (lambda: R.elastic_net(0.1, float("nan")), ValueError, r"elastic_net l2_strength"),
        (lambda: R.elastic_net(0.1, "1"), TypeError, r"elastic_net l2_strength must be a real"),
        (lambda: R.l2(jnp.array([0.1, 0.2])), TypeError, r"l2 strength must be a real number"),
    ],
)
def test_bad_strengths_fail_when_the_penalty_is_built(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_traced_strengths_of_every_penalty_sweep_under_vmap():
    strengths = jnp.array([0.0, 1e-3, 1e-2])
    l1 = jax.vmap(lambda s: R.l1(s)(PARAMS))(strengths)
    np.testing.assert_allclose(l1, np.asarray(strengths) * l1_of(*KERNELS), rtol=1e-5)
    both = jax.vmap(lambda s: R.elastic_net(s, 2 * s)(PARAMS))(strengths)
    expected = np.asarray(strengths) * (l1_of(*KERNELS) + 2 * l2_of(*KERNELS))
    np.testing.assert_allclose(both, expected, rtol=1e-5)
    # Array strengths that are concrete are checked, and pass when valid.
    assert float(R.l2(jnp.float32(0.5))(PARAMS)) == pytest.approx(0.5 * l2_of(*KERNELS), rel=1e-5)
