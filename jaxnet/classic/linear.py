"""The linear score-function classifier: ``f(x) = W x + b``, one score per class.

The source material's step from nearest neighbours to learning: a score per class that is linear
in the pixels, trained with the multi-class SVM loss or the softmax cross-entropy plus an L2
penalty on ``W``. Here it is the model ``Sequential([Flatten(), Dense(C)])`` trained by
[`jaxnet.fit`][jaxnet.training.fit.fit], so the losses, the penalty and the training loop are the
library's own.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnet import losses, regularizers
from jaxnet.classic.base import check_example_shape, check_fitted, host_examples, labels_for
from jaxnet.core import Params
from jaxnet.layers import Dense, Flatten, Sequential
from jaxnet.objective import Objective, objective
from jaxnet.training import fit

LOSSES = {"svm": losses.multiclass_hinge, "softmax": losses.softmax_cross_entropy}


@dataclasses.dataclass(frozen=True)
class LinearClassifier:
    """A linear classifier, an immutable estimator in the scikit-learn style.

    The scores of an example ``x`` (flattened to ``D`` values) are ``x @ w + b`` with ``w`` of
    shape ``(D, C)``: the source's ``W x + b`` with ``W = w.T``, row ``c`` of ``W`` being class
    ``c``'s template. ``fit`` minimises the mean loss plus ``l2 * 1/2 * sum w^2`` (the bias is not
    penalised) with Adam over shuffled mini-batches, and returns a new, fitted classifier.

    Args:
        loss: ``"svm"`` (the multi-class hinge loss with margin 1) or ``"softmax"`` (the
            softmax cross-entropy).
        l2: the strength lambda of the L2 penalty on ``w``, ``>= 0``.
        learning_rate: Adam's step size.
        epochs: passes over the training set.
        batch_size: examples per step (the whole set when it is smaller).
        seed: seeds the initial weights and the shuffling.
        params: the parameters ``{"dense_0": {"w": (D, C), "b": (C,)}}``, set by ``fit``; pass
            them to evaluate given weights.
        example_shape: the shape of one example, set by ``fit`` (or with ``params``).

    Example:
        >>> import jaxnet as jn
        >>> ds = jn.data.load("digits")
        >>> clf = jn.classic.LinearClassifier("softmax", epochs=20).fit(ds.x_train, ds.y_train)
        >>> float((clf.predict(ds.x_test) == ds.y_test).mean()) > 0.9
        True
        >>> clf.templates().shape  # one 8x8 picture per class, in [0, 1]
        (10, 8, 8, 1)
    """

    loss: str = "softmax"
    l2: float = 0.0
    learning_rate: float = 1e-2
    epochs: int = 50
    batch_size: int = 128
    seed: int = 0
    params: Params | None = dataclasses.field(default=None, repr=False, compare=False)
    example_shape: tuple[int, ...] | None = dataclasses.field(default=None, repr=False,
                                                              compare=False)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {self.loss!r}")
        if not self.l2 >= 0:
            raise ValueError(f"l2 must be a strength >= 0, got l2={self.l2!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if (self.params is None) != (self.example_shape is None):
            raise ValueError("params and example_shape are set together (by fit), or neither")

    @property
    def num_classes(self) -> int:
        """The number of classes ``C``, read from the fitted parameters."""
        check_fitted(self, self.params is not None)
        return self.params["dense_0"]["b"].shape[0]

    def fit(self, x, y, num_classes: int | None = None) -> LinearClassifier:
        """Trains ``w`` and ``b`` from a random start; returns the fitted classifier.

        Args:
            x: training examples ``(N, ...)``, cast to float32 and flattened.
            y: integer class labels ``(N,)``.
            num_classes: ``C``; ``max(y) + 1`` by default.
        """
        x = host_examples(x)
        labels, seen = labels_for(x, y)
        num_classes = seen if num_classes is None else num_classes
        if num_classes < max(seen, 2):
            raise ValueError(
                f"num_classes={num_classes} must be at least 2 and cover the labels 0..{seen - 1}"
            )
        init_key, fit_key = jax.random.split(jax.random.key(self.seed))
        params, state = _model(num_classes).init(init_key, x[:1])
        result = fit(_objective(self, num_classes), params, state,
                     optax.adam(self.learning_rate), (x, labels), epochs=self.epochs,
                     batch_size=min(self.batch_size, len(x)), key=fit_key, verbose=False)
        return dataclasses.replace(self, params=result.params, example_shape=tuple(x.shape[1:]))

    def scores(self, x) -> jax.Array:
        """The class scores ``x @ w + b``, float32 ``(N, C)``."""
        check_fitted(self, self.params is not None)
        x = host_examples(x)
        check_example_shape(x, self.example_shape)
        return _model(self.num_classes).apply(self.params, {}, x)[0]

    def predict(self, x) -> jax.Array:
        """The class of highest score, int32 ``(N,)``."""
        return jnp.argmax(self.scores(x), axis=-1).astype(jnp.int32)

    def loss_value(self, x, y) -> jax.Array:
        """The objective at the current parameters: the mean loss over ``(x, y)`` plus the
        penalty.

        Example (the source's three samples; their scores are the rows of ``w`` when ``x`` is
        the identity):
            >>> import jax.numpy as jnp, jaxnet as jn
            >>> w = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
            >>> clf = jn.classic.LinearClassifier(
            ...     "svm", params={"dense_0": {"w": w, "b": jnp.zeros(3)}}, example_shape=(3,))
            >>> round(float(clf.loss_value(jnp.eye(3), jnp.array([0, 1, 2]))), 2)
            5.27
        """
        check_fitted(self, self.params is not None)
        x = host_examples(x)
        check_example_shape(x, self.example_shape)
        labels, _ = labels_for(x, y)
        value, _ = _objective(self, self.num_classes)(self.params, {}, (x, labels), train=False)
        return value

    def templates(self, image_shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The rows of ``W`` as pictures, one per class: shape ``(C, *image_shape)``.

        All templates share one scale, the smallest weight mapped to 0 and the largest to 1,
        so that they compare with each other and show as images.

        Args:
            image_shape: the shape to give each row, e.g. ``(32, 32, 3)`` for CIFAR-10 images
                fitted as flat vectors; the shape of the training examples by default.
        """
        check_fitted(self, self.params is not None)
        w = np.asarray(self.params["dense_0"]["w"]).T
        shape = self.example_shape if image_shape is None else tuple(image_shape)
        if int(np.prod(shape)) != w.shape[1]:
            raise ValueError(
                f"image_shape {shape} holds {int(np.prod(shape))} values, but each template has "
                f"{w.shape[1]}"
            )
        low, high = w.min(), w.max()
        scaled = (w - low) / (high - low) if high > low else np.zeros_like(w)
        return scaled.reshape(len(w), *shape)


def _model(num_classes: int) -> Sequential:
    return Sequential([Flatten(), Dense(num_classes)])


def _objective(classifier: LinearClassifier, num_classes: int) -> Objective:
    """The classifier's loss of the scores, plus its L2 penalty on ``w`` when ``l2 > 0``."""
    penalty = regularizers.l2(classifier.l2) if classifier.l2 else None
    return objective(_model(num_classes), LOSSES[classifier.loss], penalty)
