"""Losses: loss(pred, target) -> scalar, the mean over the batch."""
