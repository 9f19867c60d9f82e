"""The layer contract: Layer, its errors, shape inference and the checks layers share.

A layer is an immutable description (a frozen dataclass holding hyperparameters only) with two pure
functions:

* ``init(key, x) -> (params, state)`` builds the parameter and state pytrees from an example input
  ``x`` (an array or a ``jax.ShapeDtypeStruct``; only its shape and dtype are read);
* ``apply(params, state, x, *, key=None, train=False) -> (y, state)`` maps inputs to outputs and the
  new state, mutating nothing.

``x`` is one array, or for the layers that say so (``multi_input``) a pytree of arrays: a tuple,
list or dict of inputs. This module knows no particular layer: the layers, and the containers
([`Sequential`][jaxnet.layers.sequential.Sequential], which also takes any plain function
``x -> y`` as a layer, and the combinators) live in ``jaxnet.layers``, which builds on it.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet import pytrees

PyTree = Any
Params = dict[str, Any]
State = dict[str, Any]


class LayerError(ValueError):
    """A layer was called with inputs it cannot take (wrong shape, missing key...)."""


class ShapeError(LayerError):
    """An input's shape does not fit the layer; the message names the layer and both shapes."""


@dataclasses.dataclass(frozen=True)
class Layer:
    """Base class of layer descriptions.

    Subclasses override ``init`` (when they hold parameters or state) and ``apply``.
    ``name`` overrides the automatic name (``dense_0``, ``batchnorm_1``...) inside a Sequential.

    Every subclass must itself be a frozen dataclass (``@dataclasses.dataclass(frozen=True)``):
    a model is a static argument of ``jax.jit`` and the key of compile caches, so two layers
    must compare equal only when their hyperparameters are equal. An undecorated subclass would
    inherit the base's empty field list and every instance would equal every other, so it is a
    TypeError at instantiation.

    ``multi_input`` (a class attribute) says whether ``x`` may be a pytree of arrays (a tuple,
    list or dict); inside a Sequential, any other layer given several arrays is a ShapeError
    naming it. A layer whose ``apply`` takes a ``lengths=`` keyword reads per-example sequence
    lengths, which a Sequential passes on to it
    ([`reads_lengths`][jaxnet.core.Layer.reads_lengths]).
    """

    multi_input: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        # Every layer is a pytree whose floats (rates, epsilons, momenta) are its leaves, so
        # jax.jit takes them as arguments and jax.vmap sweeps them (see jaxnet.pytrees).
        super().__init_subclass__(**kwargs)
        pytrees.register(cls, pytrees.dataclass_fields)

    def __new__(cls, *args, **kwargs):
        del args, kwargs
        own = vars(cls)
        if "__dataclass_fields__" not in own or "__eq__" not in own:
            raise TypeError(
                f"{cls.__name__} must be decorated with @dataclasses.dataclass(frozen=True) (with "
                "eq left on): layers compare and hash by their fields, and without the decorator "
                f"every {cls.__name__} would equal every other, whatever its hyperparameters"
            )
        return super().__new__(cls)

    @property
    def kind(self) -> str:
        """The lower-case kind that automatic names count by, e.g. ``"dense"``."""
        return type(self).__name__.lower()

    @property
    def reads_lengths(self) -> bool:
        """Whether ``apply`` takes ``lengths=`` (containers: whether a layer inside does)."""
        return "lengths" in inspect.signature(self.apply).parameters

    def init(self, key: jax.Array, x: Any) -> tuple[Params, State]:
        del key, x
        return {}, {}

    def apply(
        self,
        params: Params,
        state: State,
        x: jax.Array,
        *,
        key: jax.Array | None = None,
        train: bool = False,
    ) -> tuple[jax.Array, State]:
        raise NotImplementedError


def shape_of(x: Any) -> Any:
    """The abstract value (shape and dtype) of an array, a ShapeDtypeStruct or a NumPy array.

    For a pytree of them (a tuple, list or dict of inputs), the same pytree of abstract values.
    A nested list of numbers is one array, as NumPy reads it (``numbers_as_array``).
    """
    return jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype if hasattr(a, "dtype") else np.float32),
        numbers_as_array(x),
    )


