"""Host-side checks of what training is given, run once per call before anything compiles.

Whatever ``fit`` checks per step is paid on every step of every run, so everything that can be
known before training (argument values, data shapes, labels, NaN in the data, parameters that do
not belong to the model, an optimizer state from another optimizer) is checked here, once. Results
for device arrays (immutable) are remembered, so calling ``fit`` again on the same arrays checks
nothing twice.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet.core import LayerError, is_one_array, numbers_as_array, shape_of
from jaxnet.objective import Objective
from jaxnet.training import caches
from jaxnet.training.caches import signature
from jaxnet.training.hyperparams import optimizer_in_structure
from jaxnet.training.run_state import Params, Settings, State
from jaxnet.training.source import (
    BatchCheck,
    Stream,
    StreamError,
    batch_spec,
    is_random_access,
    is_stream,
    refuse_iterator,
    stream,
)
from jaxnet.validation import finite_data, nonnegative_number, positive_int


def check_fit_args(*, epochs, batch_size, n_examples: int | None, patience, min_delta, epsilon,
                   checkpoint_every, restore_best=False, validation=False,
                   evaluate_train=False) -> Settings:
    """The arguments of ``fit`` and ``sweep`` that shape the loop, checked, as ``Settings`` of
    Python numbers."""
    batch_size = positive_int(batch_size, "batch_size")
    if n_examples is not None and batch_size > n_examples:
        raise ValueError(
            f"batch_size must be at most the number of training examples ({n_examples}), "
            f"got {batch_size}"
        )
    return Settings(
        epochs=positive_int(epochs, "epochs", minimum=0),
        batch_size=batch_size,
        n_examples=n_examples,
        patience=None if patience is None else positive_int(patience, "patience"),
        min_delta=float(nonnegative_number(min_delta, "min_delta")),
        epsilon=None if epsilon is None else float(
            nonnegative_number(epsilon, "epsilon", positive=True)),
        restore_best=bool(restore_best),
        validation=bool(validation),
        evaluate_train=bool(evaluate_train),
        checkpoint_every=positive_int(checkpoint_every, "checkpoint_every"),
    )


def check_evaluation_args(objective: Objective, batch_size: Any) -> int:
    """``evaluate``'s arguments: an objective and a positive batch size."""
    if not isinstance(objective, Objective):
        raise TypeError(f"expected an objective from jn.objective(...), got {objective!r}")
    return positive_int(batch_size, "batch_size")


def _pair(data: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        got = f"a {type(data).__name__}" + (f" of {len(data)}" if isinstance(data, (tuple, list))
                                            else "")
        raise TypeError(
            f"{what} must be a pair (x, y) of inputs and targets, with the examples on the first "
            f"axis of both; got {got}"
        )
    return data


def check_data(objective: Objective, params: Params, state: State, data: Any,
               what: str) -> tuple[jax.Array, jax.Array]:
    """``data`` as device arrays ``(x, y)``, checked against the model and its loss.

    Checks: a pair of arrays (or, for models with several inputs or outputs, pytrees of arrays;
    nested lists of numbers are read as arrays, as NumPy reads them) with the same number (>= 1)
    of examples on their first axis; no NaN or infinite value in the inputs or in float targets;
    the parameters fit the model for inputs like ``x``; labels lie in the range the loss accepts.
    Each failure is a ValueError (TypeError for a wrong kind of argument) that names ``what``.
    """
    x, y = _pair(data, what)
    key = _remembered(objective, params, state, x, y, what)
    if key is not None and key in caches.CHECKED_DATA.entries:
        return x, y
    x, y = jax.tree.map(_on_device, (numbers_as_array(x), numbers_as_array(y)))
    shapes = [tuple(leaf.shape) for leaf in jax.tree.leaves((x, y))]
    if not shapes or any(not shape for shape in shapes) or len({s[0] for s in shapes}) > 1:
        raise ValueError(
            f"{what}: x and y must hold the same number of examples on their first axis, got "
            f"shapes {_shapes(x)} and {_shapes(y)}"
        )
    if shapes[0][0] == 0:
        raise ValueError(f"{what} is empty: x has shape {_shapes(x)}; expected at least one "
                         "example")
    local_x, local_y = jax.tree.map(_local, (x, y))
    for name, part in (("x", local_x), ("y", local_y)):
        for path, leaf in jax.tree.leaves_with_path(part):
            finite_data(leaf, f"{what} {name}{jax.tree_util.keystr(path)}")
    example = jax.tree.map(lambda a: jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype), x)
    try:
        check_params(objective, params, state, example, what)
    except ValueError:
        _check_not_swapped(x, y, what)
        raise
    out = jax.eval_shape(
        lambda p, s, xs: objective.model.apply(p, s, xs)[0], params, state, example
    )
    if isinstance(out, jax.ShapeDtypeStruct) and not isinstance(local_y, (tuple, list, dict)):
        _check_targets(objective, (local_y.shape[0], *out.shape[1:]), local_y, what)
    if key is not None:
        caches.CHECKED_DATA.get(key, lambda: (weakref.ref(data[0]), weakref.ref(data[1])))
    return x, y


