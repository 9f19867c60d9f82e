"""Metrics: metric(pred, target) -> scalar, the mean over the batch."""
