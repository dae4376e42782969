"""A minimal reverse-mode tape for unrolled pursuits (NumPy only).

Every value is a :class:`Var`; every operation records its vector-Jacobian
product (VJP) on the tape, and :meth:`Tape.backward` runs them in reverse.
Only the operations an unrolled proximal-gradient network needs exist:

- ``A @ X`` and ``Aᵀ @ X`` with a dictionary ``A``: the VJP for ``A`` is a
  sum of outer products over the batch, ``G Xᵀ`` (``X Gᵀ`` for ``Aᵀ X``);
  for ``X`` it is the adjoint, ``Aᵀ G`` (``A G``);
- sums, differences, fixed linear combinations, products by a learned scalar
  (a step ``μ``: VJP ``⟨G, X⟩``) and by a learned per-atom vector;
- the prox of any :class:`proxcore.Regularizer` that defines ``prox_vjp``,
  at a learned (per-row) step: the regularizer supplies its own VJP, for the
  input and for the step (``pc.L1``: the soft-threshold mask ``1[|u| > tλ]``;
  with ``nonneg=True`` the ReLU mask, so ``ReLU(u + b)`` is ``pc.L1(1.0,
  nonneg=True)`` at step ``−b``);
- losses: mean squared error and softmax cross-entropy.

- circular convolutions (:class:`proxcore.Convolution`, filters ``(K, C, *fshape)``):
  the VJP of ``D x`` is ``Dᵀ G`` for the codes and, for the filters, the
  circular correlation ``Σ_batch G_c ⋆ x_k`` cropped to the filter's support
  (``Σ_batch y_c ⋆ G_k`` for ``Dᵀ y``), computed with FFTs.

Signals are columns (``(n, N)``), as in ``Y = DΓ``; convolutional codes are
``(K, *signal_shape, N)``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft as sfft

__all__ = ["Tape", "Var"]


@functools.lru_cache(maxsize=32)
def _conv_pattern(fshape, signal_shape):
    """Index arrays placing the taps of filters ``(K, C, *f)`` in the dense circular-convolution matrix."""
    K, C, f = fshape[0], fshape[1], fshape[2:]
    n_pix = math.prod(signal_shape)
    # out_c[n] = Σ_k Σ_m F[k, c, m] x_k[n − m]: row (c, n), column (k, (n − m) mod N), tap (k, c, m)
    k, c, *m = np.meshgrid(np.arange(K), np.arange(C), *[np.arange(a) for a in f], indexing="ij")
    taps = np.arange(K * C * math.prod(f)).reshape(k.shape)
    n = np.indices(signal_shape).reshape(len(signal_shape), -1)  # (d, n_pix)
    shifted = [(n[a][None, :] - m[a].reshape(-1, 1)) % signal_shape[a] for a in range(len(signal_shape))]
    j = np.ravel_multi_index(shifted, signal_shape)  # (taps, n_pix)
    pix = np.ravel_multi_index(n, signal_shape)[None, :]
    rows = (c.reshape(-1, 1) * n_pix + pix).ravel()
    cols = (k.reshape(-1, 1) * n_pix + j).ravel()
    taps = np.repeat(taps.ravel(), n_pix)
    for a in (rows, cols, taps):
        a.setflags(write=False)
    return rows, cols, taps, (C * n_pix, K * n_pix)


def _rows(b, like):
    """A per-row (per-atom, per-filter) vector shaped to broadcast over ``like``'s other axes."""
    return b.reshape(b.shape + (1,) * (like.ndim - b.ndim))


def _row_sums(g):
    return g.sum(axis=tuple(range(1, g.ndim)))


class Var:
    """A value on a tape and, after :meth:`Tape.backward`, its gradient."""

    __slots__ = ("value", "grad", "needs_grad")

    def __init__(self, value, needs_grad):
        self.value = value
        self.grad = None
        self.needs_grad = needs_grad

    def _acc(self, g):
        if not self.needs_grad:
            return
        if self.grad is None:
            self.grad = np.array(g, dtype=self.value.dtype)  # a copy: later accumulations stay private
        else:
            self.grad += g


