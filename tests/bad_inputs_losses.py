"""Bad inputs to losses, metrics and penalties: target shapes, dtypes and values, and strengths."""

import jax
import jax.numpy as jnp
import numpy as np
from bad_inputs import Case
from jax.experimental import checkify

import jaxnet as jn

L, R = jn.losses, jn.regularizers
SCORES = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LOGITS = jnp.array([[2.0], [-1.0], [0.5], [-3.0]])
PARAMS = {"dense_0": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}}


def _traced_label(label):
    """A label checked inside jax.jit under jn.debug_checks, raising what checkify found."""
    with jn.debug_checks():
        error, _ = checkify.checkify(jax.jit(L.softmax_cross_entropy))(
            SCORES, jnp.array([0, 1, label]))
    error.throw()


CASES = [
    # Target shapes and dtypes.
    Case("losses", "integer labels of another shape than the scores' batch", ValueError,
         r"expected targets of shape \(3,\) \(integer labels\) or \(3, 3\) \(one-hot or "
         r"probabilities\) for predictions of shape \(3, 3\), got targets of shape \(3, 1\)",
         lambda tmp: L.softmax_cross_entropy(SCORES, jnp.zeros((3, 1), jnp.int32))),
    Case("losses", "float labels `[0.0, 1.0, 2.0]` for class scores", TypeError,
         "integer labels must have an integer dtype, got float32",
         lambda tmp: L.softmax_cross_entropy(SCORES, jnp.array([0.0, 1.0, 2.0]))),
    Case("losses", "one logit per example to `softmax_cross_entropy`", ValueError,
         r"expected scores of shape \(..., C\) with C > 1 classes, got shape \(4, 1\); for one "
         "logit per example use binary_cross_entropy or hinge",
         lambda tmp: L.softmax_cross_entropy(LOGITS, jnp.array([1, 0, 0, 1]))),
    Case("losses", "class scores `(N, C)` to `binary_cross_entropy`", ValueError,
         r"expected one logit per example, shape \(N,\) or \(N, 1\), got predictions of shape "
         r"\(3, 3\)", lambda tmp: L.binary_cross_entropy(SCORES, jnp.array([0, 1, 0]))),
    Case("losses", "binary targets `(N, 2)` for logits `(N, 1)`", ValueError,
         r"expected binary targets of shape \(4,\) or \(4, 1\) .* got targets of shape \(4, 2\)",
         lambda tmp: L.hinge(LOGITS, jnp.zeros((4, 2)))),
    Case("losses", "`mse` of predictions `(N, 1)` and targets `(N,)` (would broadcast)",
         ValueError,
         r"expected targets of the predictions' shape \(4, 1\), got targets of shape \(4,\)",
         lambda tmp: L.mse(LOGITS, jnp.zeros(4))),
    # Target values.
    Case("losses", "label -1 for `softmax_cross_entropy`", ValueError,
         r"softmax_cross_entropy: labels must be integers in \[0, 3\) for scores of 3 classes; "
         r"found -1 at index \(2,\)",
         lambda tmp: L.softmax_cross_entropy(SCORES, jnp.array([0, 1, -1]))),
    Case("losses", "label C (= 3 for 3 classes) for `multiclass_hinge`", ValueError,
         r"multiclass_hinge: labels must be integers in \[0, 3\) .* found 3 at index \(0,\)",
         lambda tmp: L.multiclass_hinge(SCORES, np.array([3, 1, 2]))),
    Case("losses", "one-hot targets with a value outside [0, 1]", ValueError,
         r"softmax_cross_entropy: one-hot or probability targets must lie in \[0, 1\]; found 2.0",
         lambda tmp: L.softmax_cross_entropy(SCORES, 2.0 * jax.nn.one_hot(jnp.arange(3), 3))),
    Case("losses", "binary target 2 for `binary_cross_entropy`", ValueError,
         r"binary_cross_entropy: targets must be labels 0 / 1 or -1 / \+1 \(-1 meaning class 0\) "
         r"or probabilities of class 1 in \[0, 1\]; found 2",
         lambda tmp: L.binary_cross_entropy(LOGITS, jnp.array([1, 0, 2, 1]))),
    Case("losses", "binary target -0.5 for `binary_cross_entropy`", ValueError,
         r"binary_cross_entropy: targets must be .* found -0.5",
         lambda tmp: L.binary_cross_entropy(LOGITS, jnp.array([1.0, -0.5, 0.0, 1.0]))),
    Case("losses", "a probability 0.7 as a `hinge` target (labels only)", ValueError,
         r"hinge: targets must be labels 0 / 1 or -1 / \+1 \(-1 meaning class 0\); found 0.7",
         lambda tmp: L.hinge(LOGITS, jnp.array([1.0, 0.7, 0.0, 1.0]))),
    Case("losses", "label 3 for `jn.metrics.accuracy` of 3 classes", ValueError,
         r"accuracy: labels must be integers in \[0, 3\) for scores of 3 classes; found 3",
         lambda tmp: jn.metrics.accuracy(SCORES, jnp.array([0, 3, 1]))),
    Case("losses", "`check_targets` of a composed loss with an out-of-range label", ValueError,
         r"softmax_cross_entropy: labels must be integers in \[0, 10\) .* found 10 at index "
         r"\(1,\)",
         lambda tmp: L.check_targets(L.softmax_cross_entropy + 0.1 * L.multiclass_hinge, (3, 10),
                                     np.array([0, 10, 2]))),
    Case("losses", "a traced label 3 of 3 classes under `jn.debug_checks()` and `checkify`",
         checkify.JaxRuntimeError,
         r"softmax_cross_entropy: labels must be integers in \[0, 3\) .* found 3",
         lambda tmp: _traced_label(3)),
    # Penalty strengths and selections.
    Case("losses", "`jn.regularizers.l2(-1)`", ValueError,
         "l2 strength must be a finite number >= 0, got -1", lambda tmp: R.l2(-1)),
    Case("losses", '`jn.regularizers.l2(float("nan"))`', ValueError,
         "l2 strength must be a finite number >= 0, got nan", lambda tmp: R.l2(float("nan"))),
    Case("losses", '`jn.regularizers.l2("0.01")`', TypeError,
         r"l2 strength must be a real number, got '0.01' \(str\)", lambda tmp: R.l2("0.01")),
    Case("losses", "`jn.regularizers.l1(-0.1)`", ValueError,
         "l1 strength must be a finite number >= 0, got -0.1", lambda tmp: R.l1(-0.1)),
    Case("losses", '`jn.regularizers.elastic_net(1e-3, float("inf"))`', ValueError,
         "elastic_net l2_strength must be a finite number >= 0, got inf",
         lambda tmp: R.elastic_net(1e-3, float("inf"))),
    Case("losses", 'a penalty `where="dense_9"` that selects no parameter', ValueError,
         r"where='dense_9' selects no parameter; the layers present are \['dense_0'\]",
         lambda tmp: R.l2(1e-3, where="dense_9")(PARAMS)),
    Case("losses", "a penalty `where=3` (not a name or function)", TypeError,
         "where must be None, a layer name, a list of layer names or a function",
         lambda tmp: R.l2(1e-3, where=3)),
]