def check_stream(objective: Objective, params: Params, state: State, data: Any,
                 batch_size: int, share: tuple[int, int], key: jax.Array | None,
                 what: str) -> tuple[Stream, tuple, BatchCheck]:
    """A streamed ``data`` checked: the stream, its first batch (checked against the model and
    its loss as ``check_data`` checks arrays) and the check every later batch gets."""
    source = stream(data, batch_size, share, what)
    first = jax.tree.map(np.asarray, tuple(source.first(key)))
    if not isinstance(first, tuple) or len(first) != 2:
        raise StreamError(f"{what}: its first batch is not a pair (x, y) of arrays")
    rows = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree.leaves(first)}
    if rows != {source.local_batch}:
        each = f" (each of {share[1]} processes reads {source.local_batch})" if share[1] > 1 \
            else ""
        raise StreamError(f"{what}: its first batch holds {sorted(rows, key=str)} examples, but "
                          f"batch_size is {batch_size}{each}")
    x, y = check_data(objective, params, state, first, f"{what} (its first batch)")
    targets = None
    if is_one_array(y):
        out = jax.eval_shape(lambda p, s, xs: objective.model.apply(p, s, xs)[0], params, state,
                             jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), x))
        if isinstance(out, jax.ShapeDtypeStruct):
            def targets(labels, where):
                _check_targets(objective, (labels.shape[0], *out.shape[1:]), labels, where)
    return source, first, BatchCheck(batch_spec(first), what, targets)


def evaluation_input(objective: Objective, params: Params, state: State, data: Any,
                     part: tuple[int, int], what: str) -> Any:
    """A set to evaluate: arrays checked as ``check_data`` checks them, or a random-access
    source (its first examples checked against the model), read whole and in order."""
    refuse_iterator(data, what)
    if not is_stream(data):
        return check_data(objective, params, state, data, what)
    if not is_random_access(data):
        raise TypeError(f"{what} is a function; a set to evaluate is read whole and in order, "
                        "so it must be arrays (x, y) or a random-access source (len() and "
                        "source[i], e.g. jn.data.ArraySource or a grain.MapDataset)")
    source = Stream(data, part[1], part)
    if source.n_examples == 0:
        raise ValueError(f"{what} is empty: expected at least one example")
    first = source.read(np.arange(min(source.n_examples, 2)))
    check_data(objective, params, state, first, f"{what} (its first examples)")
    return source


def _on_device(leaf: Any) -> jax.Array:
    """``leaf`` as a JAX array. A NumPy array's memory is shared where JAX can share it (on a
    CPU, when it is 64-byte aligned, as jaxnet's loaders make their arrays): training only reads
    the data, during the call, so a second copy would only cost memory."""
    if isinstance(leaf, np.ndarray):
        return jax.device_put(leaf, may_alias=True)
    return jnp.asarray(leaf)


def _shapes(tree: Any) -> Any:
    return jax.tree.map(lambda a: tuple(np.shape(a)), tree)


def examples_in(x: Any) -> int:
    """The number of examples in inputs ``x`` (an array or a pytree of arrays)."""
    return int(jax.tree.leaves(x)[0].shape[0])


