"""The exact engine for any problem the composer builds: ADMM with an exact x-update, or Condat–Vũ.

Every :class:`proxcore.Problem` reads, as a function of the deepest code ``x``::

    F(x) = f(x) + g(x) + Σ_j h_j(K_j x),    f(x) = Σ_d ½‖y_d − A_d x‖²

with ``A_d`` the map to data node ``d``, ``g`` the deepest code's
regularizer, and ``h_j(K_j x)`` every other regularizer ``g_v(M_v x)`` (an
analysis ℓ1 term ``λ‖Ωz‖₁`` is split into ``λ‖·‖₁`` and ``Ω``, so its prox
is never needed). Condat (2013) and Vũ (2013)::

    x⁺   = prox_{τg}(x − τ(∇f(x) + Σ_j K_jᵀ u_j))
    u_j⁺ = prox_{σ_j h_j*}(u_j + σ_j K_j(2x⁺ − x))

converges to a minimizer for convex ``g``, ``h_j`` when
``1/τ − ‖Σ_j σ_j K_jᵀK_j‖ > L_f/2``, ``L_f = ‖Σ_d A_dᵀA_d‖``. The dual prox
comes from the primal one by Moreau's identity,
``prox_{σh*}(v) = v − σ prox_{h/σ}(v/σ)`` (a clip to ``[−λ, λ]`` for ℓ1).
``∇f`` and ``Σ K_jᵀu_j`` take one backward sweep over the graph, the images
``A_d x``, ``K_j x`` one forward sweep: two products per edge per iteration.

Condat–Vũ is first order: on ill-conditioned ``A_d`` its tail is slow (one
test instance with ``cond(D₁D₂)² ≈ 500`` needed 12,000+ iterations for a
1e-6 gap). When the deepest code is small enough to form the operators as
dense matrices (``n ≤ ADMM_MAX_SIZE``), the default is therefore ADMM
(Boyd et al. 2011) on ``z_j = K_j x`` (with ``K_0 = I`` for ``g``)::

    x   ← (Σ_d A_dᵀA_d + ρ Σ_j K_jᵀK_j)⁻¹ (Σ_d A_dᵀy_d + ρ Σ_j K_jᵀ(z_j − w_j))
    z_j ← prox_{h_j/ρ}(K_j x + w_j),    w_j ← w_j + K_j x − z_j

whose x-update solves the quadratic part exactly (one inverse, formed from a
Cholesky factor, per value of ``ρ``, so that an iteration multiplies instead
of solving; each signal's ``ρ`` is balanced against its residuals in the
first iterations only), so its iteration count hardly depends on
conditioning (about 200 iterations on the same instance). The code returned is ``z_0``, which lies in the domain of ``g``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validation import InvalidParameterError, check_scalar
from ..problem import Problem
from ..regularizers import L1, Zero
from ._loop import check_loop_options, initial_point, run

__all__ = ["primal_dual", "PrimalDualState"]


class PrimalDualState(NamedTuple):
    """The state after ``iteration`` steps (what callbacks receive)."""

    iteration: int
    x: np.ndarray  # the deepest code
    objective: float  # F(x), summed over the batch
    error: np.ndarray  # max(relative change of x, relative change of the duals), per signal
    duals: tuple  # u_j
    values: dict  # every node's value at x (forward sweep)
    images: tuple  # K_j x


class _Split:
    """One term ``h(K x)`` with ``K x = Ω(value of node)`` (``omega`` None: the value itself).

    A non-negative ℓ1 term ``λ‖z‖₁ + ι(z ≥ 0)`` holds only in the limit for
    the primal iterates, so its reported value is the penalty ``λ‖z‖₁`` and
    its violation ``‖min(z, 0)‖`` joins the stopping criterion.
    """

    def __init__(self, node, omega, reg, norm):
        self.node, self.omega, self.reg, self.norm = node, omega, reg, norm
        self.constrained = isinstance(reg, L1) and reg.nonneg
        self.penalty = L1(reg.lam) if self.constrained else reg

    def value(self, image):
        return self.penalty.value(image)

    def image(self, values):
        v = values[self.node]
        return v if self.omega is None else self.omega.apply(v)

    def cotangent(self, u):
        return u if self.omega is None else self.omega.adjoint(u)


class _CondatVu:
    def __init__(self, problem, prox_reg, splits, tau, sigmas, dtype):
        self.p, self.g, self.splits = problem, prox_reg, splits
        self.tau = dtype.type(tau)
        self.sigmas = [dtype.type(s) for s in sigmas]
        self.dtype = dtype
        self.k_in = len(problem.in_shape)
        self.ys = {t.node: np.asarray(t.function.y, dtype=dtype) for t in problem.data_terms}
        # the size of a code whose image has the size of the data: the scale of constraint violations
        lipschitz = sum(t.operator.norm() ** 2 for t in problem.data_terms)
        size = sum(np.sqrt((y * y).sum(axis=tuple(range(y.ndim - len(problem.batch_shape))))) for y in self.ys.values())
        self.code_scale = size / math.sqrt(lipschitz) if lipschitz > 0 else size

    def _objective(self, x, values, images):
        total = 0.0
        for node, y in self.ys.items():
            r = values[node] - y
            total += 0.5 * float(np.vdot(r, r))
        total += self.g.value(x)
        for split, image in zip(self.splits, images):
            total += split.value(image)
        return total

    def _norms(self, a, k):
        return np.sqrt((a * a).sum(axis=tuple(range(k))))

    def init(self, x0):
        values = self.p.forward(x0)
        images = tuple(s.image(values) for s in self.splits)
        duals = tuple(np.zeros_like(im) for im in images)
        error = np.full(self.p.batch_shape, np.inf)
        return PrimalDualState(0, x0, self._objective(x0, values, images), error, duals, values, images)

    def step(self, s):
        cot = {node: s.values[node] - y for node, y in self.ys.items()}
        for split, u in zip(self.splits, s.duals):
            c = split.cotangent(u)
            cot[split.node] = cot[split.node] + c if split.node in cot else c
        direction = self.p.backward(cot)
        x = self.g.prox(s.x - self.tau * direction, self.tau).astype(self.dtype, copy=False)
        values = self.p.forward(x)
        images = tuple(sp.image(values) for sp in self.splits)
        duals = []
        du2 = np.zeros(self.p.batch_shape)
        uu2 = np.zeros(self.p.batch_shape)
        for split, sigma, u, im_new, im_old in zip(self.splits, self.sigmas, s.duals, images, s.images):
            v = u + sigma * (2 * im_new - im_old)
            u_new = (v - sigma * split.reg.prox(v / sigma, 1 / sigma)).astype(self.dtype, copy=False)
            k = u_new.ndim - len(self.p.batch_shape)
            du2 = du2 + self._norms(u_new - u, k) ** 2
            uu2 = uu2 + np.maximum(self._norms(u_new, k), self._norms(u, k)) ** 2
            duals.append(u_new)
        dx = self._norms(x - s.x, self.k_in)
        # relative to the code's size, and to the size of a code that explains the data when x is ~0
        scale = np.maximum(np.maximum(self._norms(x, self.k_in), self._norms(s.x, self.k_in)), self.code_scale)
        error = np.maximum(dx / np.where(scale > 0, scale, 1), np.sqrt(du2 / np.where(uu2 > 0, uu2, 1)))
        for split, image in zip(self.splits, images):
            if split.constrained:  # relative violation of z ≥ 0
                k = image.ndim - len(self.p.batch_shape)
                size = np.maximum(self._norms(image, k), split.norm * self.code_scale)
                error = np.maximum(error, self._norms(np.minimum(image, 0), k) / np.where(size > 0, size, 1))
        objective = self._objective(x, values, images)
        return PrimalDualState(s.iteration + 1, x, objective, error, tuple(duals), values, images)


class ADMMState(NamedTuple):
    """The state of the ADMM form after ``iteration`` steps (what callbacks receive)."""

    iteration: int
    x: np.ndarray  # the deepest code (the prox output z_0 when the code has its own regularizer)
    objective: float
    error: np.ndarray  # max(relative primal residual, relative dual residual), per signal
    z: tuple
    w: tuple  # scaled dual variables
    levels: np.ndarray  # per signal: ρ = ρ_0·2^level


class _ADMM:
    """ADMM on ``min f(x) + Σ_j h_j(z_j)`` s.t. ``z_j = K_j x`` with dense ``K_j`` and an exact x-update.

    ``x ← (AᵀA + ρΣK_jᵀK_j)⁻¹(Aᵀy + ρΣK_jᵀ(z_j − w_j))``,
    ``z_j ← prox_{h_j/ρ}(K_j x + w_j)``, ``w_j ← w_j + K_j x − z_j``. Each
    signal has its own ``ρ = ρ_0·2^level``, balanced against its residuals
    (Boyd et al. 2011, §3.4.1) during the first ``_BALANCE_UNTIL``
    iterations only, so the convergence theory applies from then on; one
    inverse (from a Cholesky factor) per level in use.
    """

    _BALANCE_UNTIL, _BALANCE_EVERY, _LEVELS = 600, 10, 10
    _RELAX = 1.6

    def __init__(self, problem, prox_reg, splits, dtype):
        self.p, self.dtype = problem, dtype
        n = math.prod(problem.in_shape)
        self.n = n
        eye = np.eye(n).reshape(problem.in_shape + (n,))
        values = problem.forward(eye)  # every node's map, as dense columns
        self.A = [np.asarray(values[t.node], dtype=np.float64).reshape(-1, n) for t in problem.data_terms]
        self.ys = [np.asarray(t.function.y, dtype=np.float64).reshape(A.shape[0], -1)
                   for A, t in zip(self.A, problem.data_terms)]
        self.terms = []  # (K or None for the identity, regularizer, node shape, split or None)
        if not isinstance(prox_reg, Zero):
            self.terms.append((None, prox_reg, problem.in_shape, None))
        for sp in splits:
            image = np.asarray(sp.image(values), dtype=np.float64)
            self.terms.append((image.reshape(-1, n), sp.reg, image.shape[:-1], sp))
        self.AtA = sum(A.T @ A for A in self.A)
        self.Aty = sum(A.T @ y for A, y in zip(self.A, self.ys))
        self.KtK = sum(np.eye(n) if K is None else K.T @ K for K, *_ in self.terms) if self.terms else np.zeros((n, n))
        top_f = float(np.linalg.eigvalsh(self.AtA)[-1])
        top_k = float(np.linalg.eigvalsh(self.KtK)[-1])
        self.rho0 = top_f / top_k if top_f > 0 and top_k > 0 else 1.0
        self.batch = problem.batch_shape
        size = sum(np.sqrt((y * y).sum(axis=0)) for y in self.ys)
        self.code_scale = size / math.sqrt(top_f) if top_f > 0 else size
        self.solvers = {}

    def _solver(self, level):
        if level not in self.solvers:
            import scipy.linalg

            # The inverse itself, from the Cholesky factor: every iteration then costs one matrix product
            # (BLAS gemm) instead of two triangular solves, several times slower on a batch. M ⪰ ρ·KᵀK, and
            # KᵀK ⪰ I whenever the code has its own regularizer, so M is well conditioned for the ρ levels used.
            M = self.AtA + self.rho0 * 2.0**level * self.KtK
            try:
                inv = scipy.linalg.cho_solve(scipy.linalg.cho_factor(M), np.eye(self.n))
            except np.linalg.LinAlgError:  # singular: the minimum-norm solve on the range
                w, V = np.linalg.eigh(M)
                keep = w > w[-1] * 1e-12 * len(w)
                inv = (V[:, keep] / w[keep]) @ V[:, keep].T
            self.solvers[level] = np.ascontiguousarray(inv)
        return self.solvers[level]

    @staticmethod
    def _apply(K, x):
        return x if K is None else K @ x

    def _groups(self, levels):
        first = int(levels[0]) if levels.size else 0
        if (levels == first).all():  # the common case: one ρ for all, no copies
            return [(first, slice(None))]
        return [(int(level), levels == level) for level in np.unique(levels)]

    def _prox(self, reg, shape, v, levels):
        out = np.empty_like(v)
        for level, cols in self._groups(levels):
            block = v[:, cols]
            prox = reg.prox(block.reshape(shape + (block.shape[1],)), 1.0 / (self.rho0 * 2.0**level))
            out[:, cols] = np.asarray(prox, dtype=np.float64).reshape(block.shape)
        return out

    def _output(self, x, z):
        return z[0] if self.terms and self.terms[0][0] is None else x

    def _objective(self, xo):
        total = 0.0
        for A, y in zip(self.A, self.ys):
            r = A @ xo - y
            total += 0.5 * float(np.vdot(r, r))
        for K, reg, shape, sp in self.terms:
            image = self._apply(K, xo).reshape(shape + self.batch)
            total += sp.value(image) if sp is not None else reg.value(image)
        return total

    def _state(self, iteration, x, z, w, levels, error):
        xo = self._output(x, z)
        out = xo.reshape(self.p.in_shape + self.batch).astype(self.dtype)
        return ADMMState(iteration, out, self._objective(xo), error, tuple(z), tuple(w), levels)

    def init(self, x0):
        x = np.asarray(x0, dtype=np.float64).reshape(self.n, -1)
        z = [self._apply(K, x) for K, *_ in self.terms]
        w = [np.zeros_like(zj) for zj in z]
        levels = np.zeros(x.shape[1], dtype=int)
        return self._state(0, x, z, w, levels, np.full(self.batch, np.inf))

    def step(self, s):
        levels = s.levels.copy()
        rho = self.rho0 * 2.0 ** levels  # per signal (column)
        z_old, w = list(s.z), list(s.w)
        rhs = self.Aty.copy()
        for (K, *_), zj, wj in zip(self.terms, z_old, w):
            rhs += rho * (zj - wj if K is None else K.T @ (zj - wj))
        x = np.empty_like(rhs)
        for level, cols in self._groups(levels):
            x[:, cols] = self._solver(level) @ rhs[:, cols]
        z, r2, kx2, z2 = [], 0.0, 0.0, 0.0
        dual = np.zeros_like(x)
        back = np.zeros_like(x)
        for j, (K, reg, shape, _) in enumerate(self.terms):
            kx = self._apply(K, x)
            relaxed = self._RELAX * kx + (1 - self._RELAX) * z_old[j]  # over-relaxation (Eckstein & Bertsekas)
            zj = self._prox(reg, shape, relaxed + w[j], levels)
            w[j] = w[j] + relaxed - zj
            r2 = r2 + ((kx - zj) ** 2).sum(axis=0)
            kx2 = kx2 + (kx * kx).sum(axis=0)
            z2 = z2 + (zj * zj).sum(axis=0)
            dz = zj - z_old[j]
            dual += dz if K is None else K.T @ dz
            back += w[j] if K is None else K.T @ w[j]
            z.append(zj)
        if not self.terms:
            return self._state(s.iteration + 1, x, z, w, levels, np.zeros(self.batch))
        r = np.sqrt(r2)
        d = np.sqrt((dual * dual).sum(axis=0))
        primal = r / np.maximum(np.maximum(np.sqrt(kx2), np.sqrt(z2)), np.maximum(self.code_scale, 1e-300))
        error = np.maximum(primal, d / np.maximum(np.sqrt((back * back).sum(axis=0)), 1e-300))
        k = s.iteration + 1
        if k <= self._BALANCE_UNTIL and k % self._BALANCE_EVERY == 0:
            step = np.where(r > 10 * rho * d, 1, np.where(rho * d > 10 * r, -1, 0))
            step = np.where(np.abs(levels + step) <= self._LEVELS, step, 0)
            if step.any():
                levels = levels + step
                w = [wj / 2.0**step for wj in w]  # the scaled duals follow ρ
        return self._state(k, x, z, w, levels, error.reshape(self.batch))


#: Largest deepest-code size, and number of dense entries, for which ``primal-dual`` uses the ADMM form.
ADMM_MAX_SIZE, ADMM_MAX_ENTRIES = 2048, 5_000_000


def _compile(problem):
    """The deepest code's prox-able regularizer and the list of split terms ``h_j(K_j x)``."""
    prox_reg = Zero()
    splits = []
    for term in problem.terms:
        reg = term.function
        if not getattr(reg, "convex", True):
            raise InvalidParameterError(
                f"primal-dual needs convex regularizers; node {term.node!r} has {type(reg).__name__}, which is "
                "not convex. Use ml-ista / ml-fista (no guarantee) or a convex relaxation such as pc.L1."
            )
        omega = None
        if hasattr(reg, "split"):
            omega, reg = reg.split()
        if term.operator is None and omega is None:
            prox_reg = reg
            continue
        op = term.operator
        if op is None:
            norm = omega.norm()
        elif omega is None:
            norm = op.norm()
        else:
            norm = (omega @ op).norm()
        splits.append(_Split(term.node, omega, reg, norm))
    return prox_reg, splits


