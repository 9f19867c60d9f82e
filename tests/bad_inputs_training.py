"""Bad input to training: objective, fit, evaluate, train_step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from bad_inputs import Case

import jaxnet as jn


def _blobs(n=32):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n).astype(np.int32)
    return rng.normal(size=(n, 2)).astype(np.float32) + 2.0 * y[:, None], y


def _setup(width=2):
    model = jn.Sequential([jn.Dense(width)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    return jn.objective(model, jn.losses.softmax_cross_entropy), params, state


def _fit(data=None, optimizer=None, setup=None, **kwargs):
    objective, params, state = setup or _setup()
    arguments = dict(epochs=1, batch_size=8, key=jax.random.key(0), verbose=False)
    arguments.update(kwargs)
    return jn.fit(objective, params, state, optimizer or optax.sgd(0.1),
                  _blobs() if data is None else data, **arguments)


def _with_nan(data):
    x, y = data
    x = x.copy()
    x[3, 1] = np.nan
    return x, y


def _with_label(label):
    x, y = _blobs()
    y = y.copy()
    y[5] = label
    return x, y


def _other_width():
    objective, _, state = _setup(2)
    params, _ = jn.Sequential([jn.Dense(5)]).init(jax.random.key(0), jnp.zeros((1, 2)))
    return objective, params, state


def _missing_layer():
    objective, params, state = _setup()
    return objective, {}, state


def _empty():
    return np.zeros((0, 2), np.float32), np.zeros(0, np.int32)


def _starts_at_nan():
    model = jn.Sequential([jn.Dense(1), lambda z: jnp.log(z - 1e6)])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 2)))
    return jn.objective(model, jn.losses.mse, metrics={}), params, state


def _regression(x, y):
    return x, x[:, :1]


def _images(n=32, channels=1):
    """Digits-like images ``(n, 8, 8, channels)`` and labels 0..9."""
    rng = np.random.default_rng(0)
    return (rng.uniform(size=(n, 8, 8, channels)).astype(np.float32),
            rng.integers(0, 10, n).astype(np.int32))


def _rows(data):
    x, y = data
    return x.reshape(len(x), -1), y


def _setup_for(model, example_shape):
    params, state = model.init(jax.random.key(0), jnp.zeros(example_shape))
    return jn.objective(model, jn.losses.softmax_cross_entropy), params, state


def _mlp_on_rows():
    """An MLP initialised on rows of 64 values, as for digits flattened."""
    return _setup_for(jn.Sequential([jn.Dense(16), jn.relu, jn.Dense(10)]), (1, 64))


def _cnn_on_colour():
    return _setup_for(jn.Sequential([jn.Conv2D(4, 3), jn.relu, jn.Flatten(), jn.Dense(10)]),
                      (1, 8, 8, 3))


def _checkpointed_twice(tmp_path, **second):
    _fit(checkpoint_dir=tmp_path, epochs=1)
    return _fit(checkpoint_dir=tmp_path, epochs=2, **second)


CASES = [
    Case("training", "NaN in the training inputs", ValueError,
         "train_data x holds 1 NaN or infinite values",
         lambda tmp: _fit(_with_nan(_blobs()))),
    Case("training", "NaN in the validation inputs", ValueError,
         "validation_data x holds 1 NaN or infinite values",
         lambda tmp: _fit(validation_data=_with_nan(_blobs()))),
    Case("training", "`fit` given `x` without labels", TypeError,
         "train_data must be a pair \\(x, y\\)", lambda tmp: _fit(_blobs()[0])),
    Case("training", "x and y of different lengths", ValueError,
         "x and y must hold the same number of examples",
         lambda tmp: _fit((_blobs()[0], _blobs()[1][:-1]))),
    Case("training", "an empty training set", ValueError, "train_data is empty",
         lambda tmp: _fit(_empty(), batch_size=1)),
    Case("training", "an empty validation set", ValueError, "validation_data is empty",
         lambda tmp: _fit(validation_data=_empty())),
    Case("training", "a label out of range for the model's outputs", ValueError,
         "train_data: .*labels must be integers in \\[0, 2\\)", lambda tmp: _fit(_with_label(7))),
    Case("training", "a label -1", ValueError, "train_data: .*found -1",
         lambda tmp: _fit(_with_label(-1))),
    Case("training", "one-hot targets of the wrong width", ValueError,
         "got targets of shape \\(32, 3\\)",
         lambda tmp: _fit((_blobs()[0], np.eye(3, dtype=np.float32)[_blobs()[1]]))),
    Case("training", "`epochs=-1`", ValueError, "epochs must be an integer >= 0",
         lambda tmp: _fit(epochs=-1)),
    Case("training", "`epochs=2.0`", TypeError, "epochs must be an integer, got 2.0",
         lambda tmp: _fit(epochs=2.0)),
    Case("training", "`batch_size=0`", ValueError, "batch_size must be an integer >= 1",
         lambda tmp: _fit(batch_size=0)),
    Case("training", "a batch larger than the training set", ValueError,
         "batch_size must be at most the number of training examples \\(32\\)",
         lambda tmp: _fit(batch_size=33)),
    Case("training", "`evaluate(..., batch_size=0)`", ValueError,
         "batch_size must be an integer >= 1",
         lambda tmp: jn.evaluate(*_setup(), _blobs(), batch_size=0)),
    Case("training", "`patience=0`", ValueError, "patience must be an integer >= 1",
         lambda tmp: _fit(patience=0)),
    Case("training", "`epsilon=0`", ValueError, "epsilon must be a finite number > 0",
         lambda tmp: _fit(epsilon=0.0)),
    Case("training", "an integer seed instead of a key", TypeError,
         "key must be a JAX key such as jax.random.key\\(0\\)", lambda tmp: _fit(key=0)),
    Case("training", "`opt_state` made by another optimizer", ValueError,
         "opt_state does not belong to this optimizer",
         lambda tmp: _fit(optimizer=optax.adam(1e-3),
                          opt_state=optax.sgd(0.1, momentum=0.9).init(_setup()[1]))),
    Case("training", "parameters of a model with other widths", ValueError,
         "params\\['dense_0'\\]\\['b'\\] has shape \\(5,\\), but the model makes \\(2,\\)",
         lambda tmp: _fit(setup=_other_width())),
    Case("training", "images `(N, 8, 8, 1)` to a model initialised on rows `(N, 64)`",
         ValueError,
         "train_data: x holds examples of shape \\(8, 8, 1\\), but the parameters were made by "
         "model.init for examples of shape \\(64,\\) .* put jn.Flatten\\(\\) first in the model, "
         "or pass x.reshape\\(len\\(x\\), -1\\)",
         lambda tmp: _fit(_images(), setup=_mlp_on_rows())),
    Case("training", "validation images `(N, 8, 8, 1)`, training rows `(N, 64)`", ValueError,
         "validation_data: x holds examples of shape \\(8, 8, 1\\), but the parameters were made "
         "by model.init for examples of shape \\(64,\\)",
         lambda tmp: _fit(_rows(_images()), setup=_mlp_on_rows(), validation_data=_images())),
    Case("training", "grey images to a CNN initialised on colour ones", ValueError,
         "x holds examples of shape \\(8, 8, 1\\), but the parameters were made by model.init "
         "for examples of shape \\(8, 8, 3\\)",
         lambda tmp: _fit(_images(channels=1), setup=_cnn_on_colour())),
    Case("training", "`(y, x)`: labels and inputs swapped", ValueError,
         "train_data: x and y look swapped: x holds integers of shape \\(32,\\), like labels",
         lambda tmp: _fit(_blobs()[::-1])),
    Case("training", "parameters missing a layer's entry", ValueError,
         "missing params\\['dense_0'\\]", lambda tmp: _fit(setup=_missing_layer())),
    Case("training", "`jn.objective` given a loss that is not a function", TypeError,
         "loss must be a function loss\\(pred, target\\)",
         lambda tmp: jn.objective(jn.Sequential([jn.Dense(2)]), "mse")),
    Case("training", "a softmax layer before `softmax_cross_entropy`", UserWarning,
         "ends in softmax .* takes logits",
         lambda tmp: jn.objective(jn.Sequential([jn.Dense(2), jn.softmax]),
                                  jn.losses.softmax_cross_entropy), warns=True),
    Case("training", "a NaN learning rate", RuntimeWarning,
         "NaN or infinite; returning the parameters after step 0",
         lambda tmp: _fit(optimizer=optax.sgd(float("nan"))), warns=True),
    Case("training", "a model whose loss is NaN at the start", jn.NonFiniteError,
         "not finite at the parameters this call of fit started from",
         lambda tmp: _fit(_regression(*_blobs()), setup=_starts_at_nan())),
    Case("checkpoints", "resuming a run with another batch size", ValueError,
         "holds a run with batch_size=8, but this call has batch_size=16",
         lambda tmp: _checkpointed_twice(tmp, batch_size=16)),
    Case("checkpoints", "resuming a run with another key", ValueError,
         "started with another key",
         lambda tmp: _checkpointed_twice(tmp, key=jax.random.key(1))),
]
