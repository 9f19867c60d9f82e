"""Penalties: penalty(params) -> scalar, reading only the leaves they select.

A penalty factory ([`l1`][jaxnet.regularizers.l1], [`l2`][jaxnet.regularizers.l2],
[`elastic_net`][jaxnet.regularizers.elastic_net]) takes a strength and a ``where`` that selects
parameter leaves by path. A leaf's path is its dict keys joined by ``/``, e.g.
``"dense_1/w"`` or ``"sequential_0/dense_1/w"`` in a nested model. ``where`` is one of:

* ``None`` (the default): every leaf with ``ndim >= 2``, i.e. weight matrices and convolution
  kernels, never biases or normalisation scales;
* a layer name such as ``"dense_1"`` (or a path such as ``"sequential_0/dense_1"``): the leaves with
  ``ndim >= 2`` under it, matching whole path components (``"dense_1"`` is not ``"dense_10"``);
* a list of such names: the union;
* a function ``(path, leaf) -> bool``: exactly the leaves it accepts, biases included if it says so.

A ``where`` that selects nothing raises a ValueError listing the layers present. Selection reads
only the pytree's structure and shapes, so it runs once at trace time under ``jax.jit``.

Penalties are [`Composable`][jaxnet.composable.Composable], so they add and scale:
``l2(1e-3) + l1(1e-4, where="dense_0")`` is again a penalty.

Strengths are checked when the penalty is built: a negative, NaN or infinite strength is a
ValueError, a string or other non-number a TypeError. A traced strength (swept under ``vmap``)
passes unchecked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxnet.composable import Composable
from jaxnet.validation import nonnegative_number

PyTree = Any
Where = None | str | Sequence[str] | Callable[[str, jax.Array], bool]


def l1(strength: float = 1.0, where: Where = None) -> Composable:
    """The L1 penalty, ``strength * sum |w|`` over the selected leaves; it favours sparse weights.

    Its gradient is ``strength * sign(w)`` with ``sign(0) = 0``, as in PyTorch and TensorFlow, so
    a weight at exactly 0 feels no push from the penalty (``jnp.abs`` alone would give it +1).

    Args:
        strength: the factor lambda, ``>= 0`` (a number or a scalar array, traced ones included).
        where: which leaves to read; see the module docstring. Weight matrices by default.

    Returns:
        A Composable ``penalty(params) -> scalar``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> params = {"dense_0": {"w": jnp.array([[1.0], [-2.0]]), "b": jnp.array([5.0])}}
        >>> jn.regularizers.l1(0.5)(params)
        Array(1.5, dtype=float32)
    """
    nonnegative_number(strength, "l1 strength")
    return _penalty("l1", strength, where)


def l2(strength: float = 1.0, where: Where = None) -> Composable:
    """The L2 penalty, ``strength * 1/2 * sum w^2`` over the selected leaves; it favours small,
    spread-out weights.

    The factor 1/2 is the source material's (its gradient is ``strength * w``); Keras's
    ``l2(0.001)`` has no 1/2, so it equals ``l2(0.002)`` here.

    Args:
        strength: the factor lambda, ``>= 0`` (a number or a scalar array, traced ones included).
        where: which leaves to read; see the module docstring. Weight matrices by default.

    Returns:
        A Composable ``penalty(params) -> scalar``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> params = {"dense_0": {"w": jnp.array([[1.0], [-2.0]]), "b": jnp.array([5.0])}}
        >>> jn.regularizers.l2(0.5)(params)
        Array(1.25, dtype=float32)
    """
    nonnegative_number(strength, "l2 strength")
    return _penalty("l2", strength, where)


def elastic_net(l1_strength: float, l2_strength: float, where: Where = None) -> Composable:
    """The sum of the L1 and L2 penalties above on the same leaves.

    ``l1_strength * sum |w| + l2_strength * 1/2 * sum w^2``.

    Args:
        l1_strength: the factor of the L1 term, ``>= 0``.
        l2_strength: the factor of the L2 term, ``>= 0``.
        where: which leaves to read; see the module docstring. Weight matrices by default.

    Returns:
        A Composable ``penalty(params) -> scalar``.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> params = {"dense_0": {"w": jnp.array([[1.0], [-2.0]]), "b": jnp.array([5.0])}}
        >>> jn.regularizers.elastic_net(0.5, 0.5)(params)
        Array(2.75, dtype=float32)
    """
    nonnegative_number(l1_strength, "elastic_net l1_strength")
    nonnegative_number(l2_strength, "elastic_net l2_strength")
    both = l1(l1_strength, where) + l2(l2_strength, where)
    return dataclasses.replace(both, name=_describe("elastic_net", (l1_strength, l2_strength),
                                                    where))


@dataclasses.dataclass(frozen=True)
class _Unit:
    """A penalty of strength 1 on the leaves ``where`` selects: ``sum |w|`` (l1) or
    ``1/2 sum w^2`` (l2). A frozen dataclass, so that equal penalties share one structure."""

    kind: str
    where: Any

    def __call__(self, params: PyTree) -> jax.Array:
        selected = _selector(self.where)(params)
        if self.kind == "l1":
            # w * sign(w) is |w|; stopping the gradient through sign makes the derivative
            # sign(w), 0 at w = 0, where jnp.abs's derivative is 1.
            return sum(jnp.sum(w * jax.lax.stop_gradient(jnp.sign(w))) for w in selected)
        return 0.5 * optax.tree_utils.tree_norm(selected, squared=True)


def _penalty(kind: str, strength: Any, where: Where) -> Composable:
    """``strength`` times the unit penalty: the strength is the scalar of a composition, a leaf
    of the penalty's pytree."""
    _acceptor(where)  # a bad where is refused now, not at the first call
    name = _describe(kind, (strength,), where)
    unit = Composable(_Unit(kind, tuple(where) if isinstance(where, list) else where), name=kind)
    return Composable(None, name=name, parts=(unit,), op="c*", scalar=strength)


