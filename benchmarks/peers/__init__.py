"""The implementations that ``fit_vs_peers.py`` times: jaxnet, plain JAX and each peer library.

Each module defines ``make(net, data, seed)`` for the networks of :mod:`peers.networks`, returning
a function that trains ``net.steps_per_round`` steps and waits for the result. A module whose
library is not installed raises ImportError when it is imported; the benchmark skips it.
"""
