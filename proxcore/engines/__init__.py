"""Engines and the ``solve`` entry point.

``pc.solve(problem, method=name, **options)`` is exactly
``pc.pursuit(name)(problem, **options)``: it looks the method up by name and
calls it. The core's own engines are registered here.
"""

from __future__ import annotations

import difflib

from .._validation import InvalidParameterError
from .proximal_gradient import fista, ista

__all__ = ["solve", "pursuit", "ENGINES"]

ENGINES = {"ista": ista, "fista": fista}


def pursuit(name):
    """The pursuit registered as ``name``: a callable ``pursuit(problem, **options) -> Result``."""
    if not isinstance(name, str):
        raise InvalidParameterError(f"The 'method' parameter must be a str; got {name!r}.")
    try:
        return ENGINES[name]
    except KeyError:
        close = difflib.get_close_matches(name, ENGINES, n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise InvalidParameterError(
            f"Unknown method {name!r}.{hint} Available: {', '.join(sorted(ENGINES))}."
        ) from None


def solve(problem, method="fista", **options):
    """Solve ``problem`` with the pursuit named ``method``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> res = pc.solve(pc.chain(np.array([3.0, 0.5]), [(D, pc.L1(1.0))]), method="fista", tol=1e-10)
    >>> res.x
    array([2., 0.])
    >>> res.converged
    True
    """
    return pursuit(method)(problem, **options)
