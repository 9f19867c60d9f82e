"""Hyperparameters as arguments: what a compiled program is built from, and its numbers.

A program of the engine takes a *recipe* (hashable, a static argument of ``jax.jit``) and the
recipe's *values* (arrays, traced). ``recipe.build(values)`` gives the objective and optimizer
inside the trace:

* ``Given`` (``fit``): the objective is a pytree whose floats are leaves (see
  ``jaxnet.pytrees``), so its values are those leaves; one compilation serves every learning
  rate of a layer, every penalty strength. The optimizer stays in the structure, compared by
  the computation its update traces to: an optax optimizer's numbers are constants of that
  computation (``optax.adam(1e-2)`` compiles apart from ``optax.adam(1e-3)``, with a warning),
  unless they live in its state, the standard optax way: ``optax.inject_hyperparams``.
* ``FromSetup`` (``sweep``): the values are the configurations' numbers, a pytree with a
  leading configuration axis, and the recipe calls the user's ``setup`` with them traced:
  ``optax.sgd(lr)`` with a traced ``lr`` is an optimizer whose rate is an argument, so a sweep
  over rates, strengths, dropout rates and seeds is one ``vmap``.

A number that cannot be traced (code uses it in Python: ``if rate > 0:``) is found by tracing
the step once, abstractly, and is kept as a constant of the structure with a warning that names
it: configurations with other values of it compile apart.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from jaxnet import pytrees
from jaxnet.objective import Objective, objective_with
from jaxnet.training import caches


@dataclasses.dataclass(frozen=True, eq=False)
class Optimizer:
    """An optax optimizer in a program's structure, equal to another whose update traces to
    the same computation (the same kind with the same numbers)."""

    transformation: Any
    computation: str

    def __eq__(self, other):
        return isinstance(other, Optimizer) and self.computation == other.computation

    def __hash__(self):
        return hash(self.computation)


def optimizer_in_structure(optimizer: Any, params: Any, part: str = "update") -> Optimizer:
    """The optimizer with the text of its traced ``update`` (or ``init``), once per optimizer
    object and parameter shapes. The two differ for ``optax.inject_hyperparams``, whose
    ``init`` holds the numbers that its ``update`` reads from the state."""
    def trace():
        with jax.numpy_dtype_promotion("standard"):
            if part == "init":
                return Optimizer(optimizer, str(jax.make_jaxpr(optimizer.init)(params)))
            state = jax.eval_shape(optimizer.init, params)
            return Optimizer(optimizer, str(jax.make_jaxpr(optimizer.update)(params, state,
                                                                              params)))

    entry = caches.OPTIMIZERS.get(optimizer, lambda _: {})
    key = (part, caches.signature(params))
    if key not in entry:
        if not callable(getattr(optimizer, "update", None)):
            raise TypeError(f"optimizer must be an optax GradientTransformation such as "
                            f"optax.adam(1e-3), got {optimizer!r}")
        try:
            entry[key] = trace()
        except Exception as error:  # optax fails deep inside, at its first use of the number
            raise TypeError(
                f"the optimizer cannot {part} parameters like these ({type(error).__name__}: "
                f"{str(error).splitlines()[0]}): was it built with a number of the wrong kind, "
                "such as the string '1e-3', None or an array, where optax expects a float?"
            ) from error
    return entry[key]


@caches.compiled
@functools.partial(jax.jit, static_argnums=0)
def _init(optimizer: Optimizer, params: Any) -> Any:
    return optimizer.transformation.init(params)


def init_optimizer(optimizer: Any, params: Any) -> Any:
    """``optimizer.init(params)``, compiled once per computation of the init: one call instead
    of an eager operation (and a small compilation) per parameter."""
    return _init(optimizer_in_structure(optimizer, params, "init"), params)


_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d*(?:e[-+]?\d+)?")


def _warn_if_only_numbers_changed(text: str) -> None:
    if text in caches.OPTIMIZER_SEEN.entries:
        return  # this computation was seen, and warned about, before
    caches.OPTIMIZER_SEEN.get(text, lambda: True)
    kind = _NUMBER.sub("#", text)
    before = caches.OPTIMIZER_KINDS.get(kind, lambda: text)
    if before == text:
        return
    changed = list(dict.fromkeys((a, b) for a, b in zip(_NUMBER.findall(before),
                                                         _NUMBER.findall(text)) if a != b))
    shown = ", ".join(f"{b} (was {a})" for a, b in changed[:3])
    warnings.warn(
        f"this optimizer differs from one compiled before only in its numbers ({shown}): optax "
        "keeps them as constants, so it compiles again. To make them arguments, build it as "
        "optax.inject_hyperparams(optax.adam)(learning_rate=...), or train the values together "
        "with jn.sweep", UserWarning, stacklevel=5)
    caches.OPTIMIZER_KINDS.entries[kind] = text


@dataclasses.dataclass(frozen=True)
class Given:
    """The recipe of ``fit``: an objective's structure (its floats are the values) and an
    optimizer."""

    objective: Any  # a PyTreeDef
    optimizer: Optimizer

    def build(self, values: Any) -> tuple[Objective, Any]:
        return jax.tree.unflatten(self.objective, values), self.optimizer.transformation


@dataclasses.dataclass(frozen=True)
class FromSetup:
    """The recipe of ``sweep``: the user's ``setup`` called with the configuration's numbers
    (the values, traced) and the rest of the configuration (``static``)."""

    setup: pytrees.Opaque
    static: tuple
    compute_dtype: str | None = None

    def build(self, values: dict) -> tuple[Objective, Any]:
        static = {name: _plain(value) for name, value in self.static}
        trial = self.setup.fn(**static, **values)
        objective = trial.objective
        if self.compute_dtype is not None:
            objective = objective_with(objective, compute_dtype=self.compute_dtype)
        return objective, trial.optimizer


def _plain(value: Any) -> Any:
    return value.fn if isinstance(value, pytrees.Opaque) else value


def numbers_of(config: dict) -> list[str]:
    """The names of a configuration's numbers (ints and floats, not bools), in order."""
    return [name for name, value in config.items()
            if isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_))]


