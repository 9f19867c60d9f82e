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
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxnet.validation import positive_int

_FORMAT = "jaxnet.checkpoint/1"
_barriers = itertools.count()


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
    _check_json(metadata, "metadata")
    entries, arrays = _encode(tree)
    manifest = {"format": _FORMAT, "leaves": entries, "metadata_sha256": _json_digest(metadata)}
    if path.exists() and not _is_checkpoint(path):
        raise FileExistsError(f"{path} exists and is not a checkpoint; refusing to replace it")
    ocp = _orbax()
    staging = _sibling(path, f"saving-{_token()}")
    if _primary():
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_staging(path)
    _sync("save-start")
    try:
        items = {"manifest": ocp.args.JsonSave(manifest), "metadata": ocp.args.JsonSave(metadata)}
        if arrays:  # Orbax refuses an empty tree
            items["arrays"] = ocp.args.StandardSave(arrays)
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
            # Orbax takes absolute paths only.
            checkpointer.save(staging.absolute(), args=ocp.args.Composite(**items))
        if _primary():
            _move_into_place(staging, path)
    except BaseException:
        if _primary():
            _remove_staging(path)
        raise
    _sync("save-end")
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
    names = [_leaf_path(keys) for keys, _ in with_path]
    _check_same_paths(path, list(saved), names)
    targets = {}
    for name, (_, leaf) in zip(names, with_path):
        index, entry = saved[name]
        shape, dtype = _shape_dtype(leaf, f"like leaf {name}")
        if list(shape) != entry["shape"] or str(dtype) != entry["dtype"]:
            raise CheckpointError(
                f"checkpoint {path}: leaf {name} is {_describe(entry['dtype'], entry['shape'])} "
                f"in the checkpoint but {_describe(dtype, shape)} in `like`"
            )
        targets[str(index)] = _target(leaf)
    ocp = _orbax()
    leaf_paths = {str(index): name for name, (index, _) in saved.items()}
    restored = _read_items(
        path, leaf_paths, arrays=ocp.args.StandardRestore(targets))["arrays"] if targets else {}
    leaves = []
    for name, (_, leaf) in zip(names, with_path):
        index, entry = saved[name]
        value = restored[str(index)]
        if entry["sha256"] is not None and _digest(value) != entry["sha256"]:
            raise CheckpointError(
                f"checkpoint {path} is damaged: the bytes of leaf {name} differ from the digest "
                "saved with them"
            )
        leaves.append(_decode(value, leaf, entry))
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
    ocp = _orbax()
    value = _read_items(path, metadata=ocp.args.JsonRestore())["metadata"]
    if _json_digest(value) != manifest.get("metadata_sha256"):
        raise CheckpointError(
            f"checkpoint {path} is damaged: its metadata differs from the digest saved with it"
        )
    return value


