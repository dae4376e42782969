"""LARS–Lasso homotopy on the Gram matrix, one signal at a time, signals in parallel.

The same source runs compiled by numba (:func:`lars`, ``parallel=True``: the
signals are split into one chunk per thread) and as plain Python with NumPy
(:func:`lars_numpy`), so the twin is exact by construction.

For ``½‖y − Du‖² + ‖u‖₁`` (weights are folded into the columns of ``D``
by the caller), from ``u = 0`` at ``λ = max|c|``, ``c = Dᵀ(y − Du)``, the
path is piecewise linear in ``λ``: on the active set ``A`` with signs
``s_A = sign(c_A)``, ``u_A`` moves along ``d = G_AA⁻¹ s_A`` and ``c`` along
``−G[:, A] d`` while ``λ`` decreases at unit rate. A step ends when an
inactive correlation reaches ``±λ`` (the atom joins), an active coefficient
crosses zero (the Lasso modification: it leaves), or ``λ`` reaches the
target 1 (Efron, Hastie, Johnstone & Tibshirani 2004; Osborne et al. 2000).
With ``nonneg`` only positive correlations join and ``s_A = 1``.

The Cholesky factor of ``G_AA`` grows by one row when an atom joins
(``O(k²)``) and is refactored only when one leaves; the objective after each
step costs ``O(k)``, from ``(Gu)_A = b_A − c_A``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lars", "lars_numpy"]

_compiled = None
prange = range  # numba.prange once compiled; numba.prange also runs as range in Python


def _lars_batch(G, B, yy, nonneg, max_steps, n_chunks, X, steps, status, objective, hist):
    N, m = B.shape
    for chunk in prange(n_chunks):
        c = np.empty(m)
        x = np.zeros(m)
        a = np.empty(m)
        active = np.zeros(m, dtype=np.bool_)
        order = np.zeros(m, dtype=np.int64)
        L = np.zeros((m, m))  # L[:k, :k] L[:k, :k]ᵀ = G_AA, rows in the order of `order`
        z = np.empty(m)
        d = np.empty(m)
        for j in range(chunk * N // n_chunks, (chunk + 1) * N // n_chunks):
            for i in range(m):
                c[i] = B[j, i]
                x[i] = 0.0
                active[i] = False
            k = 0
            best = 0
            lam = -1.0
            for i in range(m):
                v = c[i] if nonneg else abs(c[i])
                if v > lam:
                    lam = v
                    best = i
            n_steps = 0
            done = lam <= 1.0
            joining = -1 if done else best
            refactor = False
            dropped = -1
            value = 0.5 * yy[j]
            while not done and n_steps < max_steps:
                n_steps += 1
                if refactor:  # an atom left: factor G_AA of the remaining atoms afresh
                    for p in range(k):
                        for q in range(p + 1):
                            acc = G[order[p], order[q]]
                            for r in range(q):
                                acc -= L[p, r] * L[q, r]
                            if p == q:
                                L[p, p] = np.sqrt(max(acc, 1e-300))
                            else:
                                L[p, q] = acc / L[q, q]
                    refactor = False
                if joining >= 0:  # append the row of the new atom: L w = G_A,new, ℓ = sqrt(G_new,new − ‖w‖²)
                    acc_diag = G[joining, joining]
                    for p in range(k):
                        acc = G[order[p], joining]
                        for r in range(p):
                            acc -= L[p, r] * L[k, r]
                        L[k, p] = acc / L[p, p]
                        acc_diag -= L[k, p] * L[k, p]
                    L[k, k] = np.sqrt(max(acc_diag, 1e-300))
                    active[joining] = True
                    order[k] = joining
                    k += 1
                    joining = -1
                # d = G_AA⁻¹ s_A by the two triangular solves
                for p in range(k):
                    acc = 1.0 if (nonneg or c[order[p]] >= 0) else -1.0
                    for r in range(p):
                        acc -= L[p, r] * z[r]
                    z[p] = acc / L[p, p]
                for p in range(k - 1, -1, -1):
                    acc = z[p]
                    for r in range(p + 1, k):
                        acc -= L[r, p] * d[r]
                    d[p] = acc / L[p, p]
                for i in range(m):
                    a[i] = 0.0
                for p in range(k):
                    row = order[p]
                    dp = d[p]
                    for i in range(m):
                        a[i] += G[row, i] * dp
                # the first event: g = num/den in (0, gamma), tested as 0 < num < gamma·den (den > 0), so that
                # only a new minimum costs a division
                gamma = lam - 1.0
                event = 0
                who = -1
                for i in range(m):
                    if active[i] or i == dropped:
                        continue
                    den = 1.0 - a[i]
                    num = lam - c[i]
                    if den > 1e-12 and 0.0 < num < gamma * den:
                        gamma, event, who = num / den, 1, i
                    if not nonneg:
                        den = 1.0 + a[i]
                        num = lam + c[i]
                        if den > 1e-12 and 0.0 < num < gamma * den:
                            gamma, event, who = num / den, 1, i
                for p in range(k):
                    if d[p] != 0.0:
                        g = -x[order[p]] / d[p]
                        if 0.0 < g < gamma:
                            gamma, event, who = g, 2, p
                for p in range(k):
                    x[order[p]] += gamma * d[p]
                for i in range(m):
                    c[i] -= gamma * a[i]
                lam -= gamma
                dropped = -1
                if event == 0:
                    done = True
                elif event == 1:
                    joining = who
                else:
                    leaving = order[who]
                    x[leaving] = 0.0
                    active[leaving] = False
                    for p in range(who, k - 1):
                        order[p] = order[p + 1]
                    k -= 1
                    dropped = leaving
                    refactor = True
                # objective at the target weight 1: ½(yy − 2uᵀb + uᵀGu) + ‖u‖₁, with (Gu)_A = b_A − c_A
                ub = 0.0
                uGu = 0.0
                l1 = 0.0
                for p in range(k):
                    ip = order[p]
                    ub += x[ip] * B[j, ip]
                    uGu += x[ip] * (B[j, ip] - c[ip])
                    l1 += abs(x[ip])
                value = 0.5 * max(yy[j] - 2.0 * ub + uGu, 0.0) + l1
                hist[chunk, n_steps - 1] += value
            for i in range(m):
                X[j, i] = x[i]
            steps[j] = n_steps
            objective[j] = value
            status[j] = 0 if done else 1


def _run(kernel, n_chunks, G, B, yy, nonneg, max_steps):
    N, m = B.shape
    n_chunks = max(1, min(n_chunks, N))
    X = np.zeros((N, m), dtype=B.dtype)
    steps = np.zeros(N, dtype=np.int64)
    status = np.zeros(N, dtype=np.int64)
    objective = np.zeros(N)
    hist = np.zeros((n_chunks, max(max_steps, 1)))
    kernel(np.asarray(G, dtype=np.float64), np.asarray(B, dtype=np.float64), np.asarray(yy, dtype=np.float64),
           bool(nonneg), int(max_steps), n_chunks, X, steps, status, objective, hist)
    return X, steps, status, objective, hist


def lars(G, B, yy, nonneg, max_steps):
    """The numba-compiled path (compiled on first call, cached; one chunk of signals per numba thread).

    Returns ``(X, steps, status, objective, hist)``: ``objective`` per signal at its last step, ``hist[c, k]``
    the objective after step ``k`` summed over chunk ``c``'s signals still running.
    """
    global _compiled, prange
    import numba

    if _compiled is None:
        prange = numba.prange
        _compiled = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")(_lars_batch)
    return _run(_compiled, numba.get_num_threads(), G, B, yy, nonneg, max_steps)


def lars_numpy(G, B, yy, nonneg, max_steps):
    """The same source run by the Python interpreter (slow; the reference for the compiled one)."""
    return _run(_lars_batch, 1, G, B, yy, nonneg, max_steps)
