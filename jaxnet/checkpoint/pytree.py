"""One checkpoint: ``save`` writes a pytree and its JSON metadata as a directory, atomically;
``restore`` reads the arrays back, bit for bit, and ``metadata`` the JSON, each checked against
the digests saved with them.

The directory holds three Orbax items: ``arrays`` (the leaves keyed by position), ``manifest``
(JSON: the format and each leaf's path, shape, dtype, PRNG implementation and sha256) and
``metadata``.
"""

from __future__ import annotations

import gc
import re
from pathlib import Path
from typing import Any

import jax

from jaxnet.checkpoint._encoding import (
    check_json,
    decode,
    digest,
    encode,
    json_digest,
    leaf_path,
    restore_target,
    shape_dtype,
)
from jaxnet.checkpoint._files import (
    is_checkpoint,
    is_primary,
    move_into_place,
    orbax,
    remove_staging,
    save_token,
    sibling,
    staging_leftovers,
    sync,
)

_FORMAT = "jaxnet.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored as asked: damaged, not a checkpoint, or of another
    structure, shape or dtype than the target."""


def save(path: str | Path, tree: Any, *, metadata: dict | None = None) -> Path:
    """Writes ``tree`` and ``metadata`` as one checkpoint directory at ``path``, atomically.

    An existing checkpoint at ``path`` is replaced only once the new one is complete. Every
    process of a multi-host run calls ``save`` with its part of the global arrays.

    Args:
        path: the checkpoint directory to write; its parent folders are created.
        tree: a pytree whose leaves are JAX arrays (typed PRNG keys included), NumPy arrays or
            scalars, or Python ``bool`` / ``int`` / ``float``; e.g. ``{"params": params,
            "opt_state": opt_state, "epoch": jnp.int32(3), "key": jax.random.key(0)}``.
        metadata: JSON values (dicts with string keys, lists, strings, numbers, booleans,
            ``None``), e.g. the history of metrics and the settings. NaN and infinities are kept.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        TypeError: a leaf or a metadata value of another type (named by its path).
        FileExistsError: ``path`` exists and is not a checkpoint (it is never replaced).

    Example:
        >>> import tempfile, jax.numpy as jnp, jaxnet as jn
        >>> folder = tempfile.mkdtemp()
        >>> tree = {"w": jnp.ones((2, 3)), "epoch": jnp.int32(4)}
        >>> jn.checkpoint.save(f"{folder}/run", tree, metadata={"loss": [0.5, 0.25]}).name
        'run'
        >>> jn.checkpoint.restore(f"{folder}/run", like=tree)["epoch"]
        Array(4, dtype=int32)
    """
    path = Path(path)
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    check_json(metadata, "metadata")
    entries, arrays = encode(tree)
    manifest = {"format": _FORMAT, "leaves": entries, "metadata_sha256": json_digest(metadata)}
    if path.exists() and not is_checkpoint(path):
        raise FileExistsError(f"{path} exists and is not a checkpoint; refusing to replace it")
    ocp = orbax()
    staging = sibling(path, f"saving-{save_token()}")
    if is_primary():
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_staging(path)
    sync("save-start")
    try:
        items = {"manifest": ocp.args.JsonSave(manifest), "metadata": ocp.args.JsonSave(metadata)}
        if arrays:  # Orbax refuses an empty tree
            items["arrays"] = ocp.args.StandardSave(arrays)
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
            # Orbax takes absolute paths only.
            checkpointer.save(staging.absolute(), args=ocp.args.Composite(**items))
        if is_primary():
            move_into_place(staging, path)
    except BaseException:
        if is_primary():
            remove_staging(path)
        raise
    sync("save-end")
    return path


def restore(path: str | Path, like: Any) -> Any:
    """Reads the checkpoint at ``path`` into the structure of ``like``, bit for bit.

    Args:
        path: a directory written by ``save``.
        like: a pytree with the saved structure (the same leaf paths), whose leaves give each
            leaf's shape, dtype and placement: a JAX array or ``jax.ShapeDtypeStruct`` (restored
            as a JAX array with its sharding, or on the first local device when a
            ``ShapeDtypeStruct`` has none; typed PRNG keys as keys of the saved implementation),
            a NumPy array or scalar (restored as NumPy), or a Python number (restored as one).

    Returns:
        A pytree of ``like``'s structure holding the saved values.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CheckpointError: ``path`` is not a checkpoint or is damaged (a leaf whose bytes differ
            from the saved digest is named), or ``like`` differs from what was saved (the first
            leaf that differs is named, with both shapes and dtypes).

    Example:
        >>> import tempfile, jax, jax.numpy as jnp, jaxnet as jn
        >>> path = jn.checkpoint.save(f"{tempfile.mkdtemp()}/run", {"w": jnp.arange(3.0)})
        >>> like = {"w": jax.ShapeDtypeStruct((3,), jnp.float32)}   # shapes are enough
        >>> jn.checkpoint.restore(path, like)["w"]
        Array([0., 1., 2.], dtype=float32)
    """
    path = Path(path)
    manifest = _read_manifest(path)
    saved = _saved_leaves(path, manifest)
    with_path, treedef = jax.tree.flatten_with_path(like)
    names = [leaf_path(keys) for keys, _ in with_path]
    _check_same_paths(path, list(saved), names)
    targets = {}
    for name, (_, leaf) in zip(names, with_path):
        index, entry = saved[name]
        shape, dtype = shape_dtype(leaf, f"like leaf {name}")
        if list(shape) != entry["shape"] or str(dtype) != entry["dtype"]:
            raise CheckpointError(
                f"checkpoint {path}: leaf {name} is {_describe(entry['dtype'], entry['shape'])} "
                f"in the checkpoint but {_describe(dtype, shape)} in `like`"
            )
        targets[str(index)] = restore_target(leaf)
    ocp = orbax()
    leaf_paths = {str(index): name for name, (index, _) in saved.items()}
    restored = _read_items(
        path, leaf_paths, arrays=ocp.args.StandardRestore(targets))["arrays"] if targets else {}
    leaves = []
    for name, (_, leaf) in zip(names, with_path):
        index, entry = saved[name]
        value = restored[str(index)]
        if entry["sha256"] is not None and digest(value) != entry["sha256"]:
            raise CheckpointError(
                f"checkpoint {path} is damaged: the bytes of leaf {name} differ from the digest "
                "saved with them"
            )
        leaves.append(decode(value, leaf, entry))
    return jax.tree.unflatten(treedef, leaves)


def metadata(path: str | Path) -> dict:
    """The JSON metadata saved with the checkpoint at ``path``, checked against its digest.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CheckpointError: ``path`` is not a checkpoint, or its metadata is damaged.

    Example:
        >>> import tempfile, jax.numpy as jnp, jaxnet as jn
        >>> path = jn.checkpoint.save(f"{tempfile.mkdtemp()}/run", {"w": jnp.zeros(2)},
        ...                           metadata={"history": {"loss": [0.41, 0.23]}})
        >>> jn.checkpoint.metadata(path)
        {'history': {'loss': [0.41, 0.23]}}
    """
    path = Path(path)
    manifest = _read_manifest(path)
    ocp = orbax()
    value = _read_items(path, metadata=ocp.args.JsonRestore())["metadata"]
    if json_digest(value) != manifest.get("metadata_sha256"):
        raise CheckpointError(
            f"checkpoint {path} is damaged: its metadata differs from the digest saved with it"
        )
    return value


def _read_items(path: Path, leaf_paths: dict[str, str] | None = None, **items) -> Any:
    """Reads the named items of the checkpoint through Orbax; any failure is a CheckpointError,
    naming the leaf when the error names the array it was reading (``leaf_paths``: key -> path).
    """
    ocp = orbax()
    try:
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
            return checkpointer.restore(path.absolute(), args=ocp.args.Composite(**items))
    except Exception as error:
        # Orbax's other reads of this checkpoint were abandoned with its event loop: collect
        # them now, while the caller handles this error, not in some later, unrelated code.
        gc.collect()
        text = str(error)
        # Orbax's and TensorStore's errors for an unreadable array quote its path in the store,
        # which starts with its key.
        key = re.search(r"""'path': '(\d+)/'|Error reading "(\d+)/""", text)
        what = ", ".join(items)
        index = key and (key.group(1) or key.group(2))
        if index and leaf_paths and index in leaf_paths:
            what = f"leaf {leaf_paths[index]}"
        reason = text.strip().split("\n")[0].split(" See full TensorStore details")[0][:300]
        raise CheckpointError(
            f"checkpoint {path} is damaged or incomplete: reading {what} failed with "
            f"{type(error).__name__}: {reason}"
        ) from error


