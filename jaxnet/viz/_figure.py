"""The matplotlib figure every plot of ``jaxnet.viz`` draws into, and its saving.

matplotlib is imported on the first figure only, so ``import jaxnet`` never loads it.
"""

from __future__ import annotations

import functools
import io
import os
from typing import Any

MATPLOTLIB_MISSING = (
    "jaxnet.viz needs matplotlib: pip install 'jaxnet-fn[examples]' (or matplotlib)"
)


def new_figure(**kwargs) -> Any:
    """A matplotlib ``Figure`` (built without pyplot) that notebooks show on their own.

    Args:
        **kwargs: passed to ``matplotlib.figure.Figure`` (``figsize``, ``dpi``...).

    Raises:
        ImportError: matplotlib is not installed.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(MATPLOTLIB_MISSING) from None
    return _shown_in_notebooks(Figure)(**kwargs)


@functools.cache
def _shown_in_notebooks(figure_class: type) -> type:
    """A Figure class whose figures a notebook shows as PNG images on their own, without
    ``%matplotlib inline`` or pyplot (which this package never imports)."""

    class Figure(figure_class):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            return buffer.getvalue()

    Figure.__module__, Figure.__qualname__ = figure_class.__module__, figure_class.__qualname__
    return Figure


def save_figure(figure, path: str | os.PathLike | None):
    """Saves ``figure`` at ``path`` (the format by its extension) unless ``path`` is None;
    returns ``figure``."""
    if path is not None:
        figure.savefig(path, dpi=100, bbox_inches="tight")
    return figure
