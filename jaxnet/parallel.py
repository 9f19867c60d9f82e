"""Placement: where the arrays of a training run live, kept apart from what the run computes.

The compiled epoch is the same function on one device and on many; only the shardings of its
inputs and one constraint on its batches change. With a mesh (``fit(..., mesh=mesh)``):

* the parameters, state, optimizer state and key are replicated on every device;
* the data set is replicated too, once per call (from several processes, each holding its share,
  this is one all-gather), so that every epoch's global shuffle is a local gather and the batches
  are exactly those of a single-device run;
* each batch is sharded along its first axis over the mesh's axis: every device computes the
  loss and gradients of its share, and XLA's partitioner (GSPMD) inserts the all-reduces of the
  gradients and of BatchNorm's batch statistics, which are therefore those of the global batch.

Random draws do not depend on the sharding (JAX's partitionable threefry), so dropout masks are
those of one device: results equal the single-device ones up to the order of float additions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

__all__ = ["DataParallel", "data_parallel", "from_process_data", "mesh"]


@dataclasses.dataclass(frozen=True)
class DataParallel:
    """Data parallelism over one axis of a mesh whose axes JAX's partitioner places (``Auto``).

    Attributes:
        mesh: the devices.
        axis: the mesh axis that batches (or sweep configurations) are split over.
    """

    mesh: Mesh
    axis: str

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec())

    def split(self, leading: int = 0) -> NamedSharding:
        """Arrays split along axis ``leading`` (0: the batch or configuration axis)."""
        return NamedSharding(self.mesh, PartitionSpec(*(None,) * leading, self.axis))

    @property
    def size(self) -> int:
        return self.mesh.shape[self.axis]

    def constrain(self, tree: Any, leading: int = 0) -> Any:
        """Inside a traced function: lay ``tree``'s arrays out split along axis ``leading``."""
        sharding = self.split(leading)
        return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, sharding), tree)

    def gather_shares(self, tree: Any, leading: int = 0) -> Any:
        """Global arrays split along axis ``leading`` from each process's share of them (its
        rows along that axis, process 0's first); on one process, ``tree`` split."""
        sharding = self.split(leading)
        return jax.tree.map(
            lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a)), tree)

    def put(self, tree: Any, sharding: NamedSharding | None = None) -> Any:
        """``tree``'s arrays placed with ``sharding`` (replicated by default), from one process
        or from each process of a multi-process job (each giving the same replicated values)."""
        sharding = sharding or self.replicated
        return jax.tree.map(lambda a: _put(a, sharding), tree)


def _put(array: Any, sharding: NamedSharding) -> Any:
    if isinstance(array, jax.Array) and jax.dtypes.issubdtype(array.dtype,
                                                              jax.dtypes.prng_key):
        impl = jax.random.key_impl(array)
        return jax.random.wrap_key_data(_put(jax.random.key_data(array), sharding), impl=impl)
    if jax.process_count() == 1:
        return jax.device_put(array, sharding)
    if isinstance(array, jax.Array) and not array.is_fully_addressable:
        return jax.jit(lambda a: a, out_shardings=sharding)(array)
    return jax.make_array_from_process_local_data(sharding, np.asarray(array))


def mesh(devices: Any = None, axis: str = "data") -> Mesh:
    """A one-axis mesh over ``devices`` (every device of the job by default).

    Example:
        >>> import jaxnet as jn
        >>> jn.parallel.mesh().axis_names
        ('data',)
    """
    devices = np.asarray(jax.devices() if devices is None else devices).reshape(-1)
    return Mesh(devices, (axis,), axis_types=(AxisType.Auto,))


def data_parallel(mesh: Mesh | None, axis: str | None = None) -> DataParallel | None:
    """The placement for ``mesh`` (None for one device), its axes made ``Auto``.

    Args:
        mesh: a ``jax.sharding.Mesh``; a mesh with ``Explicit`` axes (``jax.make_mesh``'s
            default) is used with the same devices and names.
        axis: the axis to split batches over; the mesh's only axis by default.
    """
    if mesh is None:
        return None
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh such as jn.parallel.mesh(), "
                        f"got {mesh!r}")
    if axis is None:
        if len(mesh.axis_names) != 1:
            raise ValueError(f"the mesh has axes {mesh.axis_names}: say which one batches are "
                             "split over with mesh_axis=")
        axis = mesh.axis_names[0]
    if axis not in mesh.axis_names:
        raise ValueError(f"mesh_axis {axis!r} is not an axis of the mesh {mesh.axis_names}")
    auto = Mesh(mesh.devices, mesh.axis_names,
                axis_types=(AxisType.Auto,) * len(mesh.axis_names))
    return DataParallel(auto, axis)


def from_process_data(local: Any, mesh: Mesh, axis: str | None = None) -> jax.Array:
    """One global array of examples from each process's share (``local``: its rows).

    The rows of process 0 come first, then process 1's, and so on; every process calls this
    with its own share, of the same shape. On one process it is ``local`` split over the mesh.

    Example:
        >>> import numpy as np, jaxnet as jn
        >>> mesh = jn.parallel.mesh()
        >>> x = jn.parallel.from_process_data(np.zeros((8, 3), np.float32), mesh)
        >>> x.shape, x.sharding.spec[0]
        ((8, 3), 'data')
    """
    return data_parallel(mesh, axis).gather_shares(local)
