"""Training: one engine under ``fit``, ``sweep`` and ``evaluate``.

Files follow the layers of the engine, lowest first: ``run_state`` (the names all share),
``caches``, ``hyperparams`` (an objective's and optimizer's numbers as arguments), ``step`` (the
one step), ``epoch`` (the drivers), ``checks`` (host-side input checks), ``evaluate``,
``stacking`` and ``rows`` (trees and run states along the configuration axis), ``group``
(configurations trained together), ``resume`` (checkpoints of a run), ``preemption`` (stopping
every process at one epoch end on a notice), ``progress``, ``monitor`` (the one host loop), and
the entry points ``fit`` and ``sweep`` (with ``configs``, lists of configurations, and
``halving`` and ``pbt``, schedules that stop or replace the worst ones as they go). The objective
(``jaxnet.objective``), the callbacks (``jaxnet.callbacks``) and placement over devices
(``jaxnet.parallel``) live beside this package.
"""

from jaxnet.training.caches import clear_caches
from jaxnet.training.configs import grid, zipped
from jaxnet.training.evaluate import evaluate
from jaxnet.training.fit import FitResult, fit
from jaxnet.training.group import Trial
from jaxnet.training.halving import Halving, halving
from jaxnet.training.monitor import NonFiniteError
from jaxnet.training.pbt import PBT, pbt
from jaxnet.training.preemption import Preempted
from jaxnet.training.run_state import RunState, Stopping
from jaxnet.training.step import train_step
from jaxnet.training.sweep import SweepResult, sweep
