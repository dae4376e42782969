"""Coordinate descent for the Lasso on the Gram matrix: a numba loop and its NumPy twin.

Both take ``G = DᵀD`` (``m×m``), ``B = YᵀD`` (``N×m``, one signal per row),
``yy = ‖y_j‖²``, per-atom weights ``lam`` (``m``), the start ``X`` (``N×m``,
updated in place) and run cyclic sweeps over the coordinates of each
signal, keeping ``c = Dᵀ(y − Dx) = b − Gx`` up to date::

    x_i ← T(x_i + c_i/G_ii, λ_i/G_ii),    c ← c − (x_i^new − x_i^old) G[:, i]

with ``T`` soft thresholding (``max(·, 0)`` after it for ``nonneg``). After
each sweep the duality gap (see :mod:`proxcore.certificates`) is computed
from ``x``, ``b`` and ``c`` alone; a signal stops when
``gap ≤ gap_tol·‖y‖²``. Outputs: ``sweeps[j]`` (sweeps run), ``gap[j]``,
``objective[j]`` (final), and the history: after each sweep ``k``, the
objective summed over the signals (a signal that stopped earlier contributes
its final value).
"""

from __future__ import annotations

import numpy as np

__all__ = ["lasso_cd", "lasso_cd_numpy"]

_compiled = None


def _compile():
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(G, B, yy, lam, nonneg, max_iter, gap_tol, X, sweeps, gap, objective, hist):
        N, m = B.shape
        dt = B.dtype
        c = np.empty(m, dtype=dt)
        for j in range(N):
            x = X[j]
            b = B[j]
            for i in range(m):  # c = b − G x
                c[i] = b[i]
            for k in range(m):
                if x[k] != 0:
                    xk = x[k]
                    row = G[k]
                    for i in range(m):
                        c[i] -= row[i] * xk
            done = 0
            g = 0.0
            p = 0.0
            while done < max_iter:
                for i in range(m):
                    gii = G[i, i]
                    if gii <= 0:
                        continue
                    old = x[i]
                    z = old + c[i] / gii
                    t = lam[i] / gii
                    if z > t:
                        new = z - t
                    elif z < -t and not nonneg:
                        new = z + t
                    else:
                        new = 0.0
                    if new != old:
                        delta = new - old
                        x[i] = new
                        row = G[i]
                        for q in range(m):
                            c[q] -= row[q] * delta
                done += 1
                # duality gap from x, b, c
                xb = 0.0
                xc = 0.0
                l1 = 0.0
                s = 1.0
                for i in range(m):
                    xb += x[i] * b[i]
                    xc += x[i] * c[i]
                    l1 += lam[i] * abs(x[i])
                    ci = c[i] if nonneg else abs(c[i])
                    if ci > 0 and lam[i] < s * ci:
                        s = lam[i] / ci
                rr = yy[j] - xb - xc
                if rr < 0:
                    rr = 0.0
                p = 0.5 * rr + l1
                g = p - (s * (yy[j] - xb) - 0.5 * s * s * rr)
                hist[done - 1] += p
                if g <= gap_tol * yy[j]:
                    break
            sweeps[j] = done
            gap[j] = g
            objective[j] = p

    return kernel


def _history(sweeps, objective, hist):
    """``history[k]``: Σ_j objective of signal j after sweep k (its final value once it stopped)."""
    n = int(sweeps.max()) if sweeps.size else 0
    tail = np.zeros(n + 1)
    np.add.at(tail, np.minimum(sweeps, n), objective)
    return hist[:n] + np.cumsum(tail)[:n]


def lasso_cd(G, B, yy, lam, nonneg, max_iter, gap_tol, X):
    """Run the numba kernel on ``X`` (in place); returns ``(sweeps, gap, objective, history)``."""
    global _compiled
    if _compiled is None:
        _compiled = _compile()
    N = B.shape[0]
    sweeps = np.zeros(N, dtype=np.int64)
    gap = np.zeros(N)
    objective = np.zeros(N)
    hist = np.zeros(max(max_iter, 1))
    _compiled(G, B, yy, lam, bool(nonneg), int(max_iter), float(gap_tol), X, sweeps, gap, objective, hist)
    return sweeps, gap, objective, _history(sweeps, objective, hist)


def lasso_cd_numpy(G, B, yy, lam, nonneg, max_iter, gap_tol, X):
    """The NumPy twin of :func:`lasso_cd`: the same sweeps, vectorised over the signals still running."""
    N, m = B.shape
    sweeps = np.zeros(N, dtype=np.int64)
    gap = np.zeros(N)
    objective = np.zeros(N)
    C = B - X @ G  # G is symmetric: rows of X @ G are (G x)ᵀ
    running = np.arange(N)
    diag = np.diag(G)
    hist = np.zeros(max(max_iter, 1))
    for done in range(1, max_iter + 1):
        if running.size == 0:
            break
        x, c = X[running], C[running]
        for i in range(m):
            if diag[i] <= 0:
                continue
            old = x[:, i].copy()
            z = old + c[:, i] / diag[i]
            t = lam[i] / diag[i]
            new = np.where(z > t, z - t, np.where((z < -t) & (not nonneg), z + t, 0.0)).astype(x.dtype)
            delta = new - old
            changed = delta != 0
            if changed.any():
                x[:, i] = new
                c[changed] -= delta[changed, None] * G[i]
        X[running], C[running] = x, c
        b, y2 = B[running], yy[running]
        xb = np.einsum("ij,ij->i", x, b, dtype=np.float64)
        xc = np.einsum("ij,ij->i", x, c, dtype=np.float64)
        rr = np.maximum(y2 - xb - xc, 0)
        cc = np.maximum(c, 0) if nonneg else np.abs(c)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(cc > 0, lam[None, :] / np.where(cc > 0, cc, 1), np.inf)
        s = np.minimum(1.0, ratio.min(axis=1)) if m else np.ones(len(running))
        p = 0.5 * rr + np.abs(x) @ lam.astype(np.float64)
        g = p - (s * (y2 - xb) - 0.5 * s * s * rr)
        sweeps[running], gap[running], objective[running] = done, g, p
        hist[done - 1] += p.sum()
        running = running[~(g <= gap_tol * y2)]
    return sweeps, gap, objective, _history(sweeps, objective, hist)
