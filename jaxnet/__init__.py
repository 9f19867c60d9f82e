"""jaxnet: a small functional neural-network library on JAX.

A model is an immutable description whose ``init`` builds parameter and state pytrees and whose
``apply`` is a pure function of them; losses and penalties are plain functions; training is
``jax.grad`` with an optax optimizer.

    >>> import jax, jax.numpy as jnp, jaxnet as jn
    >>> model = jn.Sequential([jn.Dense(16), jn.relu, jn.Dense(3)])
    >>> params, state = model.init(jax.random.key(0), jnp.zeros((1, 4)))
    >>> jn.count_params(params)
    131
"""

from jaxnet import (
    callbacks,
    checkpoint,
    classic,
    data,
    losses,
    metrics,
    parallel,
    regularizers,
    search,
    viz,
)
from jaxnet.checks import debug_checks
from jaxnet.compile_cache import compilation_cache
from jaxnet.composable import Composable, composable
from jaxnet.core import Layer, LayerError, ShapeError, count_params
from jaxnet.cpu_cores import use_cpu_cores
from jaxnet.layers import (
    GRU,
    LSTM,
    Activation,
    AvgPool,
    BatchNorm,
    Bidirectional,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool,
    LayerNorm,
    MaxPool,
    MultiHeadAttention,
    Parallel,
    PReLU,
    Reshape,
    Residual,
    Sequential,
    SimpleRNN,
    elu,
    gelu,
    identity,
    leaky_relu,
    relu,
    sigmoid,
    softmax,
    softplus,
    summary,
    swish,
    tanh,
)
from jaxnet.objective import Objective, objective
from jaxnet.training import (
    FitResult,
    NonFiniteError,
    Preempted,
    RunState,
    SweepResult,
    Trial,
    clear_caches,
    evaluate,
    fit,
    grid,
    halving,
    pbt,
    sweep,
    train_step,
    zipped,
)

__version__ = "0.1.0"
