"""Coordinate descent for the Lasso on the Gram matrix, with working sets, one signal at a time, signals in parallel.

The same source runs compiled by numba (:func:`lasso_cd`, ``parallel=True``:
the signals are split into one chunk per thread) and as plain Python with
NumPy (:func:`lasso_cd_numpy`), so the twin is exact by construction.

Both take ``G = DᵀD`` (``m×m``), ``B = YᵀD`` (``N×m``, one signal per row),
``DT = Dᵀ`` (``m×n``) and ``Y`` (``n×N``), ``yy = ‖y_j‖²``, per-atom weights ``lam`` (``m``, in ``B``'s dtype;
``weights``: the same in float64, for the final objective) and the start ``X``
(``m×N``, one code per column, as returned; updated in place: each signal
works on a copy of its column in a buffer of its thread's, and writes it
back once done, so no ``N×m`` copy and no transpose is ever made). For each signal, with ``c = Dᵀ(y − Dx) = b − Gx``:

1. the working set ``W``: every atom with ``x_i ≠ 0`` and the zero atoms
   closest to entering, by ``|c_i|/λ_i`` (``c_i/λ_i`` for ``nonneg``),
   ``p`` atoms in all (``p = max(2·nnz, 4)`` at first);
2. cyclic sweeps over ``W`` only, with ``c`` kept on ``W`` alone (a change
   costs ``|W|``, not ``m``, operations)::

       x_i ← T(x_i + c_i/G_ii, λ_i/G_ii),    c_W ← c_W − (x_i^new − x_i^old) G[W, i]

   (``T`` soft thresholding, ``max(·, 0)`` after it for ``nonneg``), until
   the duality gap of the problem restricted to ``W`` is at most
   ``0.3·gap_tol·‖y‖²`` (working sets as in Massias, Gramfort & Salmon
   2018). After a sweep that changed neither the support nor the signs,
   the exact minimiser on them, ``G_SS x_S = b_S − λ_S·sign(x_S)``
   (Cholesky, the factor kept from the signal's previous solves and
   extended by a row per new atom), replaces ``x`` if it lowers the
   objective: once CD has found the support, one solve finishes the signal;
3. ``c`` on every atom afresh, and the duality gap of the whole problem
   (see :mod:`proxcore.certificates`): the signal stops when
   ``gap ≤ gap_tol·‖y‖²``, else ``p`` doubles and it goes back to 1.

Since ``x`` is zero outside ``W``, the objective after every sweep is exact,
and it never increases. Outputs: ``sweeps[j]`` (sweeps run), ``gap[j]``,
``objective[j]`` (final), and the history: after each sweep ``k``, the
objective summed over the signals (a signal that stopped earlier
contributes its final value). The final objective is computed once more
from the residual ``y − Dx`` over the support, in float64: the Gram form
``½(‖y‖² − 2bᵀx + xᵀGx)`` loses digits to cancellation when the residual is
small, and the residual over ``s`` atoms costs ``s·n`` operations where the
caller's ``D X`` would cost ``m·n`` per signal, after the parallel region.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lasso_cd", "lasso_cd_numpy"]

_compiled = None
prange = range  # numba.prange once compiled; numba.prange also runs as range in Python

_INNER = 0.3  # the restricted problem is solved to this fraction of the tolerance
_FIRST_SIZE = 4  # small: a larger first set costs more sweeps (10: 14.7 a signal on the benchmark's Lasso, 4: 13.3)


def _top(score, order, q, best):
    """Put in ``order[:q]`` the indices of the ``q`` largest scores, largest first (ties: the lower index first).

    One pass with a sorted buffer of ``q`` entries (their scores in ``best``): an index enters only if it beats
    the buffer's last, which after the first few is rare, so this costs about ``m`` comparisons (a sort of all
    ``m`` costs several times more than the rest of an outer iteration). The buffer keeps the scores themselves,
    so the comparison that skips an index reads one fixed place rather than ``score[order[q − 1]]``."""
    n = 0
    for i in range(score.size):
        s = score[i]
        if n < q:
            j = n
            n += 1
        elif s > best[q - 1]:
            j = q - 1
        else:
            continue
        while j > 0 and best[j - 1] < s:
            best[j] = best[j - 1]
            order[j] = order[j - 1]
            j -= 1
        best[j] = s
        order[j] = i


def _restricted(x, ws, size, b, cW, lam, yj, nonneg):
    """The objective and the duality gap of the problem restricted to the working set (``x`` zero outside it)."""
    xb = 0.0
    xc = 0.0
    l1 = 0.0
    s = 1.0
    for a in range(size):
        i = ws[a]
        xb += x[i] * b[i]
        xc += x[i] * cW[a]
        l1 += lam[i] * abs(x[i])
        ci = cW[a] if nonneg else abs(cW[a])
        if ci > 0 and lam[i] < s * ci:
            s = lam[i] / ci
    rr = max(yj - xb - xc, 0.0)
    p = 0.5 * rr + l1
    return p, p - (s * (yj - xb) - 0.5 * s * s * rr)


def _newton(x, ws, size, b, G, GW, cW, lam, yj, nonneg, p, factor, k, L, held, where, t, u, cN):
    """The exact minimiser on the support and signs of ``x`` in the working set, ``G_SS u = b_S − λ_S σ_S``,
    taken when it lowers the objective ``p``; returns the objective after and the rows of the factor kept.

    ``G_SS = LLᵀ`` with the support in the order of ``factor[:k]``, kept from the signal's previous solves:
    its longest prefix still in the support is reused and the new atoms are appended, one row each (as in
    Batch-OMP), so a signal factors each atom about once instead of its whole support at every solve.
    ``where[i]``: the position of atom ``i`` in the working set; ``held``: all False on entry and exit."""
    q0 = 0
    while q0 < k and x[factor[q0]] != 0:
        q0 += 1
    for q in range(q0):
        held[factor[q]] = True
    n = q0
    ok = True
    for a in range(size):
        i = ws[a]
        if x[i] == 0 or held[i]:
            continue
        row = G[i]  # row n of L: L[n, :n] = L⁻¹ G[factor[:n], i], L[n, n] = sqrt(G_ii − ‖L[n, :n]‖²)
        acc2 = row[i]
        for e in range(n):
            acc = row[factor[e]]
            for f in range(e):
                acc -= L[e, f] * L[n, f]
            v = acc / L[e, e]
            L[n, e] = v
            acc2 -= v * v
        if not acc2 > 0:  # the atom depends (numerically) on the others: no exact solve
            ok = False
            break
        L[n, n] = np.sqrt(acc2)
        factor[n] = i
        n += 1
    for q in range(q0):
        held[factor[q]] = False
    if not ok or n == 0:
        return p, n
    for q in range(n):
        i = factor[q]
        acc = b[i] - (lam[i] if x[i] > 0 else -lam[i])
        for e in range(q):
            acc -= L[q, e] * t[e]
        t[q] = acc / L[q, q]
    for q in range(n - 1, -1, -1):
        acc = t[q]
        for e in range(q + 1, n):
            acc -= L[e, q] * u[e]
        u[q] = acc / L[q, q]
        if nonneg and u[q] < 0:
            return p, n
    for a in range(size):  # c on the working set, b_W − G[W, S] u, by rows of G[S, W] (G is symmetric)
        cN[a] = b[ws[a]]
    for q in range(n):
        row = GW[where[factor[q]]]
        f = u[q]
        for a in range(size):
            cN[a] -= row[a] * f
    xb = 0.0
    xc = 0.0
    l1 = 0.0
    for q in range(n):
        i = factor[q]
        xb += u[q] * b[i]
        xc += u[q] * cN[where[i]]
        l1 += lam[i] * abs(u[q])
    value = 0.5 * max(yj - xb - xc, 0.0) + l1
    if not value <= p:
        return p, n
    for q in range(n):
        x[factor[q]] = u[q]
    for a in range(size):
        cW[a] = cN[a]
    return value, n


def _cd_batch(G, B, DT, Y, yy, lam, weights, nonneg, max_iter, gap_tol, n_chunks, X, sweeps, gap, objective, hist):
    N, m = B.shape
    n = DT.shape[1]
    for chunk in prange(n_chunks):
        r = np.empty(n)  # the final residual, in float64
        c = np.empty(m, dtype=B.dtype)
        score = np.empty(m)
        best = np.empty(m)
        ws = np.empty(m, dtype=np.int64)  # the working set: its first `size` entries
        every = np.arange(m)
        GW = np.empty((m, m), dtype=B.dtype)  # G[W, W], rows and columns in the order of ws
        cW = np.empty(m, dtype=B.dtype)
        factor = np.empty(m, dtype=np.int64)  # the atoms of the exact solve's Cholesky factor L, in its order
        held = np.zeros(m, dtype=np.bool_)
        where = np.empty(m, dtype=np.int64)  # where[ws[a]] = a
        L = np.empty((m, m), dtype=B.dtype)
        tN = np.empty(m, dtype=B.dtype)
        uN = np.empty(m, dtype=B.dtype)
        cN = np.empty(m, dtype=B.dtype)
        x = np.empty(m, dtype=B.dtype)
        filled = 0  # the columns of hist[chunk] written so far (hist comes uninitialised: max_iter may be 10⁶)
        for j in range(chunk * N // n_chunks, (chunk + 1) * N // n_chunks):
            x[:] = X[:, j]
            b = B[j]
            done = 0
            kept = 0  # rows of L (the factor starts afresh with each signal)
            size = 0
            g = 0.0
            p = 0.0
            while True:
                # c = b − G x on every atom, and the duality gap of the whole problem
                for i in range(m):
                    c[i] = b[i]
                nnz = 0
                for k in range(m):
                    if x[k] != 0:
                        nnz += 1
                        xk = x[k]
                        row = G[k]
                        for i in range(m):
                            c[i] -= row[i] * xk
                p, g = _restricted(x, every, m, b, c, lam, yy[j], nonneg)  # the working set of all atoms
                if done > 0 and (g <= gap_tol * yy[j] or done >= max_iter or size == m):
                    break
                # the working set: the non-zero atoms, then the zero atoms closest to entering
                size = min(m, max(2 * nnz, _FIRST_SIZE, 2 * size))
                for i in range(m):
                    ci = c[i] if nonneg else abs(c[i])
                    if x[i] != 0 or lam[i] <= 0:
                        score[i] = np.inf
                    else:
                        score[i] = ci / lam[i]
                _top(score, ws, size, best)
                for a in range(size):
                    ia = ws[a]
                    where[ia] = a
                    cW[a] = c[ia]
                    for q in range(size):
                        GW[a, q] = G[ia, ws[q]]
                # sweeps over the working set until its own gap is small; after a sweep that left the support
                # and the signs as they were, the exact minimiser on them (it ends most runs)
                tried = False  # the solve on the current support and signs was taken or refused already
                while done < max_iter:
                    same = True
                    for a in range(size):
                        gii = GW[a, a]
                        if gii <= 0:
                            continue
                        i = ws[a]
                        old = x[i]
                        z = old + cW[a] / gii
                        t = lam[i] / gii
                        if z > t:
                            new = z - t
                        elif z < -t and not nonneg:
                            new = z + t
                        else:
                            new = z - z
                        if new != old:
                            if (new > 0) != (old > 0) or (new < 0) != (old < 0):
                                same = False
                                tried = False
                            delta = new - old
                            x[i] = new
                            row = GW[a]
                            for q in range(size):
                                cW[q] -= row[q] * delta
                    done += 1
                    p, sub = _restricted(x, ws, size, b, cW, lam, yy[j], nonneg)
                    if same and not tried and sub > _INNER * gap_tol * yy[j]:
                        # (it depends on the support and the signs only: refused once, refused until they change)
                        tried = True
                        value, kept = _newton(x, ws, size, b, G, GW, cW, lam, yy[j], nonneg, p, factor, kept, L,
                                              held, where, tN, uN, cN)
                        if value < p:
                            p, sub = _restricted(x, ws, size, b, cW, lam, yy[j], nonneg)
                    if done > filled:
                        hist[chunk, done - 1] = p
                        filled = done
                    else:
                        hist[chunk, done - 1] += p
                    if sub <= _INNER * gap_tol * yy[j]:
                        break
            X[:, j] = x
            sweeps[j] = done
            gap[j] = g
            objective[j] = _residual_objective(x, DT, Y, j, weights, r)


def _residual_objective(x, DT, Y, j, weights, r):
    """``½‖y_j − D x‖² + Σ λ_i|x_i|`` in float64 through the non-zeros of ``x`` (``r``: a buffer of ``n``)."""
    n, m = DT.shape[1], DT.shape[0]
    for t in range(n):
        r[t] = Y[t, j]
    l1 = 0.0
    for k in range(m):
        if x[k] != 0:
            xk = np.float64(x[k])
            l1 += weights[k] * abs(xk)
            row = DT[k]
            for t in range(n):
                r[t] -= np.float64(row[t]) * xk
    rr = 0.0
    for t in range(n):
        rr += r[t] * r[t]
    return 0.5 * rr + l1


def _history(sweeps, objective, hist):
    """``history[k]``: Σ_j objective of signal j after sweep k (its final value once it stopped).

    ``hist[c, k]``: the sum over chunk ``c``'s signals still running at sweep ``k``, written for ``k`` below
    the chunk's largest number of sweeps only (the rest is uninitialised).
    """
    n_chunks, N = hist.shape[0], sweeps.size
    n = int(sweeps.max()) if N else 0
    tail = np.zeros(n + 1)
    np.add.at(tail, np.minimum(sweeps, n), objective)
    out = np.cumsum(tail)[:n]
    for c in range(n_chunks):
        written = sweeps[c * N // n_chunks:(c + 1) * N // n_chunks].max(initial=0)
        out[:written] += hist[c, :written]
    return out


def _run(kernel, n_chunks, G, B, DT, Y, yy, lam, weights, nonneg, max_iter, gap_tol, X):
    N = B.shape[0]
    n_chunks = max(1, min(n_chunks, N))
    sweeps = np.zeros(N, dtype=np.int64)
    gap = np.zeros(N)
    objective = np.zeros(N)
    hist = np.empty((n_chunks, max(max_iter, 1)))  # the kernel writes the columns it uses
    kernel(G, B, DT, Y, yy, lam, weights, bool(nonneg), int(max_iter), float(gap_tol), n_chunks, X,
           sweeps, gap, objective, hist)
    return sweeps, gap, objective, _history(sweeps, objective, hist)


def lasso_cd(G, B, DT, Y, yy, lam, weights, nonneg, max_iter, gap_tol, X):
    """Run the numba kernel on ``X`` (in place; compiled on first call, cached; one chunk of signals per numba
    thread); returns ``(sweeps, gap, objective, history)``."""
    global _compiled, prange, _top, _restricted, _newton, _residual_objective
    import numba

    if _compiled is None:
        prange = numba.prange
        helper = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
        _top, _restricted, _newton = helper(_top), helper(_restricted), helper(_newton)
        _residual_objective = helper(_residual_objective)
        _compiled = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")(_cd_batch)
    # one compiled signature per dtype, whatever the caller's arrays: inputs writable and C-contiguous (copies
    # if needed; they are small next to the data), the data a read-only view (no copy of the largest input)
    G, B, DT, yy, lam, weights = (np.require(a, requirements=("C", "W")) for a in (G, B, DT, yy, lam, weights))
    Y = np.ascontiguousarray(Y).view()
    Y.setflags(write=False)
    return _run(_compiled, numba.get_num_threads(), G, B, DT, Y, yy, lam, weights, nonneg, max_iter, gap_tol, X)


def lasso_cd_numpy(G, B, DT, Y, yy, lam, weights, nonneg, max_iter, gap_tol, X):
    """The same source run by the Python interpreter (slow; the reference for the compiled one)."""
    return _run(_cd_batch, 1, G, B, DT, Y, yy, lam, weights, nonneg, max_iter, gap_tol, X)
