"""ML-ISTA and ML-FISTA: nested proximal gradient mapping for multi-layer basis pursuit.

For a chain ``y ≈ D_1 γ_1``, ``γ_{i−1} = D_i γ_i`` with regularizers ``g_i``
(DESIGN §1; Sulam, Aberdam, Beck & Elad, *On Multi-Layer Basis Pursuit*),
each iteration computes ``γ̂_i = D_(i+1,L) z`` for every layer from the
current deepest code ``z``, sets ``γ_0 = y`` and, for ``i = 1..L``::

    γ_i ← prox_{τ_i g_i}(γ̂_i − μ_i D_iᵀ(D_i γ̂_i − γ_{i−1})),    τ_i = μ_1 μ_2 ⋯ μ_i

using the new ``γ_{i−1}``; the new deepest code is ``γ_L``. Layer ``i``
thresholds at ``τ_i λ_i``, its *effective* step. For two layers this is the
talk's ``γ_2 ← T_{tλ_2}(γ_2 − (t/μ) D_2ᵀ(γ_1 − T_{μλ_1}(γ_1 − μ D_1ᵀ(D_1γ_1 − y))))``
with ``μ_1 = μ`` and ``μ_2 = t/μ``. (The talk's general slide writes
``T_{μ_iλ_i}``, which thresholds layer 2 at ``(t/μ)λ_2``: a different,
wrong fixed point.) ML-FISTA evaluates the same map at the extrapolated
point ``z = γ_L^{k+1} + ρ_k(γ_L^{k+1} − γ_L^k)``.

With ``g_i = 0`` for ``i < L`` the update is exactly ISTA (FISTA) with step
``τ_L`` on the effective dictionary ``D_(1,L)``; with one layer it is ISTA
(FISTA) with step ``μ_1``.

Cost: by linearity the points ``γ̂_i`` of the extrapolated code are the same
combination of the iterates' codes, and ``D_i γ̂_i = γ̂_{i−1}`` for
``i ≥ 2``, so an iteration takes ``L`` products with the ``D_i`` and ``L``
with their adjoints, and gives the objective at every iterate for free.
As in FISTA, the extrapolated codes are never stored: each layer's step is
one fused pass from the iterates' codes (:func:`~proxcore.engines.proximal_gradient.proximal_step`),
each residual ``γ̂_{i−1} − γ_{i−1}`` another, and without a callback every
array is written into the buffers of the state two iterations back.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validation import InvalidParameterError, check_scalar
from ..operators import result_dtype
from ..problem import Problem
from ..regularizers import L1
from ._loop import check_loop_options, initial_point, run
from ._workspace import Workspace
from .proximal_gradient import (_extrapolated, _extrapolated_residual, _into, _step_control,
                                proximal_step)

__all__ = ["ml_ista", "ml_fista", "MultiLayerState", "default_steps"]

#: Default fraction of each step bound (μ_1 < 1/‖D_1‖², μ_i < 4/(3‖D_i‖²)).
DEFAULT_FRACTION = 0.5


class MultiLayerState(NamedTuple):
    """The state after ``iteration`` steps (what callbacks receive).

    The next step starts from the extrapolated point ``z = x + ρ(x − x_prev)``
    (``ρ`` per signal; ``z = x`` for ML-ISTA and where ML-FISTA restarts),
    whose codes are the same combination of the iterates' codes: the
    properties ``z`` and ``z_codes`` (computed when read).
    """

    iteration: int
    x: np.ndarray  # γ_L^k, the deepest code
    objective: float  # F(γ_L^k), summed over the batch
    error: np.ndarray  # ‖γ_L^k − z^{k−1}‖ / max(‖γ_L^k‖, ‖z^{k−1}‖), per signal
    codes: tuple  # (D_(1,L) x, γ_1, ..., γ_L): the image in data space, then every code of x
    codes_prev: tuple  # those of the previous iterate (codes itself for ML-ISTA and at the start)
    rho: np.ndarray  # ρ_k per signal, in x's dtype
    residual: np.ndarray  # D_(1,L) z − y, of which the first layer's gradient is D_1ᵀ
    momentum: np.ndarray  # t_k per signal (ML-FISTA)

    @property
    def z(self):
        """The extrapolated deepest code ``x + ρ(x − x_prev)``, where the next step evaluates the mapping."""
        return _extrapolated(self.x, self.codes_prev[-1], self.rho)

    @property
    def z_codes(self):
        """Its codes ``(D_(1,L) z, γ̂_1, …, γ̂_L = z)``, the same combination of the iterates' codes."""
        return tuple(_extrapolated(c, p, self.rho) for c, p in zip(self.codes, self.codes_prev))


