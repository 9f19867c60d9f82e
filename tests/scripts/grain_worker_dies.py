"""A Grain pipeline whose worker process dies while fit reads it: the error must reach fit's
caller at once. Prints the exception's type and message, and the seconds until it came."""

import os
import time

from absl import flags

flags.FLAGS.mark_as_parsed()  # grain 0.2.18 reads absl flags in scripts not run by absl.app

import grain  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxnet as jn  # noqa: E402

x = np.random.default_rng(0).normal(size=(512, 20)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int32)


def die_at_example_300(example):
    if example[0][0] == x[300, 0]:
        os._exit(3)
    return example


def batches(epoch, key):
    dataset = grain.MapDataset.source(jn.data.ArraySource(x, y)).map(die_at_example_300)
    return (dataset.batch(32, drop_remainder=True).to_iter_dataset()
            .mp_prefetch(grain.MultiprocessingOptions(num_workers=1)))


if __name__ == "__main__":
    model = jn.Sequential([jn.Dense(2)])
    params, state = model.init(jax.random.key(0), x[:1])
    objective = jn.objective(model, jn.losses.softmax_cross_entropy)
    start = time.perf_counter()
    try:
        jn.fit(objective, params, state, optax.sgd(0.1), batches, epochs=2, batch_size=32,
               key=jax.random.key(1), verbose=False)
    except Exception as error:  # noqa: BLE001 - reported to the test
        print(f"RAISED {type(error).__name__}: {error}")
    print(f"SECONDS {time.perf_counter() - start:.1f}")
