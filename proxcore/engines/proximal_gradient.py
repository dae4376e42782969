"""ISTA and FISTA on ``½‖y − Dx‖² + g(x)``, batched over many signals.

One update covers both (Beck & Teboulle 2009)::

    x_{k+1} = prox_{η g}(z_k − η Dᵀ(D z_k − y))
    z_{k+1} = x_{k+1} + β_k (x_{k+1} − x_k)

with ``β_k = 0`` for ISTA and ``β_k = (t_k − 1)/t_{k+1}``,
``t_{k+1} = (1 + sqrt(1 + 4t_k²))/2`` for FISTA. Each iteration costs one
product with the Gram ``DᵀD`` when that is cheaper (:func:`proxcore.linalg.gram`),
else one product with ``D`` and one with ``Dᵀ``: the image of the
extrapolated point is the same combination of images (``D z_{k+1} =
D x_{k+1} + β_k (D x_{k+1} − D x_k)``), so the objective at every iterate
comes for free. The extrapolated point itself is never stored: the state
keeps ``x_k``, ``x_{k−1}`` and ``β``, and the next step forms ``z`` where
it reads them (one pass fewer over the batch than storing it, and a
restart is only ``β = 0``). Without a callback, every iterate is written
into the buffers of the state two iterations back
(:class:`~proxcore.engines._workspace.Workspace`).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from .. import certificates
from .._validation import InvalidParameterError, check_scalar
from ..linalg import gram
from ..operators import result_dtype
from ..problem import Problem
from ..regularizers import L1
from ._loop import check_loop_options, initial_point, run
from ._workspace import Workspace

__all__ = ["ista", "fista", "ProxGradState", "proximal_step"]

_BACKTRACK_FACTOR = 2.0


class ProxGradState(NamedTuple):
    """The state of ISTA/FISTA after ``iteration`` steps (what callbacks receive).

    The next step starts from the extrapolated point ``z = x + β(x − x_prev)``
    (``β`` per signal; ``z = x`` for ISTA and where FISTA restarts), given
    by the properties ``z`` and ``z_image`` (computed when read).
    """

    iteration: int
    x: np.ndarray  # x_k
    objective: float  # F(x_k), summed over the batch
    error: np.ndarray  # ‖x_k − z_{k−1}‖ / max(‖x_k‖, ‖z_{k−1}‖), per signal
    step: float
    image: np.ndarray  # D x_k (or DᵀD x_k when the Gram is used)
    x_prev: np.ndarray  # x_{k−1} (x_k itself for ISTA and at the start)
    image_prev: np.ndarray  # its image
    beta: np.ndarray  # β_k per signal, in x's dtype
    residual: np.ndarray  # D z − y (G z − Dᵀy with the Gram): what the gradient at z is made of
    momentum: np.ndarray  # t_k per signal
    smooth: np.ndarray  # ½‖y − D x_k‖² per signal
    gap: np.ndarray | None  # duality gap per signal, when tracked

    @property
    def z(self):
        """The extrapolated point ``x + β(x − x_prev)``, where the next step takes its gradient."""
        return _extrapolated(self.x, self.x_prev, self.beta)

    @property
    def z_image(self):
        """Its image ``D z`` (``DᵀD z`` with the Gram), the same combination of images."""
        return _extrapolated(self.image, self.image_prev, self.beta)


def _extrapolated(a, a_prev, beta):
    """``a + β(a − a_prev)``, ``β`` one per signal (the trailing axes)."""
    return a + beta.astype(a.dtype, copy=False) * (a - a_prev)


def _columns(a, k):
    """``a`` as a C-contiguous ``(signal size, batch size)`` array (a view when possible)."""
    return np.ascontiguousarray(a).reshape(math.prod(a.shape[:k]), -1)


@functools.singledispatch
def proximal_step(reg, x, x_prev, beta, grad, step, k, out=None, prox_step=None):
    """One proximal gradient step from the iterates, with the per-signal sums an engine needs.

    With the extrapolated point ``z = x + β(x − x_prev)`` (``beta``: one per
    signal, in ``x``'s dtype), computes ``x⁺ = prox_{τ·g}(z − step·grad)``,
    ``τ = prox_step`` (default ``step``; ML-ISTA's layer ``i`` thresholds
    at ``τ_i = μ_1⋯μ_i`` after a gradient step ``μ_i``), and, per signal
    (column of the ``(signal size, batch)`` view; ``k`` signal axes),
    ``stats`` in float64: ``‖x⁺ − z‖²``, ``‖x⁺‖²``, ``‖z‖²``,
    ``⟨z − x⁺, x⁺ − x⟩`` and, when a fifth row is present, ``g(x⁺)``.
    ``out``: a C-contiguous array shaped like ``x`` (or None) that ``x⁺``
    may be written into; an implementation may ignore it and return a new array.

    Returns ``(x⁺, stats)``. The default forms ``z``, takes the
    regularizer's prox and makes one more pass for the sums; a regularizer
    may register a version that does everything in one pass, ``z`` never
    stored (``L1`` does).

    Examples
    --------
    ISTA's step (``β = 0``) on ``½(3 − x)² + |x|`` from ``x = 0`` with step 1 lands on the minimizer 2:

    >>> import numpy as np, proxcore as pc
    >>> from proxcore.engines.proximal_gradient import proximal_step
    >>> x = np.zeros((1, 1))
    >>> x_next, stats = proximal_step(pc.L1(1.0), x, x, np.zeros(1), np.array([[-3.0]]), 1.0, 1)
    >>> x_next, stats[:, 0]             # ‖x⁺ − z‖², ‖x⁺‖², ‖z‖², ⟨z − x⁺, x⁺ − x⟩, |x⁺|
    (array([[2.]]), array([ 4.,  4.,  0., -4.,  2.]))
    """
    from .. import _kernels

    z, _ = _kernels.extrapolate(_columns(x, k), _columns(x_prev, k), beta)
    z = z.reshape(x.shape)
    x_next = np.asarray(reg.prox(z - step * grad, step if prox_step is None else prox_step), dtype=x.dtype)
    return x_next, _kernels.step_sums(_columns(x_next, k), _columns(z, k), _columns(x, k))


@proximal_step.register
def _(reg: L1, x, x_prev, beta, grad, step, k, out=None, prox_step=None):
    from .. import _kernels

    lam = np.asarray(reg.lam, dtype=np.float64).ravel()  # one weight per row of the (signal, batch) view, or one
    thr = (lam * (step if prox_step is None else prox_step)).astype(x.dtype)
    x_next, stats = _kernels.l1_step(
        _columns(x, k), _columns(x_prev, k), beta, _columns(grad.astype(x.dtype, copy=False), k),
        x.dtype.type(step), thr, lam, reg.nonneg, _columns_of(out, k),
    )
    return _shaped(x_next, out, x.shape), stats


def _step_control(stats, t, accelerated, restart, dtype, batch):
    """``(error, β_k, t_{k+1})`` per signal in the batch's shape, from :func:`proximal_step`'s sums.

    The relative step ``‖x⁺ − z‖ / max(‖x⁺‖, ‖z‖)`` and, with ``accelerated``,
    FISTA's momentum, restarted where the step opposes it when ``restart``
    (formulas: :func:`proxcore._kernels.step_control`); the last two are None
    without ``accelerated``.
    """
    from .. import _kernels

    return tuple(a if a is None else a.reshape(batch) for a in _kernels.step_control(stats, t, accelerated, restart,
                                                                                      dtype))


def _extrapolated_residual(ws, a, a_prev, beta, offset):
    """``(a + β(a − a_prev) − offset, ‖a − offset‖²)``, the second per signal, in one fused pass.

    ``beta`` has the batch's shape; the first output is a buffer from the
    workspace ``ws``. On images it is the residual at the extrapolated point
    and twice the data term at the iterate.
    """
    from .. import _kernels

    k = a.ndim - beta.ndim
    buffer = ws.empty(a.shape, a.dtype)
    result, distance = _kernels.extrapolate(
        _columns(a, k), _columns(a_prev, k), beta.astype(a.dtype, copy=False).ravel(), _columns_of(buffer, k),
        _columns(offset.astype(a.dtype, copy=False), k))
    return _shaped(result, buffer, a.shape), distance.reshape(beta.shape)


def _columns_of(out, k):
    """The ``(signal size, batch size)`` view of an output buffer, or None."""
    return None if out is None else out.reshape(math.prod(out.shape[:k]), -1)


def _shaped(result, out, shape):
    """A kernel's 2-D result in the signals' shape: the buffer ``out`` itself when it was written into."""
    if result is None:
        return None
    return out if out is not None else result.reshape(shape)


class _LeastSquaresTerm:
    """``f(x) = ½‖Dx − y‖²`` per signal, through the Gram when it is cheaper.

    ``image`` and ``grad`` take their outputs from a :class:`Workspace`.
    """

    def __init__(self, D, y, dtype):
        self.D = D
        # once: the fused passes read it as a (signal, batch) view, and a writable one (the problem's data is
        # read-only, which the kernels would copy on every call to keep one compiled signature)
        self.y = y if y.flags.c_contiguous and y.flags.writeable else np.array(y, order="C")
        self.k_in = len(D.in_shape)
        self.k_out = len(D.out_shape)
        self.G = gram(D)
        self.yy = _column_dot(self.y, self.y, self.k_out)
        if self.G is not None:
            self.b = np.asarray(D.adjoint(y), dtype=dtype)
        # the outputs' shapes and dtypes, the same every iteration: the image is D x (G x with the Gram)
        batch = self.y.shape[self.k_out:]
        self._image_op = self.G if self.G is not None else D
        self._image_like = (tuple(self._image_op.out_shape) + batch, result_dtype(self._image_op, dtype))
        self._grad_like = (tuple(D.in_shape) + batch, result_dtype(D, dtype))

    def image(self, x, ws):
        return _into(ws, self._image_like, self._image_op.apply_into, x)

    def residual(self, image, image_prev, beta, ws):
        """``(D z − y, ‖Dx − y‖²)`` per signal, ``z = x + β(x − x_prev)``, from the images, in one pass.

        With the Gram, ``image`` is ``G x`` and the first is ``G z − Dᵀy``
        (the gradient itself); the second is then None.
        """
        offset = self.y if self.G is None else self.b
        residual, distance = _extrapolated_residual(ws, image, image_prev, beta, offset)
        return residual, (distance if self.G is None else None)

    def grad(self, residual, ws):
        """``∇f(z)`` from :meth:`residual`'s first output: ``Dᵀ(D z − y)``, or that output itself with the Gram."""
        if self.G is not None:
            return residual
        return _into(ws, self._grad_like, self.D.adjoint_into, residual)

    def correlation(self, x, image):
        """``Dᵀ(y − Dx)``, the negative gradient at ``x``."""
        if self.G is not None:
            return self.b - image
        return self.D.adjoint(self.y - image)

    def value(self, x, image):
        if self.G is not None:
            xGx, xb = _column_dot(x, image, self.k_in), _column_dot(x, self.b, self.k_in)
            return np.maximum(0.5 * xGx - xb + 0.5 * self.yy, 0.0)
        r = image - self.y
        return 0.5 * _column_dot(r, r, self.k_out)

    def cross(self, x, image):
        """``rᵀy`` with ``r = y − Dx``."""
        if self.G is not None:
            return self.yy - _column_dot(x, self.b, self.k_in)
        return _column_dot(self.y - image, self.y, self.k_out)


def _into(ws, like, apply_into, x):
    """An operator's ``apply_into(x, out)`` into a buffer of ``like = (shape, dtype)`` from ``ws`` (returned if unused)."""
    out = ws.empty(*like)
    result = apply_into(x, out)
    if result is not out:  # an operator may return an array of its own
        ws.release(out)
    return result


def _column_dot(a, b, k):
    """``Σ a·b`` over the first ``k`` (signal) axes, per signal, without a product temporary."""
    rows = math.prod(a.shape[:k])
    return np.einsum("ij,ij->j", a.reshape(rows, -1), b.reshape(rows, -1)).reshape(a.shape[k:])


def _lasso_gap(f, reg, x, image, smooth, free):
    """The duality gap per signal from the quantities the engine already has (``free``: the atoms with λ_i = 0)."""
    c = f.correlation(x, image)
    return certificates.l1_gap(x, c, 2 * smooth, f.cross(x, image), reg.lam, reg.nonneg, f.k_in, free)


class _ProximalGradient:
    """The engine: ``init`` and ``step`` over :class:`ProxGradState`.

    Its large arrays come from ``workspace``: with recycling (no callback
    that could keep a state), each iteration writes into the buffers of the
    state two iterations back and allocates nothing as large as the batch.
    """

    def __init__(self, f, reg, step, *, accelerated, restart, backtracking, free, track_gap, workspace):
        self.f, self.reg, self.free = f, reg, free
        self.accelerated, self.restart, self.backtracking = accelerated, restart, backtracking
        self.step0 = step
        self.track_gap = track_gap
        self.ws = workspace

    def _state(self, iteration, x, image, error, step, x_prev, image_prev, beta, momentum, penalty=None):
        residual, distance = self.f.residual(image, image_prev, beta, self.ws)
        smooth = self.f.value(x, image) if distance is None else 0.5 * distance
        penalty = self.reg.value(x) if penalty is None else float(penalty.sum())
        objective = float(smooth.sum()) + penalty
        gap = _lasso_gap(self.f, self.reg, x, image, smooth, self.free) if self.track_gap else None
        return ProxGradState(iteration, x, objective, error, step, image, x_prev, image_prev, beta, residual,
                             momentum, smooth, gap)

    def init(self, x0):
        image = self.f.image(x0, self.ws)
        batch = x0.shape[self.f.k_in:]
        error = np.full(batch, np.inf)
        return self._state(0, x0, image, error, self.step0, x0, image, np.zeros(batch, x0.dtype), np.ones(batch))

    def step(self, s):
        new = self._step(s)
        self.ws.release(s, keep=new)  # the previous state's buffers: the next step writes into them
        return new

    def _step(self, s):
        ws = self.ws
        k_in = self.f.k_in
        dtype = s.x.dtype
        batch = s.x.shape[k_in:]
        grad = self.f.grad(s.residual, ws)  # at z = x + β(x − x_prev)
        beta = s.beta.ravel()
        step = s.step
        while True:
            out = ws.empty(s.x.shape, dtype)
            x, stats = proximal_step(self.reg, s.x, s.x_prev, beta, grad, dtype.type(step), k_in, out=out)
            image = self.f.image(x, ws)
            if not self.backtracking or self._sufficient_decrease(s, grad, x, image, step):
                break
            ws.release(out, x, image)
            step /= _BACKTRACK_FACTOR
        if x is not out:  # a prox that ignored the buffer
            ws.release(out)
        if grad is not s.residual:  # it is with the Gram (or D the identity), and the state keeps it
            ws.release(grad)
        error, beta, t_next = _step_control(stats, s.momentum, self.accelerated, self.restart, dtype, batch)
        penalty = stats[4] if len(stats) > 4 else None
        if not self.accelerated:  # z = x: the next step starts from x itself
            return self._state(s.iteration + 1, x, image, error, step, x, image, s.beta, s.momentum, penalty)
        return self._state(s.iteration + 1, x, image, error, step, s.x, s.image, beta, t_next, penalty)

    def _sufficient_decrease(self, s, grad, x, image, step):
        # Beck–Teboulle: f(x) <= f(z) + <x − z, ∇f(z)> + ‖x − z‖²/(2η), summed over the batch
        z = s.z  # formed when read: once
        dx = x - z
        f_x = float(np.sum(self.f.value(x, image)))
        f_z = float(np.sum(self.f.value(z, s.z_image)))
        model = f_z + float(np.vdot(dx, grad)) + float(np.vdot(dx, dx)) / (2 * step)
        return f_x <= model + 10 * np.finfo(x.dtype).eps * max(abs(f_z), abs(f_x))


def _prepare(problem, method, x0, step, backtracking, check_step):
    if not isinstance(problem, Problem):
        raise InvalidParameterError(f"{method} expects a pc.Problem (see pc.chain); got {type(problem).__name__}.")
    if len(problem.layers) != 1:
        raise InvalidParameterError(
            f"{method} solves one-layer problems (a prox on the only code); this problem has "
            f"{len(problem.layers)} layers: use method='ml-ista', 'ml-fista' or 'primal-dual'."
        )
    (layer,) = problem.layers
    D, reg = layer.operator, layer.regularizer
    dtype = problem.dtype
    y = np.asarray(problem.y, dtype=dtype)
    x0 = initial_point(x0, problem, method)
    f = _LeastSquaresTerm(D, y, dtype)
    if backtracking:
        if step is not None:
            raise InvalidParameterError(f"{method}: pass either step= or backtracking=True, not both.")
        step = 1.0 / _lipschitz_lower_bound(D)
    else:
        lipschitz = D.norm() ** 2
        bound = 1.0 / lipschitz if lipschitz > 0 else math.inf
        if step is None:
            step = bound if lipschitz > 0 else 1.0
        else:
            step = check_scalar(step, "step", method, low=0.0, low_open=True)
            if check_step and step > bound * (1 + 1e-6):
                raise InvalidParameterError(
                    f"The 'step' parameter of {method} must be at most 1/L = {bound:.6g} "
                    f"(L = ‖D‖² = {lipschitz:.6g}) for the convergence guarantee; got {step!r}. "
                    "Leave step=None for 1/L, use backtracking=True, or pass check_step=False."
                )
    return f, reg, float(step), x0


def _lipschitz_lower_bound(D):
    """A cheap lower bound on ‖D‖², the starting point of backtracking."""
    rng = np.random.default_rng(0)
    v = rng.standard_normal(tuple(D.in_shape))
    w = D.apply(v)
    value = float(np.vdot(w, w) / np.vdot(v, v))
    return value if value > 0 else 1.0


def _solve(problem, method, accelerated, *, max_iter=1000, tol=1e-6, step=None, x0=None, target=None,
           callback=None, backtracking=False, restart=None, gap_tol=None, check_step=True):
    max_iter, tol, target, callback = check_loop_options(method, max_iter, tol, target, callback)
    f, reg, step, x0 = _prepare(problem, method, x0, step, backtracking, check_step)
    is_lasso = isinstance(reg, L1)
    if gap_tol is not None:
        if not is_lasso:
            raise InvalidParameterError(
                f"The 'gap_tol' parameter of {method} needs an L1 regularizer (the duality gap is known "
                f"for the Lasso only); this problem has {type(reg).__name__}."
            )
        gap_tol = check_scalar(gap_tol, "gap_tol", method, low=0.0)
    restart = accelerated if restart is None else bool(restart)
    free = certificates.free_atoms(f.D, reg.lam) if is_lasso else None
    engine = _ProximalGradient(
        f, reg, step, accelerated=accelerated, restart=restart and accelerated,
        backtracking=bool(backtracking), free=free, track_gap=gap_tol is not None,
        workspace=Workspace(recycle=callback is None),  # a callback may keep states: then nothing is reused
    )
    criterion = "relative gradient-mapping step"
    if gap_tol is not None:  # converge on the certificate: gap <= gap_tol·‖y‖² per signal
        engine = _GapCriterion(engine, gap_tol, f.yy)
        criterion, tol = "duality gap / ‖y‖²", gap_tol

    def finish(state):
        gap = _lasso_gap(f, reg, state.x, state.image, state.smooth, free) if is_lasso else None
        return {"codes": (state.x,), "gap": gap, "step": float(state.step)}

    return run(engine, x0, max_iter=max_iter, tol=tol, target=target, callback=callback,
               criterion=criterion, finish=finish)


class _GapCriterion:
    """Wraps an engine so that its ``error`` is the relative duality gap ``gap/‖y‖²``."""

    def __init__(self, engine, gap_tol, yy):
        self.engine, self.yy = engine, np.where(yy > 0, yy, 1.0)

    def init(self, x0):
        return self._relative(self.engine.init(x0))

    def step(self, state):
        return self._relative(self.engine.step(state))

    def _relative(self, state):
        return state._replace(error=np.maximum(state.gap, 0) / self.yy)


_DOC_OPTIONS = """
    Parameters
    ----------
    problem : pc.Problem
        A one-layer problem ``½‖y − Dx‖² + g(x)``, e.g. from ``pc.chain(y, [(D, g)])``;
        ``g`` needs only a prox.
    max_iter : int, default 1000
        At most this many iterations; stopping there gives ``converged=False``
        and a :class:`proxcore.ConvergenceWarning`.
    tol : float, default 1e-6
        Converged when, for every signal, ``‖x⁺ − z‖ ≤ tol·max(‖x⁺‖, ‖z‖)``:
        the gradient-mapping norm ``‖G_η(z)‖ = ‖z − x⁺‖/η`` relative to the
        iterates' size (exactly 0 ≤ 0 at ``x = 0``, never 0/0).
    step : float, optional
        Fixed step ``η``; default ``1/L`` with ``L = ‖D‖²`` (an upper bound).
        Refused above ``1/L`` unless ``check_step=False``.
    backtracking : bool, default False
        Beck–Teboulle backtracking from a lower estimate of ``L`` (halving the step).
    gap_tol : float, optional
        For ℓ1 problems: stop instead when the duality gap, a certificate,
        is at most ``gap_tol·‖y‖²`` for every signal (scikit-learn's rule).
    x0 : array, optional
        Starting point (default zeros); never modified.
    target : float, optional
        Stop as soon as the objective is at or below ``target``.
    callback : callable, optional
        ``callback(state)`` after every iteration (``state.iteration``,
        ``state.x``, ``state.objective``, ...); returning True stops the run.
    check_step : bool, default True

    Returns
    -------
    Result
        ``x``, ``codes``, ``objective``, ``n_iter``, ``converged``, ``message``,
        ``history`` and, for ℓ1 problems, the duality ``gap`` per signal.
"""


def ista(problem, **options):
    """ISTA: the proximal gradient method, ``x ← prox_{ηg}(x − η Dᵀ(Dx − y))``.

    Monotone for ``η ≤ 1/L``, with ``F(x_k) − F* ≤ L‖x_0 − x*‖²/(2k)``.
    """
    return _solve(problem, "ista", accelerated=False, **options)


def fista(problem, **options):
    """FISTA: ISTA with Nesterov momentum and, by default, adaptive restart.

    ``F(x_k) − F* ≤ 2L‖x_0 − x*‖²/(k+1)²`` (Beck & Teboulle 2009, Thm 4.4)
    without restart; not monotone. ``restart=True`` (default) resets the
    momentum of a signal whenever the step opposes it (O'Donoghue & Candès 2015).
    """
    return _solve(problem, "fista", accelerated=True, **options)


_ISTA_EXAMPLES = """
    Examples
    --------
    A separable Lasso, ``½(3 − x₁)² + ½(2 − 2x₂)² + |x₁| + |x₂|``, whose
    minimizer is ``(3 − 1, (2·2 − 1)/4) = (2, 0.75)``:

    >>> import numpy as np, proxcore as pc
    >>> D = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> res = pc.solve(pc.chain(np.array([3.0, 2.0]), [(D, pc.L1(1.0))]), method="ista", tol=1e-12)
    >>> res.x
    array([2.  , 0.75])
    >>> res.converged, round(res.step, 12)        # η = 1/‖D‖² (‖D‖ rounded up, never down)
    (True, 0.25)
"""

_FISTA_EXAMPLES = """
    Examples
    --------
    Two signals as columns, stopped on the duality-gap certificate; the
    second signal has ``‖Dᵀy‖∞ = 0.5 ≤ λ``, so its code is exactly zero:

    >>> import numpy as np, proxcore as pc
    >>> D = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> Y = np.array([[3.0, 0.5], [2.0, 0.0]])
    >>> res = pc.solve(pc.chain(Y, [(D, pc.L1(1.0))]), method="fista", gap_tol=1e-12)
    >>> res.x
    array([[2.  , 0.  ],
           [0.75, 0.  ]])
    >>> bool(res.converged and (res.gap <= 1e-12 * (Y * Y).sum(axis=0)).all())
    True
"""

ista.__doc__ += _DOC_OPTIONS + _ISTA_EXAMPLES
fista.__doc__ += _DOC_OPTIONS.replace("    check_step : bool, default True\n", (
    "    restart : bool, default True\n        Adaptive (gradient) restart of the momentum.\n"
    "    check_step : bool, default True\n")) + _FISTA_EXAMPLES
