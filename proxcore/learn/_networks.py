"""Unrolled pursuits as networks: forward passes on a :class:`Tape` and their gradients.

Signals are columns here (``Y`` of shape ``(n, N)``), as in the engines; the
estimators transpose scikit-learn's rows-are-samples input once.

Every prox is a regularizer's, through its ``prox_vjp`` (the regularizer
supplies the vector-Jacobian product), at a learned per-row step.

Multi-layer networks (parameters ``D_i`` of shape ``(m_{i−1}, m_i)``, biases
``b_i`` of shape ``(m_i,)``, steps ``μ_i``; ``ReLU(u + b)`` is the prox of
``pc.L1(1.0, nonneg=True)`` at step ``−b``, i.e. threshold ``−b``):

- ``layered-thresholding``: ``γ_i = ReLU(μ_i D_iᵀ γ_{i−1} + b_i)``, ``γ_0 = y``
  (the feed-forward network; it is the first iteration of all the others);
- ``ml-ista`` (``K`` iterations from ``γ_L = 0``): ``γ̂_L = z``,
  ``γ̂_{i−1} = D_i γ̂_i``, then for ``i = 1..L``
  ``γ_i ← ReLU(γ̂_i − μ_i D_iᵀ(γ̂_{i−1} − γ_{i−1}) + b_i)`` with the new
  ``γ_{i−1}``; ``z = γ_L``. With ``b_i = −τ_iλ_i``, ``τ_i = μ_1⋯μ_i``, these
  are the iterations of ``pc.solve(..., method="ml-ista")``;
- ``ml-fista``: the same at ``z = γ_L^k + ρ_k(γ_L^k − γ_L^{k−1})``,
  ``ρ_k = (t_k − 1)/t_{k+1}``, ``t_1 = 1`` (no restart);
- ``layered-bp``: for each layer in turn, ``K`` ISTA iterations
  ``γ ← ReLU(γ − μ_i D_iᵀ(D_iγ − γ_{i−1}) + b_i)`` from ``γ = 0``
  (with ``b_i = −μ_iλ_i``: ``layered-bp`` with ``inner="ista"``).

LISTA (one layer, ``K`` stages, dictionary ``D``, regularizer ``g``; ``P_θ`` is
``g``'s prox at the per-atom steps ``θ``, soft thresholding at ``θλ`` for
``g = pc.L1(λ)``):

- ``lista`` (Gregor & LeCun 2010): ``x¹ = P_θ1(W y)``, ``x^{k+1} = P_θ(k+1)(W y + S x^k)``,
  ``W`` and ``S`` shared by the stages, steps (thresholds) per stage;
- ``coupled`` (LISTA-CP, Chen et al. 2018): ``x^{k} = P_θk(x^{k−1} + W_kᵀ(y − D x^{k−1}))``;
- ``step``: ``x^{k} = P_θk(x^{k−1} − η_k Dᵀ(D x^{k−1} − y))``, gradient and prox steps only.

At initialisation (``W = ηDᵀ``, ``S = I − ηDᵀD``, ``W_k = ηD``, ``η_k = η``,
``θ_k = η``, ``η = 1/‖D‖²``) every variant is exactly ``K`` iterations of ISTA
on ``½‖y − Dx‖² + g(x)``. For ``g = pc.L1(λ)`` the network uses ``pc.L1(1.0)``
and ``θ_k = ηλ``, the thresholds (:func:`lista_regularizer`).
"""

from __future__ import annotations

import math

import numpy as np

from ..regularizers import L1
from ._autodiff import Tape

__all__ = ["METHODS", "VARIANTS", "ml_forward", "ml_init", "ml_loss_grad", "lista_forward", "lista_init",
           "lista_loss_grad", "fista_momentum"]

#: Convolutional layers whose dense matrix has at most this many entries run as matrix products.
DENSE_CONV_ENTRIES = 2**22

METHODS = ("layered-thresholding", "ml-ista", "ml-fista", "layered-bp")
#: ``ReLU(u + b)`` is this regularizer's prox at step ``−b``.
RELU = L1(1.0, nonneg=True)
VARIANTS = ("lista", "coupled", "step")


def fista_momentum(K):
    """``ρ_1, …, ρ_K``: the extrapolation weight after each iteration (``t_1 = 1``, no restart)."""
    t, out = 1.0, []
    for _ in range(K):
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        out.append((t - 1) / t_next)
        t = t_next
    return out


