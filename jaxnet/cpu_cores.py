"""Every core of a CPU for sweeps: JAX's CPU devices, one per core, and the sweeps spread over them.

XLA:CPU runs one program on one device, and a small model's program keeps about one core busy.
JAX can show a CPU as several devices (its ``jax_num_cpu_devices`` option, or the XLA flag
``--xla_force_host_platform_device_count``), which run their programs at the same time; a sweep
then trains a block of configurations on each. The number of devices is fixed when JAX starts
its backend, at its first computation, so it must be set before: ``use_cpu_cores`` sets it when
it still can and says when it is too late.
"""

from __future__ import annotations

import os
import warnings

import jax

from jaxnet.parallel import DataParallel, data_parallel, mesh
from jaxnet.validation import positive_int

__all__ = ["cpu_cores", "cpu_cores_placement", "use_cpu_cores"]


def cpu_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows
        return os.cpu_count() or 1


def use_cpu_cores(count: int | None = None) -> int:
    """Makes JAX show the CPU as ``count`` devices (by default one per core); returns how many
    CPU devices JAX has (or will have when it starts).

    Call it at the top of a script or notebook, before any JAX computation: JAX fixes its
    devices when its backend starts. Called later, it changes nothing and warns, unless JAX
    already has that many CPU devices (as when ``JAX_NUM_CPU_DEVICES`` or ``XLA_FLAGS=
    --xla_force_host_platform_device_count=N`` was set in the environment). ``jn.sweep`` then
    trains a block of configurations on each device, all at once; ``fit`` keeps using one
    device unless given a mesh.

    Example:
        >>> import jaxnet as jn
        >>> devices = jn.use_cpu_cores()  # doctest: +SKIP
    """
    count = cpu_cores() if count is None else positive_int(count, "count")
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        have = len(jax.local_devices(backend="cpu"))
        if have != count:
            warnings.warn(
                f"use_cpu_cores({count}) came too late: JAX started its backend with {have} CPU "
                f"device{'s' if have != 1 else ''} at its first computation, and keeps them. Call "
                "jn.use_cpu_cores() right after importing jaxnet, before anything computes "
                f"(in a notebook, restart the kernel), or set JAX_NUM_CPU_DEVICES={count} in "
                "the environment before starting Python.", stacklevel=2)
        return have
    return count  # the backend starts with them at JAX's first computation


def cpu_cores_placement(configurations: int) -> DataParallel | None:
    """Where a sweep spreads ``configurations`` when given no mesh: over the local CPU devices
    (at most one per configuration) when JAX computes on a CPU with several devices, in one
    process; None (one device) otherwise."""
    if jax.default_backend() != "cpu" or jax.process_count() > 1:
        return None
    devices = jax.local_devices()[:configurations]
    if len(devices) < 2:
        return None
    return data_parallel(mesh(devices, axis="configs"))
