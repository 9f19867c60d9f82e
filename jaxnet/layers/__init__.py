"""Layer descriptions: each is a frozen dataclass with ``init`` and ``apply``."""

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
from jaxnet.layers.dense import Dense
from jaxnet.layers.dropout import Dropout
from jaxnet.layers.norm import BatchNorm, LayerNorm
from jaxnet.layers.reshape import Flatten, Reshape

__all__ = [
    "Activation",
    "BatchNorm",
    "Dense",
    "Dropout",
    "Flatten",
    "LayerNorm",
    "PReLU",
    "Reshape",
    "elu",
    "gelu",
    "identity",
    "leaky_relu",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "swish",
    "tanh",
]
