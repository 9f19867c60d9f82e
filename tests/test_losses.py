import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify
from jax.test_util import check_grads

import jaxnet as jn
from jaxnet.composable import Composable

L = jn.losses

# The source's class scores (cat, car, frog) for three samples of true classes cat, car, frog.
SCORES = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LABELS = jnp.array([0, 1, 2])
ONE_HOT = jax.nn.one_hot(LABELS, 3)
LOGITS = jnp.array([[2.0], [-1.0], [0.5], [-3.0]])
BINARY = jnp.array([1, 0, 0, 1])
REGRESSION = (jnp.array([[1.0, -2.0], [0.5, 3.0]]), jnp.array([[0.0, -1.0], [0.5, 1.0]]))

# (name, loss, pred, target) for every loss, on inputs of the kind it takes.
CASES = [
    ("mse", L.mse, *REGRESSION),
    ("mae", L.mae, *REGRESSION),
    ("zero_one", L.zero_one, SCORES, LABELS),
    ("binary_cross_entropy", L.binary_cross_entropy, LOGITS, BINARY),
    ("softmax_cross_entropy", L.softmax_cross_entropy, SCORES, LABELS),
    ("hinge", L.hinge, LOGITS, BINARY),
    ("multiclass_hinge", L.multiclass_hinge, SCORES, LABELS),
]
IDS = [case[0] for case in CASES]
TRANSFORMS = pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
# Compiled once per shape, for the tests that try many values.
JIT = {case[0]: jax.jit(case[1]) for case in CASES}


# NumPy references, written from the formulas, in float64.
def np_log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_softmax_cross_entropy(z, probabilities):
    return np.mean(-(probabilities * np_log_softmax(z)).sum(axis=-1))


def np_multiclass_hinge(s, y, margin=1.0):
    s, y = s.reshape(-1, s.shape[-1]), y.reshape(-1)
    per_example = [
        sum(max(0.0, row[j] - row[label] + margin) for j in range(len(row)) if j != label)
        for row, label in zip(s, y, strict=True)
    ]
    return np.mean(per_example)


def np_binary_cross_entropy(z, t):
    return np.mean(np.logaddexp(0.0, z) - t * z)


def np_hinge(s, t01):
    return np.mean(np.maximum(0.0, 1.0 - (2.0 * t01 - 1.0) * s))


def test_multiclass_hinge_gives_the_source_per_sample_losses_and_mean():
    per_sample = [float(L.multiclass_hinge(SCORES[i : i + 1], LABELS[i : i + 1])) for i in range(3)]
    np.testing.assert_allclose(per_sample, [2.9, 0.0, 12.9], atol=1e-5)
    mean = float(L.multiclass_hinge(SCORES, LABELS))
    assert mean == pytest.approx(5.27, abs=1e-2)
    assert mean == pytest.approx(15.8 / 3, rel=1e-6)


def test_softmax_cross_entropy_gives_the_source_probabilities_and_natural_log_loss():
    np.testing.assert_allclose(np.round(jax.nn.softmax(SCORES[0]), 2), [0.13, 0.87, 0.00])
    loss = float(L.softmax_cross_entropy(SCORES[:1], LABELS[:1]))
    assert round(loss, 2) == 2.04
    assert loss == pytest.approx(-np.log(0.12998), abs=1e-4)


def test_multiclass_hinge_sums_over_wrong_classes_unlike_optax_crammer_singer():
    # The frog sample: cat and car both beat frog, and both violations count.
    assert float(L.multiclass_hinge(SCORES[2:], LABELS[2:])) == pytest.approx(6.3 + 6.6)
    crammer_singer = optax.losses.multiclass_hinge_loss(SCORES[2:], LABELS[2:])
    assert float(crammer_singer[0]) == pytest.approx(6.6)


def test_multiclass_hinge_margin_is_a_keyword_that_composition_forwards():
    expected = np_multiclass_hinge(np.asarray(SCORES, np.float64), np.asarray(LABELS), margin=2.0)
    assert float(L.multiclass_hinge(SCORES, LABELS, margin=2.0)) == pytest.approx(expected)
    scaled = 0.5 * L.multiclass_hinge
    assert float(scaled(SCORES, LABELS, margin=2.0)) == pytest.approx(0.5 * expected)
    jitted = jax.jit(L.multiclass_hinge, static_argnames="margin")
    assert float(jitted(SCORES, LABELS, margin=2.0)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "loss", [L.zero_one, L.softmax_cross_entropy, L.multiclass_hinge], ids=lambda f: f.__name__
)
def test_integer_and_one_hot_targets_give_the_same_loss(loss):
    assert float(loss(SCORES, LABELS)) == pytest.approx(float(loss(SCORES, ONE_HOT)), rel=1e-6)


