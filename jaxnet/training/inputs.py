"""What a training run reads, checked once before anything compiles: arrays in memory, or
streams (``jaxnet.training.source``) for training, validation and evaluation."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from jaxnet.objective import Objective
from jaxnet.parallel import DataParallel
from jaxnet.training.checks import check_data, check_stream, evaluation_input, examples_in
from jaxnet.training.group import Streamed
from jaxnet.training.run_state import Params, State
from jaxnet.training.source import is_stream, refuse_iterator, share
from jaxnet.validation import positive_int


class Inputs(NamedTuple):
    """Checked training inputs: ``x, y`` (in memory, or a stream's first batch), the
    validation set (arrays, a random-access ``Stream``, or None), the stream, and the number of
    training examples (None when a function streams them)."""

    x: Any
    y: Any
    validation: Any
    streamed: Streamed | None
    n_examples: int | None


def training_inputs(objective: Objective, params: Params, state: State, train_data: Any,
                    validation_data: Any, *, batch_size: Any, key: jax.Array | None,
                    placement: DataParallel | None, evaluate_train: bool) -> Inputs:
    """``train_data`` and ``validation_data`` checked against the model and its loss."""
    part = share(placement)
    streamed, n_examples = None, None
    if is_stream(train_data):
        batch_size = positive_int(batch_size, "batch_size")
        source, (x, y), check = check_stream(objective, params, state, train_data, batch_size,
                                             part, key, "train_data")
        streamed, n_examples = Streamed(source, check), source.n_examples
        if evaluate_train and not source.random_access:
            raise ValueError("evaluate_train=True reads the whole training set after each epoch, "
                             "which a function of (epoch, key) cannot give: pass a "
                             "random-access source (len() and source[i]) or arrays")
    else:
        refuse_iterator(train_data, "train_data")
        x, y = check_data(objective, params, state, train_data, "train_data")
        n_examples = examples_in(x)
    validation = None
    if validation_data is not None:
        validation = evaluation_input(objective, params, state, validation_data, part,
                                      "validation_data")
    return Inputs(x, y, validation, streamed, n_examples)
