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
conditioning (about 200 iterations on the same instance). When the data maps
factor through the one split term (two-layer ML-BP: ``A = D₁D₂``,
``K = D₂``), the inverse is applied by the Woodbury identity through
``r×r`` matrices (``_ADMM._factor``), 12 % fewer multiplications an
iteration. The code returned is ``z_0``, which lies in the domain of ``g``.
ADMM computes in float64 whatever the problem's dtype (its default
``tol = 1e-6``, a gap relative to ``‖y‖²``, is near float32's resolution);
the codes and the states a callback sees are in the problem's dtype.

When every term is an ℓ1 norm with positive weights, each signal's output
is certified by a duality gap whose dual point comes from the x-update's
optimality condition (``_ADMM._gaps``); each signal stops as soon as its
own certificate (or, otherwise, its residuals) meets ``tol``, so a batch
costs what its signals need, not what its slowest signal needs times the
batch size.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validation import InvalidParameterError, check_scalar
from ..problem import Problem
from .. import certificates
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
    objective: float
    error: np.ndarray  # per signal: the relative duality gap, or max(relative primal, dual residual)
    levels: np.ndarray  # per signal: ρ = ρ_0·2^level
    work: "_Work"  # the iterates of the signals still running (internal)
    stopped: np.ndarray  # the final codes of the signals that have stopped, as columns (the others zero)
    layout: tuple  # the codes' shape and dtype

    @property
    def x(self):
        """The deepest code of every signal (the prox output ``z_0`` when the code has its own regularizer), as of
        the latest evaluation of the output: every certificate check, the last iteration, or every iteration
        when a callback or a target is given (``objective`` is always this code's)."""
        out = self.stopped.copy()
        out[:, self.work.active] = self.work.output
        shape, dtype = self.layout
        return out.reshape(shape).astype(dtype, copy=False)


class _Work(NamedTuple):
    """The iterates of the ``m`` signals still running, as columns (``active``: their batch indices); ``x`` itself
    is recomputed from ``diffs`` by every step, so it is not kept."""

    active: np.ndarray
    z: tuple  # z_j, equal to K_j x at the fixed point
    w: tuple  # the scaled duals
    diffs: tuple  # z_j − w_j, the x-update's right-hand side: Σ_d A_dᵀy_d + ρΣ_j K_jᵀ(z_j − w_j)
    data: np.ndarray  # the x-update's data term: Σ_d A_dᵀy_d, or Bᵀy in the factored form (_factor)
    ys: tuple  # y_d
    values: np.ndarray  # F per signal at the output (a batch total when the terms give totals only)
    output: np.ndarray  # the code returned (z_0 when the code has its own term, else x) at the latest evaluation


def _column_squares(a):
    """``‖a[:, j]‖²`` for every column ``j``, without a temporary."""
    return np.einsum("ij,ij->j", a, a)


