"""Batch-OMP kernels (Rubinstein, Zibulevsky & Elad 2008): a numba loop and its NumPy twin.

Both take the Gram ``G = DᵀD`` of a dictionary with unit-norm atoms
(``m×m``), the correlations ``A0 = YᵀD`` (``N×m``, one signal per row), the
energies ``yy = ‖y_j‖²``, and run OMP on every signal with progressive
Cholesky updates of ``G_II = LLᵀ``. Per signal and step ``k``:

- select ``i = argmax |α|`` (lowest index on ties), ``α = A0 − G_I γ_I``;
- extend ``L``: ``w = L⁻¹ G_{I,i}``, new diagonal ``sqrt(1 − wᵀw)``;
  ``1 − wᵀw ≤ eps`` means the atom depends linearly on the chosen ones;
- ``z = L⁻¹ A0_I`` grows by one entry; ``γ_I = L⁻ᵀ z``;
- residual energy ``‖r‖² = ‖y‖² − ‖z‖²``, non-increasing.

A signal stops after ``s`` atoms, when ``‖r‖² ≤ tol2``, when its
correlations vanish (``max|α| ≤ zero_tol·max|A0|``: the residual is zero to
rounding), or on linear dependence. Outputs (preallocated, filled in place):
``idx`` and ``coef`` (``N×s``, the first ``count[j]`` entries used),
``energy`` (``N×s``, the residual energy after each step) and ``flag``
(0: ``s`` atoms, 1: tolerance met, 2: zero residual, 3: linear dependence).

The numba version is compiled on first call (``cache=True``); the NumPy
version vectorises the same steps over the signals still running.
"""

from __future__ import annotations

import numpy as np

__all__ = ["batch_omp", "batch_omp_numpy", "SELECTED", "TOLERANCE", "ZERO_RESIDUAL", "DEPENDENT"]

SELECTED, TOLERANCE, ZERO_RESIDUAL, DEPENDENT = 0, 1, 2, 3

_compiled = None


# Module-level functions, compiled on first use (the globals then name the compiled versions): numba caches
# them on disk, where functions defined inside a function recompile in every process (their closure differs).
def _argmax_abs(a):
    # (i, |a_i|) for the first i of largest |a_i|, in four interleaved chains merged at the end: the
    # comparisons of one chain do not wait on the branches of the others (40 % faster than one chain)
    n = a.size
    full = n - n % 4
    b0, b1, b2, b3 = 0, 1, 2, 3
    v0 = v1 = v2 = v3 = -1.0
    for i in range(0, full, 4):
        x0, x1, x2, x3 = abs(a[i]), abs(a[i + 1]), abs(a[i + 2]), abs(a[i + 3])
        if x0 > v0:
            v0, b0 = x0, i
        if x1 > v1:
            v1, b1 = x1, i + 1
        if x2 > v2:
            v2, b2 = x2, i + 2
        if x3 > v3:
            v3, b3 = x3, i + 3
    best, value = b0, v0
    for b, v in ((b1, v1), (b2, v2), (b3, v3)):
        if v > value or (v == value and b < best):
            best, value = b, v
    for i in range(full, n):
        if abs(a[i]) > value:
            best, value = i, abs(a[i])
    return best, value


def _omp_batch(G, A0, yy, s, tol2, dep_tol, zero_tol, idx, coef, count, energy, flag):
    N, m = A0.shape
    dt = A0.dtype
    L = np.zeros((s, s), dtype=dt)
    alpha = np.empty(m, dtype=dt)
    z = np.empty(s, dtype=dt)
    w = np.empty(s, dtype=dt)
    gamma = np.empty(s, dtype=dt)
    for j in range(N):
        a0 = A0[j]
        amax0 = 0.0
        for i in range(m):
            alpha[i] = a0[i]
            if abs(a0[i]) > amax0:
                amax0 = abs(a0[i])
        eps = yy[j]
        zz = 0.0
        k = 0
        state = SELECTED
        if eps <= tol2:
            state = TOLERANCE
        while state == SELECTED and k < s:
            best, bv = _argmax_abs(alpha)
            if amax0 == 0.0 or bv <= zero_tol * amax0:
                state = ZERO_RESIDUAL
                break
            if k > 0:
                ww = 0.0
                for r in range(k):
                    acc = G[idx[j, r], best]
                    for c in range(r):
                        acc -= L[r, c] * w[c]
                    w[r] = acc / L[r, r]
                    ww += w[r] * w[r]
                d = G[best, best] - ww
                if d <= dep_tol:
                    state = DEPENDENT
                    break
                for c in range(k):
                    L[k, c] = w[c]
                L[k, k] = np.sqrt(d)
            else:
                L[0, 0] = np.sqrt(G[best, best])
            idx[j, k] = best
            acc = a0[best]
            for c in range(k):
                acc -= L[k, c] * z[c]
            z[k] = acc / L[k, k]
            zz += z[k] * z[k]
            k += 1
            for r in range(k - 1, -1, -1):
                acc = z[r]
                for c in range(r + 1, k):
                    acc -= L[c, r] * gamma[c]
                gamma[r] = acc / L[r, r]
            for i in range(m):
                alpha[i] = a0[i]
            for c in range(k):
                g = gamma[c]
                row = G[idx[j, c]]
                for i in range(m):
                    alpha[i] -= row[i] * g
            eps = yy[j] - zz
            energy[j, k - 1] = eps
            if eps <= tol2:
                state = TOLERANCE
        count[j] = k
        for c in range(k):
            coef[j, c] = gamma[c]
        flag[j] = state