def _local(array: jax.Array) -> Any:
    """The values of ``array`` this process holds: all of it, or, for an array spread over the
    processes of a job, the rows of its own shards (each process checks its share)."""
    if not isinstance(array, jax.Array) or array.is_fully_addressable:
        return array
    shards = {}
    for shard in array.addressable_shards:  # replicated shards hold the same rows: keep one
        shards.setdefault(shard.index[0].start or 0, shard.data)
    return np.concatenate([np.asarray(shards[start]) for start in sorted(shards)])


def _remembered(objective, params, state, x, y, what) -> tuple | None:
    """A key under which a check of immutable device arrays is remembered, or None."""
    if not (isinstance(x, jax.Array) and isinstance(y, jax.Array)):
        return None
    key = (id(x), id(y), what, signature(params), signature(state))
    try:
        hash((objective, key))
    except TypeError:
        return None
    key = (objective, *key)
    entry = caches.CHECKED_DATA.entries.get(key)
    if entry is not None and (entry[0]() is not x or entry[1]() is not y):
        del caches.CHECKED_DATA.entries[key]  # the ids were reused by new arrays
    return key


def check_params(objective: Objective, params: Params, state: State, example: Any,
                 what: str = "data") -> None:
    """Raises a ValueError naming the entry when ``params`` or ``state`` do not have the
    structure and shapes that the model's ``init`` gives for inputs like ``example``.

    When they are what ``init`` gives for inputs of another shape (found by trying the sizes of
    the entries that differ as the examples' last axis, or as their only one), the message blames
    the inputs of ``what`` instead, with the shape the parameters were made for.
    """
    try:
        expected = _made_by_init(objective.model, example)
    except LayerError as error:
        given = jax.tree.map(lambda a: tuple(a.shape[1:]), example)
        raise type(error)(
            f"{what}: x holds examples of shape {given}, which the model cannot take: {error}"
        ) from None
    pairs = (("params", params, expected[0]), ("state", state, expected[1]))
    for name, tree, want in pairs:
        _compare_entries(name, tree, want)
    for name, tree, want in pairs:
        shapes = {jax.tree_util.keystr(path): tuple(np.shape(leaf))
                  for path, leaf in jax.tree.leaves_with_path(tree)}
        for path, leaf in jax.tree.leaves_with_path(want):
            entry = f"{name}{jax.tree_util.keystr(path)}"
            got = shapes[jax.tree_util.keystr(path)]
            if got == leaf.shape:
                continue
            made_for = _inputs_made_for(objective.model, (params, state), expected, example)
            if made_for is not None:
                raise ValueError(_wrong_inputs(what, example.shape[1:], made_for,
                                               f"{entry} has shape {got}"))
            raise ValueError(
                f"{entry} has shape {got}, but the model makes {tuple(leaf.shape)} for these "
                "inputs; were they made by model.init of another model?"
            )


def _made_by_init(model: Any, example: Any) -> tuple[Any, Any]:
    """The shapes of the parameters and state that ``model.init`` makes for ``example``."""
    return jax.eval_shape(lambda spec: model.init(jax.random.key(0), spec), shape_of(example))


def _compare_entries(what: str, tree: Any, expected: Any) -> None:
    """Raises a ValueError when ``tree`` lacks entries of ``expected`` or has others."""
    got = {jax.tree_util.keystr(path) for path, _ in jax.tree.leaves_with_path(tree)}
    want = {jax.tree_util.keystr(path) for path, _ in jax.tree.leaves_with_path(expected)}
    missing, unknown = sorted(want - got), sorted(got - want)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {what}{missing[0]}" + (f" and {len(missing) - 1} more"
                                                          if len(missing) > 1 else ""))
        if unknown:
            parts.append(f"unexpected {what}{unknown[0]}" + (f" and {len(unknown) - 1} more"
                                                             if len(unknown) > 1 else ""))
        raise ValueError(
            f"{what} do not fit the model: {'; '.join(parts)}; were they made by model.init of "
            "this model?"
        )


