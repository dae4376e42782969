"""The record a pursuit returns."""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

__all__ = ["Result", "Status"]


class Status(enum.IntEnum):
    """Why a solver stopped."""

    CONVERGED = 0
    MAX_ITER = 1
    DIVERGED = 2
    CALLBACK_STOP = 3
    TARGET_REACHED = 4


@dataclasses.dataclass(frozen=True, eq=False)
class Result:
    """What a pursuit returns, in the spirit of :class:`scipy.optimize.OptimizeResult`.

    Attributes
    ----------
    x : ndarray
        The deepest code, shape ``in_shape + batch`` (for one layer, the code).
    codes : tuple of ndarray
        Every layer's code, from the layer nearest the data to the deepest
        (``codes[-1] is x``).
    objective : float
        The objective at ``x``, summed over the batch.
    n_iter : int
        Iterations run.
    converged : bool
        True when the stopping criterion held for every signal.
    status : Status
        Why the solver stopped; ``message`` says it as a sentence, with the
        criterion's value and its tolerance.
    message : str
    history : dict of ndarray
        Per iteration: ``"objective"`` (the total after each iteration),
        ``"time"`` (seconds since the start), and ``"gap"`` when a duality gap
        was computed every iteration.
    signal_converged : ndarray of bool
        The criterion per signal (batch shape).
    gap : ndarray or None
        The duality gap per signal at ``x`` (ℓ1 least-squares problems): an
        upper bound on ``F(x) − F*`` for that signal.
    step : float
        The step size in use at the end (after any backtracking).

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> problem = pc.chain(np.array([3.0, 0.5]), [(np.eye(2), pc.L1(1.0))])
    >>> res = pc.solve(problem, method="ista", tol=1e-10)
    >>> res.x, res.objective                     # soft thresholding: F = ½·1² + 2 + ½·0.5²
    (array([2., 0.]), 2.625)
    >>> res.converged, res.status, res.n_iter
    (True, <Status.CONVERGED: 0>, 2)
    >>> res.message
    'Converged: relative gradient-mapping step ... <= tol 1e-10 for every signal after 2 iterations.'
    >>> res.history["objective"]                 # one batch total per iteration
    array([2.625, 2.625])
    >>> float(res.gap)                           # the duality gap certifies the optimum
    0.0

    A run stopped at ``max_iter`` is not converged; it says so and warns:

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     res = pc.solve(pc.chain(np.ones(3), [(np.ones((3, 2)), pc.L1(0.1))]), method="ista",
    ...                    max_iter=1, tol=0)
    >>> res.converged, res.status.name, caught[0].category.__name__
    (False, 'MAX_ITER', 'ConvergenceWarning')
    """

    x: np.ndarray
    codes: tuple
    objective: float
    n_iter: int
    converged: bool
    status: Status
    message: str
    history: dict
    signal_converged: np.ndarray
    gap: np.ndarray | None = None
    step: float | None = None

    @property
    def success(self) -> bool:
        """Alias of ``converged``, as in scipy."""
        return self.converged
