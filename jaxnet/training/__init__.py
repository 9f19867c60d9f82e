"""Training: the objective, the step, the compiled epoch, evaluation and ``fit``.

Files follow the layers of the engine, lowest first: ``run_state`` (the names all share),
``hyperparams``, ``objective``, ``step``, ``epoch`` (the compiled epoch), ``evaluate``, ``checks``
(host-side input checks), ``resume`` (checkpoints of a run), ``progress``, ``callbacks`` and
``fit`` (the host loop).
"""

from jaxnet.training import callbacks
from jaxnet.training.evaluate import evaluate
from jaxnet.training.fit import FitResult, NonFiniteError, fit
from jaxnet.training.objective import Objective, objective
from jaxnet.training.run_state import RunState, Stopping
from jaxnet.training.step import train_step
from jaxnet.training.sweep import SweepResult, Trial, grid, sweep, zipped