# multi-layer networks --------------------------------------------------------------------------------
def ml_init(sizes, n_classes, rng, dtype, kernel_shape=None, signal_shape=None):
    """Unit-norm random atoms (or filters), ``μ_i = 1/‖D_i‖²`` (stable iterations), zero biases, a Glorot head.

    Dense: ``D_i`` of shape ``(m_{i−1}, m_i)``. Convolutional (``kernel_shape``):
    ``D_i`` filters of shape ``(m_i, m_{i−1}, *kernel_shape)``, ``m_0`` the input channels.
    """
    from ..convolution import Convolution

    P = {}
    for i in range(1, len(sizes)):
        if kernel_shape is None:
            D = rng.standard_normal((sizes[i - 1], sizes[i]))
            D /= np.linalg.norm(D, axis=0)
            norm = np.linalg.norm(D, 2)
        else:
            D = rng.standard_normal((sizes[i], sizes[i - 1]) + tuple(kernel_shape))
            D /= np.linalg.norm(D.reshape(sizes[i], -1), axis=1).reshape((-1,) + (1,) * (D.ndim - 1))
            norm = Convolution(D, signal_shape).norm()
        P[f"D{i}"] = D.astype(dtype)
        P[f"mu{i}"] = np.asarray(1.0 / norm ** 2, dtype=dtype)
        P[f"b{i}"] = np.zeros(sizes[i], dtype=dtype)
    if n_classes:
        features = sizes[-1] * (1 if signal_shape is None else math.prod(signal_shape))
        P["W"] = (rng.standard_normal((n_classes, features)) * math.sqrt(2.0 / (n_classes + features))).astype(dtype)
        P["c"] = np.zeros(n_classes, dtype=dtype)
    return P


def ml_forward(t, V, Y, method, K, signal_shape=None):
    """The deepest code ``γ_L`` after ``K`` unrolled iterations of ``method`` (``V``: name -> Var).

    Dense layers (``D_i`` matrices, ``Y`` of shape ``(n, N)``) or, with
    ``signal_shape``, convolutional ones (``D_i`` filters ``(m_i, m_{i−1}, *fshape)``
    of a :class:`proxcore.Convolution`, ``Y`` of shape ``(C, *signal_shape, N)``).
    """
    L = sum(1 for k in V if k.startswith("D"))
    Dv = [None] + [V[f"D{i}"] for i in range(1, L + 1)]
    mu = [None] + [V[f"mu{i}"] for i in range(1, L + 1)]
    b = [None] + [V[f"b{i}"] for i in range(1, L + 1)]
    out_shape = None
    if signal_shape is not None:
        n_pix = math.prod(signal_shape)
        sizes = [Y.value.shape[0]] + [Dv[i].value.shape[0] for i in range(1, L + 1)]
        if max(a * b for a, b in zip(sizes, sizes[1:])) * n_pix * n_pix <= DENSE_CONV_ENTRIES:
            # small images: the convolutions as dense matrices (BLAS beats tiny FFTs), codes flattened
            Dv = [None] + [t.conv_matrix(Dv[i], signal_shape) for i in range(1, L + 1)]
            b = [None] + [t.repeat_rows(b[i], n_pix) for i in range(1, L + 1)]
            out_shape = (sizes[-1],) + tuple(signal_shape) + Y.value.shape[len(signal_shape) + 1:]
            Y = t.reshape(Y, (sizes[0] * n_pix,) + Y.value.shape[len(signal_shape) + 1:])
            signal_shape = None
    if signal_shape is None:
        def apply(i, x):
            return t.matmul(Dv[i], x)

        def adjoint(i, x):
            return t.matmul_t(Dv[i], x)
    else:
        from ..convolution import Convolution

        ops = [None] + [Convolution(Dv[i].value, signal_shape) for i in range(1, L + 1)]  # filters' FFT once

        def apply(i, x):
            return t.conv(Dv[i], x, signal_shape, op=ops[i])

        def adjoint(i, x):
            return t.conv(Dv[i], x, signal_shape, adjoint=True, op=ops[i])

    x = _iterate(t, Y, L, apply, adjoint, mu, b, method, K)
    return x if out_shape is None else t.reshape(x, out_shape)


def _iterate(t, Y, L, apply, adjoint, mu, b, method, K):
    neg_b = [None] + [t.neg(b[i]) for i in range(1, L + 1)]  # ReLU(u + b) = RELU.prox(u, step=−b)

    def relu_bias(u, i):
        return t.prox(RELU, u, neg_b[i])

    def first_pass():  # the iteration from γ_L = 0 is the layered thresholding
        prev = Y
        for i in range(1, L + 1):
            prev = relu_bias(t.scale(mu[i], adjoint(i, prev)), i)
        return prev

    if method == "layered-thresholding" or K == 1 and method in ("ml-ista", "ml-fista"):
        return first_pass()
    if method == "layered-bp":
        prev = Y
        for i in range(1, L + 1):
            g = relu_bias(t.scale(mu[i], adjoint(i, prev)), i)
            for _ in range(K - 1):
                r = t.sub(apply(i, g), prev)
                g = relu_bias(t.sub(g, t.scale(mu[i], adjoint(i, r))), i)
            prev = g
        return prev
    rho = fista_momentum(K) if method == "ml-fista" else [0.0] * K
    x_old = x = first_pass()
    z = x
    for k in range(1, K):
        if rho[k - 1]:
            z = t.lincomb([(1 + rho[k - 1], x), (-rho[k - 1], x_old)])
        hats = [None] * (L + 1)
        hats[L] = z
        for i in range(L, 0, -1):
            hats[i - 1] = apply(i, hats[i])
        prev = Y
        for i in range(1, L + 1):
            r = t.sub(hats[i - 1], prev)
            prev = relu_bias(t.sub(hats[i], t.scale(mu[i], adjoint(i, r))), i)
        x_old, x = x, prev
        z = x
    return x