# A few shapes, many values: each new shape costs a compilation.
@settings(max_examples=20, deadline=None)
@given(
    leading=st.sampled_from([(1,), (2, 3)]),
    classes=st.sampled_from([2, 5]),
    seed=st.integers(0, 2**31 - 1),
)
def test_multiclass_losses_match_numpy_for_integer_one_hot_and_probability_targets(
    leading, classes, seed
):
    rng = np.random.default_rng(seed)
    scores = rng.normal(scale=3.0, size=leading + (classes,)).astype(np.float32)
    labels = rng.integers(0, classes, size=leading)
    one_hot = np.eye(classes)[labels]
    probabilities = rng.dirichlet(np.ones(classes), size=leading)
    z = scores.astype(np.float64)
    for target in (labels, one_hot.astype(np.float32)):
        assert float(JIT["softmax_cross_entropy"](scores, target)) == pytest.approx(
            np_softmax_cross_entropy(z, one_hot), rel=1e-5, abs=1e-5
        )
        assert float(JIT["multiclass_hinge"](scores, target)) == pytest.approx(
            np_multiclass_hinge(z, labels), rel=1e-5, abs=1e-5
        )
        assert float(JIT["zero_one"](scores, target)) == pytest.approx(
            np.mean(np.argmax(z, axis=-1) != labels)
        )
    probabilities_loss = JIT["softmax_cross_entropy"](scores, probabilities.astype(np.float32))
    assert float(probabilities_loss) == pytest.approx(
        np_softmax_cross_entropy(z, probabilities), rel=1e-5, abs=1e-5
    )


