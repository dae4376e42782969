"""Certificates of optimality for the Lasso ``½‖y − Dx‖² + Σ λ_i|x_i|`` (and its ``x ≥ 0`` form).

The duality gap bounds the sub-optimality of any point from above: for
every signal, ``F(x) − F* ≤ gap(x)``, with equality only at the optimum.
With ``r = y − Dx`` and ``c = Dᵀr``, the dual point ``θ = s·r`` is made
feasible by the largest ``s ≤ 1`` with ``|s·c_i| ≤ λ_i`` (``s·c_i ≤ λ_i``
for the non-negative form), and::

    gap = ½‖r‖² + Σλ_i|x_i| − (s·rᵀy − ½s²‖r‖²)

(scikit-learn's formula in ``_cd_fast.pyx``; Beck & Teboulle's, El Ghaoui's).
"""

from __future__ import annotations

import numpy as np

from ._validation import check_array, check_weights
from .operators import LinearOperator, Matrix
from .regularizers import _expand

__all__ = ["lam_max", "lasso_duality_gap"]


def _signal_sum(a, k):
    return a.sum(axis=tuple(range(k)))


def dual_scale(c, lam, nonneg, k):
    """Per signal, the largest ``s ≤ 1`` with ``|s·c_i| ≤ λ_i`` (``s·c_i ≤ λ_i`` when ``nonneg``); ``k`` signal axes."""
    axes = tuple(range(k))
    cc = np.maximum(c, 0) if nonneg else np.abs(c)
    if isinstance(lam, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            worst = np.where(cc > 0, cc / _expand(lam, c), 0).max(axis=axes)  # max_i c_i/λ_i (inf: λ_i = 0 < c_i)
    else:
        top = cc.max(axis=axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            worst = top / lam if lam > 0 else np.where(top > 0, np.inf, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(worst > 1, 1 / worst, 1.0)


def l1_gap(x, c, rr, ry, lam, nonneg, k):
    """The per-signal gap from ``x``, ``c = Dᵀr``, ``‖r‖²``, ``rᵀy``; ``k`` signal axes.

    Used by the engines, which have these quantities at hand.
    """
    axes = tuple(range(k))
    penalty = (_expand(lam, x) * np.abs(x)).sum(axis=axes)  # _expand passes a scalar λ through
    s = dual_scale(c, lam, nonneg, k)  # s·r is dual-feasible
    return 0.5 * rr + penalty - (s * ry - 0.5 * s * s * rr)


def _as_operator(D):
    return D if isinstance(D, LinearOperator) else Matrix(D)


def lam_max(D, y, *, nonneg=False):
    """The smallest ``λ`` for which ``x = 0`` solves the Lasso, per signal: ``‖Dᵀy‖∞``.

    For ``λ ≥ lam_max`` the solution is exactly zero (``max(Dᵀy)`` for the
    non-negative form).

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.certificates import lam_max
    >>> float(lam_max(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([3.0, -1.0])))
    3.0
    """
    D = _as_operator(D)
    y = check_array(y, "y")
    c = D.adjoint(y)
    k = len(D.in_shape)
    c = np.maximum(c, 0) if nonneg else np.abs(c)
    return c.max(axis=tuple(range(k)))


def lasso_duality_gap(D, y, x, lam, *, nonneg=False):
    """The duality gap of the Lasso at ``x``, per signal: an upper bound on ``F(x) − F*``.

    Computed from scratch (two operator products), independently of any engine.

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.certificates import lasso_duality_gap
    >>> D = np.eye(2); y = np.array([3.0, 0.5])
    >>> float(lasso_duality_gap(D, y, np.array([2.0, 0.0]), 1.0))   # the exact solution
    0.0
    """
    D = _as_operator(D)
    y = check_array(y, "y")
    x = check_array(x, "x")
    lam = check_weights(lam, "lam", "lasso_duality_gap")
    k = len(D.in_shape)
    r = y - D.apply(x)
    rr = _signal_sum(r * r, len(D.out_shape))
    ry = _signal_sum(r * y, len(D.out_shape))
    return l1_gap(x, D.adjoint(r), rr, ry, lam, nonneg, k)
