import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnet.composable import Composable, atoms


@Composable
def square_error(pred, target):
    """Sum of squared differences."""
    return jnp.sum((pred - target) ** 2)


@Composable
def abs_error(pred, target, scale=1.0):
    return scale * jnp.sum(jnp.abs(pred - target))


def plain_sum(pred, target):
    return jnp.sum(pred * target)


PRED = jnp.array([1.0, -2.0, 3.0])
TARGET = jnp.array([0.5, 0.0, 2.0])
SQ, AB, PL = 5.25, 3.5, 6.5

EXPRESSIONS = [
    ("a + b", lambda: square_error + abs_error, SQ + AB),
    ("a - b", lambda: square_error - abs_error, SQ - AB),
    ("c * a", lambda: 0.5 * square_error, 0.5 * SQ),
    ("a * c", lambda: square_error * 0.5, 0.5 * SQ),
    ("a / c", lambda: square_error / 4, SQ / 4),
    ("-a", lambda: -square_error, -SQ),
    ("a + plain", lambda: square_error + plain_sum, SQ + PL),
    ("plain + a", lambda: plain_sum + square_error, PL + SQ),
    ("a - plain", lambda: square_error - plain_sum, SQ - PL),
    ("plain - a", lambda: plain_sum - square_error, PL - SQ),
    (
        "nested",
        lambda: 0.5 * square_error - 2 * (abs_error - square_error / 5),
        0.5 * SQ - 2 * (AB - SQ / 5),
    ),
    ("array scalar", lambda: jnp.float32(3.0) * square_error, 3.0 * SQ),
]


@pytest.mark.parametrize("name, build, expected", EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_arithmetic_on_functions_is_arithmetic_on_their_results(name, build, expected, transform):
    composed = build()
    assert isinstance(composed, Composable)
    np.testing.assert_allclose(transform(composed)(PRED, TARGET), expected, rtol=1e-6)


def test_gradient_of_a_composition_is_the_composition_of_gradients():
    composed = 0.5 * square_error + abs_error
    expected = 0.5 * jax.grad(square_error)(PRED, TARGET) + jax.grad(abs_error)(PRED, TARGET)
    np.testing.assert_allclose(jax.grad(composed)(PRED, TARGET), expected, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.grad(composed))(PRED, TARGET), expected, rtol=1e-6)


def test_keyword_arguments_are_forwarded_to_every_part():
    assert abs_error(PRED, TARGET, scale=2.0) == 2 * AB
    np.testing.assert_allclose((3 * abs_error)(PRED, TARGET, scale=2.0), 6 * AB)
    np.testing.assert_allclose((abs_error + abs_error)(PRED, TARGET, scale=2.0), 4 * AB)


def test_a_traced_scale_composes_under_vmap():
    scales = jnp.array([0.0, 1.0, 2.0])
    values = jax.vmap(lambda c: (c * square_error)(PRED, TARGET))(scales)
    np.testing.assert_allclose(values, scales * SQ, rtol=1e-6)


def test_name_doc_and_signature_of_the_wrapped_function_carry_over():
    assert square_error.__name__ == "square_error"
    assert square_error.__doc__ == "Sum of squared differences."
    assert list(inspect.signature(abs_error).parameters) == ["pred", "target", "scale"]
    assert repr(square_error) == "square_error"


@pytest.mark.parametrize(
    "build, text",
    [
        (lambda: 0.5 * square_error + abs_error, "0.5 * square_error + abs_error"),
        (lambda: square_error - (abs_error + plain_sum), "square_error - (abs_error + plain_sum)"),
        (lambda: 2 * (square_error + abs_error) / 3, "2 * (square_error + abs_error) / 3"),
        (lambda: -(square_error - abs_error), "-(square_error - abs_error)"),
        (lambda: square_error * 0.5 - abs_error, "square_error * 0.5 - abs_error"),
        (lambda: square_error + plain_sum, "square_error + plain_sum"),
        (lambda: Composable(lambda x: x, name="identity") / 2, "identity / 2"),
    ],
)
def test_repr_reads_as_the_expression_with_the_parentheses_it_needs(build, text):
    composed = build()
    assert repr(composed) == text
    assert composed.__name__ == text


@pytest.mark.parametrize(
    "operation",
    [
        lambda: square_error * abs_error,
        lambda: square_error * jnp.ones(3),
        lambda: square_error + 1.0,
        lambda: 2.0 - square_error,
        lambda: square_error / "2",
    ],
)
def test_unsupported_operands_raise_type_error(operation):
    with pytest.raises(TypeError):
        operation()


def test_only_functions_can_be_wrapped():
    with pytest.raises(TypeError, match="wraps a function"):
        Composable(3.0)


def test_composables_are_hashable_so_they_can_be_static_arguments_of_jit():
    step = jax.jit(lambda loss, p, t: loss(p, t), static_argnums=0)
    np.testing.assert_allclose(step(square_error + abs_error, PRED, TARGET), SQ + AB, rtol=1e-6)


def test_atoms_are_the_functions_an_expression_is_made_of_left_to_right():
    f, g = Composable(jnp.sin, name="f"), Composable(jnp.cos, name="g")

    def plain(x):
        return x

    expression = 2.0 * f - (g + plain) / 3.0 + -f
    assert [atom.name for atom in atoms(expression)] == ["f", "g", "plain", "f"]
    assert atoms(expression)[0] is f and atoms(expression)[2].fn is plain
    assert atoms(Composable(f + g, name="both")) == (f, g)
    assert atoms(f) == (f,) and atoms(plain) == (plain,)


def test_a_plain_function_made_composable_scales_and_adds():
    import jaxnet as jn

    def squared(pred, target):
        return jnp.mean((pred - target) ** 2)

    loss = 0.1 * jn.composable(squared) + jn.losses.mae
    pred, target = jnp.array([1.0, 3.0]), jnp.array([0.0, 1.0])
    assert float(loss(pred, target)) == pytest.approx(0.1 * 2.5 + 1.5)


def test_sum_of_losses_is_their_composition():
    import jaxnet as jn

    total = sum([jn.losses.mse, jn.losses.mae, 0.5 * jn.losses.mse])
    pred, target = jnp.array([1.0, 3.0]), jnp.array([0.0, 1.0])
    assert repr(total) == "mse + mae + 0.5 * mse"
    assert float(total(pred, target)) == pytest.approx(2.5 + 1.5 + 1.25)
