"""Searches beyond grids, each batch of configurations one compiled program.

``optuna_search``: an Optuna study's proposals, asked and told a batch at a time, each batch a
``jn.sweep``, with Optuna's pruners at epoch ends.
"""

from jaxnet.search.ask_tell import SearchResult, optuna_search

__all__ = ["SearchResult", "optuna_search"]
