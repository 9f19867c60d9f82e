"""Composable: a function that adds, subtracts and scales with others into a new function.

Losses and penalties are Composables, so an objective reads as arithmetic on functions:
``jn.losses.mse + 0.1 * jn.losses.mae`` is again a function ``(pred, target) -> scalar``, and
``jn.regularizers.l2(1e-3) + jn.regularizers.l1(1e-4, where="dense_0")`` a function
``params -> scalar``. Composition happens in Python, before tracing, so the results work under
``jax.jit``, ``jax.grad`` and ``jax.vmap`` like any function.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import pytrees

# Binding strength of an expression's outermost operator, to parenthesise operands in reprs.
_SUM, _PRODUCT, _ATOM = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Composable:
    """A function that composes with ``+``, ``-``, scalar ``*``, ``/`` and unary ``-``.

    Calling it forwards all arguments, keywords included, to ``fn``. For Composables ``a``, ``b``
    (or plain functions for ``+`` and ``-``) and a scalar ``c`` (a Python number or a 0-d array,
    traced ones included), ``a + b``, ``a - b``, ``c * a``, ``a * c``, ``a / c`` and ``-a`` are
    Composables computing the same arithmetic on the results of the same call.

    A Composable is a pytree whose leaves are its numbers (the scalars of its compositions, a
    penalty's strength): ``jax.jit`` takes them as arguments, so ``0.1 * mae`` and ``0.2 * mae``
    share one compilation. Its functions stay in the structure (see ``jaxnet.pytrees``).

    Args:
        fn: the function to wrap; its ``__name__``, ``__doc__`` and signature carry over. None
            for a composition, which computes from its ``parts``.
        name: how the function shows in reprs of compositions; ``fn.__name__`` by default.
        precedence: how tightly the outermost operator in ``name`` binds, so that reprs of
            compositions put parentheses where needed; set by the operators.
        parts: the Composables a composition computes from, in order; set by the operators
            (see ``jaxnet.composable.atoms``).
        op: the operator of a composition (``"+"``, ``"-"``, ``"c*"``, ``"*c"``, ``"/"``,
            ``"neg"``); set by the operators.
        scalar: the number of a scaled composition.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxnet.composable import Composable
        >>> double = Composable(lambda x: 2 * x, name="double")
        >>> square = Composable(jnp.square)
        >>> f = 0.5 * double + square
        >>> f
        0.5 * double + square
        >>> f(3.0)
        Array(12., dtype=float32, weak_type=True)
    """

    fn: Callable[..., Any] | None
    name: str | None = None
    precedence: int = dataclasses.field(default=_ATOM, repr=False, compare=False)
    parts: tuple[Composable, ...] = dataclasses.field(default=(), repr=False, compare=False)
    op: str | None = dataclasses.field(default=None, repr=False)
    scalar: Any = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.op is None and not callable(self.fn):
            raise TypeError(f"Composable wraps a function, got {self.fn!r}")
        # Frozen, so set the wrapper attributes the way dataclasses do for their own fields.
        for attribute in functools.WRAPPER_ASSIGNMENTS:
            if hasattr(self.fn, attribute):
                object.__setattr__(self, attribute, getattr(self.fn, attribute))
        object.__setattr__(self, "__wrapped__", self.fn)
        if self.name is None:
            object.__setattr__(self, "name", getattr(self.fn, "__name__", repr(self.fn)))
        else:
            object.__setattr__(self, "__name__", self.name)
            object.__setattr__(self, "__qualname__", self.name)

    def __call__(self, *args, **kwargs):
        if self.op is None:
            return self.fn(*args, **kwargs)
        return _OPERATORS[self.op](self.scalar, *(part(*args, **kwargs) for part in self.parts))

    def __repr__(self) -> str:
        return self.name

    def __add__(self, other):
        if _is_zero(other):  # the start of sum([...])
            return self
        if not callable(other):
            return NotImplemented
        other = _as_composable(other)
        return _combine("+", f"{self} + {other}", _SUM, (self, other))

    def __radd__(self, other):
        if _is_zero(other):
            return self
        if not callable(other):
            return NotImplemented
        return _as_composable(other) + self

    def __sub__(self, other):
        if not callable(other):
            return NotImplemented
        other = _as_composable(other)
        name = f"{self} - {_wrap(other, _PRODUCT)}"
        return _combine("-", name, _SUM, (self, other))

    def __rsub__(self, other):
        if not callable(other):
            return NotImplemented
        return _as_composable(other) - self

    def __mul__(self, scalar):
        if not _is_scalar(scalar):
            return NotImplemented
        return _combine("*c", f"{_wrap(self, _PRODUCT)} * {scalar}", _PRODUCT, (self,), scalar)

    def __rmul__(self, scalar):
        if not _is_scalar(scalar):
            return NotImplemented
        return _combine("c*", f"{scalar} * {_wrap(self, _PRODUCT)}", _PRODUCT, (self,), scalar)

    def __truediv__(self, scalar):
        if not _is_scalar(scalar):
            return NotImplemented
        return _combine("/", f"{_wrap(self, _PRODUCT)} / {scalar}", _PRODUCT, (self,), scalar)

    def __neg__(self):
        return _combine("neg", f"-{_wrap(self, _ATOM)}", _PRODUCT, (self,))


_OPERATORS = {
    "+": lambda _, a, b: a + b,
    "-": lambda _, a, b: a - b,
    "c*": lambda c, a: c * a,
    "*c": lambda c, a: a * c,
    "/": lambda c, a: a / c,
    "neg": lambda _, a: -a,
}


def _combine(op: str, name: str, precedence: int, parts: tuple[Composable, ...],
             scalar: Any = None) -> Composable:
    """The Composable that applies ``op`` to the results of ``parts`` called on the same args."""
    return Composable(None, name=name, precedence=precedence, parts=parts, op=op, scalar=scalar)


# Names, docstrings and the other attributes copied from the function only describe it.
pytrees.register(Composable, lambda c: ("fn", "parts", "op", "scalar", "name", "precedence",
                                        *functools.WRAPPER_ASSIGNMENTS, "__wrapped__"),
                 cosmetic=("name", "precedence", *functools.WRAPPER_ASSIGNMENTS, "__wrapped__"))


def atoms(fn: Callable) -> tuple[Callable, ...]:
    """The functions that an expression of Composables is made of, left to right.

    A sum, difference or scalar multiple gives the atoms of its operands; a Composable wrapping
    another Composable gives the atoms of that one; anything else is its own single atom.

    Example:
        >>> import jaxnet as jn
        >>> atoms(jn.losses.mse + 0.1 * (jn.losses.mae - jn.losses.mse))
        (mse, mae, mse)
    """
    if isinstance(fn, Composable):
        if fn.parts:
            return tuple(atom for part in fn.parts for atom in atoms(part))
        if isinstance(fn.fn, Composable):
            return atoms(fn.fn)
    return (fn,)


def _is_zero(value: Any) -> bool:
    """The integer 0 that Python's ``sum()`` starts from (not 0.0, not an array)."""
    return type(value) is int and value == 0


def composable(fn: Callable[..., Any]) -> Composable:
    """Makes a plain function composable, as a decorator or a call, so that it scales and adds.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> @jn.composable
        ... def squared_log_error(pred, target):
        ...     return jnp.mean((jnp.log1p(pred) - jnp.log1p(target)) ** 2)
        >>> loss = jn.losses.mse + 0.1 * squared_log_error
        >>> loss
        mse + 0.1 * squared_log_error
        >>> sum([jn.losses.mse, jn.losses.mae])
        mse + mae
    """
    return _as_composable(fn)


def _as_composable(fn: Callable) -> Composable:
    return fn if isinstance(fn, Composable) else Composable(fn)


def _wrap(part: Composable, tightest_outer: int) -> str:
    """``part``'s repr, in parentheses when its operator binds less than ``tightest_outer``."""
    return f"({part})" if part.precedence < tightest_outer else str(part)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (numbers.Number, jax.Array, np.ndarray)) and jnp.ndim(value) == 0
