"""KNN: scikit-learn's predictions, the tie rules, blocked search, cross-validated k, errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

import jaxnet as jn
from jaxnet.classic import knn as knn_module
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
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        jn.classic.KNN(0)
    with pytest.raises(TypeError, match=r"k must be an integer, got 2.5 \(float\)"):
        jn.classic.KNN(2.5)
    with pytest.raises(ValueError, match=r"distance must be one of \('l1', 'l2'\), got 'cosine'"):
        jn.classic.KNN(1, "cosine")
    with pytest.raises(ValueError, match=r"train_block must be an integer >= 1, got 0"):
        jn.classic.KNN(1, train_block=0)
    with pytest.raises(ValueError, match=r"KNN.fit x must hold examples .* got shape \(0, 3\)"):
        jn.classic.KNN(1).fit(np.zeros((0, 3)), np.zeros(0, int))
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
    with pytest.raises(ValueError, match=r"each of ks must be an integer >= 1, got 0"):
        jn.classic.choose_k(x, y, [0, 1])
    with pytest.raises(TypeError, match=r"each of ks must be an integer, got 2.5"):
        jn.classic.choose_k(x, y, [1, 2.5])
    with pytest.raises(ValueError, match=r"ks must hold at least one candidate"):
        jn.classic.choose_k(x, y, [])


def test_numpy_integers_are_accepted_as_k_and_block_sizes():
    x, y = [[0.0], [1.0], [5.0], [6.0]], [0, 0, 1, 1]
    knn = jn.classic.KNN(np.int64(3), query_block=np.int32(2), train_block=np.int64(3))
    assert type(knn.k) is int and knn == jn.classic.KNN(3, query_block=2, train_block=3)
    fitted = knn.fit(x, y)
    np.testing.assert_array_equal(fitted.predict([[0.5], [5.5], [4.0]]), [0, 1, 1])
    # Under strict dtype promotion the shares divide by a Python int, not an int64.
    np.testing.assert_allclose(fitted.predict_proba([[0.5]]), [[2 / 3, 1 / 3]], rtol=1e-6)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "kneighbors"])
def test_nan_or_infinite_queries_are_refused_and_counted(method):
    knn = jn.classic.KNN(1).fit([[0.0, 0.0], [1.0, 1.0]], [0, 1])
    queries = np.array([[0.1, np.nan], [np.inf, 0.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match=rf"KNN.{method} x holds 2 NaN or infinite values "
                                         r"\(of 6\)"):
        getattr(knn, method)(queries)


def test_nan_or_infinite_training_examples_are_refused_and_counted():
    x = np.array([[0.0, 0.0], [np.nan, 1.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match=r"KNN.fit x holds 1 NaN or infinite values \(of 6\)"):
        jn.classic.KNN(1).fit(x, [0, 1, 0])
    # A float64 too large for float32 would become infinite in the search: refused too.
    with pytest.raises(ValueError, match=r"KNN.fit x holds 1 NaN or infinite values"):
        jn.classic.KNN(1).fit(np.array([[0.0], [1e300]]), [0, 1])
    with pytest.raises(ValueError, match=r"choose_k x holds 1 NaN"):
        jn.classic.choose_k(x, [0, 1, 0], [1], folds=3)


def test_a_nan_training_example_would_otherwise_be_every_querys_neighbour():
    # What the check prevents: with a NaN in the training set the search ranks that example
    # first for every query, whatever its distance (NaN compares as the largest score).
    x = np.array([[0.0], [np.nan], [10.0]], np.float32)
    blocks = jnp.asarray(np.pad(x, ((0, 0), (0, 15))).T[None])  # KNN.fit's layout, (1, 16, 3)
    _, indices = nearest(jnp.asarray([[0.0], [10.0]]), blocks, k=1, distance="l1",
                         query_block=2, n_train=3)
    np.testing.assert_array_equal(indices, [[1], [1]])


def test_new_query_counts_reuse_the_compiled_search(monkeypatch):
    # Sizes up to the query block are padded to the next power of two, and more queries are
    # searched a block at a time, so these 7 sizes trace the search 4 times (2, 16, 32, 64).
    counted = jax.jit(chex.assert_max_traces(nearest.__wrapped__, n=4),
                      static_argnames=("k", "distance", "query_block", "n_train"))
    monkeypatch.setattr(knn_module, "nearest", counted)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)).astype(np.float32), rng.integers(0, 3, 50)
    knn = jn.classic.KNN(3, query_block=64).fit(x, y)
    reference = jn.classic.KNN(3, query_block=64).fit(x, y)
    queries = rng.normal(size=(130, 3)).astype(np.float32)
    for count in (2, 10, 13, 16, 20, 64, 130):
        monkeypatch.setattr(knn_module, "nearest", counted)
        predicted = knn.predict(queries[:count])
        distances, indices = knn.kneighbors(queries[:count])
        assert predicted.shape == (count,) and indices.shape == (count, 3)
        monkeypatch.setattr(knn_module, "nearest", nearest)
        exact = np.abs(queries[:count, None, :] - x[None]).sum(-1)
        np.testing.assert_array_equal(indices, np.argsort(exact, axis=1, kind="stable")[:, :3])
        np.testing.assert_allclose(distances, np.sort(exact, axis=1)[:, :3], rtol=1e-5)
        np.testing.assert_array_equal(predicted, reference.predict(queries[:count]))
