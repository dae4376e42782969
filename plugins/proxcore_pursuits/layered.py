"""One-shot and layered pursuits: thresholding, layered thresholding, layered basis pursuit."""

from __future__ import annotations

import numpy as np

import proxcore as pc
from proxcore import Status
from proxcore._validation import InvalidParameterError

from ._common import check_problem, one_layer, result

__all__ = ["thresholding", "layered_thresholding", "layered_bp"]


def _no_options(options, method):
    if options:
        raise InvalidParameterError(f"{method} takes no options; got {', '.join(map(repr, sorted(options)))}.")


def thresholding(problem, **options):
    """One-shot thresholding ``x = T(Dᵀy)``, ``T`` the prox (step 1) of the problem's regularizer.

    With ``pc.L1(λ)`` it is soft thresholding at ``λ``, with
    ``pc.L1(λ, nonneg=True)`` the ReLU ``max(Dᵀy − λ, 0)``, with
    ``pc.L0Ball(s)`` it keeps the ``s`` largest correlations of each signal.

    Parameters
    ----------
    problem : pc.Problem
        One layer, ``½‖y − Dx‖² + g(x)``.

    Returns
    -------
    Result
        ``n_iter = 1``, ``converged = True``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = np.eye(3)
    >>> pc.solve(pc.chain(np.array([3.0, -0.5, 1.5]), [(D, pc.L1(1.0))]), method="thresholding").x
    array([2. , 0. , 0.5])
    """
    _no_options(options, "thresholding")
    D, reg = one_layer(problem, "thresholding")
    y = np.asarray(problem.y, dtype=problem.dtype)
    x = np.asarray(reg.prox(np.asarray(D.adjoint(y), dtype=problem.dtype), 1.0), dtype=problem.dtype)
    return result(problem, x, n_iter=1, signal_converged=np.ones(problem.batch_shape, bool),
                  status=Status.CONVERGED, message="One-shot thresholding of the correlations Dᵀy.")


def layered_thresholding(problem, **options):
    """Layered thresholding, the forward pass of a CNN: ``γ_i = T_i(D_iᵀ γ_{i−1})``, ``γ_0 = y``.

    ``T_i`` is the prox (step 1) of layer ``i``'s regularizer: with
    ``pc.L1(λ_i, nonneg=True)`` it is ``ReLU(D_iᵀ γ_{i−1} − λ_i)``, a ReLU
    with bias ``b_i = −λ_i``.

    Parameters
    ----------
    problem : pc.Problem
        A chain ``y ≈ D_1 γ_1``, ``γ_{i−1} = D_i γ_i`` (from ``pc.chain``).

    Returns
    -------
    Result
        ``codes`` are the estimates ``γ_1 … γ_L`` of every layer (not
        ``D_(i+1,L) γ_L``: the layered estimate need not be consistent),
        ``x = γ_L``; ``objective`` is the multi-layer objective at ``x``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D1, D2 = np.eye(2), np.array([[1.0, -1.0], [0.0, 1.0]])
    >>> problem = pc.chain(np.array([2.0, 1.0]), [(D1, pc.L1(0.5, nonneg=True)), (D2, pc.L1(0.5, nonneg=True))])
    >>> res = pc.solve(problem, method="layered-thresholding")
    >>> res.codes[0], res.x                   # ReLU(y − 0.5), then ReLU(D2ᵀγ1 − 0.5)
    (array([1.5, 0.5]), array([1., 0.]))
    """
    _no_options(options, "layered-thresholding")
    check_problem(problem, "layered-thresholding")
    gamma = np.asarray(problem.y, dtype=problem.dtype)
    codes = []
    for layer in problem.layers:
        v = np.asarray(layer.operator.adjoint(gamma), dtype=problem.dtype)
        gamma = np.asarray(layer.regularizer.prox(v, 1.0), dtype=problem.dtype)
        codes.append(gamma)
    return result(problem, gamma, n_iter=1, signal_converged=np.ones(problem.batch_shape, bool),
                  status=Status.CONVERGED, codes=codes,
                  message=f"Layered thresholding through {len(codes)} layer(s).")


def layered_bp(problem, *, inner="fista", **options):
    """Layered basis pursuit: one pursuit per layer, in turn, ``γ_i = argmin ½‖γ_{i−1} − D_iγ‖² + g_i(γ)``.

    Parameters
    ----------
    problem : pc.Problem
        A chain, from ``pc.chain(y, [(D_1, g_1), …, (D_L, g_L)])``.
    inner : str, default "fista"
        The registered pursuit that solves each layer (any one-layer
        pursuit: ``"fista"``, ``"ista"``, ``"omp"``, ``"cd"`` …).
    **options
        Passed to every inner solve (``max_iter``, ``tol``, ``gap_tol`` …).

    Returns
    -------
    Result
        ``codes`` are the per-layer solutions, ``x = γ_L``; ``n_iter`` the
        total of the inner iterations; converged when every layer did.
        ``history["objective"]`` chains the inner solvers' histories (each
        entry is the objective of the layer being solved, named by
        ``history["layer"]``); ``history["layer_objective"]`` holds each
        layer's final objective. On one layer it is the inner solver itself.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> problem = pc.chain(np.array([3.0, 0.2]), [(np.eye(2), pc.L1(1.0)), (np.eye(2), pc.L1(0.5))])
    >>> res = pc.solve(problem, method="layered-bp", tol=1e-10)
    >>> res.codes[0], res.x
    (array([2., 0.]), array([1.5, 0. ]))
    """
    check_problem(problem, "layered-bp")
    solve_layer = pc.pursuit(inner)
    gamma = np.asarray(problem.y, dtype=problem.dtype)
    codes, results = [], []
    for layer in problem.layers:
        sub = pc.chain(gamma, [(layer.operator, layer.regularizer)])
        res = solve_layer(sub, **options)
        gamma = np.asarray(res.x, dtype=problem.dtype)
        codes.append(gamma)
        results.append(res)
    converged = all(r.converged for r in results)
    worst = next((r.status for r in results if r.status is not Status.CONVERGED), Status.CONVERGED)
    signal = np.logical_and.reduce([np.asarray(r.signal_converged, bool).reshape(problem.batch_shape)
                                    for r in results])
    message = f"Layered BP ({inner}) over {len(results)} layer(s): " + "; ".join(
        f"layer {i}: {r.message}" for i, r in enumerate(results, start=1))
    history = {
        "objective": np.concatenate([np.asarray(r.history["objective"], dtype=float) for r in results]),
        "layer": np.concatenate([np.full(len(r.history["objective"]), i) for i, r in enumerate(results, 1)]),
        "layer_objective": np.array([r.objective for r in results]),
    }
    return result(problem, gamma, n_iter=sum(r.n_iter for r in results), signal_converged=signal,
                  status=worst if not converged else Status.CONVERGED, codes=codes, message=message,
                  history=history)
