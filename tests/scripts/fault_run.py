"""One process of a job of several that trains the source's MLP with ``fit`` or ``sweep`` over
a mesh of all their devices, for the fault tests (tests/test_faults.py).

    python fault_run.py OUT --process I --processes N --port P [--sweep] [--epochs E]
                        [--checkpoint DIR] [--pause S] [--heartbeat S]
                        [--hold-save EPOCH --hold-at {write,rename}]

Process 0 writes the final parameters and histories to OUT (.npz). Every process writes the
last epoch it finished to OUT.progress<I> (for a sweep, "<configuration> <epoch>") and waits
``--pause`` seconds there (the host waits, the bits do not change), so that a test can signal
it in the middle of training. With ``--hold-save`` this process stops in the save of that epoch
and waits, after writing OUT.holding<I>: at ``write``, when its part of the checkpoint is
written but not committed (inside Orbax's save); at ``rename``, when Orbax has committed it but
before it is renamed into place.
"""

import argparse
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--process", type=int, default=0)
parser.add_argument("--processes", type=int, default=2)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--sweep", action="store_true")
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--checkpoint", default=None)
parser.add_argument("--pause", type=float, default=0.0)
parser.add_argument("--heartbeat", type=int, default=10)
parser.add_argument("--hold-save", type=int, default=None)
parser.add_argument("--hold-at", choices=["write", "rename"], default="write")
args = parser.parse_args()

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")
# A process that stops sending heartbeats for this long is lost: every other one then ends.
jax.distributed.initialize(f"localhost:{args.port}", num_processes=args.processes,
                           process_id=args.process, heartbeat_timeout_seconds=args.heartbeat,
                           shutdown_timeout_seconds=30)

import numpy as np  # noqa: E402
import optax  # noqa: E402
from problem import N, model, objective, x, y  # noqa: E402

import jaxnet as jn  # noqa: E402


def hold(where: str) -> None:
    """Marks this process as held inside a save, then waits to be killed."""
    Path(f"{args.out}.holding{args.process}").write_text(where)
    time.sleep(600)


if args.hold_save is not None:
    if args.hold_at == "write":
        import orbax.checkpoint as ocp

        write = ocp.CompositeCheckpointHandler.save

        def held_write(self, directory, *rest, **options):
            write(self, directory, *rest, **options)
            if Path(directory).name.startswith(f".{args.hold_save}.saving-"):
                hold(str(directory))

        ocp.CompositeCheckpointHandler.save = held_write
    else:
        from jaxnet.checkpoint import pytree

        rename = pytree.move_into_place

        def held_rename(staging, path):
            if Path(path).name == str(args.hold_save):
                hold(str(staging))
            rename(staging, path)

        pytree.move_into_place = held_rename

mesh = jn.parallel.mesh()
share = N // args.processes
rows = slice(args.process * share, (args.process + 1) * share)
data = (jn.parallel.from_process_data(x[rows], mesh),
        jn.parallel.from_process_data(y[rows], mesh))
progress = Path(f"{args.out}.progress{args.process}")


def report(epoch, history, run, config=None):
    progress.write_text(str(epoch) if config is None else f"{config} {epoch}")
    if config is None or config % 4 == 0:
        time.sleep(args.pause)


def setup(lr, seed):
    params, state = model.init(jax.random.key(seed), x[:1])
    return jn.Trial(objective, optax.sgd(lr, momentum=0.9), params, state,
                    jax.random.key(10 + seed))


if args.sweep:
    # Eight configurations, four at a time over the mesh: two groups trained in turn.
    result = jn.sweep(setup, jn.grid(lr=[0.01, 0.03, 0.1, 0.3], seed=[0, 1]), data,
                      epochs=args.epochs, batch_size=64, mesh=mesh, chunk_size=4,
                      checkpoint_dir=args.checkpoint, callbacks=[report], verbose=False)
    leaves = {f"{i}_{j}": np.asarray(jax.device_get(leaf))
              for i, (p, s) in enumerate(zip(result.params, result.state))
              for j, leaf in enumerate(jax.tree.leaves((p, s)))}
    leaves.update({f"loss_{i}": np.array(h["loss"]) for i, h in enumerate(result.histories)})
else:
    params, state = model.init(jax.random.key(0), x[:1])
    result = jn.fit(objective, params, state, optax.sgd(0.05, momentum=0.9), data,
                    epochs=args.epochs, batch_size=64, key=jax.random.key(1), mesh=mesh,
                    checkpoint_dir=args.checkpoint, callbacks=[report], verbose=False)
    leaves = {str(j): np.asarray(jax.device_get(leaf))
              for j, leaf in enumerate(jax.tree.leaves((result.params, result.state)))}
    leaves["loss"] = np.array(result.history["loss"])
if args.process == 0:
    np.savez(args.out, **leaves)
