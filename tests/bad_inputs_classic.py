"""Bad inputs of the classic baselines (k-nearest neighbours, the shared checks), with the errors
they must give."""

from __future__ import annotations

import numpy as np
from bad_inputs import Case

import jaxnet as jn

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [6.0, 5.0]], np.float32)
Y = np.array([0, 0, 1, 1, 2])


def _with_nan(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[1, 0], x[3, 1] = np.nan, np.inf
    return x


def _fitted() -> jn.classic.KNN:
    return jn.classic.KNN(1).fit(X, Y)


CASES = [
    Case("classic", "`KNN(k=0)`", ValueError,
         "k must be an integer >= 1, got 0",
         lambda tmp: jn.classic.KNN(0)),
    Case("classic", "`KNN(k=2.5)`", TypeError,
         "k must be an integer, got 2.5",
         lambda tmp: jn.classic.KNN(2.5)),
    Case("classic", '`KNN(distance="cosine")`', ValueError,
         "distance must be one of \\('l1', 'l2'\\), got 'cosine'",
         lambda tmp: jn.classic.KNN(1, "cosine")),
    Case("classic", "`KNN(query_block=0)`", ValueError,
         "query_block must be an integer >= 1, got 0",
         lambda tmp: jn.classic.KNN(1, query_block=0)),
    Case("classic", "`KNN(k=6).fit` on 5 training examples", ValueError,
         "k=6 exceeds the 5 training examples; k must lie in \\[1, 5\\]",
         lambda tmp: jn.classic.KNN(6).fit(X, Y)),
    Case("classic", "`KNN.fit` on an empty training set", ValueError,
         "KNN.fit x must hold examples on its first axis, .* with N >= 1, got shape \\(0, 2\\)",
         lambda tmp: jn.classic.KNN(1).fit(X[:0], Y[:0])),
    Case("classic", "`KNN.fit` with training examples holding NaN or infinite values", ValueError,
         "KNN.fit x holds 2 NaN or infinite values \\(of 10\\)",
         lambda tmp: jn.classic.KNN(1).fit(_with_nan(X), Y)),
    Case("classic", "`KNN.fit` with 5 examples and 4 labels", ValueError,
         "y must hold one integer label per example, shape \\(5,\\), got int64 of shape \\(4,\\)",
         lambda tmp: jn.classic.KNN(1).fit(X, Y[:4])),
    Case("classic", "`KNN.fit` with labels of shape (N, 1)", ValueError,
         "y must hold one integer label per example, shape \\(5,\\)",
         lambda tmp: jn.classic.KNN(1).fit(X, Y[:, None])),
    Case("classic", "`KNN.fit` with float labels", ValueError,
         "y must hold one integer label per example",
         lambda tmp: jn.classic.KNN(1).fit(X, Y.astype(float))),
    Case("classic", "`KNN.fit` with a negative label", ValueError,
         "labels must be class indices 0, 1, ..., got label -1",
         lambda tmp: jn.classic.KNN(1).fit(X, Y - 1)),
    Case("classic", "`KNN.predict` before `fit`", RuntimeError,
         "this KNN is not fitted: call KNN\\(...\\).fit\\(x, y\\) and use the object it returns",
         lambda tmp: jn.classic.KNN(1).predict(X)),
    Case("classic", "`KNN.predict` of queries holding NaN or infinite values", ValueError,
         "KNN.predict x holds 2 NaN or infinite values \\(of 10\\)",
         lambda tmp: _fitted().predict(_with_nan(X))),
    Case("classic", "`KNN.kneighbors` of queries holding NaN", ValueError,
         "KNN.kneighbors x holds 2 NaN or infinite values",
         lambda tmp: _fitted().kneighbors(_with_nan(X))),
    Case("classic", "`KNN.predict` of queries of another shape than the training examples",
         ValueError,
         "holds examples of shape \\(3,\\), but the classifier was fitted on examples of shape "
         "\\(2,\\)",
         lambda tmp: _fitted().predict(np.zeros((4, 3)))),
    Case("classic", "`KNN.predict` of one example without a batch axis", ValueError,
         "KNN.predict x must hold examples on its first axis",
         lambda tmp: _fitted().predict(X[0])),
    Case("classic", "`choose_k(..., folds=1)`", ValueError,
         "folds must be an integer from 2 to the 5 examples, got 1",
         lambda tmp: jn.classic.choose_k(X, Y, [1], folds=1)),
    Case("classic", "`choose_k(..., ks=[0, 1])`", ValueError,
         "each of ks must be an integer >= 1, got 0",
         lambda tmp: jn.classic.choose_k(X, Y, [0, 1])),
    Case("classic", "`choose_k` with a candidate k larger than a fold's training part",
         ValueError,
         "ks: the largest k=5 does not fit a fold: k=5 exceeds the 4 training examples",
         lambda tmp: jn.classic.choose_k(X, Y, [1, 5], folds=5)),
    Case("classic", "`confusion_matrix` with a label outside the classes", ValueError,
         "labels must lie in \\[0, 3\\), got values from 0 to 3",
         lambda tmp: jn.classic.confusion_matrix([0, 3], [0, 1], 3)),
]
