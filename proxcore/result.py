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
