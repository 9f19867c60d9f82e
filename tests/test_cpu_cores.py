"""jn.use_cpu_cores: JAX's CPU devices, one per core, set while JAX can still take them.

That a sweep spreads its configurations over them, with the results of one device, is tested in
a fresh process by tests/test_parallel.py.
"""

import jax
import pytest

import jaxnet as jn
from jaxnet.cpu_cores import cpu_cores, cpu_cores_placement


def test_cpu_cores_counts_the_cores_this_process_may_use():
    assert 1 <= cpu_cores() <= 4096


def test_asking_for_the_devices_jax_already_has_is_quiet(recwarn):
    jax.numpy.zeros(1)  # the backend has started
    have = len(jax.local_devices(backend="cpu"))
    assert jn.use_cpu_cores(have) == have
    assert not recwarn.list


def test_asking_too_late_warns_and_says_how_to_ask_in_time():
    jax.numpy.zeros(1)
    have = len(jax.local_devices(backend="cpu"))
    with pytest.warns(UserWarning, match=r"came too late.*JAX_NUM_CPU_DEVICES=" + str(have + 3)):
        assert jn.use_cpu_cores(have + 3) == have


@pytest.mark.parametrize("count", [0, -2, 1.5])
def test_a_count_of_devices_must_be_a_positive_integer(count):
    with pytest.raises((TypeError, ValueError), match="count"):
        jn.use_cpu_cores(count)


def test_one_device_or_one_configuration_is_not_spread():
    assert cpu_cores_placement(1) is None
    if len(jax.local_devices()) == 1:
        assert cpu_cores_placement(16) is None