def step_bounds(problem):
    """The theorem's upper bounds on ``(μ_1, …, μ_L)``: ``1/‖D_1‖²`` and ``4/(3‖D_i‖²)`` for ``i ≥ 2``."""
    bounds = []
    for i, layer in enumerate(problem.layers):
        norm2 = layer.operator.norm() ** 2
        bounds.append(math.inf if norm2 == 0 else (1.0 if i == 0 else 4.0 / 3.0) / norm2)
    return bounds


def default_steps(problem, fraction=DEFAULT_FRACTION):
    """Default ``(μ_1, …, μ_L)``: ``fraction`` of each bound of :func:`step_bounds` (1.0 where unbounded)."""
    return [fraction * b if math.isfinite(b) else 1.0 for b in step_bounds(problem)]


class _NestedGradientMapping:
    """The engine: ``init`` and ``step`` over :class:`MultiLayerState`.

    Each layer's step is one :func:`~proxcore.engines.proximal_gradient.proximal_step`
    from the iterates' codes (the extrapolated code is never stored), and
    each residual ``γ̂_{i−1} − γ_{i−1}`` one fused pass; the large arrays
    come from ``workspace``, recycled as in FISTA.
    """

    def __init__(self, layers, y, steps, *, accelerated, restart, dtype, workspace):
        self.ops = [layer.operator for layer in layers]
        self.regs = [layer.regularizer for layer in layers]
        # the inner codes D_(i+1,L) x need not meet an inner layer's x ≥ 0: count its penalty (see Notes)
        self.value_regs = [L1(reg.lam) if isinstance(reg, L1) and reg.nonneg and i < len(layers) - 1 else reg
                           for i, reg in enumerate(self.regs)]
        # read as a (signal, batch) view by the fused passes, and writable (see _LeastSquaresTerm)
        self.y = y if y.flags.c_contiguous and y.flags.writeable else np.array(y, order="C")
        self.mu = [dtype.type(m) for m in steps]
        self.tau = list(np.cumprod(np.asarray(steps, dtype=np.float64)))
        self.accelerated, self.restart = accelerated, restart
        self.k = [len(op.in_shape) for op in self.ops]  # the signal axes of γ_i
        self.batch = self.y.shape[len(self.ops[0].out_shape):]
        self.dtype = dtype
        self.ws = workspace
        self._image_like = [(tuple(op.out_shape) + self.batch, result_dtype(op, dtype)) for op in self.ops]
        self._grad_like = [(tuple(op.in_shape) + self.batch, result_dtype(op, dtype)) for op in self.ops]

    def _codes(self, x):
        """``(D_(1,L) x, γ_1, …, γ_L)`` for the deepest code ``x``, into workspace buffers."""
        codes = [x]
        for op, like in zip(reversed(self.ops), reversed(self._image_like)):
            codes.append(_into(self.ws, like, op.apply_into, codes[-1]))
        return tuple(reversed(codes))

    def _state(self, iteration, codes, codes_prev, rho, momentum, error, penalty=None):
        residual, distance = _extrapolated_residual(self.ws, codes[0], codes_prev[0], rho, self.y)
        objective = 0.5 * float(np.sum(distance))
        objective += sum(reg.value(code) for reg, code in zip(self.value_regs[:-1], codes[1:-1]))
        objective += self.value_regs[-1].value(codes[-1]) if penalty is None else float(np.sum(penalty))
        return MultiLayerState(iteration, codes[-1], objective, error, codes, codes_prev, rho, residual, momentum)

    def init(self, x0):
        codes = self._codes(x0)
        return self._state(0, codes, codes, np.zeros(self.batch, self.dtype), np.ones(self.batch),
                           np.full(self.batch, np.inf))

    def step(self, s):
        new = self._step(s)
        self.ws.release(s, keep=new)  # the previous state's buffers: the next step writes into them
        return new

    def _step(self, s):
        ws = self.ws
        rho = s.rho.ravel()
        residual = s.residual  # D_(1,L) z − y; then γ̂_{i−1} − γ_{i−1}
        last = len(self.ops) - 1
        for i, (op, reg, mu, tau) in enumerate(zip(self.ops, self.regs, self.mu, self.tau)):
            # D_i γ̂_i = γ̂_{i−1} (and D_(1,L) z for i = 1): the gradient needs only the adjoint
            grad = _into(ws, self._grad_like[i], op.adjoint_into, residual)
            if residual is not s.residual:
                ws.release(residual)
            code, code_prev = s.codes[i + 1], s.codes_prev[i + 1]
            out = ws.empty(code.shape, self.dtype)
            gamma, stats = proximal_step(reg, code, code_prev, rho, grad, mu, self.k[i], out=out, prox_step=tau)
            ws.release(grad)
            if gamma is not out:  # a prox that ignored the buffer
                ws.release(out)
            if i < last:  # the next layer's residual γ̂_i − γ_i; γ_i itself is needed no more
                residual, _ = _extrapolated_residual(ws, code, code_prev, s.rho, gamma)
                ws.release(gamma)
        codes = self._codes(gamma)
        error, rho, t_next = _step_control(stats, s.momentum, self.accelerated, self.restart, self.dtype, self.batch)
        penalty = stats[4] if len(stats) > 4 else None
        if not self.accelerated:
            return self._state(s.iteration + 1, codes, codes, s.rho, s.momentum, error, penalty)
        return self._state(s.iteration + 1, codes, s.codes, rho, t_next, error, penalty)