def _vars(t, P, need_grad):
    return {k: (t.param(v) if need_grad else t.const(v)) for k, v in P.items()}


def _head(t, V, Y, method, K, signal_shape):
    if signal_shape is not None:  # samples as columns (n, N) -> images (C, *signal_shape, N)
        Y = t.reshape(Y, (-1,) + tuple(signal_shape) + (Y.value.shape[-1],))
    x = ml_forward(t, {k: v for k, v in V.items() if k not in ("W", "c")}, Y, method, K, signal_shape)
    if signal_shape is not None:
        x = t.reshape(x, (-1, x.value.shape[-1]))
    return t.add_bias(t.matmul(V["W"], x), V["c"])


def ml_logits(P, Y, method, K, signal_shape=None):
    """Logits ``W γ_L + c`` (no tape kept)."""
    t = Tape()
    return _head(t, _vars(t, P, False), t.const(Y), method, K, signal_shape).value


def ml_loss_grad(P, Y, labels, method, K, need_grad=True, signal_shape=None):
    """Mean cross-entropy of the linear head on ``γ_L`` and its gradient for every parameter."""
    t = Tape()
    V = _vars(t, P, need_grad)
    loss = t.cross_entropy(_head(t, V, t.const(Y), method, K, signal_shape), labels)
    if not need_grad:
        return float(loss.value), None
    t.backward(loss)
    return float(loss.value), {k: (v.grad if v.grad is not None else np.zeros_like(v.value)) for k, v in V.items()}


# LISTA -------------------------------------------------------------------------------------------------
def lista_regularizer(reg):
    """``(the regularizer of the network's proxes, the scale c)``: the network's prox at steps ``θ`` is ``reg``'s at
    steps ``θ/c``, and it starts at ``θ = cη``.

    For ``pc.L1`` with a scalar weight ``λ``, ``c = λ`` and the network uses ``pc.L1(1.0)`` (same sign constraint):
    the same functions, with ``θ`` the soft thresholds themselves, as Gregor & LeCun learn them (Adam's steps are in
    the parameters' units, and thresholds ``ηλ`` learned as steps ``η`` train much more slowly). Otherwise ``c = 1``.
    """
    if type(reg) is L1 and not isinstance(reg.lam, np.ndarray) and reg.lam > 0:
        return L1(1.0, nonneg=reg.nonneg), reg.lam
    return reg, 1.0


def lista_init(D, K, variant, dtype, scale=1.0):
    """Parameters that make the network exactly ``K`` iterations of ISTA with step ``η = 1/‖D‖²`` (prox steps
    ``θ_k = scale·η``, see :func:`lista_regularizer`)."""
    D = np.asarray(D, dtype=np.float64)
    eta = 1.0 / np.linalg.norm(D, 2) ** 2
    m = D.shape[1]
    P = {}
    if variant == "lista":
        P["W"] = eta * D.T
        P["S"] = np.eye(m) - eta * (D.T @ D)
    for k in range(1, K + 1):
        P[f"theta{k}"] = np.full(m, scale * eta)
        if variant == "coupled":
            P[f"W{k}"] = eta * D
        elif variant == "step":
            P[f"eta{k}"] = np.asarray(eta)
    return {k: np.asarray(v, dtype=dtype) for k, v in P.items()}


def lista_forward(t, V, Y, D, K, variant, reg):
    """The code after ``K`` stages (``D`` a constant Var, used by ``coupled`` and ``step``; ``reg`` the regularizer
    whose prox, at the steps ``θ_k``, ends each stage)."""
    if variant == "lista":
        B = t.matmul(V["W"], Y)
        x = t.prox(reg, B, V["theta1"])
        for k in range(2, K + 1):
            x = t.prox(reg, t.add(B, t.matmul(V["S"], x)), V[f"theta{k}"])
        return x
    x = None
    for k in range(1, K + 1):
        r = Y if x is None else t.sub(Y, t.matmul(D, x))  # y − D x
        if variant == "coupled":
            u = t.matmul_t(V[f"W{k}"], r)
        else:
            u = t.scale(V[f"eta{k}"], t.matmul_t(D, r))
        x = t.prox(reg, u if x is None else t.add(x, u), V[f"theta{k}"])
    return x


def lista_codes(P, Y, D, K, variant, reg):
    t = Tape()
    return lista_forward(t, _vars(t, P, False), t.const(Y), t.const(D), K, variant, reg).value


def lista_loss_grad(P, Y, X_star, D, K, variant, reg, need_grad=True):
    """``(1/2N) Σ ‖x^K(y_j) − x*_j‖²`` and its gradient; ``X_star`` has samples as rows."""
    t = Tape()
    V = _vars(t, P, need_grad)
    x = lista_forward(t, V, t.const(Y), t.const(D), K, variant, reg)
    loss = t.mse(x, t.const(np.ascontiguousarray(X_star.T)))
    if not need_grad:
        return float(loss.value), None
    t.backward(loss)
    return float(loss.value), {k: (v.grad if v.grad is not None else np.zeros_like(v.value)) for k, v in V.items()}
