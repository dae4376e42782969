"""Layered OMP for the deep coding problem: one OMP per layer, each stopped at its tolerance."""

from __future__ import annotations

import math

import numpy as np

import proxcore as pc
from proxcore import L0Ball, Status
from proxcore._validation import InvalidParameterError, check_scalar

from ._common import check_problem, make_result

__all__ = ["layered_omp"]


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
    tolerances : sequence of float, optional
        ``[ε_0, …, ε_{L−1}]``, squared residual norms (as in the DCP); default
        none: every layer takes ``s_i`` atoms.

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
        if not isinstance(layer.regularizer, L0Ball):
            raise InvalidParameterError(f"layered-omp needs the budget pc.L0Ball(s) at every layer; layer {i} has "
                                        f"{layer.regularizer!r}.")
    if tolerances is None:
        tols = [None] * len(layers)
    else:
        if isinstance(tolerances, (str, bytes)) or not hasattr(tolerances, "__len__") or len(tolerances) != len(layers):
            raise InvalidParameterError(f"The 'tolerances' parameter of layered-omp must be a sequence of "
                                        f"{len(layers)} floats (one per layer); got {tolerances!r}.")
        tols = [math.sqrt(check_scalar(t, "tolerances", "layered-omp", low=0.0, high=math.inf, high_open=True))
                for t in tolerances]
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
        import dataclasses

        out = dataclasses.replace(out, status=Status.MAX_ITER, converged=False)
    return out
