"""The analysis ℓ1 regularizer ``λ‖Ωx‖₁``."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._validation import InvalidParameterError, check_positive_int, check_scalar, check_weights
from .operators import LinearOperator, Matrix
from .regularizers import L1, Regularizer

__all__ = ["AnalysisL1"]


@dataclasses.dataclass(frozen=True, eq=False)
class AnalysisL1(Regularizer):
    """The analysis ℓ1 norm ``g(x) = λ‖Ωx‖₁`` (weighted: ``Σ_j λ_j |(Ωx)_j|``).

    Parameters
    ----------
    omega : pc.LinearOperator or array_like of shape (p, n)
        The analysis operator ``Ω``; arrays are wrapped in :class:`proxcore.Matrix`.
    lam : float or array
        Non-negative weight; an array has the shape of ``Ω``'s output (one weight per row).
    prox_tol : float, default 1e-10
        Tolerance of the inner solver of :meth:`prox`, relative to ``½‖v‖²``.
    prox_max_iter : int, default 10000
        Iteration budget of the inner solver.

    Notes
    -----
    ``value`` is exact. The prox has no closed form for a general ``Ω``; it is
    computed through its dual (Chambolle 2004, Beck & Teboulle 2009)::

        prox(v, t) = v − Ωᵀz*,   z* = argmin_{|z_j| ≤ tλ_j} ½‖v − Ωᵀz‖²

    by FISTA on ``z`` (step ``1/‖Ω‖²``, adaptive restart), stopped per signal
    when the duality gap ``P(u) − D(z)`` with ``u = v − Ωᵀz``,
    ``P(u) = tλ‖Ωu‖₁ + ½‖u − v‖²`` and ``D(z) = ½‖v‖² − ½‖v − Ωᵀz‖²``,
    is at most ``prox_tol·max(½‖v‖², tiny)``: the returned point is then
    within that of the prox objective's minimum, hence within
    ``sqrt(2·prox_tol·½‖v‖²)`` of the prox itself (strong convexity). The
    exact ``primal-dual`` engine never calls this prox: it splits the term
    into ``λ‖·‖₁`` composed with ``Ω`` (see :meth:`split`).

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> omega = np.array([[1.0, -1.0]])                      # a finite difference
    >>> g = pc.AnalysisL1(omega, lam=0.5)
    >>> g.value(np.array([3.0, 1.0]))
    1.0
    >>> np.round(g.prox(np.array([3.0, 1.0]), step=1.0), 8)  # closed form: move each end by tλ = 0.5
    array([2.5, 1.5])
    """

    omega: LinearOperator
    lam: float | np.ndarray = 1.0
    prox_tol: float = 1e-10
    prox_max_iter: int = 10_000

    def __post_init__(self):
        omega = self.omega
        if not isinstance(omega, LinearOperator):
            try:
                omega = Matrix(omega)
            except (TypeError, ValueError) as exc:
                raise InvalidParameterError(
                    f"The 'omega' parameter of AnalysisL1 must be a pc.LinearOperator or a 2-D array; {exc}"
                ) from None
        object.__setattr__(self, "omega", omega)
        lam = check_weights(self.lam, "lam", "AnalysisL1")
        if isinstance(lam, np.ndarray) and lam.shape != tuple(omega.out_shape):
            raise InvalidParameterError(
                f"The 'lam' parameter of AnalysisL1 must be a scalar or have the shape of omega's output "
                f"{tuple(omega.out_shape)}; got shape {lam.shape}."
            )
        object.__setattr__(self, "lam", lam)
        object.__setattr__(self, "prox_tol", check_scalar(self.prox_tol, "prox_tol", "AnalysisL1", low=0.0,
                                                          low_open=True))
        object.__setattr__(self, "prox_max_iter", check_positive_int(self.prox_max_iter, "prox_max_iter",
                                                                     "AnalysisL1"))

    def split(self):
        """``(Ω, pc.L1(λ))``: this regularizer as an ℓ1 norm composed with ``Ω``."""
        return self.omega, L1(self.lam)

    def _check(self, x, name):
        x = np.asarray(x)
        if x.dtype.kind != "f" or x.dtype == np.float16:
            x = x.astype(np.float32 if x.dtype == np.float16 else np.float64)
        k = len(self.omega.in_shape)
        if x.shape[:k] != tuple(self.omega.in_shape):
            raise InvalidParameterError(
                f"AnalysisL1 expects {name} with leading axes {tuple(self.omega.in_shape)} (omega's input); "
                f"got shape {x.shape}."
            )
        return x

    def _weights(self, like):
        lam = self.lam
        if isinstance(lam, np.ndarray):
            return lam.reshape(lam.shape + (1,) * (like.ndim - lam.ndim)).astype(like.dtype)
        return like.dtype.type(lam)

    def value(self, x) -> float:
        x = self._check(x, "x")
        z = self.omega.apply(x)
        return float(np.sum(self._weights(z) * np.abs(z)))

    def prox(self, v, step):
        step = check_scalar(step, "step", "AnalysisL1.prox", low=0.0, low_open=True, high=math.inf, high_open=True)
        v = self._check(v, "v")
        dtype = v.dtype
        omega = self.omega
        k_in, k_out = len(omega.in_shape), len(omega.out_shape)
        in_axes, out_axes = tuple(range(k_in)), tuple(range(k_out))
        bound = np.asarray(omega.apply(np.zeros_like(v)), dtype=dtype)  # shape out_shape + batch
        bound = bound + self._weights(bound) * dtype.type(step)
        norm2 = omega.norm() ** 2
        if norm2 == 0 or not np.any(bound):
            return np.array(v, copy=True)
        eta = dtype.type(1.0 / norm2)
        half_vv = 0.5 * (v * v).sum(axis=in_axes)
        scale = np.maximum(half_vv, np.finfo(dtype).tiny)
        tol = max(self.prox_tol, 10 * float(np.finfo(dtype).eps))
        z = np.zeros_like(bound)
        w, t = z, 1.0
        u = np.array(v, copy=True)
        for _ in range(self.prox_max_iter):
            u_w = v - omega.adjoint(w)
            z_new = np.clip(w + eta * omega.apply(u_w), -bound, bound)
            if np.sum((w - z_new) * (z_new - z)) > 0:  # adaptive restart (O'Donoghue & Candès)
                t = 1.0
            t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
            w = z_new + dtype.type((t - 1) / t_new) * (z_new - z)
            z, t = z_new, t_new
            u = v - omega.adjoint(z)
            primal = (bound * np.abs(omega.apply(u))).sum(axis=out_axes) + 0.5 * ((u - v) ** 2).sum(axis=in_axes)
            dual = half_vv - 0.5 * (u * u).sum(axis=in_axes)
            if np.all(primal - dual <= tol * scale):
                break
        return u.astype(dtype, copy=False)  # float32 in, float32 out (a float64 Ω upcasts the iterates)
