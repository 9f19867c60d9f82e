"""scikit-learn's handwritten digits (1,797 8x8 images), bundled with the package: no download."""

from __future__ import annotations

import numpy as np

from jaxnet.data.dataset import Dataset

TEST_SIZE = 360
SPLIT_SEED = 0


def load_digits(*, raw: bool = False) -> Dataset:
    """The digits set with a fixed, class-stratified split of 1,437 training and 360 test images.

    Args:
        raw: give the original integer pixel values 0..16 as uint8 instead of float32 in
            ``[0, 1]`` (the values divided by 16).

    Returns:
        A [`Dataset`][jaxnet.data.dataset.Dataset] of images ``(N, 8, 8, 1)``, labels int32
        0..9, class names "0".."9".

    Example:
        >>> from jaxnet.data.digits import load_digits
        >>> ds = load_digits()
        >>> ds.x_train.shape, ds.x_train.dtype, float(ds.x_train.max())
        ((1437, 8, 8, 1), dtype('float32'), 1.0)
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = bunch.images.astype(np.uint8)[..., None]
    x = images if raw else images.astype(np.float32) / np.float32(16.0)
    y = bunch.target.astype(np.int32)
    test = stratified_indices(y, TEST_SIZE, SPLIT_SEED)
    train = np.setdiff1d(np.arange(len(y)), test)
    names = tuple(str(i) for i in range(10))
    return Dataset("digits", x[train], y[train], x[test], y[test], names)


def stratified_indices(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` example indices drawn at random so that each class keeps its share of the set.

    Each example is ranked by its position within its class in a seeded shuffle, as a fraction
    of the class size; taking the ``count`` lowest fractions spreads the draw evenly over classes.
    """
    order = np.random.default_rng(seed).permutation(len(labels))
    fraction = np.empty(len(labels))
    for label in np.unique(labels):
        members = order[labels[order] == label]
        fraction[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.sort(np.argsort(fraction, kind="stable")[:count])
