"""Order-recursive matching pursuit (ORMP) on the Gram matrix, one signal at a time.

ORMP — also called orthogonal least squares or forward selection (Chen,
Billings & Luo 1989; Cotter, Adler, Rao & Kreutz-Delgado 1999) — adds, at
every step, the atom whose inclusion reduces the residual the most. OMP
adds the atom most correlated with the residual instead; the two differ
when the candidate atoms are not orthogonal to the chosen ones.

With unit-norm atoms, ``c_i = d_iᵀr`` (the correlations with the residual)
and ``q_i = ‖P⊥d_i‖²`` (the energy of atom ``i`` outside the span of the
chosen ones), adding atom ``i`` lowers ``‖r‖²`` by exactly ``c_i²/q_i``.
Per signal and step ``k``, Gram–Schmidt runs in coefficient space: the new
direction is ``u_k = P⊥d_b / √q_b`` and its inner products with every atom
are ``E[k, i] = (G[b, i] − Σ_{p<k} E[p, b] E[p, i]) / √q_b``; then
``z_k = c_b/√q_b``, ``c_i −= z_k E[k, i]``, ``q_i −= E[k, i]²`` and
``‖r‖² −= z_k²``. The coefficients solve ``R γ = z`` with
``R[p, k] = E[p, idx_k]`` upper triangular (``D_I = U R``).

The same source runs compiled by numba (:func:`batch_ormp`) and as plain
Python with NumPy (:func:`batch_ormp_numpy`), so the twin is exact by
construction. Inputs, outputs and stopping rules are those of
:mod:`._omp_kernels`: a signal stops after ``s`` atoms, when
``‖r‖² ≤ tol2``, when its correlations vanish, or when every remaining atom
lies in the span of the chosen ones (``q_i ≤ dep_tol``).
"""

from __future__ import annotations

import numpy as np

from ._omp_kernels import DEPENDENT, SELECTED, TOLERANCE, ZERO_RESIDUAL, outputs

__all__ = ["batch_ormp", "batch_ormp_numpy"]

_compiled = None


def _ormp_batch(G, A0, yy, s, tol2, dep_tol, zero_tol, idx, coef, count, energy, flag):
    N, m = A0.shape
    E = np.zeros((s, m), dtype=A0.dtype)
    R = np.zeros((s, s), dtype=A0.dtype)
    c = np.empty(m, dtype=A0.dtype)
    q = np.empty(m, dtype=A0.dtype)
    z = np.empty(s, dtype=A0.dtype)
    gamma = np.empty(s, dtype=A0.dtype)
    chosen = np.zeros(m, dtype=np.bool_)
    pair = np.zeros(2, dtype=A0.dtype)  # c_best², q_best
    scale = np.zeros(1, dtype=A0.dtype)  # 1/√q_best, in the input dtype for the same reason as the pair (below)
    for j in range(N):
        amax0 = 0.0
        for i in range(m):
            c[i] = A0[j, i]
            q[i] = G[i, i]
            chosen[i] = False
            if abs(c[i]) > amax0:
                amax0 = abs(c[i])
        eps = yy[j]
        k = 0
        state = SELECTED
        if eps <= tol2:
            state = TOLERANCE
        while state == SELECTED and k < s:
            # argmax c_i²/q_i, compared as c_i²·q_best > c_best²·q_i: no division per atom. The best pair is
            # kept in an array of the input dtype, so that compiled and interpreted code round alike.
            best = -1
            cmax = 0.0
            for i in range(m):
                if chosen[i]:
                    continue
                ci2 = c[i] * c[i]
                if abs(c[i]) > cmax:
                    cmax = abs(c[i])
                if q[i] > dep_tol and (best < 0 or ci2 * pair[1] > pair[0] * q[i]):
                    pair[0] = ci2
                    pair[1] = q[i]
                    best = i
            if amax0 == 0.0 or cmax <= zero_tol * amax0:
                state = ZERO_RESIDUAL
                break
            if best < 0:
                state = DEPENDENT
                break
            root = np.sqrt(q[best])
            scale[0] = 1 / root  # one division a step, not one per atom
            inverse = scale[0]
            for i in range(m):  # row by row: contiguous passes over the atoms
                E[k, i] = G[best, i]
            for p in range(k):
                coeff = E[p, best]
                R[p, k] = coeff
                for i in range(m):
                    E[k, i] -= coeff * E[p, i]
            R[k, k] = root
            z[k] = c[best] / root
            for i in range(m):
                E[k, i] = E[k, i] * inverse
                c[i] -= z[k] * E[k, i]
                q[i] -= E[k, i] * E[k, i]
            chosen[best] = True
            idx[j, k] = best
            eps -= z[k] * z[k]
            k += 1
            energy[j, k - 1] = eps
            if eps <= tol2:
                state = TOLERANCE
        for r in range(k - 1, -1, -1):
            acc = z[r]
            for p in range(r + 1, k):
                acc -= R[r, p] * gamma[p]
            gamma[r] = acc / R[r, r]
        count[j] = k
        for p in range(k):
            coef[j, p] = gamma[p]
        flag[j] = state


def _run(kernel, G, A0, yy, s, tol2, dep_tol, zero_tol):
    N = A0.shape[0]
    dt = A0.dtype
    idx, coef, count, energy, flag = outputs(N, s, dt)
    kernel(G, A0, yy, s, dt.type(tol2), dt.type(dep_tol), dt.type(zero_tol), idx, coef, count, energy, flag)
    return idx, coef, count, energy, flag


def batch_ormp(G, A0, yy, s, tol2, dep_tol, zero_tol):
    """The numba-compiled path (compiled on first call, cached); returns ``(idx, coef, count, energy, flag)``."""
    global _compiled
    if _compiled is None:
        import numba

        _compiled = numba.njit(cache=True, nogil=True, error_model="numpy")(_ormp_batch)
    return _run(_compiled, G, A0, yy, s, tol2, dep_tol, zero_tol)


def batch_ormp_numpy(G, A0, yy, s, tol2, dep_tol, zero_tol):
    """The same source run by the Python interpreter (slow; the reference for the compiled one)."""
    return _run(_ormp_batch, G, A0, yy, s, tol2, dep_tol, zero_tol)
