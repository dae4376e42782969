"""Layered pursuits for the deep coding problem, each honouring the per-layer tolerances ``ε_{i−1}``.

``layered-omp``: one OMP per layer, stopped at its tolerance (dense budgets
``pc.L0Ball``). ``layered-bp-eps``: one ε-constrained basis pursuit per layer,
``min ‖γ_i‖₁ s.t. ‖γ_{i−1} − D_iγ_i‖² ≤ ε_{i−1}`` (any operator, convolutional
layers included). Both read the tolerances from the problem when it carries
them (:func:`proxcore.dcp.layer_tolerances`: a spec with ``tolerance`` keys).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings

import numpy as np

import proxcore as pc
from proxcore import L1, L0Ball, L0Inf, Status, Zero
from proxcore._validation import ConvergenceWarning, InvalidParameterError, check_scalar
from proxcore.dcp import layer_tolerances

from ._common import check_problem, make_result

__all__ = ["layered_omp", "layered_bp_eps"]


def _tolerances(problem, tolerances, method, required):
    """``tolerances`` validated (one ``ε ≥ 0`` per layer), else the problem's own, else None (or a refusal)."""
    layers = problem.layers
    if tolerances is None:
        tolerances = layer_tolerances(problem)
        if tolerances is None:
            if required:
                raise InvalidParameterError(
                    f"{method} needs per-layer tolerances: pass tolerances=[ε_0, …, ε_{len(layers) - 1}] or solve "
                    "a problem that carries them (a spec with 'tolerance' in every [[layer]], "
                    "proxcore.dcp.with_tolerances, or a proxcore.dcp.DCP)."
                )
            return None
        return tolerances
    if isinstance(tolerances, (str, bytes)) or not hasattr(tolerances, "__len__") or len(tolerances) != len(layers):
        raise InvalidParameterError(f"The 'tolerances' parameter of {method} must be a sequence of "
                                    f"{len(layers)} floats (one per layer); got {tolerances!r}.")
    return tuple(check_scalar(t, "tolerances", method, low=0.0, high=math.inf, high_open=True) for t in tolerances)


def layered_omp(problem, *, tolerances=None):
    """Layered OMP: ``γ_i = OMP(γ_{i−1}, D_i)`` with at most ``s_i`` atoms, stopped once ``‖γ_{i−1} − D_iγ_i‖² ≤ ε_{i−1}``.

    The layered pursuit of the deep coding problem (:class:`proxcore.dcp.DCP`),
    ``γ_0 = y``: each layer is a Batch-OMP (the registered ``omp``) on the
    previous layer's estimate, with the layer's budget ``pc.L0Ball(s_i)`` and
    tolerance.

    Parameters
    ----------
    problem : pc.Problem
        A chain whose regularizers are ``pc.L0Ball(s_i)`` (dense layers).
        Stripe budgets ``pc.L0Inf`` (convolutional layers) are refused: OMP
        picks atoms by a global count, which does not bound ``‖γ_i‖₀,∞``; use
        ``layered-bp-eps`` (ℓ1 with the layer's tolerance) or
        ``layered-thresholding`` (the forward pass, projecting on the stripe
        budget) there, or a global budget ``pc.L0Ball(s)``.
    tolerances : sequence of float, optional
        ``[ε_0, …, ε_{L−1}]``, squared residual norms (as in the DCP); default
        the problem's own (:func:`proxcore.dcp.layer_tolerances`), else none:
        every layer takes ``s_i`` atoms.

    Returns
    -------
    Result
        ``codes`` every layer's code (shallowest first), ``x = γ_L``;
        ``n_iter`` the total of OMP steps; ``history["objective"]`` chains
        the layers' OMP histories (the residual energy of the layer being
        solved, named by ``history["layer"]``).

    Notes
    -----
    Stability (Donoho, Elad & Temlyakov 2006), layer by layer: with
    unit-norm atoms, ``μ = μ(D_i)``, an input error ``‖e‖ ≤ δ`` and stopping at
    ``‖r‖ ≤ δ``, OMP finds the support of ``γ_i`` when
    ``‖γ_i‖₀ < ½(1 + 1/μ) − δ/(μ|γ_i^min|)``, and then
    ``‖γ̂_i − γ_i‖² ≤ δ²/(1 − μ(‖γ_i‖₀ − 1))``: the next layer's ``δ``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D1, D2 = np.eye(3), np.array([[1.0], [1.0], [0.0]]) / np.sqrt(2)
    >>> problem = pc.chain(np.array([1.0, 1.0, 0.01]), [(D1, pc.L0Ball(2)), (D2, pc.L0Ball(1))])
    >>> res = pc.solve(problem, method="layered-omp", tolerances=[1e-3, 1e-3])
    >>> res.codes[0], np.round(res.x, 6)
    (array([1., 1., 0.]), array([1.414214]))
    """
    check_problem(problem, "layered-omp")
    layers = problem.layers
    for i, layer in enumerate(layers, start=1):
        if isinstance(layer.regularizer, L0Inf):
            raise InvalidParameterError(
                f"layered-omp cannot enforce the stripe budget of layer {i} ({layer.regularizer!r}): OMP counts "
                "atoms globally, which does not bound ‖γ‖₀,∞. For convolutional layers use method='layered-bp-eps' "
                "(min ‖γ_i‖₁ within the layer's tolerance) or 'layered-thresholding' (the forward pass, projected "
                "on the stripe budget), or give the layer a global budget pc.L0Ball(s)."
            )
        if not isinstance(layer.regularizer, L0Ball):
            raise InvalidParameterError(f"layered-omp needs the budget pc.L0Ball(s) at every layer; layer {i} has "
                                        f"{layer.regularizer!r}.")
    tolerances = _tolerances(problem, tolerances, "layered-omp", required=False)
    tols = [None] * len(layers) if tolerances is None else [math.sqrt(t) for t in tolerances]
    omp = pc.pursuit("omp")
    gamma = np.asarray(problem.y, dtype=problem.dtype)
    codes, results = [], []
    for layer, tol in zip(layers, tols):
        sub = pc.chain(gamma, [(layer.operator, L0Ball(layer.regularizer.s))])
        res = omp(sub, tol=tol)
        gamma = np.asarray(res.x, dtype=problem.dtype)
        codes.append(gamma)
        results.append(res)
    signal = np.logical_and.reduce([np.asarray(r.signal_converged, bool).reshape(problem.batch_shape)
                                    for r in results])
    history = {
        "objective": np.concatenate([np.asarray(r.history["objective"], dtype=float) for r in results]),
        "layer": np.concatenate([np.full(len(r.history["objective"]), i) for i, r in enumerate(results, 1)]),
    }
    message = f"Layered OMP over {len(results)} layer(s): " + "; ".join(
        f"layer {i}: {r.message}" for i, r in enumerate(results, start=1))
    out = make_result(problem, gamma, n_iter=sum(r.n_iter for r in results), message=message, history=history,
                      codes=codes, signal_converged=signal)
    if any(r.status is not Status.CONVERGED for r in results):
        out = dataclasses.replace(out, status=Status.MAX_ITER, converged=False)
    return out


