"""Certificates of optimality for the Lasso ``½‖y − Dx‖² + Σ λ_i|x_i|`` (and its ``x ≥ 0`` form).

The duality gap bounds the sub-optimality of any point from above: for
every signal, ``F(x) − F* ≤ gap(x)``, with equality only at the optimum.
With ``r = y − Dx`` and ``c = Dᵀr``, the dual point ``θ = s·r`` is made
feasible by the largest ``s ≤ 1`` with ``|s·c_i| ≤ λ_i`` (``s·c_i ≤ λ_i``
for the non-negative form), and::

    gap = ½‖r‖² + Σλ_i|x_i| − (s·rᵀy − ½s²‖r‖²)

(scikit-learn's formula in ``_cd_fast.pyx``; Beck & Teboulle's, El Ghaoui's).

Atoms with ``λ_i = 0`` (unpenalised) ask ``d_iᵀθ = 0`` of the dual point
(``d_iᵀθ ≤ 0`` for the non-negative form), which ``s·r`` meets only at the
exact optimum: with any rounding, ``s = 0`` and the gap is the whole
objective. So the residual is first projected off those atoms,
``r' = r − D_A u`` with ``u = G_AA⁺ c_A`` (``G_AA = D_AᵀD_A``; ``A`` every
unpenalised atom, or for the non-negative form those with ``c_i > 0``, then
those ``c'_i > 0`` until none), and ``θ = s·r'`` with ``c' = Dᵀr'``::

    gap = ½‖r‖² + Σλ_i|x_i| − (s·r'ᵀy − ½s²‖r'‖²)

At the optimum ``D_Aᵀr = 0``, so ``r' = r`` and the gap is zero there.
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


def l1_gap(x, c, rr, ry, lam, nonneg, k, free=None):
    """The per-signal gap from ``x``, ``c = Dᵀr``, ``‖r‖²``, ``rᵀy``; ``k`` signal axes.

    Used by the engines, which have these quantities at hand; ``free``,
    from :func:`free_atoms`, when some ``λ_i = 0``.
    """
    axes = tuple(range(k))
    penalty = (_expand(lam, x) * np.abs(x)).sum(axis=axes)  # _expand passes a scalar λ through
    dual_rr, dual_ry = rr, ry  # of the residual the dual point is made from: r, or r' when some λ_i = 0
    if free is not None:
        c, dual_rr, dual_ry = free.project(x, c, rr, ry, nonneg, k)
    s = dual_scale(c, lam, nonneg, k)  # s·r (s·r') is dual-feasible
    return 0.5 * rr + penalty - (s * dual_ry - 0.5 * s * s * dual_rr)


class FreeAtoms:
    """The unpenalised atoms ``Z`` (``λ_i = 0``) of ``D`` and ``DᵀD_Z``: what projects a residual off them.

    Made by :func:`free_atoms`; :meth:`project` gives ``(c', ‖r'‖², r'ᵀy)``
    for ``r' = r − D_A u``, ``u = G_AA⁺ c_A`` (see the module's docstring).
    """

    def __init__(self, atoms, gram):
        self.atoms = atoms  # flat indices of Z
        self.gram = gram  # (m, |Z|): Dᵀ D_Z, in float64

    def project(self, x, c, rr, ry, nonneg, k):
        m, Z, G = self.gram.shape[0], self.atoms, self.gram
        xf = x.reshape(m, -1)
        cf = np.asarray(c.reshape(m, -1), dtype=np.float64)  # _off works on copies
        batch = cf.shape[1]
        rr = np.asarray(rr, dtype=np.float64).reshape(batch)
        ry = np.asarray(ry, dtype=np.float64).reshape(batch)
        cZ = cf[Z]
        bZ = cZ + G.T @ xf  # D_Zᵀy = D_Zᵀr + D_ZᵀDx
        # signed: d_iᵀθ = 0 on every unpenalised atom; non-negative: d_iᵀθ ≤ 0, so the violated ones first, then
        # those the projection violates, until none
        held = cZ > 0 if nonneg else np.ones(cZ.shape, dtype=bool)
        while True:
            c_off, rr_off, ry_off = self._off(held, cf, cZ, bZ, rr, ry)
            more = c_off[Z] > 0
            if not nonneg or not more.any():
                return c_off.reshape(c.shape), rr_off.reshape(c.shape[k:]), ry_off.reshape(c.shape[k:])
            held |= more

    def _off(self, held, cf, cZ, bZ, rr, ry):
        """``(c', ‖r'‖², r'ᵀy)`` with ``A = Z[held[:, j]]`` for signal ``j`` (signals grouped by pattern)."""
        Z, G = self.atoms, self.gram
        cf, rr, ry = cf.copy(), rr.copy(), ry.copy()
        patterns, which = np.unique(held, axis=1, return_inverse=True)
        for p, pattern in enumerate(patterns.T):
            if not pattern.any():
                continue
            signals = np.flatnonzero(which.reshape(-1) == p)
            u = np.linalg.pinv(G[Z[pattern]][:, pattern]) @ cZ[pattern][:, signals]  # D_A u: r's part in span D_A
            cf[:, signals] -= G[:, pattern] @ u
            cf[np.ix_(Z[pattern], signals)] = 0  # exactly: r' ⊥ D_A (rounding would leave ~1e-16, and s = 0)
            rr[signals] = np.maximum(rr[signals] - np.einsum("ij,ij->j", cZ[pattern][:, signals], u), 0)
            ry[signals] -= np.einsum("ij,ij->j", bZ[pattern][:, signals], u)
        return cf, rr, ry


def free_atoms(D, lam):
    """The :class:`FreeAtoms` of ``D`` under the weights ``lam``, or ``None`` when every ``λ_i > 0``.

    Costs ``|Z|`` products with ``D`` and with ``Dᵀ`` (once per solve).
    """
    D = _as_operator(D)
    full = np.broadcast_to(_expand(np.asarray(lam, dtype=np.float64), np.broadcast_to(0.0, D.in_shape)), D.in_shape)
    atoms = np.flatnonzero(full.reshape(-1) == 0)
    if not atoms.size:
        return None
    m = full.size
    units = np.zeros((m, atoms.size))
    units[atoms, np.arange(atoms.size)] = 1
    columns = D.apply(units.reshape(tuple(D.in_shape) + (atoms.size,)))
    gram = np.asarray(D.adjoint(columns), dtype=np.float64).reshape(m, atoms.size)
    return FreeAtoms(atoms, gram)


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
    return l1_gap(x, D.adjoint(r), rr, ry, lam, nonneg, k, free_atoms(D, lam))
