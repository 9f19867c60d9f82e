"""Faults across processes, for ``fit`` and ``sweep``: two processes on this host (two CPU
devices each, gloo collectives) form one job through ``jax.distributed``
(tests/scripts/fault_run.py), and

1. a process killed with SIGKILL in the middle of training ends the other within a minute, with
   JAX's error naming the lost process;
2. SIGTERM to either process stops both at the same epoch end, after saving, with status 42; the
   same command run again resumes to the bits of an uninterrupted run;
3. a process killed while a checkpoint is being written leaves the previous checkpoint as the
   latest, and a rerun resumes from it to the same bits.

No test waits without a timeout, and every process started is killed at the end.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import jaxnet as jn

SCRIPT = Path(__file__).parent / "scripts" / "fault_run.py"
ROOT = Path(__file__).resolve().parents[1]
EPOCHS = {"fit": 8, "sweep": 4}
# A lost process is noticed after the heartbeat timeout the script gives jax.distributed (10 s).
LOST_WITHIN = 60

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


class Job:
    """The processes of one job of fault_run.py, each in its own process group."""

    def __init__(self, out: Path, arguments: list[str], processes: int = 2):
        self.out = out
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
               "PYTHONPATH": str(ROOT)}
        port = str(free_port())
        self.logs = [Path(f"{out}.log{i}") for i in range(processes)]
        self.processes = []
        for i, log in enumerate(self.logs):
            with open(log, "w") as stream:
                self.processes.append(subprocess.Popen(
                    [sys.executable, str(SCRIPT), str(out), "--process", str(i), "--processes",
                     str(processes), "--port", port, *arguments], env=env, stdout=stream,
                    stderr=subprocess.STDOUT, start_new_session=True))

    def log(self, i: int) -> str:
        return self.logs[i].read_text()

    def progress(self, i: int) -> list[int]:
        """The last epoch process ``i`` finished, as ``[epoch]`` (fit) or ``[config, epoch]``
        (sweep); ``[]`` before the first."""
        path = Path(f"{self.out}.progress{i}")
        return [int(v) for v in path.read_text().split()] if path.exists() else []

    def wait_until(self, ready, timeout: float = 300) -> None:
        end = time.monotonic() + timeout
        while not ready():
            if any(p.poll() is not None for p in self.processes):
                raise AssertionError(f"a process ended early:\n{self.log(0)[-3000:]}\n"
                                     f"{self.log(1)[-3000:]}")
            if time.monotonic() > end:
                raise AssertionError(f"not ready after {timeout} s")
            time.sleep(0.05)

    def wait(self, i: int, timeout: float) -> int:
        """Process ``i``'s exit status (negative: the signal that ended it), or an assertion
        error naming the timeout."""
        try:
            return self.processes[i].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"process {i} still runs after {timeout} s:\n"
                                 f"{self.log(i)[-3000:]}") from None

    def kill(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)


@contextlib.contextmanager
def job(out: Path, *arguments: str, processes: int = 2):
    started = Job(out, list(arguments), processes)
    try:
        yield started
    finally:
        started.kill()


def run_to_end(out: Path, *arguments: str, processes: int = 2) -> dict:
    """Runs a job to its end and returns process 0's results."""
    with job(out, *arguments, processes=processes) as started:
        for i in range(processes):
            assert started.wait(i, timeout=300) == 0, started.log(i)[-3000:]
    with np.load(out) as results:
        return dict(results)


def arguments(mode: str, *more: str) -> list[str]:
    return ["--epochs", str(EPOCHS[mode]), *(["--sweep"] if mode == "sweep" else []), *more]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Each mode's results without a fault."""
    cache = {}

    def results(mode: str) -> dict:
        if mode not in cache:
            out = tmp_path_factory.mktemp(mode) / "uninterrupted.npz"
            cache[mode] = run_to_end(out, *arguments(mode))
        return cache[mode]

    return results


