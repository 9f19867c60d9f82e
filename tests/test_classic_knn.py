"""KNN: scikit-learn's predictions, the tie rules, blocked search, cross-validated k, errors."""

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

import jaxnet as jn
from jaxnet.classic.knn import nearest

SKLEARN_METRIC = {"l1": "manhattan", "l2": "euclidean"}


@pytest.fixture(scope="module")
def digits():
    ds = jn.data.load("digits")
    return ds.x_train.reshape(len(ds.x_train), -1), ds.y_train, ds.x_test.reshape(360, -1)


def exact_distances(queries, train, distance):
    """Distances in float64. Digit pixels are multiples of 1/16, so these and the float32 ones
    of the search are exact: equal distances are true ties, not rounding."""
    difference = queries.astype(np.float64)[:, None, :] - train.astype(np.float64)[None, :, :]
    if distance == "l1":
        return np.abs(difference).sum(-1)
    return np.sqrt((difference**2).sum(-1))


@pytest.mark.parametrize("distance", ["l1", "l2"])
@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_predictions_match_sklearn_brute_force(digits, distance, k):
    x, y, queries = digits
    knn = jn.classic.KNN(k, distance).fit(x, y)
    reference = KNeighborsClassifier(k, algorithm="brute", metric=SKLEARN_METRIC[distance])
    reference.fit(x, y)
    # Ties excluded: where the k-th and (k+1)-th nearest distances are equal, the neighbours are
    # not determined by the distances, and scikit-learn's heap may keep a different one of the
    # tied examples than our rule (lower index first). Everywhere else the k nearest are unique.
    distances = np.sort(exact_distances(queries, x, distance), axis=1)
    untied = distances[:, k - 1] < distances[:, k]
    assert untied.mean() >= 0.75  # 72 of 360 queries tie for l1 with k=10, fewer elsewhere
    expected = reference.predict(queries)
    np.testing.assert_array_equal(np.asarray(knn.predict(queries))[untied], expected[untied])
    np.testing.assert_allclose(knn.predict_proba(queries)[untied],
                               reference.predict_proba(queries)[untied])
    _, indices = knn.kneighbors(queries)
    _, expected_indices = reference.kneighbors(queries)
    np.testing.assert_array_equal(np.sort(indices, axis=1)[untied],
                                  np.sort(expected_indices, axis=1)[untied])
    # On the tied queries too, the predictions happen to agree on this data set.
    np.testing.assert_array_equal(knn.predict(queries), expected)


@pytest.mark.parametrize("distance", ["l1", "l2"])
@pytest.mark.parametrize("blocks", [(256, 2048), (7, 100), (360, 1437)])
def test_neighbours_are_sorted_by_distance_then_training_index(digits, distance, blocks):
    x, y, queries = digits
    knn = jn.classic.KNN(10, distance, *blocks).fit(x, y)
    distances, indices = knn.kneighbors(queries)
    exact = exact_distances(queries, x, distance)
    order = np.argsort(exact, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_allclose(distances, np.take_along_axis(exact, order, axis=1), rtol=1e-6)


def test_equal_distances_go_to_the_lower_training_index():
    # The query at 1.0 is 1.0 from both training examples; like scikit-learn, take index 0.
    for x, y in (([[0.0], [2.0]], [1, 0]), ([[2.0], [0.0]], [0, 1])):
        knn = jn.classic.KNN(1).fit(x, y)
        reference = KNeighborsClassifier(1, algorithm="brute", metric="manhattan").fit(x, y)
        assert int(knn.predict([[1.0]])[0]) == reference.predict([[1.0]])[0] == y[0]


def test_a_tied_vote_goes_to_the_smallest_label():
    # Two neighbours, one per class: label 0 wins although the nearest has label 1, as in
    # scikit-learn (the mode takes the first of equal counts).
    x, y = [[0.0], [1.0]], [1, 0]
    for distance in ("l1", "l2"):
        knn = jn.classic.KNN(2, distance).fit(x, y)
        reference = KNeighborsClassifier(2, algorithm="brute", metric=SKLEARN_METRIC[distance])
        assert int(knn.predict([[0.4]])[0]) == reference.fit(x, y).predict([[0.4]])[0] == 0
        np.testing.assert_array_equal(knn.predict_proba([[0.4]]), [[0.5, 0.5]])


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_block_sizes_do_not_change_the_result(distance):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(203, 5, 7)).astype(np.float32)  # 35 features, not a multiple of 16
    y = rng.integers(0, 4, 203)
    queries = rng.normal(size=(37, 5, 7)).astype(np.float32)
    results = [jn.classic.KNN(6, distance, *blocks).fit(x, y).kneighbors(queries)
               for blocks in ((256, 2048), (1, 1), (5, 64), (37, 203), (10, 50))]
    for distances, indices in results[1:]:
        np.testing.assert_array_equal(indices, results[0][1])
        np.testing.assert_allclose(distances, results[0][0], rtol=1e-5)
    flat = x.reshape(203, -1)
    exact = exact_distances(queries.reshape(37, -1), flat, distance)
    np.testing.assert_array_equal(results[0][1], np.argsort(exact, axis=1)[:, :6])