def static_part(config: dict, traced: Sequence[str]) -> tuple:
    """The configuration's entries that are not traced, hashable (functions as
    ``Opaque``)."""
    return tuple((name, pytrees.Opaque(value) if callable(value) else value)
                 for name, value in config.items() if name not in traced)


def traceable(names: Sequence[str], attempt: Callable[[frozenset], None],
              describe: Callable[[str], str | None]) -> frozenset:
    """The names that must stay constants: none when ``attempt(frozenset())`` traces, else the
    fewest found by adding names one by one; each float is named in a warning. When even all of
    them as constants fail, the error is not about these numbers: it is raised as it is."""
    static: frozenset = frozenset()
    error = first = _failure(attempt, static)
    for name in names:
        if error is None:
            break
        if _failure(attempt, static | {name}) is None:
            static, error = static | {name}, None
    if error is not None:  # no single name: keep every number constant
        static = frozenset(names)
        if _failure(attempt, static) is not None:
            attempt(static)
    for name in sorted(static):
        if describe(name) is None:  # an integer: it may size arrays, as a structure does
            continue
        warnings.warn(
            f"{describe(name)} is used in Python code, where it cannot be traced ({first}); it "
            "is kept as a constant of the compiled program, so other values of it compile "
            "apart", UserWarning, stacklevel=6)
    return static


def _failure(attempt: Callable[[frozenset], None], static: frozenset) -> str | None:
    try:
        attempt(static)
    except (jax.errors.JAXTypeError, TypeError) as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
    return None


def _probe(recipe: Any, values: Any, params: Any, state: Any, batch: Any, key: Any) -> Any:
    """One step's loss, gradient and update, traced abstractly: where a number cannot be
    traced, this fails as the compiled epoch would."""
    objective, optimizer = recipe.build(values)
    (loss, _), grads = jax.value_and_grad(objective, has_aux=True)(params, state, batch, key)
    with jax.numpy_dtype_promotion("standard"):
        optimizer.update(grads, optimizer.init(params), params)
    return loss


def _traces(recipe: Any, values: Any, example: tuple) -> None:
    caches.TRACEABLE.get((recipe, caches.signature((values, example))), lambda: jax.eval_shape(
        functools.partial(_probe, recipe), values, *example))


def fit_recipe(objective: Objective, optimizer: Any, example: tuple,
               probe: bool = False) -> tuple[Given, list]:
    """``fit``'s recipe and values: the objective's floats, all of them traced, or with
    ``probe`` all but those that cannot be (found by tracing one step abstractly; ``fit`` asks
    only when the compiled epoch failed to trace, so the common case pays nothing).
    ``example``: ``(params, state, batch, key)`` of one step."""
    optimizer = optimizer_in_structure(optimizer, example[0])
    _warn_if_only_numbers_changed(optimizer.computation)
    if not probe:
        leaves, treedef = jax.tree.flatten(objective)
        return Given(treedef, optimizer), leaves
    paths = {jax.tree_util.keystr(path): path
             for path, _ in jax.tree_util.tree_flatten_with_path(objective)[0]}

    def recipe_for(static: frozenset) -> tuple[Given, list]:
        constant = objective
        for name in static:
            constant = pytrees.with_constant(constant, paths[name])
        leaves, treedef = jax.tree.flatten(constant)
        return Given(treedef, optimizer), leaves

    static = traceable(list(paths), lambda static: _traces(*recipe_for(static), example),
                       lambda name: f"the objective's number {name}")
    return recipe_for(static)


def setup_recipe(setup: Callable, config: dict, compute_dtype: str | None,
                 example: tuple) -> tuple[FromSetup, list[str]]:
    """A sweep's recipe for configurations like ``config`` and the names of its numbers that
    are traced (the others stay in the recipe)."""
    numbers = numbers_of(config)

    def recipe_for(static: frozenset) -> tuple[FromSetup, dict]:
        traced = [name for name in numbers if name not in static]
        recipe = FromSetup(pytrees.Opaque(setup), static_part(config, traced), compute_dtype)
        return recipe, {name: as_arguments(config[name]) for name in traced}

    static = traceable(numbers, lambda static: _traces(*recipe_for(static), example),
                       lambda name: f"the configuration's {name!r}" if isinstance(
                           config[name], (float, np.floating)) else None)
    recipe, values = recipe_for(static)
    return recipe, list(values)


def as_arguments(values: Any) -> Any:
    """One configuration's numbers as ``jit`` arguments: Python floats stay weakly typed, like
    the constants they replace, so they never promote a float16 or bfloat16 computation."""
    return jax.tree.map(lambda v: float(v) if isinstance(v, (float, np.floating)) else v, values)


def stacked(configurations: Sequence[Any]) -> Any:
    """The numbers of several configurations of one structure, stacked along a leading
    configuration axis (floats as float32, integers as int32, on the host)."""
    def stack(*values):
        dtype = np.float32 if isinstance(values[0], (float, np.floating)) or (
            np.ndim(values[0]) == 0 and np.issubdtype(np.result_type(values[0]), np.floating)
        ) else np.int32
        return np.array([np.asarray(v) for v in values], dtype)

    return jax.tree.map(stack, *configurations)