def numbers_as_array(x: Any) -> Any:
    """``x``, with a (nested) list or tuple of numbers read as one array, as NumPy reads it.

    So ``[[0.0, 1.0], [2.0, 3.0]]`` is inputs of shape ``(2, 2)``, where JAX would see a pytree of
    four scalars. Arrays, and pytrees of arrays (the several inputs of a ``multi_input`` layer),
    are returned as they are.
    """
    if isinstance(x, (list, tuple)) and all(
        isinstance(leaf, numbers.Number) for leaf in jax.tree.leaves(x)
    ):
        return jnp.asarray(x)
    return x


def float_input(x: Any, dtype: Any) -> jax.Array:
    """``x`` as an array for a layer that computes in floating point.

    Integer and boolean inputs (uint8 images, 0/1 features, lists of ints) are cast to ``dtype``,
    the dtype of the layer's parameters, as Keras and Flax (by promotion) do; their values are not
    rescaled. Floating-point inputs are returned as they are.
    """
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(dtype)


def input_features(shape: tuple[int, ...], layout: str) -> int:
    """The size of the last axis of inputs of ``shape``, the features a layer's kernel reads.

    Raises:
        ShapeError: the size is 0 (a Reshape or a slice left nothing): a kernel over no features
            has nothing to learn, and initializers scaled by the fan-in would divide by it.
    """
    features = shape[-1]
    if features == 0:
        raise ShapeError(
            f"expected inputs of shape {layout} with at least one feature on the last axis, got "
            f"shape {tuple(shape)}"
        )
    return features


def is_one_array(x: Any) -> bool:
    """Whether ``x`` is one array (or ShapeDtypeStruct, or scalar), not a tuple, list or dict."""
    return jax.tree_util.treedef_is_leaf(jax.tree.structure(x))


def shape_text(x: Any) -> str:
    """The shape of an array, e.g. ``(2, 3)``, or the pytree of shapes of several inputs."""
    shapes = jax.tree.map(lambda a: tuple(np.shape(a)), shape_of(x))
    return str(shapes)


def output_shape(
    layer: Layer, params: Params, state: State, x: Any
) -> jax.ShapeDtypeStruct:
    """The output shape and dtype of ``layer`` in evaluation mode, computed without running it."""
    return _shapes(_FORWARD_SHAPES, _forward, layer, params, state, shape_of(x))


def abstract_init(layer: Layer, key: jax.Array, x: Any) -> tuple[Any, Any]:
    """The shapes and dtypes of ``layer.init(key, x)``'s parameters and state, without making
    them."""
    return _shapes(_INIT_SHAPES, _init, layer, key, shape_of(x))


def _forward(layer: Layer, params: Params, state: State, x: Any) -> Any:
    return layer.apply(params, state, x, train=False)[0]


def _init(layer: Layer, key: jax.Array, x: Any) -> tuple[Any, Any]:
    return layer.init(key, x)


_FORWARD_SHAPES = jax.jit(_forward, static_argnums=0)
_INIT_SHAPES = jax.jit(_init, static_argnums=0)


def _shapes(jitted, fn, layer: Layer, *args: Any) -> Any:
    """``jax.eval_shape`` of ``fn(layer, *args)`` (``jitted``: ``fn`` jitted with the layer
    static): traced once per layer (by its value) and argument shapes, in JAX's own cache of
    jitted functions, so that a model initialised again (each configuration of a sweep) is not
    traced again; layers that cannot be hashed are traced every time."""
    try:
        hash(layer)
    except TypeError:
        return jax.eval_shape(lambda *a: fn(layer, *a), *args)
    return jitted.eval_shape(layer, *args)


def along_last_axis(v: jax.Array, ndim: int) -> jax.Array:
    """Reshapes a per-feature vector ``(features,)`` to ``(1, ..., 1, features)`` of rank ``ndim``.

    Broadcasting made explicit, so layers also work under ``jax_numpy_rank_promotion="raise"``.
    """
    return jax.numpy.reshape(v, (1,) * (ndim - 1) + v.shape)


