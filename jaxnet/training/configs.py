"""Lists of configurations for ``jn.sweep``: every combination of values, or values taken
position by position."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

__all__ = ["grid", "zipped"]


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
