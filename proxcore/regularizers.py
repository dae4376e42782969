"""Regularizers: small immutable objects with ``value(x)`` and ``prox(v, step)``.

``prox(v, step)`` is the proximal operator of ``step * g``::

    prox(v, step) = argmin_u  step·g(u) + ½‖u − v‖²

Arrays follow the batch convention of the operators: the leading axes are
one signal (the codes), trailing axes a batch. Per-atom weights are arrays
whose shape is the signal's (they broadcast over the batch). ``value``
returns the total over the batch, a Python float. No method modifies its
input or the regularizer.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod

import numpy as np

from ._validation import InvalidParameterError, check_positive_int, check_scalar, check_weights

__all__ = ["Regularizer", "Zero", "L1", "L0", "L0Ball"]


class Regularizer(ABC):
    """Abstract regularizer ``g``: subclass with ``value(x)`` and ``prox(v, step)``.

    No ``super().__init__()`` call is needed. The class attribute ``convex``
    (default True) tells engines and the testing kit which guarantees apply
    (firm non-expansiveness of the prox, step sizes for ISTA).

    **Unrolling (optional).** To be unrolled and trained by
    :mod:`proxcore.learn` (as the prox of a learned network such as
    ``LISTA(D, regularizer)``), a regularizer also defines
    ``prox_vjp(v, step) -> (u, pullback)``, in the style of ``jax.vjp``:

    - ``u`` is ``prox(v, step)``, where ``step`` is a float *or an array of
      per-row steps* whose shape is the leading axes of ``v`` (for instance
      ``(m,)`` for codes ``(m, N)``: one learned step per atom, broadcast over
      the batch); row ``r`` of ``u`` is the prox of ``step[r]·g`` on row ``r``;
    - ``pullback(cotangent)`` returns ``(grad_v, grad_step)``:
      ``grad_v = (∂u/∂v)ᵀ cotangent`` (the shape of ``v``) and
      ``grad_step = (∂u/∂step)ᵀ cotangent`` (the shape of ``step``: summed
      over the axes ``step`` is broadcast along).

    Learned networks use the step as the learnable threshold or bias of each
    stage (``prox`` of ``pc.L1(λ)`` at step ``t`` is soft thresholding at
    ``tλ``, and ``ReLU(u + b)`` is the prox of ``pc.L1(1.0, nonneg=True)`` at
    step ``−b``), so training may move a step to zero or below: a prox whose
    formula extends there (``L1``'s does) should accept it; otherwise raise a
    ``ValueError`` naming ``step``. At a kink, any element of the
    (Clarke) generalized Jacobian will do: ``L1`` uses the mask
    ``1[|v| > tλ]``. The base class's ``prox_vjp`` raises ``TypeError``
    naming the regularizer; the ``proxcore.learn`` estimators refuse such a
    regularizer when they are fitted.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> class Box(pc.Regularizer):            # indicator of [-1, 1]^n
    ...     def value(self, x):
    ...         return 0.0 if np.all(np.abs(x) <= 1) else np.inf
    ...     def prox(self, v, step):
    ...         return np.clip(v, -1, 1)
    ...     def prox_vjp(self, v, step):       # optional: lets proxcore.learn unroll it
    ...         inside = np.abs(v) < 1         # the Jacobian is the identity inside, zero outside
    ...         return np.clip(v, -1, 1), lambda c: (c * inside, np.zeros_like(step))
    >>> Box().prox(np.array([2.0, -0.5]), step=1.0)
    array([ 1. , -0.5])
    >>> u, pullback = Box().prox_vjp(np.array([2.0, -0.5]), 1.0)
    >>> pullback(np.array([1.0, 1.0]))       # (grad_v, grad_step): the clip does not depend on the step
    (array([0., 1.]), array(0.))
    """

    convex: bool = True

    @abstractmethod
    def value(self, x) -> float:
        """Return ``g(x)`` summed over the batch."""

    @abstractmethod
    def prox(self, v, step):
        """Return ``argmin_u step·g(u) + ½‖u − v‖²`` (a new array)."""

    def prox_vjp(self, v, step):
        """Return ``(prox(v, step), pullback)``, ``pullback(cotangent) -> (grad_v, grad_step)`` (optional).

        ``step`` may be a float or an array of per-row steps (the leading axes
        of ``v``). See the class docstring. The default raises ``TypeError``:
        a regularizer must define it to be unrolled by :mod:`proxcore.learn`.
        """
        raise TypeError(
            f"{type(self).__name__} does not define prox_vjp(v, step), the vector-Jacobian product of its prox, "
            f"so proxcore.learn cannot differentiate through {type(self).__name__}.prox; define "
            "prox_vjp(v, step) -> (prox(v, step), pullback) with pullback(cotangent) -> (grad_v, grad_step) "
            "(see the pc.Regularizer docstring)."
        )

    def for_signal(self, shape) -> Regularizer:
        """This regularizer for codes whose signals have ``shape``.

        A problem calls it on each regularizer it is composed with; per-signal
        regularizers (such as :class:`L0Ball`) return a copy that knows which
        axes are one signal. The default returns ``self``.
        """
        return self


def _as_float(v):
    v = np.asarray(v)
    if v.dtype.kind != "f" or v.dtype == np.float16:
        v = v.astype(np.float32 if v.dtype == np.float16 else np.float64)
    return v


def _check_step(step, owner):
    return check_scalar(step, "step", f"{owner}.prox", low=0.0, low_open=True, high=math.inf, high_open=True)


def _rows(v, weights, scale):
    """``v`` as a C-contiguous ``(R, C)`` array and ``scale·weights`` as an ``(R,)`` threshold in ``v``'s dtype.

    With a scalar weight, ``R = 1``; with per-atom weights of shape ``w``,
    ``v``'s leading axes must be ``w`` and ``R = prod(w)``.
    """
    if isinstance(weights, np.ndarray):
        if v.shape[: weights.ndim] != weights.shape:
            raise InvalidParameterError(
                f"per-atom weights of shape {weights.shape} do not match codes of shape {v.shape} "
                "(the weights' shape must be the leading axes of the codes)."
            )
        thr = (weights * scale).astype(v.dtype).ravel()
    else:
        thr = np.array([weights * scale], dtype=v.dtype)
    return np.ascontiguousarray(v).reshape(thr.size, -1), thr


def _vjp_step(step, v, owner):
    """``step`` as an array in ``v``'s dtype (a scalar, or per-row: its shape is the leading axes of ``v``) and that
    array broadcast against ``v``."""
    s = np.asarray(step)
    if s.dtype.kind not in "fiu" or not np.isfinite(s).all():
        raise InvalidParameterError(
            f"The 'step' parameter of {owner}.prox_vjp must be a finite number or array of numbers; got {step!r}."
        )
    s = s.astype(v.dtype, copy=False)
    if s.ndim > v.ndim or v.shape[: s.ndim] != s.shape:
        raise InvalidParameterError(
            f"The 'step' parameter of {owner}.prox_vjp must be a scalar or an array of per-row steps whose shape is "
            f"the leading axes of v; got shape {s.shape} for v of shape {v.shape}."
        )
    return s, s.reshape(s.shape + (1,) * (v.ndim - s.ndim))


def _vjp_weights(weights, v, owner):
    """Per-atom ``weights`` broadcast against ``v`` in its dtype (a scalar weight stays a float)."""
    if not isinstance(weights, np.ndarray):
        return weights
    if v.shape[: weights.ndim] != weights.shape:
        raise InvalidParameterError(
            f"{owner}: per-atom weights of shape {weights.shape} do not match codes of shape {v.shape} "
            "(the weights' shape must be the leading axes of the codes)."
        )
    return _expand(weights, v).astype(v.dtype, copy=False)


def _vjp_pullback(v, s, owner, rule, scale=1.0):
    """A pullback that checks the cotangent's shape, then returns ``rule(cotangent) = (grad_v, d)`` with ``grad_step``
    the sum of ``d`` over the axes ``s`` was broadcast along, times ``scale`` (``d = None``: zero)."""
    axes = tuple(range(s.ndim, v.ndim))

    def pullback(cotangent):
        c = np.asarray(cotangent)
        if c.shape != v.shape:
            raise InvalidParameterError(
                f"The cotangent of {owner}.prox_vjp must have the shape of v, {v.shape}; got {c.shape}."
            )
        grad_v, d = rule(c.astype(v.dtype, copy=False))
        if d is None:
            return grad_v, np.zeros(s.shape, dtype=v.dtype)
        return grad_v, np.asarray(d.sum(axis=axes) * scale, dtype=v.dtype)

    return pullback


def _expand(weights, x):
    return weights.reshape(weights.shape + (1,) * (x.ndim - weights.ndim)) if isinstance(weights, np.ndarray) else weights


@dataclasses.dataclass(frozen=True, eq=False)
class Zero(Regularizer):
    """The zero regularizer ``g = 0``; its prox is the identity.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> pc.Zero().prox(np.array([1.0, -2.0]), step=0.5)
    array([ 1., -2.])
    """

    def value(self, x) -> float:
        return 0.0

    def prox(self, v, step):
        _check_step(step, "Zero")
        return np.array(_as_float(v), copy=True)

    def prox_vjp(self, v, step):
        """The identity and its VJP: ``grad_v = cotangent``, ``grad_step = 0``."""
        v = _as_float(v)
        s, _ = _vjp_step(step, v, "Zero")
        return np.array(v, copy=True), _vjp_pullback(v, s, "Zero", lambda c: (np.array(c, copy=True), None))


@dataclasses.dataclass(frozen=True, eq=False)
class L1(Regularizer):
    """The (weighted) ℓ1 norm ``g(x) = Σ λ_i |x_i|``, optionally restricted to ``x ≥ 0``.

    Parameters
    ----------
    lam : float or array
        Non-negative weight; an array gives per-atom weights (shape of one signal).
    nonneg : bool, default False
        Add the constraint ``x ≥ 0`` (``value`` is ``inf`` outside it).

    Notes
    -----
    Soft thresholding: ``prox(v, t) = sign(v)·max(|v| − tλ, 0)``.
    With ``nonneg=True``: ``prox(v, t) = max(v − tλ, 0) = ReLU(v − tλ)``,
    a ReLU with bias ``−tλ``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> pc.L1(1.0).prox(np.array([3.0, -0.5, -2.0]), step=0.5)
    array([ 2.5,  0. , -1.5])
    >>> pc.L1(1.0, nonneg=True).prox(np.array([3.0, -0.5, -2.0]), step=0.5)
    array([2.5, 0. , 0. ])
    >>> pc.L1(2.0).value(np.array([1.0, -1.0]))
    4.0
    """

    lam: float | np.ndarray = 1.0
    nonneg: bool = False

    def __post_init__(self):
        object.__setattr__(self, "lam", check_weights(self.lam, "lam", "L1"))
        if not isinstance(self.nonneg, (bool, np.bool_)):
            raise InvalidParameterError(f"The 'nonneg' parameter of L1 must be a bool; got {self.nonneg!r}.")

    def value(self, x) -> float:
        x = _as_float(x)
        if self.nonneg and (x < 0).any():
            return math.inf
        if isinstance(self.lam, np.ndarray):
            return float(np.sum(_expand(self.lam, x) * np.abs(x)))
        return self.lam * float(np.abs(x).sum())

    def prox(self, v, step):
        from . import _kernels

        step = _check_step(step, "L1")
        v = _as_float(v)
        rows, thr = _rows(v, self.lam, step)
        kernel = _kernels.nonneg_soft_threshold if self.nonneg else _kernels.soft_threshold
        return kernel(rows, thr).reshape(v.shape)

    def prox_vjp(self, v, step):
        """The prox and its VJP (for :mod:`proxcore.learn`); ``step`` may be per-row and of either sign.

        With the threshold ``θ = step·λ`` and the mask ``M = 1[|v| > θ]``
        (``1[v > θ]`` if ``nonneg``): ``grad_v = M ⊙ c`` and
        ``grad_step = −Σ λ·sign(v)·M ⊙ c`` (``−Σ λ·M ⊙ c`` if ``nonneg``),
        summed over the axes ``step`` is broadcast along. A negative step
        gives ``sign(v)·(|v| + |θ|)`` (``v + |θ|`` clipped at 0 if ``nonneg``):
        a learned ReLU bias may become positive.

        Examples
        --------
        >>> import numpy as np, proxcore as pc
        >>> u, pullback = pc.L1(1.0).prox_vjp(np.array([[3.0, -0.2], [-2.0, 1.0]]), np.array([0.5, 1.5]))
        >>> u                                   # row 0 thresholded at 0.5, row 1 at 1.5
        array([[ 2.5,  0. ],
               [-0.5,  0. ]])
        >>> pullback(np.ones((2, 2)))           # (mask, −Σ sign(v)·mask per row)
        (array([[1., 0.],
               [1., 0.]]), array([-1.,  1.]))
        """
        v = _as_float(v)
        s, sb = _vjp_step(step, v, "L1")
        lam = _vjp_weights(self.lam, v, "L1")
        thr = (sb * lam).astype(v.dtype, copy=False)
        # a scalar λ multiplies grad_step after the sum (one pass fewer over the codes)
        weight, scale = (lam, -1.0) if isinstance(lam, np.ndarray) else (None, -lam)
        if self.nonneg:
            mask = v > thr
            u = np.where(mask, v - thr, 0).astype(v.dtype, copy=False)

            def rule(c):
                gm = c * mask
                return gm, gm if weight is None else gm * weight
        else:
            mask = np.abs(v) > thr
            sign = np.sign(v)
            u = np.where(mask, v - sign * thr, 0).astype(v.dtype, copy=False)

            def rule(c):
                gm = c * mask
                return gm, gm * sign if weight is None else gm * sign * weight

        return u, _vjp_pullback(v, s, "L1", rule, scale)


@dataclasses.dataclass(frozen=True, eq=False)
class L0(Regularizer):
    """The ℓ0 penalty ``g(x) = Σ λ_i [x_i ≠ 0]`` (non-convex).

    Notes
    -----
    Hard thresholding at ``sqrt(2·t·λ)``: ``prox(v, t)_i = v_i`` if
    ``|v_i| > sqrt(2tλ)`` else 0. Keeping ``v_i`` costs ``tλ`` and saves
    ``½v_i²``, so the threshold is ``sqrt(2tλ)``, not ``tλ`` (a bug shipped
    by public libraries). At ``|v_i| = sqrt(2tλ)`` both are minimizers; 0 is
    returned.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> pc.L0(0.5).prox(np.array([1.2, 0.9, -3.0]), step=1.0)   # threshold sqrt(2·1·0.5) = 1
    array([ 1.2,  0. , -3. ])
    >>> pc.L0(0.5).value(np.array([1.2, 0.0, -3.0]))
    1.0
    """

    lam: float | np.ndarray = 1.0
    convex = False

    def __post_init__(self):
        object.__setattr__(self, "lam", check_weights(self.lam, "lam", "L0"))

    def value(self, x) -> float:
        x = _as_float(x)
        return float(np.sum(_expand(self.lam, x) * (x != 0)))

    def prox(self, v, step):
        from . import _kernels

        step = _check_step(step, "L0")
        v = _as_float(v)
        weights = np.sqrt(2 * step * self.lam) if isinstance(self.lam, np.ndarray) else math.sqrt(2 * step * self.lam)
        rows, thr = _rows(v, weights, 1.0)
        return _kernels.hard_threshold(rows, thr).reshape(v.shape)

    def prox_vjp(self, v, step):
        """The prox and its VJP (for :mod:`proxcore.learn`); ``step`` may be per-row, and must be ``≥ 0``.

        Hard thresholding at ``θ = sqrt(2·step·λ)`` is the identity on the
        kept entries and constant elsewhere, so almost everywhere its Jacobian
        is the keep-mask ``M = 1[|v| > θ]``: ``grad_v = M ⊙ c``. It is
        piecewise constant in ``step``, so ``grad_step = 0`` (a.e.): gradient
        training does not move an ℓ0 threshold.
        """
        v = _as_float(v)
        s, sb = _vjp_step(step, v, "L0")
        if (s < 0).any():
            raise InvalidParameterError(
                f"The 'step' parameter of L0.prox_vjp must be >= 0 (the threshold is sqrt(2·step·λ)); got {step!r}."
            )
        thr = np.sqrt(2 * sb * _vjp_weights(self.lam, v, "L0")).astype(v.dtype, copy=False)
        mask = np.abs(v) > thr
        return np.where(mask, v, 0).astype(v.dtype, copy=False), _vjp_pullback(v, s, "L0", lambda c: (c * mask, None))


@dataclasses.dataclass(frozen=True, eq=False)
class L0Ball(Regularizer):
    """The indicator of ``{x : ‖x‖₀ ≤ s}`` for each signal (non-convex).

    Parameters
    ----------
    s : int
        Largest number of non-zeros per signal, ``s ≥ 1``.
    signal_shape : tuple, optional
        Shape of one signal. Set by the problem the regularizer is composed
        in; on its own, a 1-D array is one signal and a 2-D array a batch of
        columns.

    Notes
    -----
    The projection keeps the ``s`` largest magnitudes of each signal (ties:
    the lowest index) and zeroes the rest; it does not depend on ``step``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> pc.L0Ball(2).prox(np.array([0.5, -3.0, 1.0, 2.0]), step=1.0)
    array([ 0., -3.,  0.,  2.])
    >>> pc.L0Ball(1).prox(np.array([[1.0, 0.0], [-2.0, 5.0]]), step=1.0)  # two signals
    array([[ 0.,  0.],
           [-2.,  5.]])
    """

    s: int = 1
    signal_shape: tuple | None = None
    convex = False

    def __post_init__(self):
        object.__setattr__(self, "s", check_positive_int(self.s, "s", "L0Ball"))
        if self.signal_shape is not None:
            object.__setattr__(self, "signal_shape", tuple(int(n) for n in self.signal_shape))

    def for_signal(self, shape) -> L0Ball:
        return dataclasses.replace(self, signal_shape=tuple(shape))

    def _columns(self, x):
        """``x`` as ``(signal size, batch size)``."""
        if self.signal_shape is not None:
            k = len(self.signal_shape)
            if x.shape[:k] != self.signal_shape:
                raise InvalidParameterError(
                    f"L0Ball expects codes with leading axes {self.signal_shape}; got shape {x.shape}."
                )
            return np.ascontiguousarray(x).reshape(math.prod(self.signal_shape), -1)
        if x.ndim > 2:
            raise InvalidParameterError(
                f"L0Ball got a {x.ndim}-D array; pass signal_shape to say which axes are one signal."
            )
        return np.ascontiguousarray(x).reshape(x.shape[0], -1)

    def value(self, x) -> float:
        cols = self._columns(_as_float(x))
        return 0.0 if cols.shape[1] == 0 or np.count_nonzero(cols, axis=0).max() <= self.s else math.inf

    def prox(self, v, step):
        from . import _kernels

        _check_step(step, "L0Ball")
        v = _as_float(v)
        return _kernels.keep_largest(self._columns(v), self.s).reshape(v.shape)
