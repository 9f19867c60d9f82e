"""Penalties: penalty(params) -> scalar, reading only the leaves they select."""
