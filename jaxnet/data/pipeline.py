"""Input-pipeline helpers: one-hot labels, standardisation, shuffled splits and batches."""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet.validation import finite_data, positive_int


def one_hot(labels, num_classes: int, dtype=jnp.float32) -> jax.Array:
    """One-hot encodes integer labels with ``jax.nn.one_hot``.

    Concrete labels (NumPy values, or JAX arrays outside ``jit``) are checked first: a label
    outside ``[0, num_classes)`` is an error rather than the all-zero row ``jax.nn.one_hot`` gives.
    Traced labels inside ``jit`` cannot be checked and follow ``jax.nn.one_hot``.

    Args:
        labels: integer class indices of any shape ``S``.
        num_classes: the number of classes ``C``.
        dtype: the output dtype.

    Returns:
        An array of shape ``S + (C,)``.

    Example:
        >>> import numpy as np, jaxnet as jn
        >>> jn.data.one_hot(np.array([0, 2]), 3)
        Array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    num_classes = positive_int(num_classes, "num_classes")
    try:
        values = np.asarray(labels)
    except jax.errors.TracerArrayConversionError:
        values = None
    if values is not None:
        if not np.issubdtype(values.dtype, np.integer):
            raise TypeError(f"one_hot needs integer labels, got dtype {values.dtype}")
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"labels must lie in [0, {num_classes}) for {num_classes} classes, "
                             f"got values from {values.min()} to {values.max()}")
    return jax.nn.one_hot(labels, num_classes, dtype=dtype)


def standardize(train, *others) -> tuple[np.ndarray, ...]:
    """Shifts and scales each feature to mean 0 and standard deviation 1 on the training split.

    The mean and standard deviation of every feature (every position of one example: a pixel of a
    channel, a coordinate) come from ``train`` alone and are applied to ``train`` and to each of
    ``others`` (validation and test splits), so no information leaks from held-out data. A feature
    that is constant in training is only shifted (its standard deviation counts as 1). To
    standardise data that comes later, pass it again beside the same training array.

    Args:
        train: training inputs ``(N, *feature_shape)``.
        *others: further arrays ``(M, *feature_shape)`` to transform with the same statistics.

    Returns:
        A tuple of NumPy arrays, ``train`` first and then ``others`` in order, each of the input's
        floating dtype (float32 for integer inputs).

    Example:
        >>> import numpy as np, jaxnet as jn
        >>> train, test = jn.data.standardize(np.array([[0.0, 5.0], [2.0, 5.0]]),
        ...                                   np.array([[4.0, 6.0]]))
        >>> train.tolist(), test.tolist()
        ([[-1.0, 0.0], [1.0, 0.0]], [[3.0, 1.0]])
    """
    train = np.asarray(train)
    if train.ndim < 1 or len(train) == 0:
        raise ValueError(f"standardize needs training examples (N, ...) with N >= 1, got shape "
                         f"{train.shape}")
    dtype = train.dtype if np.issubdtype(train.dtype, np.floating) else np.dtype(np.float32)
    mean = train.mean(axis=0, dtype=np.float64)
    std = train.std(axis=0, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    arrays = [train, *(np.asarray(a) for a in others)]
    for index, array in enumerate(arrays[1:], start=1):
        if array.shape[1:] != train.shape[1:]:
            raise ValueError(f"array {index} has examples of shape {array.shape[1:]} but the "
                             f"training examples have shape {train.shape[1:]}")
    for index, array in enumerate(arrays):
        finite_data(array, "standardize: train" if index == 0 else f"standardize: array {index}")
    return tuple(((a - mean) / std).astype(dtype) for a in arrays)


def split(x, y, fraction: float, *, seed: int = 0) -> tuple[tuple, tuple]:
    """Splits examples at random into two parts, e.g. training and validation.

    Args:
        x: inputs ``(N, ...)``.
        y: labels or targets ``(N, ...)``.
        fraction: the share of examples in the second part, strictly between 0 and 1; it
            holds ``round(fraction * N)``, which must leave both parts non-empty.
        seed: seeds the shuffle, so a seed always gives the same split.

    Returns:
        ``((x_first, y_first), (x_second, y_second))``.

    Example:
        >>> import numpy as np, jaxnet as jn
        >>> (x_tr, y_tr), (x_val, y_val) = jn.data.split(np.zeros((10, 3)), np.arange(10), 0.2)
        >>> x_tr.shape, x_val.shape
        ((8, 3), (2, 3))
    """
    n = _paired_length(x, y)
    real = isinstance(fraction, (numbers.Real, np.floating, np.integer))
    if isinstance(fraction, bool) or not real or not 0 < fraction < 1:
        raise ValueError(f"fraction must be a number strictly between 0 and 1 (the share of "
                         f"examples in the second part), got {fraction!r}")
    count = round(fraction * n)
    if not 0 < count < n:
        raise ValueError(f"fraction={fraction} of {n} examples gives parts of {n - count} and "
                         f"{count}; both must be non-empty")
    order = np.random.default_rng(seed).permutation(n)
    first, second = order[count:], order[:count]
    return (x[first], y[first]), (x[second], y[second])


def batches(
    x, y, batch_size: int, *, key: jax.Array | None = None, drop_last: bool = True
) -> Iterator[tuple[jax.Array, jax.Array]]:
    """Iterates over ``(x, y)`` in batches placed on the default device.

    Args:
        x: inputs ``(N, ...)``, NumPy or JAX.
        y: labels or targets ``(N, ...)``.
        batch_size: examples per batch, an integer >= 1.
        key: a JAX key that shuffles the order (one permutation per call); ``None`` keeps it.
        drop_last: skip the final incomplete batch, so every batch has the same shape (one
            compilation of a jitted step). With ``False`` the last batch is smaller; nothing is
            padded.

    Returns:
        An iterator of ``(x_batch, y_batch)`` JAX arrays.

    Example:
        >>> import jax, numpy as np, jaxnet as jn
        >>> x, y = np.zeros((10, 3)), np.arange(10)
        >>> [xb.shape for xb, yb in jn.data.batches(x, y, 4, key=jax.random.key(0))]
        [(4, 3), (4, 3)]
        >>> [len(yb) for xb, yb in jn.data.batches(x, y, 4, drop_last=False)]
        [4, 4, 2]
    """
    n = _paired_length(x, y)
    batch_size = positive_int(batch_size, "batch_size")
    if drop_last and batch_size > n:
        raise ValueError(f"batch_size={batch_size} exceeds the {n} examples, so drop_last=True "
                         f"would give no batch")
    order = np.arange(n) if key is None else np.asarray(jax.random.permutation(key, n))
    stop = n - n % batch_size if drop_last else n

    def generate():
        for start in range(0, stop, batch_size):
            index = order[start:start + batch_size]
            yield jnp.asarray(x[index]), jnp.asarray(y[index])

    return generate()


def _paired_length(x, y) -> int:
    if len(x) != len(y):
        raise ValueError(f"x holds {len(x)} examples but y holds {len(y)}")
    return len(x)