def primal_dual(problem, *, max_iter=20_000, tol=1e-9, algorithm=None, step=None, balance=None, x0=None,
                target=None, callback=None, check_step=True):
    """The exact ``primal-dual`` engine (ADMM or Condat–Vũ) for any problem the composer builds.

    Parameters
    ----------
    problem : pc.Problem
        Any problem: a chain of any depth or a general graph, least-squares
        data terms and convex regularizers (non-convex ones are refused).
    max_iter : int, default 20000
    tol : float, default 1e-9
        Converged when, for every signal, the relative residuals are at most
        ``tol``: for ADMM the primal residual ``‖K x − z‖`` (relative to
        ``max(‖Kx‖, ‖z‖, ‖y‖/sqrt(L_f))``) and the dual residual
        ``ρ‖Kᵀ(z − z_prev)‖`` (relative to ``‖ρKᵀw‖``); for Condat–Vũ the
        changes of the code (relative to ``max(‖x‖, ‖y‖/sqrt(L_f))``) and of
        the dual variables (relative to their size) in one iteration.
    algorithm : {"admm", "condat-vu"}, optional
        Default: ``"admm"`` when the deepest code has at most
        ``ADMM_MAX_SIZE`` entries (and the dense maps fit in
        ``ADMM_MAX_ENTRIES``) and neither ``step`` nor ``balance`` is given,
        else ``"condat-vu"``.
    step : float, optional
        Condat–Vũ only.
        The primal step ``τ``. Default: ``1/(L_f/2 + s)`` with ``s = balance·L_f/2``
        (``L_f`` bounded from above by ``Σ_d ‖A_d‖²``) and dual steps
        ``σ_j = s/(J‖K_j‖²)`` for the ``J`` split terms, so that
        ``τ(L_f/2 + Σ_j σ_j‖K_j‖²) = 1`` up to a 1% margin. A given ``step``
        above ``1/(L_f/2)`` is refused unless ``check_step=False``; the dual
        steps are then set to meet the condition.
    balance : float, optional
        Condat–Vũ only: the weight of the dual steps against the primal one
        (``s`` above; default 1.0).
    x0 : array, optional
        Starting code (default zeros); never modified.
    target, callback
        As for every engine.

    Returns
    -------
    Result
        ``x`` the deepest code, ``codes`` every code shallowest first,
        ``objective``, ``history["objective"]``, ...

    Notes
    -----
    The method converges to a minimizer (ergodic ``O(1/k)`` in general, much
    faster on these piecewise-quadratic problems, slowly on ill-conditioned
    ones: it is a first-order method); it is the reference the ML-ISTA /
    ML-FISTA neighbourhoods are measured against. Constraints on inner
    layers (``pc.L1(lam, nonneg=True)`` on ``γ_i``, ``i < L``) hold in the
    limit only: the reported objective counts their penalty ``λ‖γ_i‖₁``,
    and their relative violation is part of the stopping criterion (so
    ``problem.objective(res.x)`` may be ``inf`` by a rounding-level
    violation where ``res.objective`` is finite). Any violation at the
    returned point is named in ``res.message``; one above ``tol`` (relative
    size ``‖min(γ_i, 0)‖/‖γ_i‖``) is also warned about
    (:class:`proxcore.ConvergenceWarning`).

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D1, D2 = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0], [1.0]])
    >>> problem = pc.chain(np.array([2.0, 2.0]), [(D1, pc.L1(0.5)), (D2, pc.L1(1.0))])
    >>> res = pc.solve(problem, method="primal-dual")
    >>> round(float(res.x[0]), 6)                 # F(x) = (2 − x)² + x + x: minimum at x = 1
    1.0
    >>> [np.round(c, 6) for c in res.codes]
    [array([1., 1.]), array([1.])]
    """
    method = "primal-dual"
    max_iter, tol, target, callback = check_loop_options(method, max_iter, tol, target, callback)
    if not isinstance(problem, Problem):
        raise InvalidParameterError(f"{method} expects a pc.Problem (see pc.chain); got {type(problem).__name__}.")
    if algorithm is None:
        n = math.prod(problem.in_shape)
        rows = sum(math.prod(problem.shapes[node]) for node in problem.shapes)
        small = n <= ADMM_MAX_SIZE and rows * n <= ADMM_MAX_ENTRIES
        algorithm = "admm" if small and step is None and balance is None else "condat-vu"
    if algorithm not in ("admm", "condat-vu"):
        raise InvalidParameterError(
            f"The 'algorithm' parameter of {method} must be 'admm' or 'condat-vu'; got {algorithm!r}."
        )
    balance = 1.0 if balance is None else balance
    balance = check_scalar(balance, "balance", method, low=0.0, low_open=True, high=math.inf, high_open=True)
    dtype = problem.dtype
    x0 = initial_point(x0, problem, method)
    prox_reg, splits = _compile(problem)
    if algorithm == "admm":
        if step is not None:
            raise InvalidParameterError(f"The 'step' parameter of {method} applies to algorithm='condat-vu' only.")
        engine = _ADMM(problem, prox_reg, splits, dtype)

        def finish_admm(state):
            values = problem.forward(state.x)
            return {"codes": tuple(values[n] for n in problem.code_nodes),
                    "step": float(engine.rho0 * 2.0 ** (np.median(state.levels) if state.levels.size else 0))}

        return run(engine, x0, max_iter=max_iter, tol=tol, target=target, callback=callback,
                   criterion="relative ADMM residual", finish=finish_admm, problem=problem)
    lipschitz = sum(t.operator.norm() ** 2 for t in problem.data_terms)
    half = lipschitz / 2
    n_split = len(splits)
    if step is None:
        s = balance * half if half > 0 else 1.0
        tau = 0.99 / (half + s) if n_split else 0.99 / max(half, 1e-300)
    else:
        tau = check_scalar(step, "step", method, low=0.0, low_open=True)
        if check_step and half > 0 and tau >= 1 / half:
            raise InvalidParameterError(
                f"The 'step' parameter of {method} must be below 2/L_f = {1 / half:.6g} (L_f = {lipschitz:.6g}); "
                f"got {step!r}. Leave step=None, or pass check_step=False."
            )
        s = max(0.99 / tau - half, 0.0) if n_split else 0.0
        if n_split and s == 0.0:
            raise InvalidParameterError(
                f"The 'step' parameter of {method} leaves no room for the dual steps "
                f"(τ·L_f/2 = {tau * half:.3g} ≥ 0.99); choose a smaller step."
            )
    sigmas = [s / (n_split * sp.norm**2) if sp.norm > 0 else 1.0 for sp in splits]
    engine = _CondatVu(problem, prox_reg, splits, tau, sigmas, dtype)

    def finish(state):
        values = problem.forward(state.x)
        return {"codes": tuple(values[n] for n in problem.code_nodes), "step": float(tau)}

    return run(engine, x0, max_iter=max_iter, tol=tol, target=target, callback=callback,
               criterion="relative primal-dual change", finish=finish, problem=problem)
