"""The cosparse analysis model: the constraint ``‖Ωx‖₀ ≤ p − ℓ`` and the greedy analysis pursuit (GAP).

Model (``reference/``, "Analysis sparsity"): ``y = x + w`` with
``‖Ωx‖₀ ≤ p − ℓ`` for an analysis operator ``Ω ∈ R^{p×n}``: at least ``ℓ``
rows of ``Ω`` (the co-support ``Λ``) are orthogonal to ``x``, so ``x`` lies in
the null space of ``Ω_Λ``. The pursuit is

    min_x ‖y − x‖²   s.t.   ‖Ωx‖₀ ≤ p − ℓ

and, more generally, ``min ‖y − Mx‖²`` for a measurement operator ``M``
(the problem's operator). Its ℓ1 relaxation ``½‖y − x‖² + λ‖Ωx‖₁`` is
:class:`proxcore.AnalysisL1`, solved exactly by ``method="primal-dual"``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from proxcore import L0Ball, LinearOperator, Matrix, Regularizer
from proxcore._validation import InvalidParameterError, check_positive_int, check_scalar
from proxcore.oracle import null_basis

from ._common import check_problem, columns, dense, make_result

__all__ = ["Cosparse", "gap"]


def _default_rtol(dtype):
    return 1e3 * float(np.finfo(dtype).eps)


@dataclasses.dataclass(frozen=True, eq=False)
class Cosparse(Regularizer):
    """The cosparsity constraint: the indicator of ``{x : ‖Ωx‖₀ ≤ p − ℓ}`` (non-convex).

    Parameters
    ----------
    omega : pc.LinearOperator or array_like (p, n)
        The analysis operator ``Ω``; arrays are wrapped in :class:`proxcore.Matrix`.
    ell : int
        The cosparsity ``ℓ``: at least ``ℓ`` rows with ``ω_jᵀx = 0``, ``0 ≤ ℓ ≤ p``.
    rtol : float, optional
        Row ``j`` counts as zero when ``|ω_jᵀx| ≤ rtol·‖ω_j‖‖x‖``; default
        ``1000·eps`` of the array's dtype (a computed projection is zero only
        up to rounding).

    Notes
    -----
    ``value`` is 0 when every signal has at least ``ℓ`` zero rows, else
    ``inf``. ``prox`` (independent of ``step``) is a greedy projection, not
    the exact one (NP-hard in general): it keeps the ``ℓ`` rows of smallest
    ``|ω_jᵀv|/‖ω_j‖`` and returns ``P_{null(Ω_Λ)} v``; the result is feasible.
    :meth:`cosupport` says which rows are zero.

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore_models import Cosparse
    >>> omega = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])   # finite differences, p = 2
    >>> g = Cosparse(omega, ell=1)
    >>> g.value(np.array([1.0, 1.0, 3.0])), g.value(np.array([1.0, 2.0, 3.0]))
    (0.0, inf)
    >>> g.prox(np.array([1.0, 1.2, 3.0]), step=1.0)            # the flattest pair is averaged
    array([1.1, 1.1, 3. ])
    """

    omega: LinearOperator
    ell: int = 1
    rtol: float | None = None
    convex = False

    def __post_init__(self):
        omega = self.omega
        if not isinstance(omega, LinearOperator):
            try:
                omega = Matrix(omega)
            except (TypeError, ValueError) as exc:
                raise InvalidParameterError(
                    f"The 'omega' parameter of Cosparse must be a pc.LinearOperator or a 2-D array; {exc}"
                ) from None
        object.__setattr__(self, "omega", omega)
        p = math.prod(omega.out_shape)
        ell = check_positive_int(self.ell, "ell", "Cosparse", low=0)
        if ell > p:
            raise InvalidParameterError(f"The 'ell' parameter of Cosparse must be at most p = {p} (the rows of "
                                        f"omega); got {ell}.")
        object.__setattr__(self, "ell", ell)
        if self.rtol is not None:
            object.__setattr__(self, "rtol", check_scalar(self.rtol, "rtol", "Cosparse", low=0.0, high=1.0))

    @property
    def p(self) -> int:
        """The number of rows of ``Ω``."""
        return math.prod(self.omega.out_shape)

    def matrix(self, dtype=np.float64):
        """``Ω`` as a dense ``p×n`` array."""
        return dense(self.omega, dtype, "omega")

    def _flat(self, x, name):
        x = np.asarray(x)
        if x.dtype.kind != "f" or x.dtype == np.float16:
            x = x.astype(np.float32 if x.dtype == np.float16 else np.float64)
        k = len(self.omega.in_shape)
        if x.shape[:k] != tuple(self.omega.in_shape):
            raise InvalidParameterError(f"Cosparse expects {name} with leading axes {tuple(self.omega.in_shape)} "
                                        f"(omega's input); got shape {x.shape}.")
        return x, x.reshape(math.prod(self.omega.in_shape), -1)

    def cosupport(self, x):
        """Boolean mask of the rows with ``ω_jᵀx = 0`` (up to ``rtol``): shape ``(p,) + batch``."""
        x, cols = self._flat(x, "x")
        W = self.matrix(np.float64)
        z = np.abs(W @ cols.astype(np.float64))
        rtol = _default_rtol(x.dtype) if self.rtol is None else self.rtol
        scale = np.linalg.norm(W, axis=1)[:, None] * np.linalg.norm(cols.astype(np.float64), axis=0)[None, :]
        batch = x.shape[len(self.omega.in_shape):]
        return (z <= rtol * scale).reshape((self.p,) + batch)

    def value(self, x) -> float:
        co = self.cosupport(x).reshape(self.p, -1)
        return 0.0 if co.shape[1] == 0 or co.sum(axis=0).min() >= self.ell else math.inf

    def prox(self, v, step):
        check_scalar(step, "step", "Cosparse.prox", low=0.0, low_open=True, high=math.inf, high_open=True)
        v, cols = self._flat(v, "v")
        W = self.matrix(np.float64)
        norms = _row_norms(W)
        V = cols.astype(np.float64)
        out = np.empty_like(V)
        for j in range(V.shape[1]):
            rows = np.argsort(np.abs(W @ V[:, j]) / norms, kind="stable")[: self.ell]
            N, _ = null_basis(W[rows])
            out[:, j] = N @ (N.T @ V[:, j])
        return out.reshape(v.shape).astype(v.dtype, copy=False)


def _row_norms(W):
    norms = np.linalg.norm(W, axis=1)
    return np.where(norms > 0, norms, 1.0)


def _analysis_form(problem, method):
    """``(M, Ω, ℓ, is_identity, regularizer)`` of a one-layer problem, or a clear refusal."""
    check_problem(problem, method)
    if not problem.is_chain or len(problem.layers) != 1:
        raise InvalidParameterError(
            f"{method} solves one-layer problems min ‖y − Mx‖² s.t. ‖Ωx‖₀ ≤ p − ℓ (pc.chain(y, [(M, Cosparse(Ω, ℓ))]));"
            f" this problem has {len(problem.layers) if problem.is_chain else 'a graph of'} layers."
        )
    (layer,) = problem.layers
    reg, dtype = layer.regularizer, np.float64
    M = dense(layer.operator, dtype)
    m = M.shape[1]
    if isinstance(reg, Cosparse):
        W = reg.matrix(dtype)
        if W.shape[1] != m:
            raise InvalidParameterError(f"the Cosparse omega acts on {W.shape[1]} entries but the code has {m}.")
        return M, W, reg.ell, False, reg
    if isinstance(reg, L0Ball):  # ‖x‖₀ ≤ s is the analysis constraint with Ω = I and ℓ = m − s
        return M, np.eye(m), max(m - reg.s, 0), True, reg
    raise InvalidParameterError(
        f"{method} solves problems whose regularizer is proxcore_models.Cosparse(omega, ell) (or pc.L0Ball(s), "
        f"the case Ω = I); got {reg!r}."
    )


def gap(problem, *, noise=None, rows_per_step=1):
    """Greedy analysis pursuit (Nam, Davies, Elad & Gribonval 2013) for ``min ‖y − Mx‖² s.t. ‖Ωx‖₀ ≤ p − ℓ``.

    Start from the co-support ``Λ = {1, …, p}`` (every row) and, for every
    signal of the batch at once, repeat until ``|Λ| = ℓ``:

    1. estimate ``x̂ = argmin_x ‖Ω_Λx‖²  s.t.  ‖y − Mx‖ ≤ ε`` (the
       re-projection towards the null space of the kept rows, as far as the
       noise level ``ε`` allows; with ``ε = 0`` and ``M = I`` it is ``y``);
    2. remove from ``Λ`` the ``rows_per_step`` rows of largest
       ``|ω_jᵀx̂|/‖ω_j‖``.

    The answer is the least-squares fit on the final co-support,
    ``x̂ = argmin ‖y − Mx‖²  s.t.  Ω_Λx = 0`` (for ``M = I``,
    ``P_{null(Ω_Λ)} y``, the oracle estimate of that co-support).

    Parameters
    ----------
    problem : pc.Problem
        One layer, ``pc.chain(Y, [(M, Cosparse(omega, ell))])`` (``M =
        pc.Identity(n)`` for denoising), or ``pc.chain(Y, [(D, pc.L0Ball(s))])``
        (the synthesis problem as the case ``Ω = I``, ``ℓ = m − s``).
    noise : float or array of the batch shape, optional
        ``ε ≥ 0``, a bound on ``‖w‖₂`` per signal; default 0 (noiseless GAP).
    rows_per_step : int, default 1
        Rows removed from the co-support at each step.

    Returns
    -------
    Result
        ``x`` in the problem's dtype; ``n_iter`` the number of estimates
        (removal steps + the final fit); ``history["objective"]`` the total
        ``½Σ‖y − Mx̂‖²`` of each estimate (the last is ``objective``).
        ``Cosparse.cosupport(res.x)`` gives the co-support found.

    Notes
    -----
    What it guarantees. The output always satisfies the constraint: ``ℓ``
    rows with ``Ω_Λx̂ = 0`` (up to rounding), and it is the best fit on that
    co-support; the co-support itself is not guaranteed optimal (the
    problem is NP-hard). For denoising (``M = I``), write ``x`` for the true
    signal, ``Λ* = {j : ω_jᵀx = 0}`` with ``|Λ*| ≥ ℓ``, and ``y = x + w``.
    Every estimate of step 1 satisfies ``‖x̂ − y‖ ≤ ε``, hence
    ``|ω̄_jᵀx̂ − ω̄_jᵀx| ≤ ‖w‖ + ε`` for the normalized rows ``ω̄_j``. So if::

        ‖w‖₂ + ε < ½ min_{j ∉ Λ*} |ω_jᵀx| / ‖ω_j‖

    the rows removed are outside ``Λ*`` as long as any remain: the final
    co-support lies in ``Λ*`` (it is ``Λ*`` when ``|Λ*| = ℓ``), and
    ``x̂ − x = P_{null(Ω_Λ)} w``: the oracle's error. Without noise
    (``w = 0``, ``ε = 0``) it recovers ``x`` exactly.

    The noise level matters: for denoising with ``ε = 0`` every estimate is
    ``y`` itself, so GAP keeps the ``ℓ`` rows of smallest ``|ω̄_jᵀy|`` (one-shot
    thresholding of ``|Ωy|``); with ``ε ≈ ‖w‖`` each estimate moves towards
    ``null(Ω_Λ)`` and, at moderate SNR, finds co-supports that one-shot
    thresholding misses (``tests/test_analysis_pursuit.py`` measures it).

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore_models import Cosparse
    >>> omega = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 1.0, -1.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
    >>> y = np.array([1.0, 1.1, 3.0, 2.9])                      # piecewise constant + noise
    >>> res = pc.solve(pc.chain(y, [(pc.Identity(4), Cosparse(omega, ell=2))]), method="gap")
    >>> np.round(res.x, 6)
    array([1.05, 1.05, 2.95, 2.95])
    """
    M, W, ell, identity, reg = _analysis_form(problem, "gap")
    rows_per_step = check_positive_int(rows_per_step, "rows_per_step", "gap")
    n, m = M.shape
    p = W.shape[0]
    Y = columns(problem.y, n, np.float64)
    N = Y.shape[1]
    eps = _noise(noise, problem.batch_shape, N)
    norms = _row_norms(W)

    Linv, WL = _factor(M)
    b = Linv @ (M.T @ Y)  # (m, N)

    mask = np.ones((p, N), dtype=bool)
    history, steps = [], 0
    while N and int(mask[:, 0].sum()) > ell:  # every signal keeps the same number of rows
        x = _constrained_estimate(W, mask, Linv, WL, b, Y, eps)
        history.append(0.5 * float(np.sum((Y - M @ x) ** 2)))
        z = np.abs(W @ x) / norms[:, None]
        z[~mask] = -np.inf
        k = min(rows_per_step, int(mask[:, 0].sum()) - ell)
        drop = np.argsort(-z, axis=0, kind="stable")[:k]  # the k largest of the rows still in Λ
        mask[drop, np.arange(N)[None, :]] = False
        steps += 1

    X = np.zeros((m, N))
    for j in range(N):
        rows = np.flatnonzero(mask[:, j])
        if identity:
            keep = np.setdiff1d(np.arange(m), rows)
            if keep.size:
                X[keep, j] = np.linalg.lstsq(M[:, keep], Y[:, j], rcond=None)[0]
            continue
        basis, _ = null_basis(W[rows])
        if basis.shape[1]:
            X[:, j] = basis @ np.linalg.lstsq(M @ basis, Y[:, j], rcond=None)[0]
    x = X.astype(problem.dtype, copy=False).reshape(tuple(problem.in_shape) + problem.batch_shape)
    final = problem.objective(x)
    return make_result(
        problem, x, n_iter=steps + 1, history={"objective": np.array(history + [final])},
        message=(f"GAP: {steps} step(s) removed {p - ell} of {p} rows per signal (cosparsity {ell}), "
                 f"then the least-squares fit on the co-support."),
    )


def _noise(noise, batch_shape, N):
    if noise is None:
        return np.zeros(N)
    if np.ndim(noise) == 0:
        return np.full(N, check_scalar(noise, "noise", "gap", low=0.0, high=math.inf, high_open=True))
    arr = np.asarray(noise, dtype=float)
    if arr.shape != tuple(batch_shape) or not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise InvalidParameterError(f"The 'noise' parameter of gap must be a float >= 0 or an array of the batch "
                                    f"shape {tuple(batch_shape)} with finite entries >= 0; got {noise!r}.")
    return arr.reshape(N)


def _factor(M):
    """``(L⁻¹, ML⁻ᵀ)`` for ``MᵀM (+ a tiny ridge when M has a null space) = LLᵀ`` (Cholesky)."""
    m = M.shape[1]
    A = M.T @ M
    wA = np.linalg.eigvalsh(A)
    ridge = 0.0 if wA[0] > m * 1e3 * np.finfo(float).eps * max(wA[-1], 1e-300) else 1e-10 * max(wA[-1], 1.0)
    Linv = np.linalg.inv(np.linalg.cholesky(A + ridge * np.eye(m)))
    return Linv, M @ Linv.T


def _constrained_estimate(W, mask, Linv, WL, b, Y, eps):
    """``argmin ‖Ω_Λx‖² s.t. ‖y − Mx‖ ≤ ε`` per signal, through ``x(μ) = (A + μΩ_ΛᵀΩ_Λ)⁻¹Mᵀy``.

    With ``C = L⁻¹Ω_ΛᵀΩ_ΛL⁻ᵀ = U diag(s) Uᵀ`` and ``c = UᵀL⁻¹Mᵀy``,
    ``x(μ) = L⁻ᵀU (c/(1 + μs))``; the residual grows with ``μ``; ``μ`` is the
    largest with ``‖y − Mx(μ)‖ ≤ ε`` (bisection on ``log μ``), ``∞`` when the
    projection on the null space is within ``ε`` (then ``x`` is that projection).
    """
    N = Y.shape[1]
    B = np.einsum("pi,pk,pj->kij", W, mask.astype(float), W, optimize=True)  # (N, m, m)
    C = Linv @ B @ Linv.T
    s, U = np.linalg.eigh(C)
    s = np.maximum(s, 0.0)
    null = s <= s.max(axis=1, keepdims=True) * s.shape[1] * 1e3 * np.finfo(float).eps
    c = np.einsum("kji,jk->ki", U, b)
    WU = np.matmul(WL, U)  # (N, n, m)
    Yt = Y.T

    def coef(mu):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f = c / (1.0 + mu[:, None] * s)
        inf = np.isinf(mu)[:, None]
        return np.where(null, c, np.where(inf, 0.0, f))

    def resid(mu):
        return np.linalg.norm(Yt - np.einsum("knm,km->kn", WU, coef(mu)), axis=1)

    mu = np.zeros(N)
    active = eps > 0
    if active.any():
        at_inf = resid(np.full(N, np.inf)) <= eps
        mu[active & at_inf] = np.inf
        todo = active & ~at_inf
        if todo.any():
            smax = np.maximum(s.max(axis=1), 1e-300)
            lo, hi = np.log(1e-12 / smax), np.log(1e12 / smax)
            feasible0 = resid(np.exp(lo)) <= eps
            for _ in range(50):
                mid = 0.5 * (lo + hi)
                ok = resid(np.exp(mid)) <= eps
                lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
            mu[todo] = np.where(feasible0, np.exp(lo), 0.0)[todo]
    z = np.einsum("kij,kj->ik", U, coef(mu))  # (m, N)
    return Linv.T @ z
