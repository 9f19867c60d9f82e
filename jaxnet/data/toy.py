"""Two-dimensional toy problems for decision-boundary studies: moons, circles, spirals, xor.

Each is drawn from a seeded NumPy generator, classes balanced, and split at random (by the same
seed) into 80 % training and 20 % test examples. Inputs are float32 ``(N, 2)``, labels int32.
"""

from __future__ import annotations

import numpy as np

from jaxnet.data.dataset import Dataset
from jaxnet.data.pipeline import split
from jaxnet.validation import nonnegative_number, positive_int

TEST_FRACTION = 0.2


def load_moons(*, n_samples: int = 1000, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles (as scikit-learn's ``make_moons``).

    Args:
        n_samples: examples in all, before the split.
        noise: standard deviation of Gaussian noise added to each coordinate.
        seed: seeds the points, the noise and the split.

    Example:
        >>> import jaxnet as jn
        >>> ds = jn.data.load("moons", n_samples=100)
        >>> ds.x_train.shape, ds.x_test.shape, ds.class_names
        ((80, 2), (20, 2), ('0', '1'))
    """
    rng = np.random.default_rng(seed)
    counts = _class_counts(n_samples, noise, 2)
    upper = np.pi * rng.random(counts[0])
    lower = np.pi * rng.random(counts[1])
    x = np.concatenate([np.stack([np.cos(upper), np.sin(upper)], axis=1),
                        np.stack([1 - np.cos(lower), 0.5 - np.sin(lower)], axis=1)])
    return _finish("moons", x + noise * rng.standard_normal(x.shape), counts, seed)


def load_circles(*, n_samples: int = 1000, noise: float = 0.05, seed: int = 0) -> Dataset:
    """A circle of radius 0.5 (class 1) inside a circle of radius 1 (class 0).

    Args:
        n_samples: examples in all, before the split.
        noise: standard deviation of Gaussian noise added to each coordinate.
        seed: seeds the points, the noise and the split.
    """
    rng = np.random.default_rng(seed)
    counts = _class_counts(n_samples, noise, 2)
    angles = [2 * np.pi * rng.random(n) for n in counts]
    x = np.concatenate([radius * np.stack([np.cos(a), np.sin(a)], axis=1)
                        for radius, a in zip((1.0, 0.5), angles, strict=True)])
    return _finish("circles", x + noise * rng.standard_normal(x.shape), counts, seed)


def load_spirals(*, n_samples: int = 900, noise: float = 0.2, seed: int = 0) -> Dataset:
    """Three spiral arms winding out from the centre, one class each (CS231n's spiral data).

    Along arm ``k`` the radius grows from 0 to 1 while the angle runs over ``[4k, 4k + 4]``.

    Args:
        n_samples: examples in all, before the split.
        noise: standard deviation of Gaussian noise added to the angle, in radians.
        seed: seeds the noise and the split.
    """
    rng = np.random.default_rng(seed)
    counts = _class_counts(n_samples, noise, 3)
    arms = []
    for k, n in enumerate(counts):
        radius = np.linspace(0.0, 1.0, n)
        angle = np.linspace(4.0 * k, 4.0 * (k + 1), n) + noise * rng.standard_normal(n)
        arms.append(radius[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1))
    return _finish("spirals", np.concatenate(arms), counts, seed)


def load_xor(*, n_samples: int = 1000, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Points in the square ``[-1, 1]^2``, class 1 where the two coordinates differ in sign.

    The classes are the four quadrants taken diagonally, which no line separates. Labels come
    from the clean points; the noise is added after.

    Args:
        n_samples: examples in all, before the split.
        noise: standard deviation of Gaussian noise added to each coordinate.
        seed: seeds the points, the noise and the split.
    """
    rng = np.random.default_rng(seed)
    counts = _class_counts(n_samples, noise, 2)
    same = rng.uniform(0.0, 1.0, (counts[0], 2)) * rng.choice([-1.0, 1.0], (counts[0], 1))
    differ = rng.uniform(0.0, 1.0, (counts[1], 2)) * rng.choice([-1.0, 1.0], (counts[1], 1))
    x = np.concatenate([same, differ * np.array([1.0, -1.0])])
    return _finish("xor", x + noise * rng.standard_normal(x.shape), counts, seed)


def _class_counts(n_samples: int, noise: float, num_classes: int) -> list[int]:
    """Examples per class, balanced; checks the options every set shares."""
    nonnegative_number(noise, "noise")
    n_samples = positive_int(n_samples, "n_samples")
    if n_samples < 2 * num_classes:
        raise ValueError(f"n_samples must be at least {2 * num_classes} for {num_classes} "
                         f"classes, got {n_samples}")
    return [n_samples // num_classes + (k < n_samples % num_classes) for k in range(num_classes)]


def _finish(name: str, x: np.ndarray, counts: list[int], seed: int) -> Dataset:
    y = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    (x_train, y_train), (x_test, y_test) = split(x.astype(np.float32), y, TEST_FRACTION, seed=seed)
    names = tuple(str(k) for k in range(len(counts)))
    return Dataset(name, x_train, y_train, x_test, y_test, names)
