"""k-nearest neighbours: the source material's first image classifier.

An example is classified by the majority label of the ``k`` training examples nearest to it, under
the L1 distance ``sum |a - b|`` (the source's choice) or the L2 distance ``sqrt(sum (a - b)^2)``.
"Training" only stores the examples; all the work is the search at prediction time, which runs
compiled on the default device in blocks, so that its memory stays bounded whatever the sizes:

* the queries are taken ``query_block`` at a time (``lax.map``), and for each block the training
  set is scanned ``train_block`` examples at a time (``lax.scan``), keeping a running list of the
  ``k`` best candidates that each training block is merged into with ``lax.top_k``; no more than
  a ``query_block x train_block`` tile of distances exists at once;
* L2 distances use the expansion ``|a|^2 - 2 a.b + |b|^2``: one matrix product per tile ranks
  the candidates (fast, but in float32 two distances closer than about 1e-6 of ``|a|^2`` may
  swap places);
* L1 distances accumulate ``|a - b|`` over the features in chunks of 16 into that tile.

The queries are searched ``query_block`` at a time, and a last, smaller block is padded to the
next power of two, so that a new number of queries reuses a search compiled before: a fitted
KNN compiles at most ``ceil(log2(query_block)) + 1`` searches, whatever sizes it is asked about.
Training and query values must be finite (a NaN training example would be every query's nearest).

Ties follow scikit-learn's brute-force search: among equal distances the lower training index
comes first, and a tied vote goes to the smallest class label.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxnet.classic.base import check_example_shape, check_fitted, host_examples, labels_for
from jaxnet.validation import positive_int

DISTANCES = ("l1", "l2")
# Features are summed in chunks of this many per step of the L1 accumulation.
_CHUNK = 16


@dataclasses.dataclass(frozen=True)
class Memory:
    """The training set as a fitted KNN keeps it, laid out for the search.

    Attributes:
        blocks: the examples flattened (for L2 followed by their squared norm), zero-padded
            to ``F`` values (a multiple of 16) and to whole blocks, and transposed block by
            block: shape ``(B, F, train_block)``.
        labels: the training labels, int32 of shape ``(N,)``.
        example_shape: the shape of one training example.
        num_classes: ``max(labels) + 1``.
    """

    blocks: jax.Array
    labels: jax.Array
    example_shape: tuple[int, ...]
    num_classes: int


@dataclasses.dataclass(frozen=True)
class KNN:
    """The k-nearest-neighbour classifier, an immutable estimator in the scikit-learn style.

    ``fit`` returns a new, fitted KNN holding the training set (the original stays unfitted), so
    one description can be fitted to several data sets.

    Args:
        k: how many neighbours vote, an integer (Python or NumPy) with ``1 <= k <= `` the
            number of training examples.
        distance: ``"l1"`` (Manhattan, the source's choice) or ``"l2"`` (Euclidean).
        query_block: the most queries searched together; fewer are padded to the next power
            of two, so that each size compiles once.
        train_block: the most training examples compared per step (the blocks split the
            queries and the training set evenly). Beside the training set and a padded
            copy of the queries, the search holds one ``query_block x train_block`` tile of
            distances (4 MiB by default), however many queries and training examples there are.
            The defaults were the fastest measured on a 2-core CPU for 1,000 queries against
            10,000 examples of 3,072 values; for much smaller sets the blocks shrink to them.
        memory: the training set, set by ``fit``; leave it out.

    Ties: among training examples at equal distance the one with the lower index in the
    training set comes first, and a vote tied between classes goes to the smallest label.
    These are scikit-learn's rules (its brute-force ``KNeighborsClassifier``, ``weights=
    "uniform"``); its heap can keep a different one of several examples tied at the k-th
    distance, so its ``kneighbors`` may differ from ``KNN.kneighbors`` there.

    Example:
        >>> import jaxnet as jn
        >>> x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [6.0, 5.0], [5.0, 6.0]]
        >>> knn = jn.classic.KNN(k=4).fit(x, [0, 0, 0, 1, 1, 1])
        >>> knn.predict([[1.0, 1.0], [4.0, 4.0]])
        Array([0, 1], dtype=int32)
        >>> knn.predict_proba([[1.0, 1.0]])
        Array([[0.75, 0.25]], dtype=float32)
    """

    k: int = 1
    distance: str = "l1"
    query_block: int = 1024
    train_block: int = 1024
    memory: Memory | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self):
        # NumPy integers become Python ints: static arguments of the search, and weakly typed
        # in arithmetic such as the vote shares.
        for name in ("k", "query_block", "train_block"):
            object.__setattr__(self, name, positive_int(getattr(self, name), name))
        if not isinstance(self.distance, str) or self.distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {self.distance!r}")

    def fit(self, x, y) -> KNN:
        """Stores the training set on the device; returns the fitted KNN.

        Args:
            x: training examples ``(N, ...)`` with ``N >= 1`` (any example shape; flattened to
                vectors, cast to float32), all finite.
            y: integer class labels ``(N,)``, from 0.

        Raises:
            ValueError: when ``k`` exceeds ``N``, ``x`` holds NaN or infinite values (the
                message counts them), or ``y`` does not match ``x``.
        """
        x = host_examples(x, "KNN.fit x")
        labels, num_classes = labels_for(x, y)
        n = x.shape[0]
        if self.k > n:
            raise ValueError(
                f"k={self.k} exceeds the {n} training examples; k must lie in [1, {n}]"
            )
        block = _block_size(n, self.train_block)
        flat = jax.device_put(x.reshape(n, -1))
        if self.distance == "l2":
            # Each example carries its squared norm as one more feature; see `nearest`.
            flat = jnp.concatenate([flat, jnp.sum(flat * flat, axis=1, keepdims=True)], axis=1)
        padded = jnp.pad(flat, ((0, -n % block), (0, -flat.shape[1] % _CHUNK)))
        blocks = padded.reshape(-1, block, padded.shape[1]).transpose(0, 2, 1)
        memory = Memory(blocks, labels, tuple(x.shape[1:]), num_classes)
        return dataclasses.replace(self, memory=memory)

    def kneighbors(self, x) -> tuple[jax.Array, jax.Array]:
        """The ``k`` nearest training examples of each query, nearest first.

        Args:
            x: queries ``(Q, ...)`` of the training examples' shape, all finite.

        Returns:
            ``(distances, indices)``, each ``(Q, k)``: float32 L1 or L2 distances and int32
            indices into the training set.
        """
        distances, indices = self._search(x, "KNN.kneighbors x", lambda found: found)
        return jax.device_put(distances), jax.device_put(indices)

    def predict_proba(self, x) -> jax.Array:
        """Each class's share of the ``k`` votes, float32 ``(Q, num_classes)``."""
        (votes,) = self._search(x, "KNN.predict_proba x", self._votes)
        return jax.device_put(votes.astype(np.float32) / np.float32(self.k))

    def predict(self, x) -> jax.Array:
        """The majority label of each query's ``k`` nearest neighbours, int32 ``(Q,)``."""
        (votes,) = self._search(x, "KNN.predict x", self._votes)
        return jax.device_put(np.argmax(votes, axis=-1).astype(np.int32))

    def _votes(self, found) -> tuple[jax.Array]:
        _, indices = found
        return (_votes(indices, self.memory.labels, num_classes=self.memory.num_classes,
                       k=self.k),)

    def _search(self, x, what: str, finish) -> tuple[np.ndarray, ...]:
        """Searches the neighbours of the queries ``x`` block by block, applies ``finish`` to
        each block's padded ``(distances, indices)`` on the device, and returns its outputs for
        the real queries, joined on the host (slicing on the device would compile anew for
        every number of queries, as would ``jnp.asarray``; ``jax.device_put`` does not)."""
        check_fitted(self, self.memory is not None)
        queries = host_examples(x, what)
        check_example_shape(queries, self.memory.example_shape, what)
        flat = queries.reshape(len(queries), -1)
        pending = []
        for start in range(0, len(flat), self.query_block):
            rows = flat[start:start + self.query_block]
            size = _bucket(len(rows), self.query_block)
            padded = jax.device_put(np.pad(rows, ((0, size - len(rows)), (0, 0))))
            found = nearest(padded, self.memory.blocks, k=self.k, distance=self.distance,
                            query_block=size, n_train=self.memory.labels.shape[0])
            pending.append((finish(found), len(rows)))
        # Every block is dispatched before the first result is read.
        parts = [[np.asarray(output)[:count] for output in outputs] for outputs, count in pending]
        return tuple(np.concatenate(column) for column in zip(*parts))


