"""The Dataset type that every loader returns."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxnet.validation import count_nonfinite


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled data set with a fixed train / test split, held as NumPy arrays on the host.

    Images are float32 in ``[0, 1]`` in NHWC layout (``raw=True`` loaders give uint8); labels are
    int32 class indices of shape ``(N,)``. Every value is finite: a NaN or infinity in the arrays
    is refused with a ValueError (from a loader, it would mean a corrupt file).

    Attributes:
        name: the name [`jaxnet.data.load`][jaxnet.data.registry.load] knows the set by, e.g.
            ``"digits"``.
        x_train: training inputs, shape ``(N_train, *input_shape)``.
        y_train: training labels, int32 of shape ``(N_train,)``.
        x_test: test inputs, shape ``(N_test, *input_shape)``.
        y_test: test labels, int32 of shape ``(N_test,)``.
        class_names: one readable name per class, indexed by label.

    Example:
        >>> import numpy as np, jaxnet as jn
        >>> ds = jn.data.Dataset("tiny", np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1]),
        ...                      np.zeros((2, 2), np.float32), np.array([1, 0]), ("a", "b"))
        >>> ds.num_classes, ds.input_shape
        (2, (2,))
        >>> ds
        Dataset(name='tiny', train=(4, 2) float32, test=(2, 2) float32, classes=2)
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self):
        for split, x, y in (("train", self.x_train, self.y_train),
                            ("test", self.x_test, self.y_test)):
            if len(x) != len(y):
                raise ValueError(f"{self.name}: {split} inputs hold {len(x)} examples but "
                                 f"{split} labels hold {len(y)}")
        for field in ("x_train", "y_train", "x_test", "y_test"):
            bad = count_nonfinite(getattr(self, field))
            if bad:
                raise ValueError(
                    f"{self.name}: {field} holds {bad} NaN or infinite values (of "
                    f"{np.size(getattr(self, field))}); a data set holds finite values only, so "
                    f"the file it was read from is corrupt (or the arrays given are)")
        object.__setattr__(self, "class_names", tuple(self.class_names))

    @property
    def num_classes(self) -> int:
        """The number of classes, ``len(class_names)``."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one example, e.g. ``(28, 28, 1)``."""
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, train={self.x_train.shape} {self.x_train.dtype}, "
                f"test={self.x_test.shape} {self.x_test.dtype}, classes={self.num_classes})")
