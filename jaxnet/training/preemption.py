"""Preemption: a notice to any process of a job stops every process at the same epoch end.

Clusters send SIGTERM to a process some time before they reclaim its machine. Once
``jax.distributed.initialize`` has run, JAX's preemption service catches that signal in any
process of the job and, through its coordination service, agrees on a sync point: the next step
id after the highest one any process has reached
(``jax.experimental.multihost_utils.reached_preemption_sync_point``). The monitor asks at every
epoch end, with one more id each time in the process's life (every process of a job trains the
same epochs in the same order, so their ids agree), and at the sync point saves the run's
checkpoint and raises ``Preempted``; running the same command again resumes from it.

Without ``jax.distributed`` there is no such service (and SIGTERM ends the process as usual:
the last checkpoint is what a restart resumes from).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import jax
from jax.experimental import multihost_utils

# One id per epoch end read in this process, over every fit and sweep it runs.
_epoch_ends = itertools.count(1)


class Preempted(SystemExit):
    """Training stopped at an epoch end that every process of the job agreed on, after a
    preemption notice (SIGTERM) to one of them; the run's checkpoint there is saved.

    A ``SystemExit``: a script that does not catch it ends with status ``EXIT_STATUS`` (42,
    the status TensorFlow's preemption handler exits with for "restart me") and without a
    traceback, and ``except Exception`` does not swallow it. Running the same command again
    resumes from the checkpoint, to the bits of an uninterrupted run.

    Attributes:
        epoch: the epoch (counted from the start of the run) training stopped after.
        checkpoint_dir: the folder the run's checkpoint was saved in; None when the call had
            no ``checkpoint_dir`` (nothing was saved).
    """

    EXIT_STATUS = 42

    def __init__(self, epoch: int, checkpoint_dir: str | Path | None):
        saved = ("nothing was saved (no checkpoint_dir was given)" if checkpoint_dir is None
                 else f"its checkpoint is saved in {checkpoint_dir}; run the same command "
                 "again to resume")
        super().__init__(f"training was preempted: every process of the job stopped after "
                         f"epoch {epoch}; {saved}")
        self.code = self.EXIT_STATUS  # what the interpreter exits with, not the message
        self.epoch = epoch
        self.checkpoint_dir = checkpoint_dir


def reached_stop() -> bool:
    """Whether every process of the job stops at this epoch end (call it at each one, in
    every process): JAX's preemption sync point. Always False without ``jax.distributed`` or
    with its preemption service turned off (``jax_enable_preemption_service``)."""
    if not jax.distributed.is_initialized() or not jax.config.jax_enable_preemption_service:
        return False
    return multihost_utils.reached_preemption_sync_point(next(_epoch_ends))