def test_the_search_never_holds_the_whole_distance_matrix():
    x = np.random.default_rng(0).random((4000, 64), dtype=np.float32)
    knn = jn.classic.KNN(5, "l1", query_block=128, train_block=512).fit(x, np.zeros(4000, int))
    queries = jnp.asarray(x[:2000])
    compiled = nearest.lower(queries, knn.memory.blocks, k=5, distance="l1", query_block=128,
                             n_train=4000).compile()
    full_matrix = 2000 * 4000 * 4
    assert compiled.memory_analysis().temp_size_in_bytes < full_matrix / 10


def test_probabilities_are_vote_shares():
    ds = jn.data.load("digits")
    proba = np.asarray(jn.classic.KNN(5).fit(ds.x_train, ds.y_train).predict_proba(ds.x_test))
    assert proba.shape == (360, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(proba * 5, np.round(proba * 5), atol=1e-5)


def test_fit_returns_a_new_estimator_and_accepts_images():
    ds = jn.data.load("digits")
    knn = jn.classic.KNN(3)
    fitted = knn.fit(ds.x_train, ds.y_train)
    assert knn.memory is None and fitted.memory is not None
    assert fitted == knn  # the same description; the training set is not compared
    flat = jn.classic.KNN(3).fit(ds.x_train.reshape(1437, -1), ds.y_train)
    np.testing.assert_array_equal(fitted.predict(ds.x_test),
                                  flat.predict(ds.x_test.reshape(360, -1)))


def test_choose_k_scores_each_k_as_its_own_knn_would():
    ds = jn.data.load("digits")
    x, y = ds.x_train[:40], ds.y_train[:40]
    # With one fold per example (leave-one-out) the folds are the same for every seed.
    choice = jn.classic.choose_k(x, y, [5, 1, 3], folds=40)
    assert choice.ks == (1, 3, 5) and choice.accuracy.shape == (3, 40)
    for row, k in enumerate(choice.ks):
        rest = [jn.classic.KNN(k).fit(np.delete(x, i, 0), np.delete(y, i)) for i in range(40)]
        hits = [int(knn.predict(x[i:i + 1])[0]) == y[i] for i, knn in enumerate(rest)]
        assert choice.accuracy[row].sum() == sum(hits)
    best = np.flatnonzero(choice.mean_accuracy == choice.mean_accuracy.max())[0]
    assert choice.k == choice.ks[best]


def test_choose_k_on_digits_prefers_few_neighbours():
    ds = jn.data.load("digits")
    choice = jn.classic.choose_k(ds.x_train, ds.y_train, [1, 3, 5, 50], folds=3)
    assert choice.k in (1, 3, 5) and choice.mean_accuracy[-1] < choice.mean_accuracy.max()
    assert np.all(choice.accuracy > 0.85)


def test_bad_arguments_are_clear_errors():
    x, y = np.zeros((5, 3), np.float32), np.array([0, 1, 0, 1, 2])
    with pytest.raises(ValueError, match=r"k must be a positive integer, got k=0"):
        jn.classic.KNN(0)
    with pytest.raises(ValueError, match=r"k must be a positive integer, got k=2.5"):
        jn.classic.KNN(2.5)
    with pytest.raises(ValueError, match=r"distance must be one of \('l1', 'l2'\), got 'cosine'"):
        jn.classic.KNN(1, "cosine")
    with pytest.raises(ValueError, match=r"train_block must be a positive integer"):
        jn.classic.KNN(1, train_block=0)
    with pytest.raises(ValueError, match=r"k=6 exceeds the 5 training examples; k must lie in"):
        jn.classic.KNN(6).fit(x, y)
    with pytest.raises(RuntimeError, match=r"this KNN is not fitted: call KNN\(...\).fit"):
        jn.classic.KNN(1).predict(x)
    fitted = jn.classic.KNN(1).fit(x, y)
    with pytest.raises(ValueError, match=r"examples of shape \(4,\), but the classifier was "
                                         r"fitted on examples of shape \(3,\)"):
        fitted.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"x must hold examples on its first axis"):
        fitted.predict(np.zeros(3))
    with pytest.raises(ValueError, match=r"y must hold one integer label per example, shape"):
        jn.classic.KNN(1).fit(x, y[:4])
    with pytest.raises(ValueError, match=r"y must hold one integer label per example"):
        jn.classic.KNN(1).fit(x, y.astype(float))
    with pytest.raises(ValueError, match=r"labels must be class indices 0, 1, ..., got label -1"):
        jn.classic.KNN(1).fit(x, y - 1)
    with pytest.raises(ValueError, match=r"ks: the largest k=5 does not fit a fold: k=5 exceeds"):
        jn.classic.choose_k(x, y, [1, 5], folds=5)
    with pytest.raises(ValueError, match=r"folds must be an integer from 2 to the 5 examples"):
        jn.classic.choose_k(x, y, [1], folds=1)
    with pytest.raises(ValueError, match=r"ks must hold positive integers"):
        jn.classic.choose_k(x, y, [0, 1])
