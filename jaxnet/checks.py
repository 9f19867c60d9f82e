"""Checks of target values: on the host when the values are known, under ``checkify`` on request.

Losses and metrics check their targets' values (labels in range, binary targets in {0, 1} or
{-1, +1}...) with ``check_values``. When the target is concrete (an eager call, or an array
closed over by a jitted function), a bad value is a ``ValueError`` at once. When it is traced
(inside ``jit``, ``grad``, ``vmap`` or ``lax.scan``) its values are unknown until it runs, and
nothing is checked, unless the function was traced under
[`debug_checks`][jaxnet.checks.debug_checks]: then each check is a
``jax.experimental.checkify.check``, which the caller collects by wrapping the function with
``checkify.checkify``.

Example:
    >>> import jax, jax.numpy as jnp, jaxnet as jn
    >>> from jax.experimental import checkify
    >>> loss = jax.jit(checkify.checkify(jn.losses.softmax_cross_entropy))
    >>> with jn.debug_checks():
    ...     error, value = loss(jnp.zeros((2, 3)), jnp.array([0, 3]))
    >>> print(error.get())  # doctest: +ELLIPSIS
    softmax_cross_entropy: labels must be integers in [0, 3) for scores of 3 classes; found 3...
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from jaxnet.validation import is_concrete

_DEBUG = contextvars.ContextVar("jaxnet_debug_checks", default=False)


@contextlib.contextmanager
def debug_checks() -> Iterator[None]:
    """Traces the checks of target values into functions traced inside this context.

    Inside it, losses and metrics whose targets are traced insert ``checkify`` checks. Wrap the
    function with ``jax.experimental.checkify.checkify`` to collect them: it returns
    ``(error, result)``, and ``error.throw()`` raises the first failed check (a ``ValueError``
    subclass) with the loss's name and a bad value. It works through ``jit``, ``grad``, ``vmap``
    and ``lax.scan``. Without the wrapper, ``jit`` refuses the unfunctionalised checks.

    The setting is read when a function is *traced*, and ``jax.jit`` reuses traces: so entering
    and leaving the context clear JAX's caches (``jax.clear_caches()``). Inside, every function
    is traced afresh, with the checks (also one compiled before, outside); after it, afresh
    without them. Expect the recompilations that this costs: it is a mode for debugging.

    Example:
        >>> import jax, jax.numpy as jnp, jaxnet as jn
        >>> from jax.experimental import checkify
        >>> step = checkify.checkify(jax.jit(jax.grad(jn.losses.binary_cross_entropy)))
        >>> with jn.debug_checks():
        ...     error, grads = step(jnp.zeros(2), jnp.array([1.0, 2.0]))
        >>> error.throw()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jax...JaxRuntimeError: binary_cross_entropy: targets must be ... found 2.0 ...
    """
    token = _DEBUG.set(True)
    jax.clear_caches()
    try:
        yield
    finally:
        _DEBUG.reset(token)
        jax.clear_caches()


def debugging() -> bool:
    """Whether functions traced now get the checks of
    [`debug_checks`][jaxnet.checks.debug_checks]."""
    return _DEBUG.get()


def check_values(values: Any, valid: Callable[[Any], Any], message: str) -> None:
    """Checks that ``valid(values)`` holds for every value.

    Args:
        values: an array (concrete or traced).
        valid: an element-wise predicate written with operators only (``==``, ``<``, ``&``,
            ``|``), so that it runs on a NumPy array and on a traced JAX array alike.
        message: what was expected, e.g. ``"accuracy: labels must be integers in [0, 3)"``;
            the first bad value and its index are appended.

    Raises:
        ValueError: when ``values`` is concrete and some value is not valid. A traced value is
            checked only under [`debug_checks`][jaxnet.checks.debug_checks], by ``checkify``.
    """
    if is_concrete(values):
        array = np.asarray(values)
        ok = np.asarray(valid(array))
        if not ok.all():
            index = np.unravel_index(np.argmin(ok), ok.shape)
            raise ValueError(
                f"{message}; found {array[index]!s} at index {tuple(map(int, index))}"
            )
    elif debugging():
        array = jnp.asarray(values)
        if array.dtype == jnp.bool_:
            array = array.astype(jnp.int32)
        ok = jnp.ravel(valid(array))
        first_bad = jnp.argmin(ok)
        bad = jnp.ravel(array)[first_bad]
        checkify.check(
            jnp.all(ok),
            message + "; found {bad} at flat index {index}",
            bad=bad,
            index=first_bad,
        )