def _block_size(n: int, limit: int) -> int:
    """The size of the fewest blocks of at most ``limit`` that cover ``n``, split evenly (so
    that padding the last block wastes less than one row per block)."""
    return -(-n // -(-n // limit))


def _bucket(n: int, limit: int) -> int:
    """The number of rows a block of ``n`` queries is padded to: the next power of two, at most
    ``limit``, so that the search compiles for at most ``ceil(log2(limit)) + 1`` sizes."""
    return min(1 << (n - 1).bit_length(), limit)


@functools.partial(jax.jit, static_argnames=("num_classes", "k"))
def _votes(indices: jax.Array, labels: jax.Array, *, num_classes: int, k: int) -> jax.Array:
    """The votes per class among each query's ``k`` neighbours ``(Q, k)``: int32 ``(Q, C)``."""
    return vote_counts(labels[indices], num_classes, (k,))[:, 0]


@functools.partial(jax.jit, static_argnames=("k", "distance", "query_block", "n_train"))
def nearest(queries, blocks, *, k: int, distance: str, query_block: int, n_train: int):
    """The ``k`` nearest of ``n_train`` training examples to each query, by blocks.

    Args:
        queries: ``(Q, D)`` float32.
        blocks: ``Memory.blocks`` for this distance, ``(B, F, T)``.
        k: neighbours per query.
        distance: ``"l1"`` or ``"l2"``.
        query_block: queries per block of the outer loop.
        n_train: the number of real training examples (the rest of ``B * T`` is padding).

    Returns:
        ``(distances (Q, k), indices (Q, k))``, sorted by distance, then by index.
    """
    n_blocks, features, train_block = blocks.shape
    n_queries = queries.shape[0]
    rows = queries
    if distance == "l2":
        # Against training examples that end with their squared norm (see KNN.fit), the rows
        # [2q, -1] give 2 q.b - |b|^2 = |q|^2 - |q - b|^2 in one matrix product: a score that
        # ranks as -|q - b|^2, with no pass over the tile besides the product.
        rows = jnp.concatenate([2.0 * queries, -jnp.ones((n_queries, 1), jnp.float32)], axis=1)
    rows = jnp.pad(rows, ((0, -n_queries % query_block), (0, features - rows.shape[1])))
    score = _l1_scores if distance == "l1" else _l2_scores
    starts = jnp.arange(n_blocks, dtype=jnp.int32) * train_block

    def search(query_rows):
        def merge(best, block_and_start):
            block, start = block_and_start
            index = start + jnp.arange(train_block, dtype=jnp.int32)[None, :]
            found = jnp.where(index < n_train, score(query_rows, block), -jnp.inf)
            # The best so far come first and hold lower indices, so top_k's rule (lower position
            # first among equal values) orders ties by training index.
            scores, position = jax.lax.top_k(jnp.concatenate([best[0], found], axis=1), k)
            kept = jnp.take_along_axis(best[1], jnp.minimum(position, k - 1), axis=1)
            return (scores, jnp.where(position < k, kept, start + position - k)), None

        none = (jnp.full((query_block, k), -jnp.inf), jnp.zeros((query_block, k), jnp.int32))
        best, _ = jax.lax.scan(merge, none, (blocks, starts))
        return best

    scores, indices = jax.lax.map(search, rows.reshape(-1, query_block, features))
    scores = scores.reshape(-1, k)[:n_queries]
    indices = indices.reshape(-1, k)[:n_queries]
    if distance == "l1":
        return -scores, indices
    # The expansion can round a true 0 to a tiny negative number.
    squared = jnp.sum(queries * queries, axis=1, keepdims=True) - scores
    return jnp.sqrt(jnp.maximum(squared, 0.0)), indices


def _l2_scores(rows: jax.Array, block: jax.Array) -> jax.Array:
    """``2 q.b - |b|^2`` ``(q, T)`` for rows ``[2q, -1]`` ``(q, F)`` and a block ``(F, T)``."""
    # HIGHEST keeps float32 products on accelerators that would otherwise use tf32 or bf16.
    return jnp.matmul(rows, block, precision=jax.lax.Precision.HIGHEST)


def _l1_scores(queries: jax.Array, block: jax.Array) -> jax.Array:
    """Negated L1 distances ``(q, T)`` between queries ``(q, F)`` and a block ``(F, T)``."""
    n, features = queries.shape
    chunks = (queries.reshape(n, -1, _CHUNK).transpose(1, 0, 2),
              block.reshape(features // _CHUNK, _CHUNK, -1))

    def subtract_chunk(total, chunk):
        q, b = chunk
        # A sum of 2-D terms, not jnp.sum over a 3-D difference: XLA fuses it into one
        # elementwise loop with the training axis innermost, which vectorises; the 3-D
        # reduction runs several times slower on CPU. Summing each chunk before adding it to
        # the total keeps the float32 rounding error several times smaller than one long sum.
        terms = (jnp.abs(q[:, j:j + 1] - b[j:j + 1, :]) for j in range(_CHUNK))
        return total - functools.reduce(jnp.add, terms), None

    total, _ = jax.lax.scan(subtract_chunk, jnp.zeros((n, block.shape[1]), jnp.float32), chunks)
    return total


@functools.partial(jax.jit, static_argnames=("num_classes", "ks"))
def vote_counts(neighbour_labels: jax.Array, num_classes: int, ks: tuple[int, ...]) -> jax.Array:
    """Votes per class among the first ``k`` neighbours, for each ``k`` in ``ks``.

    Args:
        neighbour_labels: labels of each query's neighbours, nearest first, ``(Q, K)``.
        num_classes: ``C``.
        ks: prefix lengths, each in ``[1, K]``.

    Returns:
        int32 counts ``(Q, len(ks), C)``; ``argmax`` over the last axis is the majority vote,
        the smallest label among tied classes.

    Example:
        >>> import jax.numpy as jnp, jaxnet as jn
        >>> counts = jn.classic.vote_counts(jnp.array([[2, 0, 0, 1]]), num_classes=3, ks=(1, 3))
        >>> counts
        Array([[[0, 0, 1],
                [2, 0, 1]]], dtype=int32)
        >>> counts.argmax(axis=-1)
        Array([[2, 0]], dtype=int32)
    """
    votes = jax.nn.one_hot(neighbour_labels, num_classes, dtype=jnp.int32)
    return jnp.cumsum(votes, axis=1)[:, np.asarray(ks) - 1]


@dataclasses.dataclass(frozen=True)
class KChoice:
    """What [`choose_k`][jaxnet.classic.knn.choose_k] found.

    Attributes:
        k: the chosen ``k``, the one of highest mean accuracy (the smallest among equals).
        ks: the candidates, in increasing order.
        accuracy: validation accuracy of each candidate on each fold, ``(len(ks), folds)``.
    """

    k: int
    ks: tuple[int, ...]
    accuracy: np.ndarray

    @property
    def mean_accuracy(self) -> np.ndarray:
        """The accuracy of each candidate averaged over the folds, ``(len(ks),)``."""
        return self.accuracy.mean(axis=1)


def choose_k(x, y, ks, *, folds: int = 5, distance: str = "l1", seed: int = 0,
             query_block: int = 1024, train_block: int = 1024) -> KChoice:
    """Chooses ``k`` by ``folds``-fold cross-validation on the training set.

    Each fold is held out in turn; its neighbours among the other folds are searched once, for
    the largest candidate, and every smaller ``k`` reads the first ``k`` of them (the same
    neighbours a search for that ``k`` finds, ties included).

    Args:
        x: training examples ``(N, ...)``, all finite.
        y: integer labels ``(N,)``.
        ks: the candidate values of ``k``, positive integers.
        folds: the number of folds, from 2 to ``N``; examples are dealt to folds at random.
        distance: ``"l1"`` or ``"l2"``.
        seed: seeds the assignment of examples to folds.
        query_block, train_block: as for [`KNN`][jaxnet.classic.knn.KNN].

    Returns:
        A [`KChoice`][jaxnet.classic.knn.KChoice].

    Example:
        >>> import jaxnet as jn
        >>> ds = jn.data.load("digits")
        >>> choice = jn.classic.choose_k(ds.x_train, ds.y_train, [1, 3, 5], folds=3)
        >>> choice.k in (1, 3, 5), choice.accuracy.shape
        (True, (3, 3))
    """
    x = host_examples(x, "choose_k x")
    labels, num_classes = labels_for(x, y)
    labels = np.asarray(labels)
    ks = tuple(sorted({positive_int(k, "each of ks") for k in ks}))
    n = x.shape[0]
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or not 2 <= folds <= n:
        raise ValueError(f"folds must be an integer from 2 to the {n} examples, got {folds!r}")
    folds = int(folds)
    if not ks:
        raise ValueError("ks must hold at least one candidate k, got none")
    fold_of = np.empty(n, np.int64)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    accuracy = np.empty((len(ks), folds))
    for fold in range(folds):
        held = fold_of == fold
        knn = KNN(ks[-1], distance, query_block, train_block)
        try:
            knn = knn.fit(x[~held], labels[~held])
        except ValueError as error:
            raise ValueError(f"ks: the largest k={ks[-1]} does not fit a fold: {error}") from None
        _, indices = knn.kneighbors(x[held])
        counts = vote_counts(knn.memory.labels[indices], num_classes, ks)
        hits = jnp.argmax(counts, axis=-1) == jax.device_put(labels[held])[:, None]
        accuracy[:, fold] = np.asarray(jnp.mean(hits.astype(jnp.float32), axis=0))
    best = int(np.argmax(accuracy.mean(axis=1)))
    return KChoice(ks[best], ks, accuracy)