def _solve(problem, method, accelerated, *, max_iter=1000, tol=1e-6, step=None, x0=None, target=None,
           callback=None, restart=None, check_step=True):
    max_iter, tol, target, callback = check_loop_options(method, max_iter, tol, target, callback)
    if not isinstance(problem, Problem):
        raise InvalidParameterError(f"{method} expects a pc.Problem (see pc.chain); got {type(problem).__name__}.")
    if not problem.is_chain:
        problem.layers  # raises, saying why the graph is not a chain and which engine takes it
    layers = problem.layers
    n_layers = len(layers)
    bounds = step_bounds(problem)
    steps = default_steps(problem)
    if step is not None:
        given = [step] if np.ndim(step) == 0 else list(step) if isinstance(step, (list, tuple, np.ndarray)) else None
        if given is None or not 1 <= len(given) <= n_layers:
            raise InvalidParameterError(
                f"The 'step' parameter of {method} must be μ_1 (a float) or the {n_layers} layer steps "
                f"(μ_1, …, μ_L); got {step!r}."
            )
        for i, value in enumerate(given):
            steps[i] = check_scalar(value, "step", method, low=0.0, low_open=True)
            if check_step and steps[i] > bounds[i] * (1 + 1e-6):
                rule = "1/‖D_1‖²" if i == 0 else f"4/(3‖D_{i + 1}‖²)"
                raise InvalidParameterError(
                    f"The 'step' parameter of {method}: μ_{i + 1} = {steps[i]!r} exceeds {rule} = {bounds[i]:.6g}, "
                    "the bound of the convergence theorem. Leave step=None for the defaults, or pass "
                    "check_step=False."
                )
    dtype = problem.dtype
    y = np.asarray(problem.y, dtype=dtype)
    x0 = initial_point(x0, problem, method)
    restart = accelerated if restart is None else bool(restart)
    engine = _NestedGradientMapping(layers, y, steps, accelerated=accelerated, restart=restart and accelerated,
                                    dtype=dtype, workspace=Workspace(recycle=callback is None))

    def finish(state):
        return {"codes": tuple(state.codes[1:]), "step": float(engine.tau[-1])}

    return run(engine, x0, max_iter=max_iter, tol=tol, target=target, callback=callback,
               criterion="relative step of the deepest code", finish=finish, problem=problem)