@dataclasses.dataclass(frozen=True)
class Manager:
    """Numbered checkpoints of one training run in ``directory``, keeping the last few.

    Step ``n`` lives in ``directory/n`` (a checkpoint written by ``save``). After each save
    only the ``max_to_keep`` highest steps are kept (all with ``None``); a save interrupted at
    any point, even by a killed process, is never listed, and its leftovers are removed by the
    next save. One process (or one multi-host job) writes to a directory at a time, and a new
    run needs a new (or empty) directory: the steps of an earlier run there would count as the
    latest ones.

    Example:
        >>> import tempfile, jax.numpy as jnp, jaxnet as jn
        >>> manager = jn.checkpoint.Manager(tempfile.mkdtemp(), max_to_keep=2)
        >>> for epoch in range(1, 4):
        ...     _ = manager.save(epoch, {"epoch": jnp.int32(epoch)}, metadata={"epoch": epoch})
        >>> manager.steps(), manager.latest_step()
        ([2, 3], 3)
        >>> manager.restore(manager.latest_step(), like={"epoch": jnp.int32(0)})["epoch"]
        Array(3, dtype=int32)
    """

    directory: Path
    max_to_keep: int | None = 3

    def __post_init__(self):
        object.__setattr__(self, "directory", Path(self.directory))
        if self.max_to_keep is not None:
            positive_int(self.max_to_keep, "max_to_keep")

    def path(self, step: int) -> Path:
        """The checkpoint directory of ``step``."""
        return self.directory / str(positive_int(step, "step", minimum=0))

    def save(self, step: int, tree: Any, *, metadata: dict | None = None) -> Path:
        """Saves ``tree`` as step ``step`` (replacing that step if it exists), then deletes all
        but the ``max_to_keep`` highest steps. Returns the checkpoint's path."""
        path = self.path(step)
        if _primary() and self.directory.is_dir():
            for leftover in self.directory.iterdir():
                if _LEFTOVER.match(leftover.name):
                    shutil.rmtree(leftover, ignore_errors=True)
        save(path, tree, metadata=metadata)
        if _primary() and self.max_to_keep is not None:
            for old in self.steps()[:-self.max_to_keep]:
                retired = _sibling(self.path(old), "deleting")
                self.path(old).rename(retired)
                shutil.rmtree(retired)
        _sync("manager-prune")
        return path

    def steps(self) -> list[int]:
        """The saved steps, in increasing order."""
        if not self.directory.is_dir():
            return []
        return sorted(
            int(entry.name) for entry in self.directory.iterdir()
            if entry.name.isascii() and entry.name.isdigit() and entry.name == str(int(entry.name))
            and _is_checkpoint(entry)
        )

    def latest_step(self) -> int | None:
        """The highest saved step, or ``None`` when there is none."""
        steps = self.steps()
        return steps[-1] if steps else None

    def restore(self, step: int, like: Any) -> Any:
        """``restore`` of step ``step`` (see ``jaxnet.checkpoint.restore``)."""
        return restore(self.path(step), like)

    def metadata(self, step: int) -> dict:
        """The metadata saved with step ``step``."""
        return metadata(self.path(step))


# A step's files left by a save or a deletion that did not finish.
_LEFTOVER = re.compile(r"\.\d+\.(saving.*|deleting)")


def _orbax():
    # Orbax is heavy (a second or more to import): loaded at the first save or restore only.
    import orbax.checkpoint as ocp

    return ocp


def _primary() -> bool:
    """Whether this process does the renames and deletions (process 0 of a multi-host job)."""
    return jax.process_index() == 0


def _sync(tag: str) -> None:
    """Waits for every process of a multi-host job (nothing to do in a single process)."""
    if jax.process_count() > 1:
        _orbax().multihost.sync_global_processes(f"jaxnet.checkpoint:{tag}:{next(_barriers)}")


def _token() -> str:
    """A name for one save, the same in every process."""
    token = np.uint32(secrets.randbits(32))
    if jax.process_count() > 1:
        token = _orbax().multihost.broadcast_one_to_all(token)
    return f"{int(token):08x}"


def _sibling(path: Path, what: str) -> Path:
    return path.parent / f".{path.name}.{what}"


def _is_checkpoint(path: Path) -> bool:
    return path.is_dir() and (path / "manifest").is_dir()


def _staging_leftovers(path: Path) -> list[Path]:
    """What unfinished saves to ``path`` left: staging directories and Orbax's temporary
    directories beside them (named after them)."""
    prefix = _sibling(path, "saving").name
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(prefix))


def _remove_staging(path: Path) -> None:
    for leftover in _staging_leftovers(path):
        shutil.rmtree(leftover, ignore_errors=True)


def _move_into_place(staging: Path, path: Path) -> None:
    """Renames the complete ``staging`` to ``path``; an old checkpoint there is removed only
    once the new one is in place, and put back if the rename fails."""
    retired = _sibling(path, "replaced")
    if path.exists():
        shutil.rmtree(retired, ignore_errors=True)  # a leftover: `path` itself is complete
        path.rename(retired)
        try:
            staging.rename(path)
        except BaseException:
            retired.rename(path)
            raise
    else:
        staging.rename(path)
    shutil.rmtree(retired, ignore_errors=True)


def _leaf_path(keys) -> str:
    return jax.tree_util.keystr(keys, simple=True, separator="/")


def _is_key(dtype) -> bool:
    return jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _shape_dtype(leaf: Any, what: str) -> tuple[tuple[int, ...], Any]:
    if isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)):
        return tuple(leaf.shape), leaf.dtype
    if isinstance(leaf, (np.ndarray, np.generic, bool, int, float)):
        array = np.asarray(leaf)
        return array.shape, array.dtype
    raise TypeError(
        f"{what} is a {type(leaf).__name__}; a checkpoint holds JAX or NumPy arrays, NumPy "
        "scalars and Python bools, ints and floats"
    )