def assert_same_bits(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("mode, victim", [("fit", 1), ("fit", 0), ("sweep", 1)])
def test_a_killed_process_ends_the_other_within_a_minute_with_jaxs_error_naming_it(
        mode, victim, tmp_path):
    with job(tmp_path / "out.npz", "--epochs", "100000", "--pause", "0.05",
             *(["--sweep"] if mode == "sweep" else [])) as started:
        started.wait_until(lambda: started.progress(victim)[-1:] >= [2])
        started.processes[victim].kill()
        killed = time.monotonic()
        survivor = 1 - victim
        status = started.wait(survivor, timeout=LOST_WITHIN)
        took = time.monotonic() - killed
        log = started.log(survivor)
    print(f"{mode}: process {survivor} ended {took:.1f} s after process {victim} was killed")
    assert status != 0 and took < LOST_WITHIN
    assert "Terminating process because the JAX distributed service detected fatal errors" in log
    if victim == 1:  # the coordinator (in process 0) names the process that stopped answering
        assert re.search(r"Task 1 heartbeat timeout|stopped sending heartbeats\):\s*1", log), log
    else:  # process 0 held the coordinator
        assert "the leader task was preempted/died/restarted" in log, log


def stopped_epoch(log: str) -> int:
    found = re.findall(r"jaxnet: training was preempted: every process of the job stopped after "
                       r"epoch (\d+); its checkpoint is saved in", log)
    assert len(found) == 1, log[-3000:]
    return int(found[0])


@pytest.mark.parametrize("mode, victim", [("fit", 1), ("sweep", 0)])
def test_sigterm_to_one_process_saves_every_process_at_one_epoch_and_a_rerun_gives_the_same_bits(
        mode, victim, uninterrupted, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    command = arguments(mode, "--checkpoint", str(checkpoints))
    # A sweep trains its configurations four at a time: the notice comes in the second group.
    signal_after = [2] if mode == "fit" else [4, 1]
    with job(tmp_path / "out.npz", *command, "--pause", "0.3") as started:
        started.wait_until(lambda: started.progress(victim) >= signal_after)
        started.processes[victim].send_signal(signal.SIGTERM)
        sent = time.monotonic()
        statuses = [started.wait(i, timeout=60) for i in range(2)]
        took = time.monotonic() - sent
        epochs = [stopped_epoch(started.log(i)) for i in range(2)]
    print(f"{mode}: both processes saved and exited {took:.1f} s after SIGTERM to process "
          f"{victim}")
    assert statuses == [jn.Preempted.EXIT_STATUS] * 2
    assert epochs[0] == epochs[1] < EPOCHS[mode]
    folder = checkpoints if mode == "fit" else checkpoints / "group_0_4"
    assert jn.checkpoint.Manager(folder).latest_step() == epochs[0]

    resumed = run_to_end(tmp_path / "resumed.npz", *command)
    assert_same_bits(resumed, uninterrupted(mode))


@pytest.mark.parametrize("mode, at, victim", [("fit", "write", 1), ("fit", "rename", 0),
                                              ("sweep", "write", 1)])
def test_a_process_killed_in_a_save_leaves_the_previous_checkpoint_and_a_rerun_the_same_bits(
        mode, at, victim, uninterrupted, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    command = arguments(mode, "--checkpoint", str(checkpoints))
    with job(tmp_path / "out.npz", *command, "--hold-save", "3", "--hold-at", at) as started:
        started.wait_until(lambda: Path(f"{tmp_path / 'out.npz'}.holding{victim}").exists())
        started.processes[victim].kill()
        assert started.wait(1 - victim, timeout=LOST_WITHIN) != 0
    folder = checkpoints if mode == "fit" else checkpoints / "group_0"
    manager = jn.checkpoint.Manager(folder)
    assert manager.steps() == [1, 2]
    assert any(".3.saving-" in path.name for path in folder.iterdir())  # what the save left
    assert len(manager.metadata(2)["histories"][0]["loss"]) == 2

    resumed = run_to_end(tmp_path / "resumed.npz", *command)
    assert_same_bits(resumed, uninterrupted(mode))
    assert manager.steps()[-1] == EPOCHS[mode]


def test_one_process_with_jax_distributed_saves_on_sigterm_as_well(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    command = arguments("fit", "--checkpoint", str(checkpoints))
    with job(tmp_path / "out.npz", *command, "--pause", "0.3", processes=1) as started:
        started.wait_until(lambda: started.progress(0) >= [2])
        started.processes[0].send_signal(signal.SIGTERM)
        assert started.wait(0, timeout=60) == jn.Preempted.EXIT_STATUS
        epoch = stopped_epoch(started.log(0))
    assert jn.checkpoint.Manager(checkpoints).latest_step() == epoch < EPOCHS["fit"]
    resumed = run_to_end(tmp_path / "resumed.npz", *command, processes=1)
    assert len(resumed["loss"]) == EPOCHS["fit"]
