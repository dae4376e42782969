"""Elementwise and per-signal kernels: numba versions and their NumPy twins.

Every kernel takes a 2-D array ``v`` of shape ``(R, C)`` and a threshold
vector ``thr`` of length ``R`` (row ``r`` is thresholded at ``thr[r]``; a
scalar weight is the case ``R = 1``), in ``v``'s dtype, and returns a new
array of the same dtype. Callers (the regularizers) reshape and cast; the
kernels never see integers, Python floats or read-only outputs, so each
compiles for float32 and float64 only (the ℓ1 step's float32 version also
with float64 sums, for its fallback).

The numba versions are compiled lazily on first call (``cache=True`` keeps
the machine code across processes; nothing is compiled at import, and this
module is itself imported only on first use). The NumPy twins give the same
values and dtypes (the ℓ1 step's float32 sums: within their stated error)
and are what the tests compare against.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "soft_threshold",
    "nonneg_soft_threshold",
    "hard_threshold",
    "keep_largest",
    "soft_threshold_step",
    "soft_threshold_numpy",
    "nonneg_soft_threshold_numpy",
    "hard_threshold_numpy",
    "keep_largest_numpy",
    "soft_threshold_step_numpy",
    "step_sums",
    "step_sums_numpy",
    "l1_step",
    "l1_step_numpy",
    "extrapolate",
    "extrapolate_numpy",
    "step_control",
    "step_control_numpy",
    "admm_l1_update",
    "admm_l1_update_numpy",
]

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")  # helpers, inlined into kernels


@_jit
def _soft(v, thr, out):
    R, C = v.shape
    for r in range(R):
        t = thr[r]
        for c in range(C):
            x = v[r, c]
            a = abs(x) - t
            out[r, c] = (a if x > 0 else -a) if a > 0 else 0


@_jit
def _soft_step(x, g, step, thr, nonneg, out):
    # the proximal gradient step soft(x - step*g, thr), fused: no temporary for x - step*g
    R, C = x.shape
    for r in range(R):
        t = thr[r]
        for c in range(C):
            u = x[r, c] - step * g[r, c]
            if nonneg:
                a = u - t
                out[r, c] = a if a > 0 else 0
            else:
                a = abs(u) - t
                out[r, c] = (a if u > 0 else -a) if a > 0 else 0


@_jit
def _nonneg_soft(v, thr, out):
    R, C = v.shape
    for r in range(R):
        t = thr[r]
        for c in range(C):
            a = v[r, c] - t
            out[r, c] = a if a > 0 else 0


@_jit
def _hard(v, thr, out):
    R, C = v.shape
    for r in range(R):
        t = thr[r]
        for c in range(C):
            x = v[r, c]
            out[r, c] = x if abs(x) > t else 0


@_jit
def _keep_largest(v, s, out):
    # per column: keep the s largest magnitudes; ties go to the lowest index (stable sort)
    R, C = v.shape
    for c in range(C):
        order = np.argsort(-np.abs(v[:, c]), kind="mergesort")
        for k in range(min(s, R)):
            i = order[k]
            out[i, c] = v[i, c]


@_inline
def _partner(r, R):
    # The per-signal sums below run over rows into an accumulator as long as the batch; two rows per pass
    # halve the accumulator's loads and stores, which cost as much as the arithmetic (not in _l1_step, whose
    # loop ran slower so: see there). Row r's partner is r + 1 with weight 1 or, past the end, r itself (the
    # same values written twice) with weight 0.
    return (r + 1, 1.0) if r + 1 < R else (r, 0.0)


@_jit
def _step_sums(x, z, x_prev, stats):
    # the per-signal sums of a proximal gradient step from z to x, x_prev the iterate before x
    R, C = x.shape
    acc = np.zeros(stats.shape)  # local: the compiler then knows the outputs do not alias it, and vectorizes
    for r in range(0, R, 2):
        s, m = _partner(r, R)
        for c in range(C):
            # ‖x − z‖², ‖x‖², ‖z‖², ⟨z − x, x − x_prev⟩ of column c, in float64 for every dtype (written out:
            # through a helper the compiler loses sight of acc being local, and the loop stays scalar)
            x64, z64, y64, q64 = np.float64(x[r, c]), np.float64(z[r, c]), np.float64(x[s, c]), np.float64(z[s, c])
            d, e = x64 - z64, y64 - q64
            acc[0, c] += d * d + m * (e * e)
            acc[1, c] += x64 * x64 + m * (y64 * y64)
            acc[2, c] += z64 * z64 + m * (q64 * q64)
            acc[3, c] += -d * (x64 - np.float64(x_prev[r, c])) - m * (e * (y64 - np.float64(x_prev[s, c])))
    stats += acc


@_jit
def _l1_step(x, x_prev, beta, g, step, thr, lam, nonneg, consts, block, x_out, stats):
    # the whole accelerated ℓ1 step in one pass, from the iterates: the extrapolated point
    # z = x + β_c (x − x_prev) in registers (never stored), x⁺ = soft(z − step·g, thr), the sums of
    # _step_sums for (x⁺, z, x) and the penalty Σ λ_r|x⁺| (stats[4]). The sums run in consts' dtype
    # (consts = (−0, 0) in it, lam too) over `block` rows at a time, then into float64: float32 sums over
    # a few rows cost half as much as float64 ones. One row a pass and five sums: two rows a pass (as in the
    # kernels below) or a sixth sum made this loop 1.5× slower; the float32 exact-zero test Σ|x⁺| + |z| is a
    # pass of its own (_step_magnitudes), made only when a float32 sum leaves the safe range.
    R, C = x.shape
    nz, zero = consts[0], consts[1]
    acc = np.zeros((5, C))  # local: not aliased by the output, so the loop vectorizes
    part = np.zeros((5, C), consts.dtype)
    for r0 in range(0, R, block):
        for r in range(r0, min(r0 + block, R)):
            xr, pr, gr, outr = x[r], x_prev[r], g[r], x_out[r]
            t, w = thr[r], lam[r]
            for c in range(C):
                a = xr[c]
                z = a + beta[c] * (a - pr[c])
                v = _shrink(z - step * gr[c], t, nonneg)
                outr[c] = v
                # in the sums' dtype: adding −0 converts exactly (and is no instruction when it is x's)
                x1, z1, a1 = v + nz, z + nz, a + nz
                d = x1 - z1  # the sums of _step_sums, written out (see there)
                part[0, c] += d * d
                part[1, c] += x1 * x1
                part[2, c] += z1 * z1
                part[3, c] -= d * (x1 - a1)
                part[4, c] += w * abs(x1)
        for q in range(5):
            for c in range(C):
                acc[q, c] += part[q, c]
                part[q, c] = zero
    stats += acc


@_jit
def _step_magnitudes(x_next, x, x_prev, beta, out):
    # Σ |x⁺| + |z| per column, z = x + β_c (x − x_prev): 0 exactly where x⁺ = z = 0 (no term can underflow)
    R, C = x.shape
    acc = np.zeros(C, x.dtype)
    for r in range(R):
        nr, xr, pr = x_next[r], x[r], x_prev[r]
        for c in range(C):
            a = xr[c]
            acc[c] += abs(nr[c]) + abs(a + beta[c] * (a - pr[c]))
    out += acc


@_jit
def _extrapolate(x, x_prev, beta, offset, subtract, z_out, sums):
    # x + β_c (x − x_prev), minus offset when subtract, and in the same pass ‖x − offset‖² per column (float64)
    R, C = x.shape
    acc = np.zeros(sums.shape)  # local: not aliased by the output, so the loop vectorizes
    for r in range(0, R, 2):
        s, m = _partner(r, R)
        for c in range(C):
            b = beta[c]
            xi, xj, oi, oj = x[r, c], x[s, c], offset[r, c], offset[s, c]
            d = np.float64(xi) - np.float64(oi)
            e = np.float64(xj) - np.float64(oj)
            acc[c] += d * d + m * (e * e)
            vi = xi + b * (xi - x_prev[r, c])
            vj = xj + b * (xj - x_prev[s, c])
            # a choice of value, not a store under a condition (which would become a masked vector store, and
            # some CPUs take a microcode assist on every masked-off one: ISTA once ran at half speed)
            z_out[r, c] = vi - oi if subtract else vi
            z_out[s, c] = vj - oj if subtract else vj
    sums += acc


@_jit
def _step_control(stats, t, accelerated, restart, tiny, error, beta, t_next):
    # the relative step per signal and FISTA's next momentum, from a step's sums (see step_control)
    golden = (1 + np.sqrt(5.0)) / 2
    for c in range(stats.shape[1]):
        error[c] = np.sqrt(stats[0, c] / np.maximum(np.maximum(stats[1, c], stats[2, c]), tiny))
        if accelerated:
            if restart and stats[3, c] > 0:
                t_next[c], beta[c] = golden, 0
            else:
                tc = t[c]
                tn = (1 + np.sqrt(1 + 4 * tc * tc)) / 2
                t_next[c], beta[c] = tn, (tc - 1) / tn


@_jit
def _trusted_sums(stats, low, high, trusted):
    # per signal, whether its float32 step sums are trusted (see l1_step; never on a NaN), and whether all are
    every = True
    for c in range(stats.shape[1]):
        scale = np.maximum(stats[1, c], stats[2, c])
        trusted[c] = low <= scale <= high and abs(stats[3, c]) <= high
        every = every and trusted[c]
    return every


@_inline
def _folded_rows(p, F, W):
    # a row parameter (one per row, or one for all) as one per row of the (R/W, W·C) view (see _fold)
    if p.size == F and W == 1:
        return p
    rows = np.empty(F, p.dtype)
    for i in range(F):
        rows[i] = p[i * W] if p.size > 1 else p[0]
    return rows


@_inline
def _folded_columns(v, W):
    # a parameter per signal as one per column of the (R/W, W·C) view, column q belonging to signal q mod C
    C = v.size
    if W == 1:
        return v
    cols = np.empty(W * C, v.dtype)
    for w in range(W):
        for c in range(C):
            cols[w * C + c] = v[c]
    return cols


@_inline
def _fold_back(folded, W, out):
    # out[q, c] += Σ_w folded[q, w·C + c]: a folded pass's sums per signal
    Q, C = out.shape
    for q in range(Q):
        for w in range(W):
            for c in range(C):
                out[q, c] += folded[q, w * C + c]


@_jit
def _l1_step_folded(x, x_prev, beta, g, step, thr, lam, nonneg, consts, block, x_out, stats, W):
    # _l1_step on the (R/W, W·C) views of the arrays (see _fold), its parameters and sums folded here, compiled:
    # on a few signals the NumPy calls this replaces cost several times the pass itself
    R, C = x.shape
    F = R // W
    views = (x.reshape((F, W * C)), x_prev.reshape((F, W * C)), _folded_columns(beta, W), g.reshape((F, W * C)))
    rows_t, rows_l, out = _folded_rows(thr, F, W), _folded_rows(lam, F, W), x_out.reshape((F, W * C))
    if W == 1:
        _l1_step(*views, step, rows_t, rows_l, nonneg, consts, block, out, stats)
        return
    sums = np.zeros((5, W * C))
    _l1_step(*views, step, rows_t, rows_l, nonneg, consts, block, out, sums)
    _fold_back(sums, W, stats)


@_jit
def _step_magnitudes_folded(x_next, x, x_prev, beta, out, W):
    # _step_magnitudes on the (R/W, W·C) views (see _l1_step_folded)
    R, C = x.shape
    if W == 1:
        _step_magnitudes(x_next, x, x_prev, beta, out)
        return
    F = R // W
    parts = np.zeros((1, W * C))
    _step_magnitudes(x_next.reshape((F, W * C)), x.reshape((F, W * C)), x_prev.reshape((F, W * C)),
                     _folded_columns(beta, W), parts[0])
    _fold_back(parts, W, out.reshape((1, C)))


@_jit
def _extrapolate_folded(x, x_prev, beta, offset, subtract, z_out, sums, W):
    # _extrapolate on the (R/W, W·C) views (see _l1_step_folded)
    R, C = x.shape
    F = R // W
    if W == 1:
        _extrapolate(x, x_prev, beta, offset, subtract, z_out, sums)
        return
    parts = np.zeros((1, W * C))
    _extrapolate(x.reshape((F, W * C)), x_prev.reshape((F, W * C)), _folded_columns(beta, W),
                 offset.reshape((F, W * C)), subtract, z_out.reshape((F, W * C)), parts[0])
    _fold_back(parts, W, sums.reshape((1, C)))


@_jit
def _step_sums_folded(x, z, x_prev, stats, W):
    # _step_sums on the (R/W, W·C) views (see _l1_step_folded)
    R, C = x.shape
    if W == 1:
        _step_sums(x, z, x_prev, stats)
        return
    F = R // W
    parts = np.zeros((stats.shape[0], W * C))
    _step_sums(x.reshape((F, W * C)), z.reshape((F, W * C)), x_prev.reshape((F, W * C)), parts)
    _fold_back(parts, W, stats)


@_jit
def _admm_l1_folded(kx, z_old, w_old, lam, inv_rho, relax, keep, nonneg, want_diff, z, w, diff, stats, W):
    # _admm_l1 on the (R/W, W·C) views (see _l1_step_folded)
    R, C = kx.shape
    F = R // W
    rows = _folded_rows(lam, F, W)
    if W == 1:
        _admm_l1(kx, z_old, w_old, rows, inv_rho, relax, keep, nonneg, want_diff, z, w, diff, stats)
        return
    parts = np.zeros((stats.shape[0], W * C))
    _admm_l1(kx.reshape((F, W * C)), z_old.reshape((F, W * C)), w_old.reshape((F, W * C)), rows,
             _folded_columns(inv_rho, W), relax, keep, nonneg, want_diff, z.reshape((F, W * C)), w.reshape((F, W * C)),
             diff.reshape((F, W * C)) if want_diff else diff, parts)
    _fold_back(parts, W, stats)


@_inline
def _shrink(u, t, nonneg):
    # soft(u, t), or max(u − t, 0) when nonneg; a scalar helper (it touches no array) keeps the loop vectorized
    if nonneg:
        a = u - t
        return a if a > 0 else u - u
    a = abs(u) - t
    return (a if u > 0 else -a) if a > 0 else u - u


@_jit
def _admm_l1(kx, z_old, w_old, lam, inv_rho, relax, keep, nonneg, want_diff, z, w, diff, stats):
    # one ADMM z/w update of an ℓ1 term, fused: the relaxed point, its soft threshold at λ_r/ρ_c, the scaled
    # dual, z − w (the x-update's next right-hand side), and the per-signal sums
    R, C = kx.shape
    acc = np.zeros(stats.shape)  # local: not aliased by the outputs, so the loop vectorizes
    for r in range(0, R, 2):
        s, m = _partner(r, R)
        li, lj = lam[r], lam[s]
        for c in range(C):
            ki, kj = kx[r, c], kx[s, c]
            oi, oj = z_old[r, c], z_old[s, c]
            vi = relax * ki + keep * oi + w_old[r, c]
            vj = relax * kj + keep * oj + w_old[s, c]
            zi = _shrink(vi, li * inv_rho[c], nonneg)
            zj = _shrink(vj, lj * inv_rho[c], nonneg)
            wi, wj = vi - zi, vj - zj
            z[r, c], z[s, c] = zi, zj
            w[r, c], w[s, c] = wi, wj
            k64, z64, q64, y64 = np.float64(ki), np.float64(zi), np.float64(kj), np.float64(zj)
            e, f = k64 - z64, q64 - y64
            di, dj = z64 - np.float64(oi), y64 - np.float64(oj)
            acc[0, c] += e * e + m * (f * f)
            acc[1, c] += k64 * k64 + m * (q64 * q64)
            acc[2, c] += z64 * z64 + m * (y64 * y64)
            acc[3, c] += li * abs(z64) + m * (lj * abs(y64))
            acc[4, c] += di * di + m * (dj * dj)
            acc[5, c] += np.float64(wi) * np.float64(wi) + m * (np.float64(wj) * np.float64(wj))
        if want_diff:  # in a loop of its own: under the condition, the stores above would be masked (see _extrapolate)
            for c in range(C):
                diff[r, c] = z[r, c] - w[r, c]
                diff[s, c] = z[s, c] - w[s, c]
    stats += acc

def _out(v, out=None):
    """A new array like ``v``, or ``out`` after checking that it is one."""
    if out is None:
        return np.empty(v.shape, dtype=v.dtype)
    if out.shape != v.shape or out.dtype != v.dtype or not (out.flags.writeable and out.flags.c_contiguous):
        raise ValueError(f"out must be a writeable C-contiguous {v.dtype} array of shape {v.shape}; "
                         f"got {out.dtype} {out.shape}.")
    return out


def _writable(*arrays):
    # numba compiles a separate specialization for read-only and for strided arrays, and folds (see _fold) only
    # C-contiguous ones: a C-contiguous copy of the (rare) other input keeps each kernel at two, float32 and float64.
    return [a if a.flags.writeable and a.flags.c_contiguous else np.array(a, order="C") for a in arrays]


def soft_threshold(v, thr):
    """``sign(v)·max(|v| − thr, 0)`` row-wise (numba)."""
    v, thr = _writable(v, thr)
    out = _out(v)
    _soft(v, thr, out)
    return out


def soft_threshold_step(x, g, step, thr, nonneg=False):
    """``soft_threshold(x − step·g, thr)`` in one pass (numba); ``nonneg``: ``max(x − step·g − thr, 0)``."""
    x, g, thr = _writable(x, g, thr)
    out = _out(x)
    _soft_step(x, g, step, thr, bool(nonneg), out)
    return out


def nonneg_soft_threshold(v, thr):
    """``max(v − thr, 0)`` row-wise (numba)."""
    v, thr = _writable(v, thr)
    out = _out(v)
    _nonneg_soft(v, thr, out)
    return out


def hard_threshold(v, thr):
    """``v·[|v| > thr]`` row-wise (numba)."""
    v, thr = _writable(v, thr)
    out = _out(v)
    _hard(v, thr, out)
    return out


def keep_largest(v, s):
    """Keep the ``s`` largest magnitudes of each column, lowest index first on ties (numba)."""
    (v,) = _writable(v)
    out = np.zeros(v.shape, dtype=v.dtype)
    _keep_largest(v, s, out)
    return out


_FOLD_WIDTH = 256  # the per-signal passes fold rows into their columns below this many signals


def _fold(R, C, *row_params):
    """``W``: how many consecutive rows a per-signal pass over ``(R, C)`` folds into its columns (1: none).

    The per-signal kernels loop over rows with the signals (columns) inner,
    vectorized, and keep each sum in an accumulator as long as a row. With
    few signals (one image: ``R = 2²¹``, ``C = 1``) that inner loop is too
    short to vectorize: the ADMM update of one 32-filter 256×256 code took
    26 ms, against 3 ms folded. Folded, rows ``iW … iW + W − 1`` are one
    row of ``W·C`` entries, column ``q`` belonging to signal ``q mod C`` (a
    reshape of the C-contiguous arrays: no copy, the same values), and each
    signal's sums come back added over its ``W`` parts. ``W`` is the largest
    power of two up to ``FOLD_WIDTH/C`` (rounded up) that divides ``R`` and
    over each block of which every row parameter (one per row, or one for
    all) is constant.
    """
    if R < 2 or C == 0 or C >= _FOLD_WIDTH:
        return 1
    W = 1 << (-(-_FOLD_WIDTH // C) - 1).bit_length()  # the power of two at or above FOLD_WIDTH / C
    while W > 1 and not (R % W == 0 and all(p.size == 1 or _blockwise_constant(p, W) for p in row_params)):
        W //= 2
    return W


def _blockwise_constant(p, W):
    blocks = p.reshape(-1, W)
    return bool((blocks == blocks[:, :1]).all())


def step_sums(x, z, x_prev):
    """The per-signal sums of a proximal gradient step from ``z`` to ``x``, in one pass (numba).

    Returns ``stats`` (float64, 4 × columns): ``stats[:, c]`` holds
    ``‖x − z‖²``, ``‖x‖²``, ``‖z‖²`` and ``⟨z − x, x − x_prev⟩`` of column
    ``c``: the convergence test, the relative scale and the restart test of
    the step, ``x_prev`` being the iterate before ``x``.
    """
    x, z, x_prev = _writable(x, z, x_prev)
    stats = np.zeros((4, x.shape[1]))
    _step_sums_folded(x, z, x_prev, stats, _fold(*x.shape))
    return stats


_TINY = np.finfo(np.float64).tiny  # the smallest normal float64: where a relative step's scale counts as 0
_CONSTS = {t: np.array([-0.0, 0.0], t) for t in (np.float32, np.float64)}  # −0 and 0 in the sums' dtype
_SUMS_BLOCK = 32  # rows summed in float32 before a float64 carry: a relative error of at most 32 ulp
# float32 sums are trusted when every signal's max(‖x⁺‖², ‖z‖²) lies here: no term under- or overflows
_SAFE_SCALE = (2.0 ** -60, 2.0 ** 100)


def l1_step(x, x_prev, beta, g, step, thr, lam, nonneg, out=None):
    """The accelerated ℓ1 proximal gradient step from the iterates, in one pass (numba).

    With the extrapolated point ``z = x + β_c (x − x_prev)`` (column ``c``;
    never stored), returns ``(x⁺, stats)``: ``x⁺ = soft(z − step·g, thr)``
    (or ``max(z − step·g − thr, 0)`` when ``nonneg``), the first four rows
    of ``stats`` as :func:`step_sums` gives them for ``(x⁺, z, x)``, and
    ``stats[4]`` the penalty ``Σ_r lam_r |x⁺_rc|`` per column. ``beta`` (one
    per column) and ``thr`` (one per row, or one for all) are in ``x``'s
    dtype, ``lam`` in float64. ``β = 0`` with ``x_prev = x`` is ISTA's step
    from ``x`` itself. ``out``: a C-contiguous array like ``x``, not among
    the inputs, to write ``x⁺`` into.

    ``stats`` is float64. For float32 inputs it is summed in float32 over
    blocks of 32 rows, then in float64 (relative error within 32 ulp of
    float32 on the positive sums), which halves the pass's cost; where a
    signal's ``max(‖x⁺‖², ‖z‖²)`` falls outside ``[2⁻⁶⁰, 2¹⁰⁰]`` (a term
    could under- or overflow in float32) the sums are made again in float64,
    unless its ``x⁺`` and ``z`` are exactly zero (one more pass tells them
    apart from underflow). ``x⁺`` is the same either way.
    """
    lam = np.asarray(lam, np.float64).reshape(-1)  # L1 keeps a per-row λ read-only: a writable copy then
    x, x_prev, beta, g, thr, lam = _writable(x, x_prev, beta, g, thr, lam)
    R, C = x.shape
    W = _fold(R, C, thr, lam)
    x_next = _out(x, out)

    def run(sums_dtype, block):
        stats = np.zeros((5, C))
        _l1_step_folded(x, x_prev, beta, g, step, thr, lam.astype(sums_dtype, copy=False), bool(nonneg),
                        _CONSTS[sums_dtype], block, x_next, stats, W)
        return stats

    whole = max(R, 2)  # one block of every row
    if x.dtype != np.float32:
        return x_next, run(np.float64, whole)
    stats = run(np.float32, _SUMS_BLOCK)
    trusted = np.empty(C, np.bool_)
    if _trusted_sums(stats, *_SAFE_SCALE, trusted):
        return x_next, stats  # every signal within the safe range: the usual case
    magnitudes = np.zeros(C)  # Σ |x⁺| + |z|: 0 only where x⁺ = z = 0 exactly, whose float32 sums are exact zeros
    _step_magnitudes_folded(x_next, x, x_prev, beta, magnitudes, W)
    if not np.all(trusted | (magnitudes == 0)):
        stats = run(np.float64, whole)
    return x_next, stats


def extrapolate(x, x_prev, beta, out=None, offset=None):
    """``x + β_c (x − x_prev) − offset`` per column ``c`` (numba), into ``out`` when given; ``beta`` in ``x``'s dtype.

    Returns ``(z, distance)``: ``distance[c] = ‖x_c − offset_c‖²`` in float64 (zeros, and nothing
    subtracted, without an ``offset``), from the same pass. On FISTA's images, with ``offset = y``, it
    gives the residual at the extrapolated point, ``D z − y``, and twice the smooth term, ``‖Dx − y‖²``.
    """
    x, x_prev, beta = _writable(x, x_prev, beta)
    subtract = offset is not None
    offset = _writable(offset)[0] if subtract else x
    distance = np.zeros(x.shape[1])
    z_out = _out(x, out)
    _extrapolate_folded(x, x_prev, beta, offset, subtract, z_out, distance, _fold(*x.shape))
    return z_out, distance


def step_control(stats, t, accelerated, restart, dtype):
    """The relative step per signal and FISTA's next momentum, from a proximal step's sums, in one pass (numba).

    ``stats`` as :func:`l1_step` gives them. Returns ``(error, beta, t_next)``:
    ``error = ‖x⁺ − z‖ / max(‖x⁺‖, ‖z‖)`` (0 where both norms are 0) and,
    with ``accelerated``, ``t_{k+1} = (1 + sqrt(1 + 4t_k²))/2`` and
    ``β_k = (t_k − 1)/t_{k+1}`` (in ``dtype``) from ``t`` (``t_k``, float64),
    except where ``restart`` and the step opposes the momentum,
    ``stats[3] = ⟨z − x⁺, x⁺ − x⟩ > 0`` (O'Donoghue & Candès): there
    ``t_{k+1} = (1 + √5)/2`` and ``β_k = 0``. Without ``accelerated`` the
    last two are None.
    """
    C = stats.shape[1]
    error = np.empty(C)
    beta, t_next = (np.empty(C, dtype), np.empty(C)) if accelerated else (np.empty(0, dtype), np.empty(0))
    _step_control(stats, np.ascontiguousarray(t, np.float64).reshape(-1), bool(accelerated), bool(restart), _TINY,
                  error, beta, t_next)
    return (error, beta, t_next) if accelerated else (error, None, None)


def admm_l1_update(kx, z_old, w_old, lam, inv_rho, relax, nonneg, want_diff=True):
    """The ADMM update of a term ``λ‖z‖₁`` (``nonneg``: with ``z ≥ 0``) in one pass (numba).

    With ``v = relax·kx + (1 − relax)·z_old + w_old`` (over-relaxation), returns
    ``(z, w, diff, stats)``: ``z = soft(v, λ_r/ρ_c)`` (row ``r``, signal ``c``;
    ``inv_rho`` holds ``1/ρ_c``, ``lam`` one weight per row, or one for all,
    in ``kx``'s dtype), the scaled dual ``w = v − z``, ``diff = z − w`` (None unless ``want_diff``),
    and ``stats[:, c]`` (float64) ``‖kx − z‖²``, ``‖kx‖²``, ``‖z‖²``,
    ``Σ_r λ_r|z_rc|``, ``‖z − z_old‖²``, ``‖w‖²``: the residuals, scales and
    penalty an ADMM iteration needs.
    """
    kx, z_old, w_old, lam, inv_rho = _writable(kx, z_old, w_old, lam, inv_rho)
    R, C = kx.shape
    W = _fold(R, C, lam)
    z, w = _out(kx), _out(kx)
    diff = _out(kx) if want_diff else np.empty((0, 0), kx.dtype)
    stats = np.zeros((6, C))
    relax, keep = kx.dtype.type(relax), kx.dtype.type(1 - relax)
    _admm_l1_folded(kx, z_old, w_old, lam, inv_rho, relax, keep, bool(nonneg), bool(want_diff), z, w, diff, stats, W)
    return z, w, (diff if want_diff else None), stats

# ----------------------------------------------------------------- NumPy twins
def soft_threshold_numpy(v, thr):
    out = np.abs(v)
    out -= thr[:, None]
    np.maximum(out, 0, out=out)
    out[v < 0] *= -1
    return out


def soft_threshold_step_numpy(x, g, step, thr, nonneg=False):
    return (nonneg_soft_threshold_numpy if nonneg else soft_threshold_numpy)(x - step * g, thr)


def nonneg_soft_threshold_numpy(v, thr):
    out = v - thr[:, None]
    np.maximum(out, 0, out=out)
    return out


def hard_threshold_numpy(v, thr):
    return np.where(np.abs(v) > thr[:, None], v, v.dtype.type(0))


def keep_largest_numpy(v, s):
    order = np.argsort(-np.abs(v), axis=0, kind="stable")[: min(s, v.shape[0])]
    out = np.zeros_like(v)
    cols = np.arange(v.shape[1])
    out[order, cols] = v[order, cols]
    return out


def step_sums_numpy(x, z, x_prev):
    x64, z64, p64 = (a.astype(np.float64) for a in (x, z, x_prev))
    d = x64 - z64
    return np.stack([(d * d).sum(0), (x64 * x64).sum(0), (z64 * z64).sum(0), (-d * (x64 - p64)).sum(0)])


def l1_step_numpy(x, x_prev, beta, g, step, thr, lam, nonneg):
    z = x + beta * (x - x_prev)
    x_next = soft_threshold_step_numpy(z, g, step, thr, nonneg)
    penalty = (lam[:, None] * np.abs(x_next.astype(np.float64))).sum(0)
    return x_next, np.vstack([step_sums_numpy(x_next, z, x), penalty])


def extrapolate_numpy(x, x_prev, beta, offset=None):
    z = x + beta * (x - x_prev)
    if offset is None:
        return z, np.zeros(x.shape[1])
    return z - offset, ((x.astype(np.float64) - offset) ** 2).sum(0)


def step_control_numpy(stats, t, accelerated, restart, dtype):
    error = np.sqrt(stats[0] / np.maximum(np.maximum(stats[1], stats[2]), np.finfo(np.float64).tiny))
    if not accelerated:
        return error, None, None
    t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
    beta = ((t - 1) / t_next).astype(dtype)
    if restart:
        restarted = stats[3] > 0
        t_next = np.where(restarted, (1 + np.sqrt(5.0)) / 2, t_next)
        beta = np.where(restarted, 0, beta).astype(dtype)
    return error, beta, t_next


def admm_l1_update_numpy(kx, z_old, w_old, lam, inv_rho, relax, nonneg, want_diff=True):
    v = kx.dtype.type(relax) * kx + kx.dtype.type(1 - relax) * z_old + w_old
    thr = lam[:, None] * inv_rho[None, :]
    z = np.maximum(v - thr, 0) if nonneg else np.sign(v) * np.maximum(np.abs(v) - thr, 0)
    z = z.astype(kx.dtype, copy=False)
    w = v - z
    k64, z64, o64, w64 = (a.astype(np.float64) for a in (kx, z, z_old, w))
    stats = np.stack([((k64 - z64) ** 2).sum(0), (k64 * k64).sum(0), (z64 * z64).sum(0),
                      (lam.astype(np.float64)[:, None] * np.abs(z64)).sum(0), ((z64 - o64) ** 2).sum(0),
                      (w64 * w64).sum(0)])
    return z, w, (z - w if want_diff else None), stats
