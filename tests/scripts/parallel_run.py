"""Trains the source's MLP (BatchNorm and Dropout included) on one device or data-parallel, and
writes the final parameters; run by tests/test_parallel.py in fresh processes.

    python parallel_run.py OUT.npz [--mesh] [--process I --processes N --port P] [--checkpoint DIR]
                           [--sweep] [--stream] [--cores N]

With ``--cores N`` the script asks for N CPU devices with ``jn.use_cpu_cores`` (and the sweep
spreads its configurations over them by itself); it records the most devices any array of the
sweep lived on.

With ``--stream`` the training and evaluation sets are random-access sources that record which
examples this process read: each process writes them to OUT.npz.reads<I>.npz.
"""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--mesh", action="store_true")
parser.add_argument("--process", type=int, default=0)
parser.add_argument("--processes", type=int, default=1)
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--checkpoint", default=None)
parser.add_argument("--sweep", action="store_true")
parser.add_argument("--stream", action="store_true")
parser.add_argument("--cores", type=int, default=None)
args = parser.parse_args()

import jax  # noqa: E402

if args.processes > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{args.port}", num_processes=args.processes,
                               process_id=args.process)

import numpy as np  # noqa: E402
import optax  # noqa: E402
from problem import N, model, objective, x, y  # noqa: E402

import jaxnet as jn  # noqa: E402

if args.cores is not None:
    jn.use_cpu_cores(args.cores)

params, state = model.init(jax.random.key(0), x[:1])
mesh = jn.parallel.mesh() if args.mesh else None


class Recorded:
    """The examples of ``x`` and ``y`` as a random-access source that records every read."""

    def __init__(self, x, y):
        self.x, self.y, self.reads = x, y, []

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], self.y[index]

    def read(self, indices):
        self.reads.append(np.asarray(indices))
        return self.x[indices], self.y[indices]


data = (x, y)
if args.stream:
    # Every process holds the whole set and reads only its share of each batch.
    data, evaluation_data = Recorded(x, y), Recorded(x, y)
elif args.processes > 1:
    share = N // args.processes
    rows = slice(args.process * share, (args.process + 1) * share)
    data = (jn.parallel.from_process_data(x[rows], mesh),
            jn.parallel.from_process_data(y[rows], mesh))


def sweep_setup(lr, seed):
    p, s = model.init(jax.random.key(seed), x[:1])
    return jn.Trial(objective, optax.sgd(lr, momentum=0.9), p, s, jax.random.key(10 + seed))


spread = [1]


def widest_array(epoch, history, run, config):
    """Records the most devices that any array lives on while the sweep trains."""
    spread[0] = max(spread[0], *(len(a.devices()) for a in jax.live_arrays()))


if args.sweep:
    result = jn.sweep(sweep_setup, jn.grid(lr=[0.01, 0.03, 0.1], seed=[0, 1, 2]), data,
                      epochs=2, batch_size=64, mesh=mesh, verbose=False,
                      callbacks=[widest_array])
    leaves = {f"{i}_{j}": np.asarray(leaf) for i, p in enumerate(result.params)
              for j, leaf in enumerate(jax.tree.leaves(p))}
else:
    result = jn.fit(objective, params, state, optax.sgd(0.05, momentum=0.9), data, epochs=3,
                    batch_size=64, key=jax.random.key(1), mesh=mesh, verbose=False,
                    checkpoint_dir=args.checkpoint)
    evaluation = jn.evaluate(objective, result.params, result.state,
                             evaluation_data if args.stream else data, mesh=mesh)
    leaves = {str(j): np.asarray(jax.device_get(leaf))
              for j, leaf in enumerate(jax.tree.leaves((result.params, result.state)))}
    leaves["evaluation"] = np.array([evaluation["loss"], evaluation["accuracy"]])
if args.process == 0:
    np.savez(args.out, devices=len(jax.devices()), spread_devices=spread[0], **leaves)
if args.stream:
    reads = {name: source.reads for name, source in
             (("train", data), ("evaluation", evaluation_data))}
    np.savez(f"{args.out}.reads{args.process}.npz",
             **{f"{name}_rows": np.concatenate(r) if r else np.zeros(0, np.int64)
                for name, r in reads.items()},
             **{f"{name}_sizes": np.array([len(i) for i in r]) for name, r in reads.items()})