_DOC_OPTIONS = """
    Parameters
    ----------
    problem : pc.Problem
        A chain (``pc.chain``) of any depth; other graphs are refused (use
        ``primal-dual``). Regularizers need only a prox.
    max_iter : int, default 1000
    tol : float, default 1e-6
        Converged when, for every signal, ``‖x⁺ − z‖ ≤ tol·max(‖x⁺‖, ‖z‖)``
        for the deepest code.
    step : float or sequence of float, optional
        ``μ_1`` or ``(μ_1, …, μ_L)``. Default: half of each bound of the
        convergence theorem, ``μ_1 = 1/(2‖D_1‖²)`` and
        ``μ_i = 2/(3‖D_i‖²)`` for ``i ≥ 2`` (for two layers, ``μ < 1/‖D_1‖²``
        and ``t = μ_1μ_2 < 4μ/(3‖D_2‖²)``; deeper chains get the same
        bounds layer by layer, an extension the two-layer theorem does not
        cover). Larger values are refused unless ``check_step=False``. Layer ``i`` thresholds at ``τ_iλ_i``,
        ``τ_i = μ_1⋯μ_i``.
    x0 : array, optional
        Starting deepest code (default zeros); never modified.
    target, callback
        As for every engine.
    check_step : bool, default True

    Returns
    -------
    Result
        ``x`` the deepest code, ``codes`` every layer's code shallowest first
        (computed from ``x``, so ``codes[i−1] = D_{i+1} codes[i]`` exactly),
        ``objective`` the multi-layer BP objective at ``x``, ``history``.

    Notes
    -----
    ML-ISTA and ML-FISTA do not converge to the minimizer of the multi-layer
    BP objective but to a neighbourhood of it that shrinks with ``μ_1``
    (Sulam et al., Thm 1: ``F(γ^{k+1}) − F* ≤ ηε + (β + κt)μ`` once
    ``‖γ^{k+1} − γ^k‖ ≤ tε``); the revised paper claims no ``O(1/k²)`` rate
    for ML-FISTA. Measure the gap against ``method="primal-dual"``, and
    pass a smaller ``step`` (``μ_1``) for a smaller gap at the price of
    more iterations.

    Non-negative inner layers (``pc.L1(λ, nonneg=True)`` on ``γ_i``,
    ``i < L``, the ReLU network's model) are enforced on the thresholded
    iterates, not on the returned codes ``D_(i+1,L)x``, which may have
    negative entries when some ``D_j`` has mixed signs (with ``D_j ≥ 0`` and
    ``x ≥ 0`` they cannot). The reported objective then counts their penalty
    ``λ_i‖γ_i‖₁``, as ``primal-dual`` does, while ``problem.objective(res.x)``
    is ``inf``: ``res.message`` then names each violated node (how many
    negative entries, the lowest, the relative size ``‖min(γ_i, 0)‖/‖γ_i‖``)
    and, when that size exceeds ``tol``, a :class:`proxcore.ConvergenceWarning`
    says so.
"""


def ml_ista(problem, **options):
    """ML-ISTA: nested proximal gradient mapping on the multi-layer BP objective.

    ``F(γ_L) = ½‖y − D_(1,L)γ_L‖² + Σ_{i<L} g_i(D_(i+1,L)γ_L) + g_L(γ_L)``;
    each iteration runs ``γ_i ← prox_{τ_i g_i}(γ̂_i − μ_i D_iᵀ(D_i γ̂_i − γ_{i−1}))``
    for ``i = 1..L`` (module docstring).

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D1, D2 = np.eye(2), np.array([[1.0], [1.0]])
    >>> problem = pc.chain(np.array([2.0, 2.0]), [(D1, pc.Zero()), (D2, pc.L1(1.0))])
    >>> res = pc.solve(problem, method="ml-ista", tol=1e-10, max_iter=5000)
    >>> round(float(res.x[0]), 6)          # ISTA on D1·D2: min (2 − x)² + |x| at x = 1.5
    1.5
    """
    return _solve(problem, "ml-ista", accelerated=False, **options)


def ml_fista(problem, **options):
    """ML-FISTA: ML-ISTA evaluated at an extrapolated point, with adaptive restart by default.

    ``z = γ_L^{k+1} + ρ_k(γ_L^{k+1} − γ_L^k)``, ``ρ_k = (t_k − 1)/t_{k+1}``,
    ``t_{k+1} = (1 + sqrt(1 + 4t_k²))/2``; ``restart=True`` (default) resets
    ``t`` of a signal whose step opposes its momentum. Not monotone.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D1, D2 = np.eye(2), np.array([[1.0], [1.0]])
    >>> problem = pc.chain(np.array([2.0, 2.0]), [(D1, pc.Zero()), (D2, pc.L1(1.0))])
    >>> res = pc.solve(problem, method="ml-fista", tol=1e-10)
    >>> round(float(res.x[0]), 6), len(res.codes)
    (1.5, 2)
    """
    return _solve(problem, "ml-fista", accelerated=True, **options)


ml_ista.__doc__ += _DOC_OPTIONS
ml_fista.__doc__ += _DOC_OPTIONS.replace("    check_step : bool, default True\n", (
    "    restart : bool, default True\n        Adaptive (gradient) restart of the momentum.\n"
    "    check_step : bool, default True\n"))