@settings(max_examples=20, deadline=None)
@given(
    shape=st.sampled_from([(), (3,), (2, 4), (2, 1, 3)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_regression_losses_match_numpy(shape, seed):
    rng = np.random.default_rng(seed)
    pred, target = rng.normal(size=(2,) + shape).astype(np.float32)
    error = pred.astype(np.float64) - target
    assert float(JIT["mse"](pred, target)) == pytest.approx(np.mean(error**2), rel=1e-5, abs=1e-6)
    mae = np.mean(np.abs(error))
    assert float(JIT["mae"](pred, target)) == pytest.approx(mae, rel=1e-5, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(
    batch=st.sampled_from([1, 6]),
    pred_column=st.booleans(),
    target_column=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_binary_losses_match_numpy_for_either_shape_of_logits_and_labels(
    batch, pred_column, target_column, seed
):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=batch)
    t = rng.integers(0, 2, size=batch)
    logits = z.astype(np.float32).reshape((batch, 1) if pred_column else (batch,))
    target = t.reshape((batch, 1) if target_column else (batch,))
    assert float(JIT["binary_cross_entropy"](logits, target)) == pytest.approx(
        np_binary_cross_entropy(z, t), rel=1e-5, abs=1e-6
    )
    assert float(JIT["hinge"](logits, target)) == pytest.approx(np_hinge(z, t), rel=1e-5, abs=1e-6)
    assert float(JIT["zero_one"](logits, target)) == pytest.approx(np.mean((z > 0) != (t == 1)))


def test_hinge_reads_zero_one_and_plus_minus_one_labels_alike():
    signs = 2 * BINARY - 1
    assert float(L.hinge(LOGITS, signs)) == pytest.approx(float(L.hinge(LOGITS, BINARY)))
    assert float(L.zero_one(LOGITS, signs)) == pytest.approx(float(L.zero_one(LOGITS, BINARY)))


def test_binary_cross_entropy_takes_probability_targets():
    z, p = np.array([0.3, -2.0, 4.0]), np.array([0.2, 0.5, 0.9])
    expected = np_binary_cross_entropy(z, p)
    got = L.binary_cross_entropy(jnp.asarray(z, jnp.float32), jnp.asarray(p, jnp.float32))
    assert float(got) == pytest.approx(expected, rel=1e-6)


PRED_2X2, TARGET_2X2 = np.array([[0.3, -1.2], [2.0, 0.7]]), np.array([[0.0, 1.0], [1.5, -0.5]])
# (name, loss, order, pred, target); piecewise-linear losses are checked to first order only.
GRADIENT_CASES = [
    ("mse", L.mse, 2, PRED_2X2, TARGET_2X2),
    ("mae", L.mae, 1, PRED_2X2, TARGET_2X2),
    ("binary_cross_entropy", L.binary_cross_entropy, 2, PRED_2X2[:, :1], np.array([1, 0])),
    ("softmax_cross_entropy labels", L.softmax_cross_entropy, 2, SCORES, LABELS),
    ("softmax_cross_entropy one-hot", L.softmax_cross_entropy, 2, SCORES, ONE_HOT),
    ("hinge", L.hinge, 1, np.array([[0.3], [-1.2], [2.5]]), np.array([1, 0, 0])),
    ("multiclass_hinge", L.multiclass_hinge, 1, SCORES, LABELS),
]


@pytest.mark.parametrize(
    "loss, order, pred, target",
    [case[1:] for case in GRADIENT_CASES],
    ids=[case[0] for case in GRADIENT_CASES],
)
def test_gradients_match_finite_differences(loss, order, pred, target):
    # Finite differences need float64.
    with jax.enable_x64(True):
        pred = jnp.asarray(np.asarray(pred), jnp.float64)
        target = jnp.asarray(np.asarray(target))
        objective = jax.jit(lambda p: loss(p, target))
        check_grads(objective, (pred,), order=order, modes=("fwd", "rev"))


@pytest.mark.parametrize("loss, pred, target", [case[1:] for case in CASES], ids=IDS)
def test_losses_and_gradients_stay_finite_for_logits_of_ten_thousand(loss, pred, target):
    huge = 1e4 * jnp.sign(pred - jnp.mean(pred) + 0.01)
    value, grad = jax.jit(jax.value_and_grad(loss))(huge, target)
    assert np.isfinite(value)
    assert np.all(np.isfinite(grad))


@TRANSFORMS
@pytest.mark.parametrize("loss, pred, target", [case[1:] for case in CASES], ids=IDS)
def test_every_loss_is_a_scalar_and_jit_gives_the_eager_value(transform, loss, pred, target):
    value = transform(loss)(pred, target)
    assert value.shape == ()
    assert float(value) == pytest.approx(float(loss(pred, target)), rel=1e-6)


@pytest.mark.parametrize("name, loss", [(case[0], case[1]) for case in CASES], ids=IDS)
def test_every_loss_is_a_composable_named_for_what_it_computes(name, loss):
    assert isinstance(loss, Composable)
    assert loss.__name__ == name
    assert loss.__doc__


@TRANSFORMS
def test_a_weighted_sum_of_losses_is_the_weighted_sum_of_their_values(transform):
    combined = 0.5 * L.mse + L.mae
    pred, target = REGRESSION
    expected = 0.5 * L.mse(pred, target) + L.mae(pred, target)
    assert repr(combined) == "0.5 * mse + mae"
    assert float(transform(combined)(pred, target)) == pytest.approx(float(expected))
    grad = transform(jax.grad(combined))(pred, target)
    expected_grad = 0.5 * jax.grad(L.mse)(pred, target) + jax.grad(L.mae)(pred, target)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6)


@pytest.mark.parametrize("target_shape", [(3, 1), (3, 4), (2,), (1, 3, 3), ()])
def test_softmax_cross_entropy_rejects_other_target_shapes_naming_both(target_shape):
    pattern = r"expected targets of shape \(3,\).*or \(3, 3\).*got targets of shape "
    with pytest.raises(ValueError, match=pattern + re_shape(target_shape)):
        L.softmax_cross_entropy(SCORES, jnp.zeros(target_shape, jnp.int32))


def re_shape(shape):
    return str(shape).replace("(", r"\(").replace(")", r"\)")


def test_softmax_cross_entropy_rejects_float_labels():
    with pytest.raises(TypeError, match="integer dtype"):
        L.softmax_cross_entropy(SCORES, jnp.array([0.0, 1.0, 2.0]))


@pytest.mark.parametrize(
    "loss", [L.softmax_cross_entropy, L.multiclass_hinge], ids=lambda f: f.__name__
)
def test_multiclass_losses_refuse_one_logit_per_example(loss):
    # A softmax over one class is 1 whatever the logit: the loss would be constant.
    with pytest.raises(ValueError, match=r"C > 1.*\(4, 1\).*binary_cross_entropy"):
        loss(LOGITS, BINARY)


@pytest.mark.parametrize("loss", [L.binary_cross_entropy, L.hinge], ids=lambda f: f.__name__)
def test_binary_losses_refuse_multiclass_scores_and_mismatched_targets(loss):
    with pytest.raises(ValueError, match=r"one logit per example.*\(3, 3\)"):
        loss(SCORES, LABELS)
    with pytest.raises(ValueError, match=r"\(4,\) or \(4, 1\).*got targets of shape \(2, 2\)"):
        loss(LOGITS, BINARY.reshape(2, 2))


@pytest.mark.parametrize("loss", [L.mse, L.mae], ids=lambda f: f.__name__)
def test_regression_losses_refuse_to_broadcast_targets(loss):
    # (N, 1) against (N,) would silently broadcast to (N, N).
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        loss(LOGITS, jnp.zeros(4))


def test_regression_losses_cast_integer_targets_to_the_predictions_dtype():
    assert float(L.mse(jnp.array([1.0, 3.0]), jnp.array([1, 1]))) == pytest.approx(2.0)


def test_binary_losses_read_minus_one_as_class_zero():
    signs = 2 * BINARY - 1
    for loss in (L.binary_cross_entropy, L.hinge, L.zero_one):
        assert float(loss(LOGITS, signs)) == pytest.approx(float(loss(LOGITS, BINARY)), rel=1e-6)
    # Read as the number -1, the cross-entropy of a target -1 falls without bound as z grows.
    far = L.binary_cross_entropy(jnp.array([100.0]), jnp.array([-1]))
    assert float(far) == pytest.approx(100.0, rel=1e-6)


@pytest.mark.parametrize(
    "loss, pred, target, message",
    [
        (L.softmax_cross_entropy, SCORES, jnp.array([0, -1, 2]),
         r"softmax_cross_entropy: labels must be integers in \[0, 3\) for scores of 3 classes; "
         r"found -1 at index \(1,\)"),
        (L.softmax_cross_entropy, SCORES, jnp.array([0, 1, 3]), r"\[0, 3\).*found 3 at index"),
        (L.multiclass_hinge, SCORES, np.array([5, 1, 2]),
         r"multiclass_hinge: labels must be integers in \[0, 3\).*found 5 at index \(0,\)"),
        (L.zero_one, SCORES, jnp.array([0, 1, 7]), r"zero_one: labels .*found 7"),
        (L.softmax_cross_entropy, SCORES, jnp.array([[0.5, 0.5, 0.0], [0, 1, 0], [0, 2.0, -1.0]]),
         r"one-hot or probability targets must lie in \[0, 1\]; found 2\.0 at index \(2, 1\)"),
        (L.binary_cross_entropy, LOGITS, jnp.array([1.0, 0.0, 2.0, 1.0]),
         r"binary_cross_entropy: targets must be labels 0 / 1 or -1 / \+1 \(-1 meaning class "
         r"0\) or probabilities of class 1 in \[0, 1\]; found 2\.0 at index \(2,\)"),
        (L.binary_cross_entropy, LOGITS, jnp.array([1.0, -0.5, 0.0, 1.0]), r"found -0\.5"),
        (L.binary_cross_entropy, LOGITS, jnp.array([1.0, np.nan, 0.0, 1.0]), r"found nan"),
        (L.hinge, LOGITS, jnp.array([1, 0, 2, 1]),
         r"hinge: targets must be labels 0 / 1 or -1 / \+1 \(-1 meaning class 0\); found 2"),
        (L.hinge, LOGITS, jnp.array([1.0, 0.5, 0.0, 1.0]), r"hinge: .*found 0\.5"),
        (L.zero_one, LOGITS, jnp.array([3, 0, 0, 1]), r"zero_one: .*found 3"),
    ],
)
def test_concrete_targets_of_other_values_are_a_value_error_naming_the_value(
    loss, pred, target, message
):
    with pytest.raises(ValueError, match=message):
        loss(pred, target)
    # A target closed over by a jitted function is concrete too.
    with pytest.raises(ValueError, match=message):
        jax.jit(lambda p: loss(p, target))(pred)
    with pytest.raises(ValueError, match=message):
        L.check_targets(loss, pred.shape, np.asarray(target))


def test_traced_targets_are_unchecked_outside_debug_checks():
    # Without the checked mode a traced label is not read (here label 3 indexes past the end).
    value = jax.jit(L.multiclass_hinge)(SCORES, jnp.array([0, 1, 3]))
    assert value.shape == ()


@pytest.fixture
def checked():
    """``checkify.checkify(f)`` traced under ``jn.debug_checks()``; returns the error message."""

    def run(f, *args):
        with jn.debug_checks():
            error, _ = checkify.checkify(f)(*args)
        return error.get()

    return run


BAD_LABELS = jnp.array([0, 1, 3])


def test_debug_checks_catch_traced_labels_under_jit(checked):
    message = checked(jax.jit(L.softmax_cross_entropy), SCORES, BAD_LABELS)
    assert "softmax_cross_entropy: labels must be integers in [0, 3)" in message
    assert "found 3 at flat index 2" in message
    assert checked(jax.jit(L.softmax_cross_entropy), SCORES, LABELS) is None


def test_debug_checks_catch_traced_labels_under_grad_vmap_and_scan(checked):
    def grad_of_loss(scores, labels):
        return jax.grad(lambda s: L.multiclass_hinge(s, labels))(scores)

    assert "found 3" in checked(jax.jit(grad_of_loss), SCORES, BAD_LABELS)
    assert checked(jax.jit(grad_of_loss), SCORES, LABELS) is None

    batched = jax.vmap(L.softmax_cross_entropy)
    stacked = jnp.stack([LABELS, BAD_LABELS])
    assert "found 3" in checked(batched, jnp.stack([SCORES, SCORES]), stacked)

    def scanned(scores, labels):
        def step(total, batch):
            return total + L.binary_cross_entropy(*batch), None

        return jax.lax.scan(step, 0.0, (scores, labels))[0]

    targets = jnp.array([[1, 0, 0, 1], [1, -1, 1, 1], [0, 1, 2, 0]])
    message = checked(scanned, jnp.stack([LOGITS] * 3), targets)
    assert "binary_cross_entropy: targets must be" in message and "found 2" in message
    assert checked(scanned, jnp.stack([LOGITS] * 3), targets[:2].repeat(2, axis=0)[:3]) is None


def test_debug_checks_retrace_functions_compiled_before_and_after_them():
    hinge = jax.jit(L.hinge)
    bad = jnp.array([1, 0, 2, 1])
    hinge(LOGITS, BINARY)  # compiled, unchecked, before the context
    with jn.debug_checks():
        assert jn.checks.debugging()
        error, _ = checkify.checkify(hinge)(LOGITS, bad)
        assert "hinge: targets must be" in error.get()
    assert not jn.checks.debugging()
    # Traced again without the checks: the trace made inside the context is not reused.
    assert float(hinge(LOGITS, bad)) >= 0.0
    error, _ = checkify.checkify(hinge)(LOGITS, bad)
    assert error.get() is None


def test_check_targets_runs_the_checks_of_each_part_of_a_composed_loss():
    loss = L.softmax_cross_entropy + 0.1 * L.multiclass_hinge
    L.check_targets(loss, (3, 3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels .*found 3"):
        L.check_targets(loss, (3, 3), np.array([0, 1, 3]))
    with pytest.raises(ValueError, match=r"multiclass_hinge: labels .*found -2"):
        L.check_targets(0.5 * L.multiclass_hinge - L.mse, (3, 3), np.array([0, -2, 1]))
    # Shapes and dtypes are checked as the loss checks them.
    with pytest.raises(ValueError, match=r"expected targets of shape \(3,\)"):
        L.check_targets(L.softmax_cross_entropy, (3, 3), np.zeros((3, 2), np.int32))
    with pytest.raises(TypeError, match="integer dtype"):
        L.check_targets(L.softmax_cross_entropy, (3, 3), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        L.check_targets(L.mse, (4, 1), np.zeros(4))
    # A plain function has no checks.
    L.check_targets(lambda pred, target: jnp.mean(pred), (3, 3), np.array([0, 1, 9]))
    # Binary targets: -1 / +1 and probabilities pass.
    L.check_targets(L.binary_cross_entropy, (4, 1), np.array([1, -1, 0.25, 0]))
    with pytest.raises(ValueError, match=r"hinge: .*found 0\.25"):
        L.check_targets(L.hinge, (4, 1), np.array([1, -1, 0.25, 0]))
