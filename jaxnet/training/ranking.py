"""Ranking configurations by a metric of their histories: what the search schedules share."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def metric_mode(metric: str, mode: str | None) -> str:
    """``mode`` checked, or by default ``"max"`` for accuracies and ``"min"`` otherwise."""
    mode = mode or ("max" if "accuracy" in metric else "min")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return mode


def check_metric(metric: str, who: str, validation: bool, evaluate_train: bool) -> None:
    """Refuses a metric the sweep's histories will not hold, before anything compiles."""
    if metric.startswith("val_") and not validation:
        raise ValueError(f"{who} ranks by {metric!r}, which needs validation_data")
    if metric.startswith("train_") and not evaluate_train:
        raise ValueError(f"{who} ranks by {metric!r}, which needs evaluate_train=True")


def best_first(values: Sequence[float], mode: str) -> np.ndarray:
    """The positions of ``values``, best first (a non-finite value ranks last; ties keep
    their order)."""
    scores = np.asarray(values, np.float64)
    scores = np.where(np.isfinite(scores), scores, np.inf if mode == "min" else -np.inf)
    return np.argsort(scores if mode == "min" else -scores, kind="stable")
