"""Checks of user input on the host, with errors that say what was wrong and what was expected.

Every public function that takes a count, a size, a strength or data checks it where it is given,
with these helpers, so that bad input fails at once with a clear message instead of as a NaN or a
cryptic XLA error many steps later. They read only concrete values: a traced value (a strength
swept under ``vmap``) passes unchecked, since its value is not known until it runs.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import numpy as np


def is_concrete(value: Any) -> bool:
    """Whether ``value`` is known now (not a tracer inside ``jit``, ``grad`` or ``vmap``)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as a Python int, refusing floats, bools, strings and values below ``minimum``.

    NumPy integer scalars (``np.int64(8)``) are accepted, as Python ints are.

    Example:
        >>> positive_int(np.int64(8), "features")
        8
        >>> positive_int(2.0, "epochs")
        Traceback (most recent call last):
        ...
        TypeError: epochs must be an integer, got 2.0 (float)
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def nonnegative_number(value: Any, name: str, *, positive: bool = False) -> Any:
    """Checks a strength or rate: a real number (or scalar array) that is finite and >= 0.

    With ``positive=True`` zero is refused too. Traced values pass unchecked. Returns ``value``
    unchanged, so a traced or array strength stays what it was.

    Example:
        >>> nonnegative_number(1e-3, "strength")
        0.001
        >>> nonnegative_number(float("nan"), "strength")
        Traceback (most recent call last):
        ...
        ValueError: strength must be a finite number >= 0, got nan
    """
    if not is_concrete(value):
        return value
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    is_scalar_array = isinstance(value, (np.ndarray, np.generic, jax.Array)) and np.ndim(value) == 0
    if not (is_number or is_scalar_array) or not np.issubdtype(np.asarray(value).dtype, np.number):
        raise TypeError(
            f"{name} must be a real number, got {value!r} ({type(value).__name__})"
        )
    number = float(value)
    bound = "> 0" if positive else ">= 0"
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def count_nonfinite(array: Any) -> int:
    """The number of NaN and infinite values in a concrete array (0 for integer arrays)."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.inexact):
        return 0
    return int(array.size - np.count_nonzero(np.isfinite(array)))


def finite_data(array: Any, what: str) -> None:
    """Raises a ValueError naming ``what`` and counting the values when ``array`` holds NaN or
    infinite values; integer arrays and traced values pass.

    Example:
        >>> finite_data(np.array([1.0, np.nan, np.inf]), "train_data x")
        Traceback (most recent call last):
        ...
        ValueError: train_data x holds 2 NaN or infinite values (of 3); clean or impute them first
    """
    if not is_concrete(array):
        return
    bad = count_nonfinite(array)
    if bad:
        raise ValueError(
            f"{what} holds {bad} NaN or infinite values (of {np.size(array)}); clean or impute "
            "them first"
        )