class Tape:
    """Record operations on :class:`Var` and back-propagate a scalar loss.

    Examples
    --------
    >>> import numpy as np
    >>> t = Tape()
    >>> D = t.param(np.array([[1.0, 2.0], [0.0, 1.0]]))
    >>> y = t.const(np.array([[1.0], [1.0]]))
    >>> loss = t.mse(t.matmul(D, y), t.const(np.zeros((2, 1))))   # ½‖Dy‖² (one signal)
    >>> t.backward(loss)
    >>> D.grad                                                     # (Dy) yᵀ
    array([[3., 3.],
           [1., 1.]])
    """

    def __init__(self):
        self._backs = []  # (out, backward function) in creation order

    # leaves ---------------------------------------------------------------
    def param(self, value):
        return Var(value, True)

    def const(self, value):
        return Var(value, False)

    def _node(self, value, parents, back):
        out = Var(value, any(p.needs_grad for p in parents))
        if out.needs_grad:
            self._backs.append((out, back))
        return out

    # linear algebra ------------------------------------------------------
    def matmul(self, A, X):
        """``A @ X``."""
        def back(g):
            if A.needs_grad:
                A._acc(g @ X.value.T)
            if X.needs_grad:
                X._acc(A.value.T @ g)
        return self._node(A.value @ X.value, (A, X), back)

    def matmul_t(self, A, X):
        """``Aᵀ @ X``."""
        def back(g):
            if A.needs_grad:
                A._acc(X.value @ g.T)
            if X.needs_grad:
                X._acc(A.value @ g)
        return self._node(A.value.T @ X.value, (A, X), back)

    def lincomb(self, terms):
        """``Σ c_j X_j`` for fixed numbers ``c_j``; ``terms`` is a list of ``(c, X)``."""
        value = sum(c * X.value for c, X in terms)

        def back(g):
            for c, X in terms:
                if X.needs_grad:
                    X._acc(c * g)
        return self._node(value, [X for _, X in terms], back)

    def add(self, a, b):
        return self.lincomb([(1, a), (1, b)])

    def sub(self, a, b):
        return self.lincomb([(1, a), (-1, b)])

    def scale(self, s, X):
        """``s·X`` for a learned scalar ``s`` (a 0-d array)."""
        def back(g):
            if s.needs_grad:
                s._acc(np.vdot(g, X.value))
            if X.needs_grad:
                X._acc(s.value * g)
        return self._node(s.value * X.value, (s, X), back)

    def neg(self, X):
        return self.lincomb([(-1, X)])

    def add_bias(self, X, b):
        """``X + b`` with a per-row vector ``b`` (broadcast over the batch)."""
        def back(g):
            if X.needs_grad:
                X._acc(g)
            if b.needs_grad:
                b._acc(_row_sums(g))
        return self._node(X.value + _rows(b.value, X.value), (X, b), back)

    def conv_matrix(self, F, signal_shape):
        """The dense matrix of ``pc.Convolution(F, signal_shape)`` (rows ``(c, n)``, columns ``(k, j)``).

        For small images a matrix product beats the FFTs; the VJP for the
        filters gathers the matrix's gradient back onto the filter taps
        (``dF[k, c, m] = Σ_n G[(c, n), (k, n − m)]``, the same correlation).
        """
        rows, cols, taps, shape = _conv_pattern(F.value.shape, tuple(signal_shape))
        M = np.zeros(shape, dtype=F.value.dtype)
        M[rows, cols] = F.value.ravel()[taps]

        def back(g):
            F._acc(np.bincount(taps, weights=g[rows, cols], minlength=F.value.size).reshape(F.value.shape))
        return self._node(M, (F,), back)

    def repeat_rows(self, b, r):
        """``b`` with each entry repeated ``r`` times (a per-filter bias over a filter's code map)."""
        def back(g):
            b._acc(g.reshape(-1, r).sum(axis=1))
        return self._node(np.repeat(b.value, r), (b,), back)

    def reshape(self, X, shape):
        def back(g):
            X._acc(g.reshape(X.value.shape))
        return self._node(X.value.reshape(shape), (X,), back)

    def conv(self, F, X, signal_shape, adjoint=False, op=None):
        """``D x`` (or ``Dᵀ x``) with ``D = pc.Convolution(F, signal_shape)``, ``F`` of shape ``(K, C, *fshape)``.

        ``op``: that operator, if the caller already built it (it holds the filters' FFT).
        """
        from ..convolution import Convolution

        op = Convolution(F.value, signal_shape) if op is None else op
        out = op.adjoint(X.value) if adjoint else op.apply(X.value)
        d = len(signal_shape)
        axes = tuple(range(1, 1 + d))
        fshape = F.value.shape[2:]

        def back(g):
            if X.needs_grad:
                X._acc(op.apply(g) if adjoint else op.adjoint(g))
            if F.needs_grad:
                Xh = sfft.rfftn(X.value, axes=axes)
                Gh = sfft.rfftn(g, axes=axes)
                batch = "".join("npqr"[: X.value.ndim - 1 - d])
                sp = "stuv"[:d]
                if adjoint:  # out_k[t] = Σ_c Σ_m F_kc[m] x_c[t + m]:  dF_kc[m] = Σ_t G_k[t] x_c[t + m]
                    full = np.einsum(f"k{sp}{batch},c{sp}{batch}->kc{sp}", np.conj(Gh), Xh)
                else:  # out_c[t] = Σ_k Σ_m F_kc[m] x_k[t − m]:  dF_kc[m] = Σ_t G_c[t] x_k[t − m]
                    full = np.einsum(f"c{sp}{batch},k{sp}{batch}->kc{sp}", Gh, np.conj(Xh))
                full = sfft.irfftn(full, s=signal_shape, axes=tuple(range(2, 2 + d)))
                F._acc(full[(slice(None), slice(None)) + tuple(slice(0, f) for f in fshape)])
        return self._node(np.asarray(out, dtype=X.value.dtype), (F, X), back)

    # proxes ----------------------------------------------------------------
    def prox(self, reg, U, S):
        """``reg``'s prox of ``U`` at the (per-row) step ``S``; the VJP is ``reg.prox_vjp``'s pullback.

        Raises ``TypeError`` (from :meth:`proxcore.Regularizer.prox_vjp`) when
        ``reg`` does not define it.
        """
        u, pullback = reg.prox_vjp(U.value, S.value)
        u = np.asarray(u)
        if u.shape != U.value.shape:
            raise ValueError(f"{type(reg).__name__}.prox_vjp returned an output of shape {u.shape} for an input "
                             f"of shape {U.value.shape}.")

        def back(g):
            grad_v, grad_step = pullback(g)
            if np.shape(grad_v) != U.value.shape or np.shape(grad_step) != S.value.shape:
                raise ValueError(
                    f"The pullback of {type(reg).__name__}.prox_vjp must return (grad_v, grad_step) of shapes "
                    f"{U.value.shape} and {S.value.shape}; got {np.shape(grad_v)} and {np.shape(grad_step)}."
                )
            if U.needs_grad:
                U._acc(grad_v)
            if S.needs_grad:
                S._acc(grad_step)
        return self._node(u.astype(U.value.dtype, copy=False), (U, S), back)

    # losses ----------------------------------------------------------------
    def mse(self, X, T):
        """``(1/2N) Σ_j ‖x_j − t_j‖²`` over the ``N`` columns."""
        n = X.value.shape[1]
        r = X.value - T.value

        def back(g):
            if X.needs_grad:
                X._acc(g * r / n)
        return self._node(np.asarray(0.5 * np.vdot(r, r) / n, dtype=X.value.dtype), (X,), back)

    def cross_entropy(self, Z, labels):
        """Mean softmax cross-entropy of the logits ``Z`` (classes × N) at integer ``labels``."""
        z = Z.value - Z.value.max(axis=0, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=0, keepdims=True))
        n = z.shape[1]
        cols = np.arange(n)
        value = -logp[labels, cols].mean()

        def back(g):
            p = np.exp(logp)
            p[labels, cols] -= 1
            Z._acc(g * p / n)
        return self._node(np.asarray(value, dtype=Z.value.dtype), (Z,), back)

    # backward ----------------------------------------------------------------
    def backward(self, loss):
        """Gradients of the scalar ``loss`` into every parameter that it depends on."""
        loss.grad = np.ones((), dtype=loss.value.dtype)
        for out, back in reversed(self._backs):
            if out.grad is not None:
                back(out.grad)
