"""The exact engine: Condat–Vũ primal–dual splitting for any problem the composer builds.

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
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validation import InvalidParameterError, check_array, check_scalar
from ..problem import Problem
from ..regularizers import L1, Zero
from ._loop import check_loop_options, run

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


def primal_dual(problem, *, max_iter=20_000, tol=1e-9, step=None, balance=1.0, x0=None, target=None,
                callback=None, check_step=True):
    """The exact ``primal-dual`` engine (Condat–Vũ) for any problem the composer builds.

    Parameters
    ----------
    problem : pc.Problem
        Any problem: a chain of any depth or a general graph, least-squares
        data terms and convex regularizers (non-convex ones are refused).
    max_iter : int, default 20000
    tol : float, default 1e-9
        Converged when, for every signal, the changes of the code (relative
        to ``max(‖x‖, ‖y‖/sqrt(L_f))``) and of the dual variables (relative
        to their size) in one iteration are both at most ``tol``.
    step : float, optional
        The primal step ``τ``. Default: ``1/(L_f/2 + s)`` with ``s = balance·L_f/2``
        (``L_f`` bounded from above by ``Σ_d ‖A_d‖²``) and dual steps
        ``σ_j = s/(J‖K_j‖²)`` for the ``J`` split terms, so that
        ``τ(L_f/2 + Σ_j σ_j‖K_j‖²) = 1`` up to a 1% margin. A given ``step``
        above ``1/(L_f/2)`` is refused unless ``check_step=False``; the dual
        steps are then set to meet the condition.
    balance : float, default 1.0
        The weight of the dual steps against the primal one (``s`` above).
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
    violation where ``res.objective`` is finite).

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
    balance = check_scalar(balance, "balance", method, low=0.0, low_open=True, high=math.inf, high_open=True)
    dtype = problem.dtype
    shape = problem.in_shape + problem.batch_shape
    if x0 is None:
        x0 = np.zeros(shape, dtype=dtype)
    else:
        x0 = check_array(x0, "x0")
        if x0.shape != shape:
            raise InvalidParameterError(f"The 'x0' parameter of {method} must have shape {shape}; got {x0.shape}.")
        x0 = x0.astype(dtype)  # a copy: the caller's array is never touched
    prox_reg, splits = _compile(problem)
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
               criterion="relative primal-dual change", finish=finish)
