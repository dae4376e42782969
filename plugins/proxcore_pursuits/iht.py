"""Iterative hard thresholding: projected gradient onto the ℓ0 ball, with the normalised step."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from proxcore import L0Ball
from proxcore._validation import InvalidParameterError, check_array, check_scalar
from proxcore.engines._loop import check_loop_options, run

from ._common import as_columns, one_layer

__all__ = ["iht", "IHTState"]

_C = 0.01  # Blumensath & Davies 2010: accept a step μ <= (1 − c)‖Δx‖²/‖DΔx‖² when the support changes
_SHRINK = 2.0 * (1 - _C)  # κ(1 − c) with κ = 2
_MAX_SHRINK = 60


class IHTState(NamedTuple):
    """The state of IHT after ``iteration`` steps (what callbacks receive)."""

    iteration: int
    x: np.ndarray  # the s-sparse codes, shape in_shape + batch
    objective: float  # ½‖y − Dx‖², summed over the batch
    error: np.ndarray  # ‖x_k − x_{k−1}‖ / max(‖x_k‖, ‖x_{k−1}‖), per signal
    step: np.ndarray  # the step μ used, per signal
    columns: np.ndarray  # x as (M, N)
    image: np.ndarray  # D x as (P, N)


class _IHT:
    def __init__(self, D, Y, s, step, in_shape, batch_shape):
        self.D, self.Y, self.s, self.fixed = D, Y, s, step
        self.in_shape, self.batch_shape = tuple(in_shape), batch_shape
        self.project = L0Ball(s)  # 2-D input: one signal per column
        self._inv_lipschitz = None

    def _inverse_lipschitz(self):
        if self._inv_lipschitz is None:
            lipschitz = self.D.norm() ** 2
            self._inv_lipschitz = 1.0 / lipschitz if lipschitz > 0 else 1.0
        return self._inv_lipschitz

    def _apply(self, x2):
        N = x2.shape[1]
        out = self.D.apply(x2.reshape(self.in_shape + (N,)))
        return np.asarray(out, dtype=x2.dtype).reshape(-1, N)

    def _adjoint(self, r2):
        N = r2.shape[1]
        out = self.D.adjoint(r2.reshape(tuple(self.D.out_shape) + (N,)))
        return np.asarray(out, dtype=r2.dtype).reshape(-1, N)

    def _state(self, iteration, x2, image, error, step):
        r = self.Y - image
        objective = 0.5 * float(np.vdot(r, r))
        x = x2.reshape(self.in_shape + self.batch_shape)
        error = np.asarray(error).reshape(self.batch_shape)
        return IHTState(iteration, x, objective, error, step, x2, image)

    def init(self, x0):
        N = self.Y.shape[1]
        x2 = x0.reshape(-1, N)
        return self._state(0, x2, self._apply(x2), np.full(N, np.inf), np.zeros(N))

    def step(self, state):
        x, image = state.columns, state.image
        dt = x.dtype
        g = self._adjoint(self.Y - image)  # −∇f(x) = Dᵀ(y − Dx)
        if self.fixed is not None:
            mu = np.full(x.shape[1], self.fixed, dtype=dt)
            new = self.project.prox(x + dt.type(self.fixed) * g, 1.0)
            new_image = self._apply(new)
        else:
            mu, new, new_image = self._normalised(x, image, g)
        dx = new - x
        diff = np.sqrt(np.einsum("ij,ij->j", dx, dx))
        scale = np.maximum(np.sqrt(np.einsum("ij,ij->j", new, new)), np.sqrt(np.einsum("ij,ij->j", x, x)))
        error = diff / np.where(scale > 0, scale, 1)
        return self._state(state.iteration + 1, new, new_image, error, mu)

    def _normalised(self, x, image, g):
        """Normalised IHT (Blumensath & Davies 2010): line search on the support, shrunk when it changes."""
        dt = x.dtype
        support = x != 0
        empty = ~support.any(axis=0)
        if empty.any():  # from x = 0: the support of H_s(g)
            support[:, empty] = self.project.prox(g[:, empty], 1.0) != 0
        gs = np.where(support, g, 0)
        dg = self._apply(gs)
        num = np.einsum("ij,ij->j", gs, gs)
        den = np.einsum("ij,ij->j", dg, dg)
        # g_Γ = 0 (x is the least-squares fit on its support) or D g_Γ = 0: fall back to the fixed step 1/L,
        # so that a better support can still be found (a zero step would stall at a non-fixed point)
        ok = (num > 0) & (den > 0)
        mu = np.where(ok, num / np.where(ok, den, 1), self._inverse_lipschitz() if not ok.all() else 0).astype(dt)
        new = self.project.prox(x + mu * g, 1.0)
        new_image = self._apply(new)
        for _ in range(_MAX_SHRINK):
            changed = ((new != 0) != support).any(axis=0)
            dx, dimage = new - x, new_image - image
            num = np.einsum("ij,ij->j", dx, dx)
            den = np.einsum("ij,ij->j", dimage, dimage)
            omega = np.where(den > 0, (1 - _C) * num / np.where(den > 0, den, 1), np.inf)
            bad = changed & (mu > omega)
            if not bad.any():
                return mu, new, new_image
            mu = np.where(bad, mu / dt.type(_SHRINK), mu).astype(dt)
            cols = np.flatnonzero(bad)
            new[:, cols] = self.project.prox(x[:, cols] + mu[cols] * g[:, cols], 1.0)
            new_image[:, cols] = self._apply(new[:, cols])
        # still refused after shrinking: those signals keep x (the objective never increases)
        new[:, bad], new_image[:, bad], mu[bad] = x[:, bad], image[:, bad], 0
        return mu, new, new_image


def iht(problem, *, step=None, max_iter=500, tol=1e-6, x0=None, target=None, callback=None, check_step=True):
    """Iterative hard thresholding, ``x ← H_s(x + μ Dᵀ(y − Dx))``, for ``min ½‖y − Dx‖²  s.t. ‖x‖₀ ≤ s``.

    ``H_s`` keeps the ``s`` largest magnitudes of each signal (projection on
    the ℓ0 ball). By default the step is the normalised one of Blumensath &
    Davies (2010), chosen per signal: exact line search along the gradient
    restricted to the current support, shrunk whenever the support changes
    until ``μ ≤ (1 − c)‖Δx‖²/‖DΔx‖²``. Either way ``½‖y − Dx‖²`` never
    increases.

    Parameters
    ----------
    problem : pc.Problem
        One layer, ``pc.chain(y, [(D, pc.L0Ball(s))])``.
    step : float, optional
        A fixed step instead, at most ``1/‖D‖²`` (Blumensath & Davies 2008:
        monotone for such steps) unless ``check_step=False``.
    max_iter : int, default 500
    tol : float, default 1e-6
        Converged when ``‖x_k − x_{k−1}‖ ≤ tol·max(‖x_k‖, ‖x_{k−1}‖)`` for
        every signal.
    x0 : array, optional
        Starting point, projected on the ℓ0 ball (default zeros); never modified.
    target, callback
        As for every engine: stop at objective ``≤ target``; ``callback(state)``
        after every iteration, returning True stops.

    Returns
    -------
    Result
        ``x`` ``s``-sparse, ``history["objective"]`` non-increasing.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = pc.dictionary("dct", n=32, m=64)
    >>> x = np.zeros(64); x[[5, 40]] = [2.0, -1.0]
    >>> res = pc.solve(pc.chain(D @ x, [(D, pc.L0Ball(2))]), method="iht", tol=1e-12, max_iter=2000)
    >>> np.flatnonzero(res.x), np.allclose(res.x[[5, 40]], [2.0, -1.0])
    (array([ 5, 40]), True)
    """
    max_iter, tol, target, callback = check_loop_options("iht", max_iter, tol, target, callback)
    D, reg = one_layer(problem, "iht")
    if not isinstance(reg, L0Ball):
        raise InvalidParameterError(f"iht solves problems with the regularizer pc.L0Ball(s); got {reg!r}.")
    dtype = problem.dtype
    Y = as_columns(problem)
    N = Y.shape[1]
    in_shape = tuple(D.in_shape)
    if step is not None:
        step = check_scalar(step, "step", "iht", low=0.0, low_open=True)
        lipschitz = D.norm() ** 2
        bound = 1.0 / lipschitz if lipschitz > 0 else math.inf
        if check_step and step > bound * (1 + 1e-6):
            raise InvalidParameterError(
                f"The 'step' parameter of iht must be at most 1/L = {bound:.6g} (L = ‖D‖² = {lipschitz:.6g}) "
                f"for a monotone decrease; got {step!r}. Leave step=None for the normalised step, "
                "or pass check_step=False."
            )
    engine = _IHT(D, Y, reg.s, step, in_shape, problem.batch_shape)
    if x0 is None:
        start = np.zeros((math.prod(in_shape), N), dtype=dtype)
    else:
        x0 = check_array(x0, "x0")
        expected = in_shape + problem.batch_shape
        if x0.shape != expected:
            raise InvalidParameterError(f"The 'x0' parameter of iht must have shape {expected}; got {x0.shape}.")
        start = engine.project.prox(x0.astype(dtype).reshape(-1, N), 1.0)

    def finish(state):
        return {"codes": (state.x,), "step": float(np.max(state.step)) if N else None}

    return run(engine, start, max_iter=max_iter, tol=tol, target=target, callback=callback,
               criterion="relative change of x", finish=finish)