def outputs(N, s, dtype):
    """The kernels' output arrays, zeroed: ``idx``, ``coef``, ``energy`` (``N×s``), ``count``, ``flag`` (``N``)."""
    return (np.zeros((N, s), dtype=np.int64), np.zeros((N, s), dtype=dtype), np.zeros(N, dtype=np.int64),
            np.zeros((N, s), dtype=dtype), np.zeros(N, dtype=np.int64))


def batch_omp(G, A0, yy, s, tol2, dep_tol, zero_tol):
    """Run the numba kernel; returns ``(idx, coef, count, energy, flag)``."""
    global _compiled, _argmax_abs
    if _compiled is None:
        import numba

        _argmax_abs = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")(_argmax_abs)
        _compiled = numba.njit(cache=True, nogil=True, error_model="numpy")(_omp_batch)
    N = A0.shape[0]
    dt = A0.dtype
    idx, coef, count, energy, flag = outputs(N, s, dt)
    _compiled(G, A0, yy, s, dt.type(tol2), dt.type(dep_tol), dt.type(zero_tol), idx, coef, count, energy, flag)
    return idx, coef, count, energy, flag


def batch_omp_numpy(G, A0, yy, s, tol2, dep_tol, zero_tol):
    """The NumPy twin of :func:`batch_omp`: the same steps, vectorised over the running signals."""
    N, m = A0.shape
    dt = A0.dtype
    idx, coef, count, energy, flag = outputs(N, s, dt)

    rows = np.flatnonzero(~(yy <= tol2))  # signals still running (original indices)
    flag[yy <= tol2] = TOLERANCE
    a0 = A0[rows]
    alpha = a0.copy()
    amax0 = np.abs(a0).max(axis=1) if m else np.zeros(len(rows), dt)
    L = np.zeros((len(rows), s, s), dtype=dt)
    z = np.zeros((len(rows), s), dtype=dt)
    sel = np.zeros((len(rows), s), dtype=np.int64)
    gamma = np.zeros((len(rows), s), dtype=dt)
    zz = np.zeros(len(rows), dtype=dt)

    def stop(mask, k, state):
        nonlocal rows, a0, alpha, amax0, L, z, sel, gamma, zz
        done = rows[mask]
        count[done] = k
        flag[done] = state
        idx[done, :k] = sel[mask, :k]
        coef[done, :k] = gamma[mask, :k]
        keep = ~mask
        rows, a0, alpha, amax0 = rows[keep], a0[keep], alpha[keep], amax0[keep]
        L, z, sel, gamma, zz = L[keep], z[keep], sel[keep], gamma[keep], zz[keep]

    for k in range(s):
        if len(rows) == 0:
            break
        absa = np.abs(alpha)
        best = np.argmax(absa, axis=1)
        bv = absa[np.arange(len(rows)), best]
        zero = (amax0 == 0) | (bv <= zero_tol * amax0)
        if zero.any():
            stop(zero, k, ZERO_RESIDUAL)
            best = best[~zero]
            if len(rows) == 0:
                break
        n_run = len(rows)
        ar = np.arange(n_run)
        if k > 0:
            w = np.zeros((n_run, k), dtype=dt)
            for r in range(k):
                acc = G[sel[:, r], best] - np.einsum("nc,nc->n", L[:, r, :r], w[:, :r])
                w[:, r] = acc / L[:, r, r]
            d = G[best, best] - np.einsum("nc,nc->n", w, w)
            dep = d <= dep_tol
            if dep.any():
                stop(dep, k, DEPENDENT)
                keep = ~dep
                best, w, d = best[keep], w[keep], d[keep]
                n_run = len(rows)
                ar = np.arange(n_run)
                if n_run == 0:
                    break
            L[:, k, :k] = w
            L[:, k, k] = np.sqrt(d)
        else:
            L[:, 0, 0] = np.sqrt(G[best, best])
        sel[:, k] = best
        z[:, k] = (a0[ar, best] - np.einsum("nc,nc->n", L[:, k, :k], z[:, :k])) / L[:, k, k]
        zz += z[:, k] * z[:, k]
        for r in range(k, -1, -1):
            gamma[:, r] = (z[:, r] - np.einsum("nc,nc->n", L[:, r + 1:k + 1, r], gamma[:, r + 1:k + 1])) / L[:, r, r]
        alpha = a0.copy()
        for c in range(k + 1):
            alpha -= G[sel[:, c]] * gamma[:, c:c + 1]
        eps = yy[rows] - zz
        energy[rows, k] = eps
        met = eps <= tol2
        if met.any():
            stop(met, k + 1, TOLERANCE)
    if len(rows):
        stop(np.ones(len(rows), dtype=bool), s, SELECTED)
    return idx, coef, count, energy, flag
