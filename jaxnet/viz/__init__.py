"""Figures: training curves, image grids, decision boundaries and sweeps (matplotlib, an optional
dependency).

Every function builds a ``matplotlib.figure.Figure`` without pyplot, so nothing global changes
(no backend is selected, no window opens); pass ``path`` to save it, or show the returned figure
in a notebook. ``boundary_animation`` writes an animated GIF (with Pillow, which matplotlib
brings). matplotlib is imported at the first figure, never at ``import jaxnet``.

Files by figure kind: ``curves`` (training curves), ``images`` (image grids, confusion
matrices), ``boundaries`` (decision boundaries and their animation), ``sweeps`` (sweep curves
and heat maps), ``searches`` (a PBT population's lineage), all drawing into the figure of
``_figure``.
"""

from jaxnet.viz.boundaries import boundary_animation, boundary_grid, decision_boundary
from jaxnet.viz.curves import training_curves
from jaxnet.viz.images import confusion_matrix, image_grid
from jaxnet.viz.searches import pbt_lineage
from jaxnet.viz.sweeps import sweep_curve, sweep_heatmap

__all__ = [
    "boundary_animation",
    "boundary_grid",
    "confusion_matrix",
    "decision_boundary",
    "image_grid",
    "pbt_lineage",
    "sweep_curve",
    "sweep_heatmap",
    "training_curves",
]
