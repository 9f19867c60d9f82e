"""The training problem that the multi-process test scripts share (parallel_run.py,
fault_run.py): 512 examples of 10 classes in 64 features, and the source's MLP (BatchNorm and
Dropout included) with an L2 penalty on its second kernel. Import it after
``jax.distributed.initialize``."""

import numpy as np

import jaxnet as jn

N, D = 512, 64
_rng = np.random.default_rng(0)
y = _rng.integers(0, 10, N).astype(np.int32)
x = (_rng.normal(size=(N, D)) + 2.0 * np.eye(10, D)[y]).astype(np.float32)
model = jn.Sequential([jn.Dense(128), jn.relu, jn.Dropout(0.2), jn.Dense(128), jn.BatchNorm(),
                       jn.relu, jn.Dropout(0.2), jn.Dense(10)])
objective = jn.objective(model, jn.losses.softmax_cross_entropy,
                         jn.regularizers.l2(2e-3, where="dense_1"))
