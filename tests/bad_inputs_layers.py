"""Bad inputs to layers and Sequential: hyperparameters, input shapes, parameters of another model,
and layer classes written without the dataclass decorator."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from bad_inputs import Case

import jaxnet as jn


def _applied(layer, x, init_shape=None, train=False, key=None):
    """``layer`` initialised for ``init_shape`` (x's shape by default) and applied to ``x``."""
    spec = jax.ShapeDtypeStruct(init_shape or np.shape(x), jnp.float32)
    params, state = layer.init(jax.random.key(0), spec)
    return layer.apply(params, state, jnp.asarray(x), key=key, train=train)


def _mlp(width):
    return jn.Sequential([jn.Dense(width), jn.relu, jn.Dense(3)])


def _other_widths():
    """Params of a Dense(16) network given to the same network with Dense(8)."""
    x = jnp.zeros((2, 4))
    params, state = _mlp(16).init(jax.random.key(0), x)
    return _mlp(8).apply(params, state, x)


def _missing_entry():
    model = _mlp(8)
    params, state = model.init(jax.random.key(0), jnp.zeros((2, 4)))
    return model.apply({"dense_0": params["dense_0"]}, state, jnp.zeros((2, 4)))


def _missing_kernel():
    model = _mlp(8)
    params, state = model.init(jax.random.key(0), jnp.zeros((2, 4)))
    return model.apply({**params, "dense_0": {"b": params["dense_0"]["b"]}}, state,
                       jnp.zeros((2, 4)))


def _missing_state():
    model = jn.Sequential([jn.Dense(4), jn.BatchNorm()])
    params, _ = model.init(jax.random.key(0), jnp.zeros((2, 4)))
    return model.apply(params, {}, jnp.zeros((2, 4)))


def _undecorated_layer():
    class Scale(jn.Layer):
        def __init__(self, factor):
            object.__setattr__(self, "factor", factor)

    return Scale(10.0)


def _layer_without_equality():
    @dataclasses.dataclass(frozen=True, eq=False)
    class Scale(jn.Layer):
        factor: float

    return Scale(10.0)


CASES = [
    # Hyperparameters, refused at construction.
    Case("layers", "`jn.Dense(0)`", ValueError, "Dense features must be an integer >= 1, got 0",
         lambda tmp: jn.Dense(0)),
    Case("layers", "`jn.Dense(8.0)` (a float width)", TypeError,
         r"Dense features must be an integer, got 8.0 \(float\)", lambda tmp: jn.Dense(8.0)),
    Case("layers", "`jn.Conv2D(4, kernel_size=0)`", ValueError,
         "Conv2D kernel_size takes a positive int or a sequence of them, got 0",
         lambda tmp: jn.Conv2D(4, kernel_size=0)),
    Case("layers", "`jn.Conv1D(4, kernel_size=(3, 3))` (two sizes for one spatial axis)",
         ValueError, r"Conv1D kernel_size takes an int or 1 ints, got \(3, 3\)",
         lambda tmp: jn.Conv1D(4, kernel_size=(3, 3))),
    Case("layers", "`jn.Conv2D(5, 3, feature_group_count=2)`", ValueError,
         "feature_group_count must be a positive divisor of features=5, got 2",
         lambda tmp: jn.Conv2D(5, 3, feature_group_count=2)),
    Case("layers", '`jn.Conv1D(4, 3, padding="FULL")`', ValueError,
         'padding must be "SAME", "VALID" or explicit sizes, got .FULL.',
         lambda tmp: jn.Conv1D(4, 3, padding="FULL")),
    Case("layers", "`jn.MaxPool(2.5)`", TypeError,
         "MaxPool window takes a positive int or a sequence of them, got 2.5",
         lambda tmp: jn.MaxPool(2.5)),
    Case("layers", "`jn.GRU(0)`", ValueError, "GRU features must be an integer >= 1, got 0",
         lambda tmp: jn.GRU(0)),
    Case("layers", "`jn.Reshape((8, 0))`", ValueError,
         "Reshape shape takes positive sizes and at most one -1", lambda tmp: jn.Reshape((8, 0))),
    Case("layers", "`jn.Dropout(1.0)` (the rate is the probability to drop)", ValueError,
         r"Dropout rate is the probability to drop and must lie in \[0, 1\), got 1.0",
         lambda tmp: jn.Dropout(1.0)),
    Case("layers", '`jn.Dropout(float("nan"))`', ValueError,
         r"Dropout rate .* must lie in \[0, 1\), got nan", lambda tmp: jn.Dropout(float("nan"))),
    Case("layers", '`jn.Dropout("0.5")`', TypeError,
         "Dropout rate must be a real number, got '0.5'", lambda tmp: jn.Dropout("0.5")),
    Case("layers", "`jn.BatchNorm(epsilon=0)`", ValueError,
         "BatchNorm epsilon must be a finite number > 0, got 0",
         lambda tmp: jn.BatchNorm(epsilon=0)),
    Case("layers", "`jn.LayerNorm(epsilon=-1e-6)`", ValueError,
         "LayerNorm epsilon must be a finite number > 0", lambda tmp: jn.LayerNorm(epsilon=-1e-6)),
    Case("layers", "`jn.BatchNorm(momentum=1.5)`", ValueError,
         r"BatchNorm momentum must lie in \[0, 1\], got 1.5",
         lambda tmp: jn.BatchNorm(momentum=1.5)),
    Case("layers", '`jn.Activation("rectifier")`', ValueError,
         "unknown activation 'rectifier'; expected one of",
         lambda tmp: jn.Activation("rectifier")),
    Case("layers", "`jn.Bidirectional(jn.Dense(3))`", TypeError,
         "Bidirectional wraps a SimpleRNN, GRU or LSTM", lambda tmp: jn.Bidirectional(jn.Dense(3))),
    # Building a Sequential.
    Case("layers", "`jn.Sequential(jn.Dense(3))` (a layer, not a list)", TypeError,
         r"Sequential takes a list of layers, got Dense\(.*write Sequential\(\[layer\]\)",
         lambda tmp: jn.Sequential(jn.Dense(3))),
    Case("layers", "`jn.Sequential([jn.Dense])` (a class, not an instance)", TypeError,
         r"got the class Dense itself; create an instance, e.g. Dense\(...\)",
         lambda tmp: jn.Sequential([jn.Dense])),
    Case("layers", "`jn.Sequential([jn.Dense(2), 3])` (not a layer)", TypeError,
         "a layer must be a jaxnet Layer or a function x -> y, got 3",
         lambda tmp: jn.Sequential([jn.Dense(2), 3])),
    Case("layers", "two layers given the same `name`", ValueError,
         r"layer names must be unique within a Sequential; repeated: \['hidden'\]",
         lambda tmp: jn.Sequential([jn.Dense(4, name="hidden"), jn.Dense(2, name="hidden")])),
    Case("layers", "a `jn.Layer` subclass without `@dataclasses.dataclass(frozen=True)`",
         TypeError, r"Scale must be decorated with @dataclasses.dataclass\(frozen=True\)",
         lambda tmp: _undecorated_layer()),
    Case("layers", "a `jn.Layer` subclass decorated with `eq=False`", TypeError,
         "Scale must be decorated with", lambda tmp: _layer_without_equality()),
    # Inputs that do not fit.
    Case("layers", "inputs of another width than at init", jn.ShapeError,
         r"dense_0 \(Dense\): expected inputs of shape \(..., 4\) for a kernel of shape "
         r"\(4, 8\), got shape \(2, 5\)",
         lambda tmp: _mlp(8).apply(_mlp(8).init(jax.random.key(0), jnp.zeros((1, 4)))[0], {},
                                   jnp.zeros((2, 5)))),
    Case("layers", "images `(batch, H, W)` without a channel axis to `Conv2D`", jn.ShapeError,
         r"expected inputs of shape \(batch, height, width, channels\), got shape \(2, 8, 8\)",
         lambda tmp: jn.Conv2D(4, 3).init(jax.random.key(0), jnp.zeros((2, 8, 8)))),
    Case("layers", "`Dense` on inputs with 0 features", jn.ShapeError,
         r"dense_0 \(Dense\): expected inputs of shape \(..., in_features\) with at least one "
         r"feature on the last axis, got shape \(2, 0\)",
         lambda tmp: jn.Sequential([jn.Dense(3)]).init(jax.random.key(0), jnp.zeros((2, 0)))),
    Case("layers", "a Python list given to a jitted `apply`", jn.ShapeError,
         r"dense_0 \(Dense\): expected one array, got a list of numbers, which jax.jit sees as "
         r"2 separate scalars; pass an array, e.g. jnp.asarray\(x\)",
         lambda tmp: jax.jit(_mlp(8).apply)(_mlp(8).init(jax.random.key(0), [[0.0, 0.0]])[0], {},
                                            [[1.0, 2.0]])),
    Case("layers", "a layer too big for memory (`jn.Dense(10**7)` on 10**5 features)",
         jn.LayerError,
         r"dense_0 \(Dense\): its parameters and state need 4.0 TB \(4,000,040,000,000 bytes\), "
         "more than",
         lambda tmp: jn.Sequential([jn.Dense(10**7)]).init(jax.random.key(0),
                                                            jnp.zeros((1, 10**5)))),
    Case("layers", "a kernel wider than the (padded) input", jn.ShapeError,
         r"a window spanning \(7,\) does not fit inputs of spatial shape \(5,\)",
         lambda tmp: _applied(jn.Conv1D(2, 7), jnp.zeros((1, 5, 1)))),
    Case("layers", "a pooling window for images applied to sequences", jn.ShapeError,
         r"window \(2, 2\) is for 2 spatial axes, so it expects inputs of shape "
         r"\(batch, height, width, channels\)",
         lambda tmp: jn.MaxPool((2, 2)).apply({}, {}, jnp.zeros((2, 8, 3)))),
    Case("layers", "a recurrent layer given `(batch, features)`", jn.ShapeError,
         r"expected inputs of shape \(batch, time, features\), got shape \(2, 4\)",
         lambda tmp: jn.GRU(3).init(jax.random.key(0), jnp.zeros((2, 4)))),
    Case("layers", "`Reshape((3, 3))` of examples of 10 values", jn.ShapeError,
         r"cannot reshape examples of shape \(10,\) \(10 values\) to \(3, 3\)",
         lambda tmp: jn.Reshape((3, 3)).apply({}, {}, jnp.zeros((2, 10)))),
    Case("layers", "training with `Dropout` and no `key`", jn.LayerError,
         "dropout draws a random mask in training and needs a key",
         lambda tmp: jn.Dropout(0.5).apply({}, {}, jnp.ones(3), train=True)),
    Case("layers", "`BatchNorm` training on an empty batch", jn.ShapeError,
         r"BatchNorm in training needs a non-empty batch, got inputs of shape \(0, 3\)",
         lambda tmp: _applied(jn.BatchNorm(), jnp.zeros((0, 3)), (1, 3), train=True)),
    Case("layers", "`BatchNorm` training on a batch of one example", UserWarning,
         "the batch variance is 0, every output equals the bias .* batch size > 1",
         lambda tmp: _applied(jn.BatchNorm(), jnp.ones((1, 3)), train=True), warns=True),
    Case("layers", "`run(..., lengths=...)` of another length than the batch", jn.LayerError,
         r"lengths must be integers of shape \(3,\), one per example",
         lambda tmp: jn.LSTM(2).run(
             jn.LSTM(2).init(jax.random.key(0), jnp.zeros((3, 4, 1)))[0], jnp.zeros((3, 4, 1)),
             lengths=jnp.array([1, 2]))),
    # Parameters that do not fit the model.
    Case("layers", "params of a model with other widths (a `Dense(16)` kernel for `Dense(8)`)",
         jn.ShapeError,
         r"dense_0 \(Dense\): params\['w'\] has shape \(4, 16\), but this layer expects "
         r"\(in_features, 8\)", lambda tmp: _other_widths()),
    Case("layers", "params without a layer's entry", jn.LayerError,
         r"dense_1 \(Dense\): params have no entry 'dense_1' for this layer, which holds",
         lambda tmp: _missing_entry()),
    Case("layers", "a layer's params without its kernel `w`", jn.LayerError,
         r"dense_0 \(Dense\): params have no entry 'w'", lambda tmp: _missing_kernel()),
    Case("layers", "state without `BatchNorm`'s running statistics", jn.LayerError,
         r"batchnorm_0 \(BatchNorm\): state has no entry 'mean'",
         lambda tmp: _missing_state()),
    Case("layers", "params with entries that name no layer", jn.LayerError,
         r"params has entries \['a'\] that name no layer of this Sequential",
         lambda tmp: jn.Sequential([jn.Dense(2)]).apply(
             {"a": {"w": jnp.zeros((2, 2))}}, {}, jnp.zeros((1, 2)))),
]