class _ADMM:
    """ADMM on ``min f(x) + Σ_j h_j(z_j)`` s.t. ``z_j = K_j x`` with dense ``K_j`` and an exact x-update.

    ``x ← (AᵀA + ρΣK_jᵀK_j)⁻¹(Aᵀy + ρΣK_jᵀ(z_j − w_j))``,
    ``z_j ← prox_{h_j/ρ}(K_j x + w_j)``, ``w_j ← w_j + K_j x − z_j`` (with
    over-relaxation ``α = 1.8``). Each signal has its own ``ρ = ρ_0·2^level``,
    doubled or halved when its relative primal residual is ``_BALANCE_RATIO``
    times its relative dual one or conversely (Boyd et al. 2011, §3.4.1, with
    the normalised residuals of Wohlberg 2015), every ``_BALANCE_EVERY``
    iterations during the first ``_BALANCE_UNTIL`` only, so the convergence
    theory applies from then on; one inverse (from a Cholesky factor, or its
    Woodbury form: :meth:`_factor`) per level in use, the running signals
    kept sorted by level so that each
    level's columns are one slice.

    Stopping, per signal: when every term is an ℓ1 norm (the ML-BP family)
    the relative duality gap of the output, a certificate, checked every
    ``_CHECK_EVERY`` iterations (:meth:`_gaps`); otherwise the relative
    residuals, every iteration. The signals are independent problems, so a
    signal stops iterating as soon as its own criterion is met (its code
    and objective are then final): the batch does only the work each signal
    needs.

    The output ``z_0`` and its objective cost one product of the size of
    the data and all images (about a quarter of an iteration's work on
    ML-BP). With the certificate they are evaluated every ``evaluate_every``
    iterations (the checks, by default), at ``max_iter`` and, when a callback
    or a target needs them, every iteration (``evaluate_every = 1``); in
    between, a state reports the output of the latest evaluation and its
    exact objective, so ``x`` and ``objective`` always agree.
    """

    _BALANCE_UNTIL, _BALANCE_EVERY, _BALANCE_RATIO, _LEVELS = 600, 10, 5.0, 10
    _CHECK_EVERY = 5
    _RELAX = 1.8

    def __init__(self, problem, prox_reg, splits, dtype, tol, evaluate_every=_CHECK_EVERY, max_iter=None):
        self.p, self.dtype, self.tol = problem, dtype, tol
        self.evaluate_every, self.max_iter = evaluate_every, max_iter
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
            self.terms.append((np.ascontiguousarray(image.reshape(-1, n)), sp.reg, image.shape[:-1], sp))
        self.AtA = sum(A.T @ A for A in self.A)
        self.Aty = sum(A.T @ y for A, y in zip(self.A, self.ys))
        self.KtK = sum(np.eye(n) if K is None else K.T @ K for K, *_ in self.terms) if self.terms else np.zeros((n, n))
        top_f = float(np.linalg.eigvalsh(self.AtA)[-1])
        top_k = float(np.linalg.eigvalsh(self.KtK)[-1])
        self.rho0 = top_f / top_k if top_f > 0 and top_k > 0 else 1.0
        self.batch = problem.batch_shape
        size = sum(np.sqrt((y * y).sum(axis=0)) for y in self.ys)
        self.code_scale = size / math.sqrt(top_f) if top_f > 0 else size
        # the output's images in one product: every A_d, then every split K_j
        self.images = np.vstack(self.A + [K for K, *_ in self.terms if K is not None])
        self.l1_rows = self._l1_rows()
        self.certified = self._certified()
        self.criterion = "relative duality gap" if self.certified else "relative ADMM residual"
        self.solvers = {}
        self.factor = self._factor()
        self.data = (self.Aty if self.factor is None
                     else self.factor[0].T @ np.vstack(self.ys))  # Bᵀy: A_dᵀy_d = KᵀB_dᵀy_d
        self.layout = (problem.in_shape + self.batch, dtype)
        self.stopped = None  # the codes of the signals that have stopped, in their columns (copied on write)
        self.stopped_objective = 0.0

    def _l1_rows(self):
        """Per term, its ℓ1 weights as one float64 per row of ``z_j`` (None for a term that is not an ℓ1 norm)."""
        rows = []
        for K, reg, shape, _ in self.terms:
            if not isinstance(reg, L1):
                rows.append(None)
                continue
            lam = np.asarray(reg.lam, dtype=np.float64)
            lam = lam.reshape(lam.shape + (1,) * (len(shape) - lam.ndim))
            rows.append(np.ascontiguousarray(np.broadcast_to(lam, shape).reshape(-1)))
        return rows

    def _certified(self):
        """Whether the duality gap of :meth:`_gaps` certifies the output: the code has its own ℓ1 term
        (``K_0 = I``, so the output ``z_0`` is its prox) and every split term is a signed ℓ1 norm (a non-negative
        inner code holds only in the limit, where ``F(z_0)`` would be infinite) with positive weights (where
        ``λ_i = 0``, ``s·û`` is feasible only if ``û_i`` is exactly 0, at the optimum: no ``s > 0`` would
        do before, and the gap would stay the whole objective; the residuals decide there)."""
        return (bool(self.terms) and self.terms[0][0] is None
                and all(lam is not None and np.all(lam > 0) for lam in self.l1_rows)
                and not any(reg.nonneg for K, reg, *_ in self.terms if K is not None))

    def _values(self, xo, ys, penalty=None):
        """``F`` at the columns of ``xo`` (data ``ys``), per signal when certified (else the total).
        ``penalty``: the code's own ℓ1 term per signal, when already known."""
        images = self.images @ xo
        row, data = 0, 0.0
        for y in ys:
            r = images[row:row + y.shape[0]]
            r -= y
            data = data + _column_squares(r)
            row += y.shape[0]
        if self.certified:
            own = np.einsum("ij,i->j", np.abs(xo), self.l1_rows[0]) if penalty is None else penalty
            total = 0.5 * data + own
            for (K, *_), lam in zip(self.terms[1:], self.l1_rows[1:]):
                image = images[row:row + K.shape[0]]
                total += np.einsum("ij,i->j", np.abs(image, out=image), lam)
                row += K.shape[0]
            return total
        total = 0.5 * float(np.sum(data))
        for K, reg, shape, sp in self.terms:
            if K is None:
                image = xo
            else:
                image = images[row:row + K.shape[0]]
                row += K.shape[0]
            image = image.reshape(shape + (xo.shape[1],))
            total += sp.value(image) if sp is not None else reg.value(image)
        return total

    def _gaps(self, work, x, scale):
        """Per signal, the duality gap ``F(z_0) − D(θ)`` at the output, an upper bound on ``F(z_0) − F*``.

        The dual of ``min ½Σ‖y_d − A_d x‖² + λ_0‖x‖₁ + Σ_j λ_j‖K_j x‖₁`` is
        ``max Σ_d (r_dᵀy_d − ½‖r_d‖²)`` over ``ΣA_dᵀr_d = u_0 + ΣK_jᵀu_j``,
        ``|u_j| ≤ λ_j`` (``u_0 ≤ λ_0`` for a non-negative code). The x-update's
        optimality condition gives such a point exactly: with ``r_d = y_d − A_d x``
        at the new ``x``, and ``û_j = ρ(K_j x − z_j + w_j)`` (``z_j − w_j``
        from before the update, ``K_0 = I``), ``ΣA_dᵀr_d = Σ_j K_jᵀû_j``. Only the
        bounds on ``û_j`` can fail, by about the dual residual; ``scale`` is
        the largest ``s ≤ 1`` that makes ``s·û`` meet them
        (:func:`proxcore.certificates.dual_scale`, from :meth:`step`), and
        ``D = s·Σ r_dᵀy_d − ½s²Σ‖r_d‖²``. (Scaling ``ρw_j``, which meets the
        bounds, to mend the equality instead gives about twice the gap.)
        """
        rr = ry = 0.0
        for A, y in zip(self.A, work.ys):
            r = y - A @ x
            rr = rr + _column_squares(r)
            ry = ry + np.einsum("ij,ij->j", r, y)
        return np.maximum(work.values - (scale * ry - 0.5 * scale * scale * rr), 0.0)

    def _factor(self):
        """``(B, E)`` when the data maps factor through the one split term, ``A = B K`` (two-layer ML-BP:
        ``A = D₁D₂``, ``K = D₂``) and ``K`` has few enough rows ``r`` to pay (``3r² < n²``), else None.

        Then ``M = ρI + Kᵀ(BᵀB + ρI)K`` and, by Woodbury, with ``E = KKᵀ`` and
        ``C = (ρ(BᵀB + ρI)⁻¹ + E)⁻¹`` (one ``r×r`` matrix per ρ level), the
        x-update and the image ``K x`` take ``2rn + 3r²`` multiplications per
        signal instead of ``n² + 2rn`` (:meth:`_x_update`): 12 % fewer on ML-BP.
        """
        if len(self.terms) != 2 or self.terms[0][0] is not None or not self.A:
            return None
        K = self.terms[1][0]
        r = K.shape[0]
        if 3 * r * r >= self.n * self.n:
            return None
        A = np.vstack(self.A)
        B = np.linalg.lstsq(K.T, A.T, rcond=None)[0].T  # min ‖A − BK‖
        if np.linalg.norm(A - B @ K) > 1e-12 * max(np.linalg.norm(A), 1e-300) * self.n:
            return None
        return B, np.ascontiguousarray(K @ K.T)

    def _x_update(self, diffs, data, rho, groups):
        """``x = M⁻¹(data + ρΣ_j K_jᵀd_j)`` (``d_j`` = ``diffs``) and the images ``K_j x`` of the split terms.

        Dense: one product with the inverse ``M⁻¹`` (per ρ level), then one per
        ``K_j``. Factored (:meth:`_factor`, ``d = (d_0, d_1)``, ``data = Bᵀy``):
        with ``t = K d_0``, ``h = data + ρd_1``, ``v = ρt + E h`` and
        ``g = (h − C v)/ρ``, ``x = d_0 + Kᵀg`` and ``K x = t + E g``.
        """
        def per_level(rows, v):
            if len(groups) == 1:
                return self._solver(groups[0][0]) @ v
            out = np.empty((rows, v.shape[1]))
            for lv, cols in groups:  # straight into the columns: no temporary per level
                np.matmul(self._solver(lv), v[:, cols], out=out[:, cols])
            return out

        if self.factor is not None:
            (K, *_), (d0, d1) = self.terms[1], diffs
            E = self.factor[1]
            t = K @ d0
            h = d1 * rho
            h += data
            v = E @ h
            v += t * rho
            g = h - per_level(K.shape[0], v)
            g /= rho
            x = K.T @ g
            x += d0
            kx = E @ g
            kx += t
            return x, [kx]
        rhs = data.copy()
        for (K, *_), d in zip(self.terms, diffs):
            rhs += rho * (d if K is None else K.T @ d)
        x = per_level(self.n, rhs)
        return x, [K @ x for K, *_ in self.terms if K is not None]

    def _solver(self, level):
        if level not in self.solvers:
            import scipy.linalg

            if self.factor is not None:  # C = (ρ(BᵀB + ρI)⁻¹ + E)⁻¹, both terms positive definite
                B, E = self.factor
                rho = self.rho0 * 2.0**level
                r = E.shape[0]
                H = B.T @ B + rho * np.eye(r)
                S = rho * scipy.linalg.cho_solve(scipy.linalg.cho_factor(H), np.eye(r)) + E
                self.solvers[level] = np.ascontiguousarray(scipy.linalg.cho_solve(scipy.linalg.cho_factor(S),
                                                                                  np.eye(r)))
                return self.solvers[level]

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
    def _groups(levels):
        """``(level, columns)`` for each ρ level in use; the running signals are kept sorted by level, so that each
        level's columns are one slice (a view: no copies in the products)."""
        if not levels.size or levels[0] == levels[-1]:
            return [(int(levels[0]) if levels.size else 0, slice(None))]
        bounds = [0, *(np.flatnonzero(np.diff(levels)) + 1), levels.size]
        return [(int(levels[a]), slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]

    def _prox(self, reg, shape, v, groups):
        out = None
        for level, cols in groups:
            block = v[:, cols]
            prox = reg.prox(block.reshape(shape + (block.shape[1],)), 1.0 / (self.rho0 * 2.0**level))
            prox = np.asarray(prox, dtype=np.float64).reshape(block.shape)
            if len(groups) == 1:
                return prox
            out = np.empty_like(v) if out is None else out
            out[:, cols] = prox
        return out

    def _output(self, x, z):
        return z[0] if self.terms and self.terms[0][0] is None else x

    def init(self, x0):
        x = np.asarray(x0, dtype=np.float64).reshape(self.n, -1)
        count = x.shape[1]
        self.stopped, self.stopped_objective = np.zeros_like(x), 0.0
        z = tuple(x.copy() if K is None else K @ x for K, *_ in self.terms)
        output = self._output(x, z)
        values = self._values(output, self.ys)
        work = _Work(np.arange(count), z, tuple(np.zeros_like(zj) for zj in z), z, self.data, tuple(self.ys),
                     values, output)
        return ADMMState(0, float(np.sum(values)), np.full(self.batch, np.inf), np.zeros(count, dtype=int), work,
                         self.stopped, self.layout)

    def step(self, s):
        from .. import _kernels  # numba: loaded on first use, not at import

        work, levels = s.work, s.levels.copy()
        k = s.iteration + 1
        error = s.error.reshape(-1).copy()
        level = levels[work.active]
        rho = self.rho0 * 2.0**level  # per running signal (column)
        groups = self._groups(level)
        x, images = self._x_update(work.diffs, work.data, rho, groups)
        images = iter(images)
        balance = k <= self._BALANCE_UNTIL and k % self._BALANCE_EVERY == 0
        residuals = not self.certified or balance
        z, w, diffs = [], [], []
        r2 = kx2 = z2 = dual = own = 0.0
        inv_rho = 1.0 / rho
        check = self.certified and k % self._CHECK_EVERY == 0
        feasible = 1.0  # the dual point's scale, for the certificate (see _gaps)
        for (K, reg, shape, _), lam, z_old, w_old, d_old in zip(self.terms, self.l1_rows, work.z, work.w, work.diffs):
            kx = x if K is None else next(images)
            if check:  # û_j = ρ(K_j x − (z_j − w_j)), see _gaps
                u = kx - d_old
                u *= rho
                feasible = np.minimum(feasible, certificates.dual_scale(u, lam, reg.nonneg and K is None, 1))
            if lam is not None:  # an ℓ1 norm: the update in one pass
                zj, wj, diff, sums = _kernels.admm_l1_update(kx, z_old, w_old, lam, inv_rho, self._RELAX, reg.nonneg)
                if K is None:
                    own = sums[3]
            else:
                wj = self._RELAX * kx  # over-relaxation (Eckstein & Bertsekas), then the scaled dual
                wj += (1 - self._RELAX) * z_old
                wj += w_old
                zj = self._prox(reg, shape, wj, groups)
                wj -= zj
                diff = zj - wj
                sums = (_column_squares(kx - zj), _column_squares(kx), _column_squares(zj)) if residuals else None
            if residuals:  # ‖Kx − z‖², ‖Kx‖², ‖z‖² and the dual residual Kᵀ(z − z_prev) (over ρ)
                r2, kx2, z2 = r2 + sums[0], kx2 + sums[1], z2 + sums[2]
                dz = zj - z_old
                dual = dual + (dz if K is None else K.T @ dz)
            z.append(zj)
            w.append(wj)
            diffs.append(diff)
        if not self.certified or check or k % self.evaluate_every == 0 or k == self.max_iter:
            output = self._output(x, z)
            values = self._values(output, work.ys, own if self.certified else None)
            objective = self.stopped_objective + float(np.sum(values))
        else:  # the latest evaluation's output and objective (signals stop only at checks)
            output, values, objective = work.output, work.values, s.objective
        work = _Work(work.active, tuple(z), tuple(w), tuple(diffs), work.data, work.ys, values, output)
        running = error[work.active]
        if residuals and self.terms:  # relative primal residual, relative dual residual
            scale = np.maximum(np.maximum(np.sqrt(kx2), np.sqrt(z2)), np.maximum(self.code_scale[work.active], 1e-300))
            ktw = sum(wj if K is None else K.T @ wj for (K, *_), wj in zip(self.terms, w))
            primal = np.sqrt(r2) / scale
            dual = np.sqrt(_column_squares(dual)) / np.maximum(np.sqrt(_column_squares(ktw)), 1e-300)
        if not self.terms:  # least squares: solved in one step
            running = np.zeros(x.shape[1])
        elif not self.certified:
            running = np.maximum(primal, dual)
        elif check:
            running = self._gaps(work, x, feasible) / np.maximum(values, 1e-300)
        error[work.active] = running
        if balance and self.terms:  # ρ up when the relative primal residual dominates, down for the dual
            ratio = self._BALANCE_RATIO
            step = np.where(primal > ratio * dual, 1, np.where(dual > ratio * primal, -1, 0))
            step = np.where(np.abs(level + step) <= self._LEVELS, step, 0)
            if step.any():
                levels[work.active] = level + step
                w = tuple(wj * 2.0**-step for wj in w)  # the scaled duals follow ρ, and so do z_j − w_j
                work = work._replace(w=w, diffs=tuple(zj - wj for zj, wj in zip(z, w)))
                order = np.argsort(levels[work.active], kind="stable")
                work, running = self._columns(work, order), running[order]
        done = running <= self.tol
        if done.any():
            work = self._stop(work, done)
        return ADMMState(k, objective, error.reshape(self.batch), levels, work, self.stopped, self.layout)

    def _stop(self, work, done):
        """Record the signals in ``done`` as final and drop them from ``work``."""
        self.stopped = self.stopped.copy()  # earlier states keep theirs
        self.stopped[:, work.active[done]] = work.output[:, done]
        if self.certified:
            self.stopped_objective += float(np.sum(work.values[done]))
        else:
            self.stopped_objective += self._values(work.output[:, done], tuple(y[:, done] for y in work.ys))
        return self._columns(work, ~done)

    @staticmethod
    def _columns(work, index):
        """``work`` restricted to (or reordered by) the columns ``index``."""
        def take(a):
            return a[:, index]

        z = tuple(map(take, work.z))
        output = z[0] if work.z and work.output is work.z[0] else take(work.output)  # the output is often z_0
        return _Work(work.active[index], z, tuple(map(take, work.w)), tuple(map(take, work.diffs)), take(work.data),
                     tuple(map(take, work.ys)), work.values[index] if np.ndim(work.values) else work.values, output)


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
        Converged when every signal's criterion is at most ``tol``. For ADMM
        on problems whose terms are all ℓ1 norms (the multi-layer BP family,
        a per-atom ``λ``, a non-negative deepest code, analysis ℓ1): the
        relative duality gap ``(F(x) − D(θ))/F(x)``, a certificate that
        ``F(x) − F* ≤ tol·F(x)`` for that signal, checked every 5 iterations;
        the output and its objective are evaluated at these checks and at
        the last iteration (every iteration when a ``callback`` or a
        ``target`` is given), so ``history["objective"]`` repeats the latest
        evaluation in between (it saves a quarter of an iteration's work).
        For other ADMM problems, the relative residuals: the primal residual
        ``‖K x − z‖`` (relative to ``max(‖Kx‖, ‖z‖, ‖y‖/sqrt(L_f))``) and
        the dual residual ``ρ‖Kᵀ(z − z_prev)‖`` (relative to ``‖ρKᵀw‖``).
        For Condat–Vũ the changes of the code (relative to
        ``max(‖x‖, ‖y‖/sqrt(L_f))``) and of the dual variables (relative to
        their size) in one iteration. With ADMM a signal whose criterion is
        met stops iterating (its code is final); the others go on.
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
        # the output is evaluated at the certificate's checks unless a callback or a target needs every iteration's
        every = 1 if callback is not None or target is not None else _ADMM._CHECK_EVERY
        engine = _ADMM(problem, prox_reg, splits, dtype, tol, evaluate_every=every, max_iter=max_iter)

        def finish_admm(state):
            values = problem.forward(state.x)
            return {"codes": tuple(values[n] for n in problem.code_nodes),
                    "step": float(engine.rho0 * 2.0 ** (np.median(state.levels) if state.levels.size else 0))}

        return run(engine, x0, max_iter=max_iter, tol=tol, target=target, callback=callback,
                   criterion=engine.criterion, finish=finish_admm, problem=problem)
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
