"""Checkpoints of whole training runs: one pytree of arrays and a dict of JSON, saved atomically.

``save`` writes a run's state (params, state, optimizer state, counters, typed PRNG key...) and
its metadata (history, settings) as one directory; ``restore`` reads the arrays back, bit for
bit, into the structure, dtypes and shardings of a ``like`` pytree; ``Manager`` keeps the last
few checkpoints of a training loop. The arrays go through Orbax, which writes sharded arrays from
every host, as three items: ``arrays`` (the leaves keyed by position, keys as their
``key_data``), ``manifest`` (JSON: each leaf's path, shape, dtype, PRNG implementation and
sha256) and ``metadata``. Orbax checksums no data, so the digests are verified on restore.

A checkpoint is written as a hidden sibling (``.<name>.saving-<token>``) and renamed to its name
when complete; replacing one renames the old one aside (``.<name>.replaced``) until the new one
is in place. Paths are local (or mounted) file systems, where a rename is atomic. The choices and
their measurements are in docs/design.md ("Checkpoints").

Files, lowest first: ``_files`` (Orbax, the processes of a multi-host job, staging directories
and the atomic rename), ``_encoding`` (leaves as manifest entries and arrays, digests),
``pytree`` (``save``, ``restore`` and ``metadata`` of one checkpoint) and ``manager``
(``Manager``).
"""

from jaxnet.checkpoint.manager import Manager
from jaxnet.checkpoint.pytree import CheckpointError, metadata, restore, save

__all__ = ["CheckpointError", "Manager", "metadata", "restore", "save"]
