"""Engines and the ``solve`` entry point.

``pc.solve(problem, method=name, **options)`` is exactly
``pc.pursuit(name)(problem, **options)``: it looks the method up by name and
calls it. The core's own engines are listed in ``ENGINES``; the essential
plugin (:mod:`proxcore.engines._essential`) registers them.
"""

from __future__ import annotations

from .._validation import InvalidParameterError
from .multilayer import ml_fista, ml_ista
from .primal_dual import primal_dual
from .proximal_gradient import fista, ista

__all__ = ["solve", "pursuit", "ENGINES"]

ENGINES = {
    "ista": ista,
    "fista": fista,
    "ml-ista": ml_ista,
    "ml-fista": ml_fista,
    "primal-dual": primal_dual,
}


def pursuit(name):
    """The pursuit registered as ``name``: a callable ``pursuit(problem, **options) -> Result``.

    Looked up in the plugin registry (:mod:`proxcore.plugins`), where the
    engines of :data:`ENGINES` are registered by the essential plugin and the
    other pursuits by their plugins. An unknown name raises
    :class:`proxcore.InvalidParameterError` with close matches.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> omp = pc.pursuit("omp")                   # OMP solves problems with an L0Ball(s) regularizer
    >>> D = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> omp(pc.chain(np.array([3.0, 2.0]), [(D, pc.L0Ball(1))])).x   # the best single atom
    array([3., 0.])
    >>> pc.pursuit("fista") is pc.pursuit("fista")
    True
    >>> pc.pursuit("fsta")
    Traceback (most recent call last):
    ...
    proxcore._validation.InvalidParameterError: Unknown pursuit 'fsta'. Did you mean 'fista'...
    """
    from .. import plugins

    if not isinstance(name, str):
        raise InvalidParameterError(f"The 'method' parameter must be a str; got {name!r}.")
    return plugins.get_manager().pursuit(name)


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
    from ..distributed import is_dask_problem

    if is_dask_problem(problem):  # data in a dask.array: every chunk solved on the workers (proxcore.distributed)
        from ..distributed import solve as solve_chunks

        return solve_chunks(problem, method, **options)
    return pursuit(method)(problem, **options)
