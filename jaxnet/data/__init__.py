"""Data sets and input-pipeline helpers."""
