"""The monitor: the one host loop that runs a group's epochs and reads their results.

``fit`` and ``sweep`` both train through ``train``: ``fit`` with a group of one
configuration, ``sweep`` with one group per structure. Every rule lives here once, on arrays with
a leading configuration axis: history, patience, the epsilon rule's and the guard's statuses,
non-finite recovery, ``restore_best``, callbacks, progress, checkpoints and preemption (every
process stops at the epoch end JAX's preemption service agrees on, after saving).

The loop dispatches epoch ``e + 1`` before it reads epoch ``e`` (of a host-dispatched epoch, the
first step before, the rest after), so the device never waits for the host. Reading an epoch
runs, in order: the non-finite check (a failed configuration is replayed from the epoch's saved
start under the per-step guard), the history, early stopping, callbacks, the preemption check
and the checkpoint (always saved at a preemption, which then raises ``Preempted``). A
configuration stopped at epoch ``e`` gets back its state after ``e`` in the already dispatched
epoch ``e + 1``; when every configuration has stopped, or training is preempted, that epoch is
dropped.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet.objective import epoch_record
from jaxnet.parallel import DataParallel
from jaxnet.training import caches, preemption
from jaxnet.training.evaluate import evaluate_group
from jaxnet.training.group import Group, Streamed, Trial, make_group
from jaxnet.training.progress import Progress
from jaxnet.training.resume import CheckpointWriter, resume
from jaxnet.training.rows import Row
from jaxnet.training.run_state import (
    CONVERGED,
    NONFINITE,
    RUNNING,
    STOPPED,
    Callback,
    RunState,
    Settings,
    Stopping,
    improves,
)
from jaxnet.training.stacking import unstack


class NonFiniteError(FloatingPointError):
    """Training found no parameters with a finite loss to return."""


class Outcome(NamedTuple):
    """A group's training: its final run states (with what early stopping tracked), each
    configuration's history and why it stopped, and the seconds its first dispatch took to
    trace and compile (left out of the first epoch's ``time``)."""

    runs: RunState
    histories: list[dict[str, list]]
    reasons: list[str]
    compile_time: float = 0.0


@caches.compiled
@jax.jit
def _where(mask: jax.Array, new: Any, old: Any) -> Any:
    """Per configuration (the leading axis), ``new`` where ``mask`` is set, else ``old``."""
    def choose(a, b):
        return jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(choose, new, old)


@dataclasses.dataclass
class Monitor:
    """The host-side state of a group's training between epochs."""

    group: Group
    settings: Settings
    callbacks: tuple[Callback, ...] = ()
    verbose: bool = True
    writer: CheckpointWriter | None = None
    labels: Sequence[str] = ()

    def train(self, runs: RunState, histories: list[dict], reasons: list) -> Outcome:
        """Trains from ``runs`` (their ``stopping`` set) to the end; ``histories`` and
        ``reasons`` are those of the epochs already done (a resumed run)."""
        count = self.group.count
        self.histories, self.reasons = histories, reasons
        self.stopping = runs.stopping
        self.status = np.array(self._to_host(runs.status))[:count]
        runs = dataclasses.replace(runs, stopping=None)
        self.previous: RunState | None = None
        for c in np.flatnonzero(self.status == RUNNING):
            self.reasons[c] = None  # a resumed run that reached its epochs goes on to more
        done = int(np.asarray(self._to_host(runs.epoch))[:count].max(initial=0))
        bar = self._progress(done)
        self.unread = None
        try:
            runs = self._loop(runs, done, bar)
        finally:
            bar.close()
            if self.unread is not None:  # an epoch dispatched, then not needed: stop its reader
                self.unread()
        for c in range(count):
            self.reasons[c] = self.reasons[c] or "epochs"
        runs = dataclasses.replace(runs, status=self._device_status(runs), stopping=self.stopping)
        if self.writer is not None:
            self.writer.save(runs, self.histories, self.reasons, self.done, final=True)
        # Every process gets every configuration's result.
        return Outcome(self._gathered(runs), self.histories, self.reasons, self.compile_time)

    def _spread_over_processes(self) -> bool:
        """Whether the configurations are split over the processes of a job."""
        return self.group.split_configs and jax.process_count() > 1

    def _gathered(self, tree: Any) -> Any:
        """``tree`` with every configuration in every process: arrays split over the
        processes of a job are gathered (replicated) by one collective, waited for, since
        collectives in flight together can interleave differently in each process (gloo
        then deadlocks); other arrays as they are."""
        if not self._spread_over_processes():
            return tree
        return jax.block_until_ready(self.group.placement.put(tree))

    def _to_host(self, tree: Any) -> Any:
        """``tree``'s arrays as NumPy arrays, also those split over the processes of a job."""
        return jax.device_get(self._gathered(tree))

    def _loop(self, runs: RunState, done: int, bar: Progress) -> RunState:
        """Dispatches and reads the epochs; returns the run states after the last one read."""
        settings = self.settings
        pending, clock, self.compile_time = None, time.perf_counter(), 0.0
        while True:
            number = done + (pending is not None)  # the epoch to dispatch
            dispatched = None
            if number < settings.epochs and (self.status == RUNNING).any():
                start = runs if pending is None else pending[1][0]
                if pending is None and self.group.split_configs:
                    bar.note(f"compiling the epoch of {self._what()}...")
                dispatched = (start, self._dispatch(start, number))
                if pending is None:  # the first dispatch compiles: timed apart from the epoch
                    self.compile_time = time.perf_counter() - clock
                    clock += self.compile_time
                    if self.compile_time >= 0.5:
                        bar.note(f"compiled in {self.compile_time:.2f} s")
                    bar.restart_clock()
            if pending is None and dispatched is None:
                break
            if pending is not None:
                runs, stopped, clock = self._finish(*pending, epoch=done, since=clock)
                done += 1
                bar.update(self._shown())
                if not (self.status == RUNNING).any() or done >= settings.epochs:
                    break
            if dispatched is not None:
                start, complete = dispatched
                outputs, evaluations = complete()
                if pending is not None and stopped.any():
                    back = _where(self._rows(stopped), runs, outputs[0])
                    outputs = (back, *outputs[1:])
                pending = (start, outputs, evaluations)
        self.done = done
        return runs

    def _what(self) -> str:
        count = self.group.count
        return "1 configuration" if count == 1 else f"{count} configurations"

    def _progress(self, done: int) -> Progress:
        return Progress(self.settings.epochs, min(done, self.settings.epochs),
                        enabled=self.verbose)

    def _shown(self) -> dict[str, float]:
        """What the progress display shows: one configuration's last record, or for several
        the best monitored value and how many still run."""
        if self.group.count == 1:
            return {name: values[-1] for name, values in self.histories[0].items()}
        times = [h["time"][-1] for h in self.histories if h.get("time")]
        return {"best": float(np.min(self.stopping.best)), "running": float(
            np.sum(self.status == RUNNING)), "time": max(times, default=0.0)}

    def _rows(self, mask: np.ndarray) -> jax.Array:
        """A host mask over the real configurations, padded like the group and placed."""
        padded = np.concatenate([mask, np.repeat(mask[-1:], self.group.plan.count - len(mask))])
        return self.group.place(padded)

    def _device_status(self, runs: RunState) -> jax.Array:
        status = np.concatenate([self.status, np.repeat(self.status[-1:],
                                                        self.group.plan.count - len(self.status))])
        return self.group.place(status.astype(np.int32))

    def _dispatch(self, start: RunState, epoch: int):
        """Dispatches epoch number ``epoch`` from ``start``; returns the function that gives its
        outputs and their dispatched evaluations. Nothing here waits for the device."""
        complete = self.group.dispatch(self.group.plan, start, epoch, self.settings)
        self.unread = getattr(complete, "close", None)

        def outputs():
            self.unread = None
            done = complete()
            return done, self._evaluations(done[0])

        return outputs

    def _evaluations(self, runs: RunState) -> dict[str, Any]:
        """The evaluations after an epoch, dispatched: validation set, and training set if
        asked."""
        sets = {"val": self.group.validation, "train": self.group.train_set}
        return {prefix: evaluate_group(self.group.plan, self.group.values, runs, data)
                for prefix, data in sets.items() if data is not None}

    def _finish(self, start: RunState, outputs: tuple, evaluations: dict, *, epoch: int,
                since: float):
        """Reads dispatched epoch number ``epoch``: guard, history, stopping, callbacks,
        checkpoint. Its time runs from ``since`` (the previous epoch's end) to when its results
        are ready. Returns the run states to go on from, the configurations it stopped, and
        that time."""
        runs, metrics, info = outputs
        host = self._to_host({"finite": info.finite, "ran": info.ran, "metrics": metrics,
                              "status": runs.status, "evaluations": evaluations})
        done = time.perf_counter()
        count = self.group.count
        active = self.status == RUNNING
        bad = active & ~np.asarray(host["finite"])[:count]
        if bad.any():
            runs, host = self._recover(start, runs, host, bad, epoch)
        status = np.asarray(host["status"])[:count].copy()
        status[bad] = NONFINITE
        improved = np.zeros(count, bool)
        best, waited = np.array(self.stopping.best), np.array(self.stopping.waited)
        best_epoch = np.array(self.stopping.best_epoch)
        for c in np.flatnonzero(active):
            record = epoch_record(self.group.objective,
                                  {name: v[c] for name, v in host["metrics"].items()},
                                  host["ran"][c])
            for prefix, values in host["evaluations"].items():
                record.update((f"{prefix}_{name}", self.group.objective.value(name, v[c]))
                              for name, v in values.items())
            record["time"] = done - since
            for name, value in record.items():
                self.histories[c].setdefault(name, []).append(value)
            monitor = record.get("val_loss" if self.settings.validation else "loss", np.nan)
            if improves(monitor, best[c], self.settings.min_delta):
                best[c], waited[c], improved[c], best_epoch[c] = monitor, 0, True, epoch + 1
            else:
                waited[c] += 1
            if status[c] == NONFINITE:
                self.reasons[c] = "nonfinite"
            elif status[c] == CONVERGED:
                self.reasons[c] = "converged"
            elif self.settings.patience is not None and waited[c] >= self.settings.patience:
                self.reasons[c], status[c] = "patience", STOPPED
        self.stopping = self._track(self.stopping, (best, waited, best_epoch), improved, runs)
        # Each configuration's run, read once for all the callbacks of the epoch.
        shown = unstack(self._gathered(runs), self.group.count) if self.callbacks else None
        for c in np.flatnonzero(active):
            if self._callbacks_stop(c, epoch, shown) and status[c] == RUNNING:
                self.reasons[c], status[c] = "callback", STOPPED
        stopped = active & (status != RUNNING)
        self.status = status
        if stopped.any():
            runs = dataclasses.replace(runs, status=self._device_status(runs))
        preempted = preemption.reached_stop()  # the same answer in every process
        if self.writer is not None:
            self.writer.save(dataclasses.replace(runs, stopping=self.stopping), self.histories,
                             self.reasons, epoch + 1, stopped=bool(stopped.any()),
                             preempted=preempted)
        if preempted:
            stop = preemption.Preempted(epoch + 1, self.writer.directory if self.writer else None)
            print(f"jaxnet: {stop}", file=sys.stderr)  # a script exits with no traceback
            raise stop
        self.previous = start
        return runs, stopped, done

    def _track(self, stopping: Stopping, numbers: tuple, improved, runs: RunState) -> Stopping:
        """Early stopping's record after an epoch: its numbers on the host, the best parameters
        (with ``restore_best``) on the device."""
        best_params, best_state = stopping.best_params, stopping.best_state
        if best_params is not None and improved.any():
            if improved.all():
                best_params, best_state = runs.params, runs.state
            else:
                best_params, best_state = _where(self._rows(improved), (runs.params, runs.state),
                                                 (best_params, best_state))
        pad = self.group.plan.count - self.group.count
        count = self.group.count
        best, waited, epoch = (np.concatenate([v[:count], np.repeat(v[count - 1:count], pad)])
                               for v in numbers)
        return Stopping(best.astype(np.float32), waited.astype(np.int32),
                        epoch.astype(np.int32), best_params, best_state)

    def _callbacks_stop(self, c: int, epoch: int, runs: list[RunState] | None) -> bool:
        if not self.callbacks:
            return False
        run = dataclasses.replace(runs[c], stopping=None)
        extra = {"config": c} if self.group.split_configs else {}
        return any([bool(callback(epoch + 1, self.histories[c], run, **extra))
                    for callback in self.callbacks])

    def _recover(self, start: RunState, runs: RunState, host: dict, bad: np.ndarray,
                 epoch: int):
        """Replays epoch number ``epoch`` under the guard; configurations in ``bad`` keep the
        last parameters whose loss was measured finite, and that epoch's metrics."""
        group, plan = self.group, self.group.plan.guard()
        end, metrics, info = group.dispatch(plan, start, epoch, self.settings)()
        model, taken, measured = info.good
        base = start
        unmeasured = bad & ~np.asarray(measured)[:group.count]
        if unmeasured.any():
            # The epoch's first loss was already not finite: its start parameters came from the
            # previous epoch's last update, so go back to the parameters before that update.
            if self.previous is None:
                first = int(np.flatnonzero(unmeasured)[0])
                caller = "sweep" if group.split_configs else "fit"
                raise NonFiniteError(
                    f"the loss is not finite at the parameters{self._label(first)} this call of "
                    f"{caller} started from (epoch {epoch + 1}, first step): check the model's "
                    "outputs on the training data, e.g. a log or division that meets zero")
            _, _, before = group.dispatch(plan, self.previous, epoch - 1, self.settings)()
            mask = self._rows(unmeasured)
            model = _where(mask, before.good.model, model)
            taken = jnp.where(mask, before.good.taken, taken)
            base = _where(mask, self.previous, start)
        params, state, opt_state = model
        steps = base.step + taken
        fixed = RunState(params, state, opt_state, start.epoch + 1, steps, start.key,
                         jnp.full_like(start.status, NONFINITE), None)
        mask = self._rows(bad)
        runs = _where(mask, fixed, runs)
        fresh = self._to_host({"metrics": metrics, "ran": info.ran, "steps": steps,
                               "evaluations": self._evaluations(runs)})
        for name in ("metrics", "evaluations"):
            host[name] = jax.tree.map(lambda new, old: np.where(
                bad.reshape((-1,) + (1,) * (np.ndim(old) - 1)), new[:len(bad)], old[:len(bad)]),
                fresh[name], host[name])
        host["ran"] = np.where(bad[:, None], fresh["ran"][:len(bad)], host["ran"][:len(bad)])
        for c in np.flatnonzero(bad):
            warnings.warn(
                f"training{self._label(c)} stopped in epoch {epoch + 1}: a loss, gradient or "
                f"updated parameter became NaN or infinite; returning the parameters after step "
                f"{int(fresh['steps'][c])}, the last whose loss was finite (the data were "
                "checked: a smaller learning rate, gradient clipping or a look at the model's "
                "numerics usually help)", RuntimeWarning, stacklevel=6)
        return runs, host

    def _label(self, c: int) -> str:
        return f" of configuration {self.labels[c]}" if self.group.count > 1 else ""


def train(trials: Sequence[Trial], recipe: Any, numbers: Sequence[Any], x: Any, y: Any,
          validation: tuple | None, settings: Settings, *, side: int | None = 1,
          placement: DataParallel | None = None, split_configs: bool = False,
          opt_states: Sequence[Any] | None = None, checkpoint_dir: str | Path | None = None,
          configs: list | None = None, callbacks: Sequence[Callback] = (),
          verbose: bool = True, labels: Sequence[str] = (),
          streamed: Streamed | None = None,
          carried: tuple[Sequence[Row], list, list] | None = None) -> Outcome:
    """Trains ``trials`` (of one ``recipe``, with each configuration's ``numbers``) as one group:
    what ``fit`` (one trial) and ``sweep`` (each group of its configurations) call. With
    ``carried`` (each trial's run state as a row of an earlier call's runs, its history and
    stop reason, as a segment of a search leaves them), training goes on from there, as a
    resumed run does."""
    group, runs = make_group(trials, recipe, numbers, x, y, validation, settings, side=side,
                             placement=placement, split_configs=split_configs,
                             opt_states=opt_states, streamed=streamed,
                             carried=carried[0] if carried else None)
    if carried is not None:
        histories = [{name: list(values) for name, values in h.items()} for h in carried[1]]
        reasons = list(carried[2])
    else:
        size = group.plan.count
        stopping = Stopping(np.full(size, np.inf, np.float32), np.zeros(size, np.int32),
                            np.zeros(size, np.int32),
                            runs.params if settings.restore_best else None,
                            runs.state if settings.restore_best else None)
        runs = dataclasses.replace(runs, stopping=stopping)
        histories, reasons = [{} for _ in trials], [None] * len(trials)
    writer = None
    if checkpoint_dir is not None:
        writer = CheckpointWriter(checkpoint_dir, settings, configs)
        restored = resume(writer, runs)
        if restored is not None:
            runs, histories, reasons = restored
    monitor = Monitor(group, settings, tuple(callbacks), verbose, writer, labels)
    return monitor.train(runs, histories, reasons)