def _l1_form(reg, i):
    """``(weights, nonneg)`` of the ℓ1 norm that layer ``i`` minimizes: its pc.L1's, or plain ℓ1 for a budget."""
    if isinstance(reg, L1):
        lam = np.asarray(reg.lam, dtype=float)
        if not np.all(lam > 0):
            raise InvalidParameterError(f"layered-bp-eps needs positive ℓ1 weights; layer {i} has a zero weight.")
        return reg.lam, reg.nonneg
    if isinstance(reg, (L0Ball, L0Inf, Zero)):  # the DCP's budgets: their ℓ1 relaxation
        return 1.0, False
    raise InvalidParameterError(
        f"layered-bp-eps minimizes an ℓ1 norm per layer: layer {i} needs pc.L1(lam, nonneg=...) (its weights) or a "
        f"budget pc.L0Ball / pc.L0Inf (plain ℓ1); got {reg!r}."
    )


def layered_bp_eps(problem, *, tolerances=None, inner="cd", rtol=1e-6, tol=1e-10, **options):
    """Layered basis pursuit with per-layer tolerances: ``γ_i = argmin ‖γ‖₁ s.t. ‖γ_{i−1} − D_iγ‖² ≤ ε_{i−1}``.

    ``γ_0 = y``; the layers are solved in turn, each on the previous
    layer's estimate (the layered pursuit of the deep coding problem,
    :class:`proxcore.dcp.DCP`, in its ℓ1 relaxation). Each layer is solved
    per signal through the Lasso: the constrained problem's solution is the
    Lasso solution

        ``γ(λ) = argmin_γ ½‖γ_{i−1} − D_iγ‖² + λ‖γ‖₁``

    at the largest ``λ`` whose residual ``r(λ) = ‖γ_{i−1} − D_iγ(λ)‖²`` is
    at most ``ε_{i−1}`` (``r`` is non-decreasing in ``λ``). That ``λ`` is
    found by a **per-signal bisection**: from ``λ_max = ‖D_iᵀγ_{i−1}‖∞``
    (where ``γ = 0``) ``λ`` is divided by 4 until the residual meets
    ``ε_{i−1}``, then the bracket is bisected geometrically until its ends
    are within a factor ``1 + rtol``; the code returned is the feasible end's.
    Every step is one batched call of the ``inner`` Lasso pursuit (different
    ``λ`` per signal, through ``argmin ½‖y − Dγ‖² + λ‖γ‖₁ = λ·argmin
    ½‖y/λ − Du‖² + ‖u‖₁``), warm-started from the last feasible code.

    Parameters
    ----------
    problem : pc.Problem
        A chain. Layers with ``pc.L1(lam, nonneg=...)`` minimize the weighted
        ``Σ_k lam_k|γ_k|`` (the scale of ``lam`` is irrelevant; ``nonneg``
        adds ``γ ≥ 0``); layers with the DCP's budgets ``pc.L0Ball`` or
        ``pc.L0Inf`` (or ``pc.Zero``) minimize ``‖γ‖₁``: the budget is then
        only reported, by :meth:`proxcore.dcp.DCP.feasibility`.
    tolerances : sequence of float, optional
        ``[ε_0, …, ε_{L−1}]``, bounds on the squared residuals; default the
        problem's own (:func:`proxcore.dcp.layer_tolerances`), required.
    inner : str, default "cd"
        The registered Lasso pursuit of each step (``"cd"``, dense Gram;
        ``"fista"`` for large operators).
    rtol : float, default 1e-6
        Relative width of the final ``λ`` bracket.
    tol : float, default 1e-10
        Passed to the inner pursuit (for ``cd``, its relative duality gap).
    **options
        Passed to every inner solve (``max_iter``, …).

    Returns
    -------
    Result
        ``codes`` every layer's code (shallowest first), ``x = γ_L``;
        ``n_iter`` the number of batched Lasso solves; ``history["objective"]``
        one entry per solve, the weighted ℓ1 norm ``Σ_k w_k|γ_k|`` (summed over
        the batch) of the layer being solved, named by ``history["layer"]``;
        ``history["lam"]`` and ``history["residual"]``, shape ``(L,) + batch``,
        the final ``λ`` and ``‖γ_{i−1} − D_iγ_i‖²`` of every layer and signal.
        A signal converges when every layer's residual meets its tolerance,
        the bracket closed and the inner solves converged; an unreachable
        tolerance (below the least-squares residual, or ``ε = 0`` for an
        overcomplete ``D_i``) leaves the code of the smallest ``λ`` tried
        (``λ_max·1e-12``) and ``converged=False``.

    Notes
    -----
    With ``ε_{i−1} ≥ ‖γ_{i−1}‖²`` the layer's code is 0. The per-layer
    problem is convex, so each layer's answer is its global optimum up to
    ``rtol`` and the inner tolerance; the layered estimate as a whole is not
    a solution of the multi-layer objective (see ``ml-fista``).

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> y = np.array([3.0, 0.5])
    >>> problem = pc.chain(y, [(np.eye(2), pc.L1(1.0)), (np.array([[1.0], [0.0]]), pc.L1(1.0))])
    >>> res = pc.solve(problem, method="layered-bp-eps", tolerances=[0.5, 0.25])
    >>> np.round(res.codes[0], 5), np.round(res.x, 5)     # soft threshold at λ = 0.5, then at 0.5
    (array([2.5, 0. ]), array([2.]))
    >>> np.round(res.history["residual"].ravel(), 5)      # each residual meets its tolerance
    array([0.5 , 0.25])
    """
    check_problem(problem, "layered-bp-eps")
    tolerances = _tolerances(problem, tolerances, "layered-bp-eps", required=True)
    rtol = check_scalar(rtol, "rtol", "layered-bp-eps", low=0.0, low_open=True, high=1.0)
    solve_layer = pc.pursuit(inner)
    warm = "x0" in inspect.signature(solve_layer).parameters
    dtype = problem.dtype
    batch = tuple(problem.batch_shape)
    N = math.prod(batch)
    gamma = np.asarray(problem.y, dtype=dtype)
    codes, lams, residuals, total, converged = [], [], [], 0, np.ones(N, bool)
    trace, names = [], []
    for i, (layer, eps) in enumerate(zip(problem.layers, tolerances), start=1):
        D = layer.operator
        weights, nonneg = _l1_form(layer.regularizer, i)
        G = gamma.reshape(tuple(D.out_shape) + (N,))
        code, lam, r, ok, n, norms = _eps_lasso(D, G, eps, weights, nonneg, solve_layer, warm, rtol,
                                                dict(options, tol=tol), dtype)
        total += n
        trace += norms
        names += [i] * len(norms)
        converged &= ok
        gamma = code.reshape(tuple(D.in_shape) + batch)
        codes.append(gamma)
        lams.append(lam.reshape(batch))
        residuals.append(r.reshape(batch))
    met = int(np.sum(converged))
    message = (f"Layered BP with tolerances over {len(codes)} layer(s): {met} of {N} signal(s) meet every "
               f"tolerance with the λ bracket closed to rtol {rtol:g} ({total} batched {inner} solves).")
    out = make_result(problem, gamma, n_iter=total, message=message, codes=codes,
                      signal_converged=converged.reshape(batch),
                      history={"objective": np.array(trace, dtype=float), "layer": np.array(names, dtype=int),
                               "lam": np.array(lams), "residual": np.array(residuals)})
    return out