def _inputs_made_for(model: Any, given: Any, made: Any, example: Any) -> tuple[int, ...] | None:
    """The shape of one example for which ``model.init`` makes exactly the shapes of ``given``
    (parameters and state), where it made ``made`` for ``example``; None if none is found.

    Tried: each size of the entries that differ, as the examples' only axis, then as their last
    axis (the input width that a first Dense or Conv layer's kernel tells).
    """
    if not is_one_array(example):
        return None
    structure = jax.tree.structure(given)
    shapes = [tuple(np.shape(leaf)) for leaf in jax.tree.leaves(given)]
    sizes = sorted({size for shape, leaf in zip(shapes, jax.tree.leaves(made))
                    if shape != leaf.shape for size in shape})
    rest = tuple(example.shape[1:-1])
    candidates = [(size,) for size in sizes] + [(*rest, size) for size in sizes]
    for shape in dict.fromkeys(candidates):
        try:
            made = _made_by_init(model, jax.ShapeDtypeStruct((1, *shape), example.dtype))
        except (LayerError, TypeError):
            continue
        if jax.tree.structure(made) == structure and \
                [leaf.shape for leaf in jax.tree.leaves(made)] == shapes:
            return shape
    return None


def _wrong_inputs(what: str, given: tuple, made_for: tuple, entry: str) -> str:
    """The message for inputs of another shape than the parameters were made for."""
    message = (
        f"{what}: x holds examples of shape {given}, but the parameters were made by model.init "
        f"for examples of shape {made_for} ({entry}); "
    )
    if made_for == (math.prod(given),):
        return message + (
            f"the {'*'.join(map(str, given))} = {made_for[0]} values of each example fit as one "
            "row: put jn.Flatten() first in the model, or pass x.reshape(len(x), -1)"
        )
    return message + "pass inputs of that shape, or make the parameters with model.init on " \
        "inputs like x"


def _check_not_swapped(x: Any, y: Any, what: str) -> None:
    """Raises a ValueError saying so when ``x`` looks like labels and ``y`` like inputs."""
    if not (is_one_array(x) and is_one_array(y)):
        return
    if x.ndim == 1 and jnp.issubdtype(x.dtype, jnp.integer) and y.ndim >= 2 \
            and jnp.issubdtype(y.dtype, jnp.floating):
        raise ValueError(
            f"{what}: x and y look swapped: x holds integers of shape {tuple(x.shape)}, like "
            f"labels, and y floats of shape {tuple(y.shape)}, like inputs; pass (inputs, "
            "targets)"
        ) from None


def _check_targets(objective: Objective, pred_shape: tuple, y: jax.Array, what: str) -> None:
    """Targets against the model's outputs, by the loss's own rules (``check_targets``)."""
    from jaxnet.losses import check_targets

    try:
        check_targets(objective.loss, pred_shape, y)
    except (ValueError, TypeError) as error:
        raise type(error)(f"{what}: {error}") from None


def check_opt_state(optimizer: Any, params: Params, opt_state: Any) -> None:
    """Raises a ValueError when ``opt_state`` is not a state of ``optimizer`` for ``params``
    (another optimizer's, or one made for other parameters), naming the first entry that differs.
    A structure found right is remembered: a loop that passes each call's state to the next
    checks it once.
    """
    key = (optimizer_in_structure(optimizer, params), signature(params), signature(opt_state))
    if key in caches.OPT_STATES.entries:
        return
    expected = jax.eval_shape(optimizer.init, params)
    want = jax.tree.leaves_with_path(expected)
    got = jax.tree.leaves_with_path(opt_state)
    if jax.tree.structure(expected) != jax.tree.structure(opt_state):
        raise ValueError(
            "opt_state does not belong to this optimizer: its structure differs from "
            f"optimizer.init(params) ({len(got)} leaves, expected {len(want)}); pass the state "
            "made by this optimizer's init, or none"
        )
    for (path, a), (_, b) in zip(want, got):
        if np.shape(b) != a.shape:
            raise ValueError(
                f"opt_state{jax.tree_util.keystr(path)} has shape {tuple(np.shape(b))}, but "
                f"optimizer.init(params) makes {tuple(a.shape)}: was it made for other parameters?"
            )
    caches.OPT_STATES.get(key, lambda: True)
