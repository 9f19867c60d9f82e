"""Lists of configurations for ``jn.sweep``: every combination of values, or values taken
position by position; and the check of their values before anything compiles."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["check_values", "grid", "zipped"]


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Every combination of the given values, the last axis varying fastest.

    Example:
        >>> for config in grid(lr=[0.1, 0.01], seed=[0, 1]):
        ...     print(config)
        {'lr': 0.1, 'seed': 0}
        {'lr': 0.1, 'seed': 1}
        {'lr': 0.01, 'seed': 0}
        {'lr': 0.01, 'seed': 1}
    """
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid axis {name!r} must be a non-empty list of values, got "
                             f"{values!r}")
    names = list(axes)
    return [dict(zip(names, combination)) for combination in itertools.product(*axes.values())]


def zipped(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Configurations taken position by position from lists of equal length.

    Example:
        >>> zipped(lr=[0.1, 0.01], l2=[0.0, 1e-4])
        [{'lr': 0.1, 'l2': 0.0}, {'lr': 0.01, 'l2': 0.0001}]
    """
    lengths = {name: len(values) for name, values in axes.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"zipped needs lists of one length, got lengths {lengths}")
    names = list(axes)
    return [dict(zip(names, values)) for values in zip(*axes.values())]


def check_values(configs: list[dict[str, Any]]) -> None:
    """Refuses non-finite numbers, and negative learning or dropout rates, before compiling."""
    for index, config in enumerate(configs):
        for name, value in config.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                continue
            if not math.isfinite(float(value)):
                raise ValueError(f"configuration {index} {config}: {name} must be finite, got "
                                 f"{value!r}")
            rate = name in ("lr", "learning_rate", "dropout") or name.endswith("_rate")
            if rate and value < 0:
                raise ValueError(f"configuration {index} {config}: {name} is a rate and must be "
                                 f">= 0, got {value!r}")