def check_entries(
    tree: Mapping[str, Any],
    expected: Mapping[str, tuple[int | str, ...] | None],
    what: str = "params",
) -> dict[str, int]:
    """Checks that a layer's ``params`` (or ``state``) hold the entries it reads, of their shapes.

    Run inside ``apply`` on shapes only, so it costs nothing at run time under ``jax.jit``.

    Args:
        tree: the layer's own entries, e.g. ``{"w": ..., "b": ...}``.
        expected: each entry's shape: ints are fixed by the layer's hyperparameters, strings
            name a size that is free but must agree wherever the same name occurs (e.g.
            ``("in_features", 8)``); ``None`` checks only that the entry exists.
        what: ``"params"`` or ``"state"``, for the messages.

    Returns:
        The size each string stands for, e.g. ``{"in_features": 4}``.

    Raises:
        LayerError: an entry is missing (the tree was built by another model, or not at all).
        ShapeError: an entry's shape differs, naming both shapes.
    """
    missing = [key for key in expected if key not in tree]
    if missing:
        raise missing_entry_error(
            what, missing[0], f"(entries: {sorted(tree)}, expected: {list(expected)})"
        )
    sizes: dict[str, int] = {}
    for key, shape in expected.items():
        if shape is None:
            continue
        given = tuple(np.shape(tree[key]))
        known = dict(sizes)  # the sizes fixed by earlier entries, shown as numbers
        fits = len(given) == len(shape) and all(
            size == want if isinstance(want, int) else sizes.setdefault(want, size) == size
            for size, want in zip(given, shape, strict=True)
        )
        if not fits:
            dims = [str(known.get(d, d)) if isinstance(d, str) else str(d) for d in shape]
            wanted = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
            raise ShapeError(
                f"{what}[{key!r}] has shape {given}, but this layer expects {wanted}; were the "
                f"{what} built for a layer of other sizes?"
            )
    return sizes


def missing_entry_error(what: str, entry: str, detail: str) -> LayerError:
    """The error for ``params`` (or ``state``) that lack ``entry``, with ``detail`` after its name.

    Its question is the usual cause: the tree was built by another model, or not at all.
    """
    verb = "have" if what == "params" else "has"
    return LayerError(
        f"{what} {verb} no entry {entry!r} {detail}; were the {what} built by another model?"
    )


def check_fits_in_memory(tree: PyTree, what: str = "its parameters and state") -> None:
    """Raises a LayerError when arrays of the shapes in ``tree`` need more bytes than the default
    device can hold, so that an oversized layer fails before XLA tries to allocate it.

    What a device can hold is its allocator's limit less what is in use
    (``memory_stats()``, on GPUs and TPUs), or else the machine's physical memory (CPUs). Shapes
    only: ``tree`` is what ``jax.eval_shape`` gives for ``init``, so nothing is allocated.
    """
    needed = sum(math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize
                 for leaf in jax.tree.leaves(tree))
    available, where = _device_memory()
    if available is not None and needed > available:
        raise LayerError(
            f"{what} need {_bytes_text(needed)} ({needed:,} bytes), more than {where} "
            f"({_bytes_text(available)}); "
            "make the layer smaller, or its inputs narrower"
        )


def _device_memory() -> tuple[int | None, str]:
    """The bytes this process's first device can still hold (None when unknown), and where, in
    words. Its own device: another process's devices have no statistics to read here."""
    device = jax.local_devices()[0]
    stats = device.memory_stats()
    if stats and "bytes_limit" in stats:
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0), f"{device} has free"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return None, ""


def _bytes_text(count: int) -> str:
    """``count`` bytes for people, e.g. ``4.0 TB``."""
    size, unit = float(count), "bytes"
    for prefix in ("kB", "MB", "GB", "TB", "PB"):
        if size < 1000:
            break
        size, unit = size / 1000, prefix
    return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"


def count_params(tree: PyTree) -> int:
    """The number of scalars in a pytree of arrays (parameters, state, or both).

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> jn.count_params({"dense_0": {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}})
        8
    """
    return sum(int(np.size(leaf)) for leaf in jax.tree.leaves(tree))