def _read_manifest(path: Path) -> dict:
    if not path.exists():
        leftovers = [p.name for p in [*staging_leftovers(path), sibling(path, "replaced")]
                     if "orbax-checkpoint-tmp" not in p.name and is_checkpoint(p)]
        hint = (f"; an interrupted save left the complete checkpoints {leftovers} beside it "
                "(rename one to restore it)") if leftovers else ""
        raise FileNotFoundError(f"no checkpoint at {path}{hint}")
    if not is_checkpoint(path):
        raise CheckpointError(f"{path} is not a checkpoint written by jaxnet.checkpoint.save")
    manifest = _read_items(path, manifest=orbax().args.JsonRestore())["manifest"]
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise CheckpointError(f"checkpoint {path} has no {_FORMAT} manifest (damaged?)")
    return manifest


def _saved_leaves(path: Path, manifest: dict) -> dict[str, tuple[int, dict]]:
    """The manifest's entries by leaf path, with their position."""
    fields = {"path": (str,), "shape": (list,), "dtype": (str,), "key_impl": (str, type(None)),
              "sha256": (str, type(None))}
    entries = manifest.get("leaves")
    if not isinstance(entries, list) or not all(
        isinstance(entry, dict) and all(isinstance(entry.get(field), types)
                                        for field, types in fields.items())
        for entry in entries
    ):
        raise CheckpointError(f"checkpoint {path} has a damaged manifest")
    return {entry["path"]: (i, entry) for i, entry in enumerate(entries)}


def _check_same_paths(path: Path, saved: list[str], wanted: list[str]) -> None:
    saved_set, wanted_set = set(saved), set(wanted)
    missing = [name for name in saved if name not in wanted_set]
    extra = [name for name in wanted if name not in saved_set]
    if missing or extra:
        first = (f"leaf {missing[0]} of the checkpoint is not in `like`" if missing else
                 f"leaf {extra[0]} of `like` is not in the checkpoint")
        raise CheckpointError(
            f"checkpoint {path} has another structure than `like`: {first} ({len(saved)} leaves "
            f"saved, {len(wanted)} in `like`, {len(missing)} missing from `like`, {len(extra)} "
            "not saved)"
        )


def _describe(dtype: Any, shape: Any) -> str:
    return f"{dtype}[{', '.join(str(n) for n in shape)}]"