def _eps_lasso(D, G, eps, weights, nonneg, solve_layer, warm, rtol, options, dtype):
    """Per column ``g`` of ``G``: ``argmin ‖γ‖_w,1 s.t. ‖g − Dγ‖² ≤ ε`` by bisection on the Lasso's ``λ``."""
    in_shape = tuple(D.in_shape)
    N = G.shape[-1]
    reg = L1(weights, nonneg=nonneg)
    w = np.broadcast_to(np.asarray(weights, dtype=float), in_shape).reshape(-1, 1)

    def residual(code, cols):
        r = np.asarray(G[..., cols], dtype=np.float64) - np.asarray(D.apply(code), dtype=np.float64)
        return np.sum(r.reshape(-1, len(cols)) ** 2, axis=0)

    def lasso(t, cols, start):
        Y = np.ascontiguousarray(G[..., cols] / t.astype(dtype))
        sub = pc.chain(Y, [(D, reg)])
        extra = {"x0": start[..., cols] / t.astype(dtype)} if warm and start is not None else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = solve_layer(sub, **options, **extra)
        code = np.asarray(res.x, dtype=dtype) * t.astype(dtype)
        return code, np.asarray(res.signal_converged, bool).reshape(-1)

    yy = np.sum(np.asarray(G, dtype=np.float64).reshape(-1, N) ** 2, axis=0)
    corr = np.asarray(D.adjoint(G), dtype=np.float64).reshape(-1, N)
    corr = np.maximum(corr, 0.0) if nonneg else np.abs(corr)
    t_max = np.max(corr / w, axis=0) if corr.size else np.zeros(N)
    code = np.zeros(in_shape + (N,), dtype=dtype)  # the feasible end's code (0 at λ ≥ λ_max)
    lam = t_max.copy()
    r_out = yy.copy()
    inner_ok = np.ones(N, bool)
    done = (yy <= eps) | (t_max <= 0)  # 0 is feasible (or optimal for every λ): nothing to bisect
    lo = np.full(N, np.nan)
    hi = t_max.copy()
    floor = t_max * 1e-12
    n_solves = 0
    norms = []

    def l1():
        return float(np.sum(w * np.abs(code.reshape(-1, N))))
    # phase 1: λ ← λ/4 until the residual meets ε (or the floor is passed: unreachable)
    t = hi / 4
    todo = ~done
    while todo.any():
        cols = np.flatnonzero(todo)
        c, ok = lasso(t[cols], cols, None if not n_solves else code)
        n_solves += 1
        r = residual(c, cols)
        feas = r <= eps
        for j, col in enumerate(cols):
            if feas[j] or t[col] / 4 < floor[col]:
                code[..., col] = c[..., j]
                lam[col], r_out[col], inner_ok[col] = t[col], r[j], ok[j]
                if feas[j]:
                    lo[col] = t[col]
                else:  # unreachable tolerance: the smallest λ tried, reported as not converged
                    lo[col] = np.nan
                    done[col] = True
                    inner_ok[col] = False
            else:
                hi[col] = t[col]
                code[..., col] = c[..., j]  # warm start for the next, smaller λ
        t = np.where(np.isnan(lo), t / 4, t)
        todo = ~done & np.isnan(lo)
        norms.append(l1())
    # phase 2: geometric bisection of [lo, hi] (lo feasible, hi not) to a relative width rtol
    todo = ~done & ~np.isnan(lo) & (hi > lo * (1 + rtol))
    while todo.any():
        cols = np.flatnonzero(todo)
        mid = np.sqrt(lo[cols] * hi[cols])
        c, ok = lasso(mid, cols, code)
        n_solves += 1
        r = residual(c, cols)
        feas = r <= eps
        for j, col in enumerate(cols):
            if feas[j]:
                lo[col] = mid[j]
                code[..., col] = c[..., j]
                lam[col], r_out[col], inner_ok[col] = mid[j], r[j], ok[j]
            else:
                hi[col] = mid[j]
        todo = ~done & ~np.isnan(lo) & (hi > lo * (1 + rtol))
        norms.append(l1())
    feasible = r_out <= eps
    return code, lam, r_out, feasible & inner_ok, n_solves, norms