def _encode(tree: Any) -> tuple[list[dict], dict[str, Any]]:
    """The manifest entries and the arrays Orbax writes (keys as their ``key_data``)."""
    entries, arrays, names = [], {}, set()
    for index, (keys, leaf) in enumerate(jax.tree.leaves_with_path(tree)):
        name = _leaf_path(keys)
        shape, dtype = _shape_dtype(leaf, f"leaf {name}")
        if name in names:
            raise ValueError(f"two leaves of the tree have the path {name}")
        names.add(name)
        if not isinstance(leaf, jax.Array):
            leaf = np.asarray(leaf)
        key_impl = None
        if _is_key(dtype):
            key_impl = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        entries.append({"path": name, "shape": list(shape), "dtype": str(dtype),
                        "key_impl": key_impl, "sha256": _digest(leaf)})
        arrays[str(index)] = leaf
    return entries, arrays


def _digest(array: Any) -> str | None:
    """The sha256 of an array's bytes in C order; ``None`` for an array spread over several
    processes, whose bytes no one process holds (so multi-host leaves are not verified)."""
    if isinstance(array, jax.Array) and not array.is_fully_addressable:
        return None
    host = np.ascontiguousarray(np.asarray(array))
    return hashlib.sha256(host.reshape(-1).view(np.uint8)).hexdigest()


def _json_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _check_json(value: Any, where: str) -> None:
    """Refuses what JSON would not give back unchanged (tuples, NumPy numbers, int keys...)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r}: JSON keys must be strings")
            _check_json(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
    elif not (value is None or type(value) in (str, bool, int, float)):
        raise TypeError(
            f"{where} is a {type(value).__name__}, not a JSON value (dict with string keys, "
            "list, str, int, float, bool or None); convert it first, e.g. float(x) or x.tolist()"
        )


def _read_items(path: Path, leaf_paths: dict[str, str] | None = None, **items) -> Any:
    """Reads the named items of the checkpoint through Orbax; any failure is a CheckpointError,
    naming the leaf when the error names the array it was reading (``leaf_paths``: key -> path).
    """
    ocp = _orbax()
    try:
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
            return checkpointer.restore(path.absolute(), args=ocp.args.Composite(**items))
    except Exception as error:
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
        leftovers = [p.name for p in [*_staging_leftovers(path), _sibling(path, "replaced")]
                     if "orbax-checkpoint-tmp" not in p.name and _is_checkpoint(p)]
        hint = (f"; an interrupted save left the complete checkpoints {leftovers} beside it "
                "(rename one to restore it)") if leftovers else ""
        raise FileNotFoundError(f"no checkpoint at {path}{hint}")
    if not _is_checkpoint(path):
        raise CheckpointError(f"{path} is not a checkpoint written by jaxnet.checkpoint.save")
    manifest = _read_items(path, manifest=_orbax().args.JsonRestore())["manifest"]
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


def _target(leaf: Any) -> Any:
    """What Orbax restores a leaf as: NumPy for host leaves, else a JAX array placed as
    ``leaf`` is (a key as its ``key_data``, with one more, unsharded, axis)."""
    if not isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)):
        shape, dtype = _shape_dtype(leaf, "leaf")
        return np.zeros(shape, dtype)
    sharding = getattr(leaf, "sharding", None)
    if sharding is None:
        sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.ShapeDtypeStruct(leaf.shape, leaf.dtype)
    if _is_key(leaf.dtype):
        abstract = jax.eval_shape(jax.random.key_data, abstract)
        if isinstance(sharding, jax.sharding.NamedSharding):
            spec = tuple(sharding.spec) + (None,) * (abstract.ndim - len(sharding.spec))
            sharding = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec(*spec))
    return jax.ShapeDtypeStruct(abstract.shape, abstract.dtype, sharding=sharding)


def _decode(value: Any, like: Any, entry: dict) -> Any:
    if entry["key_impl"] is not None:
        return jax.random.wrap_key_data(value, impl=entry["key_impl"])
    if isinstance(like, (bool, int, float)):
        return type(like)(value.item())
    if isinstance(like, np.generic):
        return value[()]
    return value