def _selector(where: Where) -> Callable[[PyTree], list[jax.Array]]:
    """The function from a params pytree to the list of leaves that ``where`` selects."""
    accept = _acceptor(where)

    def select(params: PyTree) -> list[jax.Array]:
        paths_and_leaves = [
            (jax.tree_util.keystr(path, simple=True, separator="/"), leaf)
            for path, leaf in jax.tree.leaves_with_path(params)
        ]
        selected = [leaf for path, leaf in paths_and_leaves if accept(path, leaf)]
        if not selected:
            paths = [path for path, _ in paths_and_leaves]
            layers = list(dict.fromkeys(path.rpartition("/")[0] or path for path in paths))
            hint = "" if callable(where) else (
                " (names select only leaves with ndim >= 2, weight matrices and kernels; pass a "
                "function (path, leaf) -> bool to select others)"
            )
            raise ValueError(
                f"where={_show(where)} selects no parameter; the layers present are {layers}{hint}"
            )
        return selected

    return select


def _acceptor(where: Where) -> Callable[[str, jax.Array], bool]:
    if callable(where):
        return where
    if where is None:
        names = None
    elif isinstance(where, str):
        names = (where,)
    elif isinstance(where, Sequence) and all(isinstance(name, str) for name in where):
        names = tuple(where)
    else:
        raise TypeError(
            "where must be None, a layer name, a list of layer names or a function "
            f"(path, leaf) -> bool; got {where!r}"
        )

    def accept(path: str, leaf: jax.Array) -> bool:
        if jnp.ndim(leaf) < 2:
            return False
        return names is None or any(_under(path, name) for name in names)

    return accept


def _under(path: str, name: str) -> bool:
    """Whether the components of ``name`` occur as consecutive components of ``path``."""
    parts, wanted = path.split("/"), name.split("/")
    return any(parts[i : i + len(wanted)] == wanted for i in range(len(parts) - len(wanted) + 1))


def _describe(factory: str, strengths: tuple, where: Where) -> str:
    arguments = [str(strength) for strength in strengths]
    if where is not None:
        arguments.append(f"where={_show(where)}")
    return f"{factory}({', '.join(arguments)})"


def _show(where: Where) -> str:
    return getattr(where, "__name__", repr(where)) if callable(where) else repr(where)
