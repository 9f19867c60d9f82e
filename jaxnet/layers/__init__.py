"""Layer descriptions, each a frozen dataclass with ``init`` and ``apply``.

Also the containers that hold layers (Sequential, Residual, Parallel), the activation functions,
and a model's summary table.
"""

from jaxnet.layers.activation import (
    Activation,
    PReLU,
    elu,
    gelu,
    identity,
    leaky_relu,
    relu,
    sigmoid,
    softmax,
    softplus,
    swish,
    tanh,
)
from jaxnet.layers.attention import MultiHeadAttention
from jaxnet.layers.combinators import Parallel, Residual
from jaxnet.layers.conv import Conv1D, Conv2D
from jaxnet.layers.dense import Dense
from jaxnet.layers.dropout import Dropout
from jaxnet.layers.embedding import Embedding
from jaxnet.layers.norm import BatchNorm, LayerNorm
from jaxnet.layers.pool import AvgPool, GlobalAvgPool, MaxPool
from jaxnet.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from jaxnet.layers.reshape import Flatten, Reshape
from jaxnet.layers.sequential import Sequential, summary

__all__ = [
    "Activation",
    "AvgPool",
    "BatchNorm",
    "Bidirectional",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "GlobalAvgPool",
    "LSTM",
    "LayerNorm",
    "MaxPool",
    "MultiHeadAttention",
    "PReLU",
    "Parallel",
    "Reshape",
    "Residual",
    "Sequential",
    "SimpleRNN",
    "elu",
    "gelu",
    "identity",
    "leaky_relu",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "summary",
    "swish",
    "tanh",
]
