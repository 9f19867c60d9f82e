"""Classic baselines: k-nearest neighbours and the linear score-function classifier.

Estimators in the scikit-learn style, but immutable: ``fit`` returns a new, fitted object.

    >>> import jaxnet as jn
    >>> ds = jn.data.load("digits")
    >>> knn = jn.classic.KNN(k=1, distance="l1").fit(ds.x_train, ds.y_train)
    >>> float((knn.predict(ds.x_test) == ds.y_test).mean()) > 0.95
    True
"""

from jaxnet.classic.base import confusion_matrix
from jaxnet.classic.knn import KNN, KChoice, choose_k, vote_counts
from jaxnet.classic.linear import LinearClassifier

__all__ = ["KNN", "KChoice", "LinearClassifier", "choose_k", "confusion_matrix", "vote_counts"]
