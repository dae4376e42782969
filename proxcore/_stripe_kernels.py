"""Stripe-norm kernels (ℓ0,∞ of convolutional codes): a numba version and its NumPy twin.

Both take codes ``v`` of shape ``(K, N1, N2, B)`` (a 1-D code is the case
``N1 = 1``; ``B`` signals), C-contiguous, float32 or float64, and the
filter shape ``(f1, f2)``. A *window* at position ``p`` covers the samples
``p … p + f − 1`` of the signal (circularly); the code of filter ``k`` at
position ``j`` touches it when its atom, on ``j … j + f − 1``, overlaps it,
i.e. when the circular distance ``|j − p| ≤ f − 1`` along every axis. The
stripe of window ``p`` is all those codes: ``K·(2f1 − 1)(2f2 − 1)`` entries
(fewer when ``2f − 1`` exceeds the signal, which then wraps onto itself).

The numba kernel is compiled lazily and cached (``cache=True``); callers
cast and copy so that it sees only C-contiguous, writable float32/float64
arrays and Python ints (two specializations).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["stripe_project", "stripe_project_numpy", "stripe_counts", "window_offsets"]

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _project(v, s, f1, f2, out):
    K, N1, N2, B = v.shape
    full1 = 2 * f1 - 1 >= N1
    full2 = 2 * f2 - 1 >= N2
    n1 = N1 if full1 else 2 * f1 - 1
    n2 = N2 if full2 else 2 * f2 - 1
    plane = N1 * N2
    count = np.zeros((N1, N2), dtype=np.int64)
    mags = np.empty(K * plane, dtype=v.dtype)
    for b in range(B):
        count[:, :] = 0
        q = 0
        for k in range(K):
            for i1 in range(N1):
                for i2 in range(N2):
                    mags[q] = abs(v[k, i1, i2, b])
                    q += 1
        order = np.argsort(-mags, kind="mergesort")  # stable: ties go to the lowest flat index
        for t in range(order.size):
            q = order[t]
            if not mags[q] > 0:
                break  # the rest are zeros
            k = q // plane
            r = q - k * plane
            i1 = r // N2
            i2 = r - i1 * N2
            ok = True
            for a1 in range(n1):
                p1 = a1 if full1 else (i1 - f1 + 1 + a1 + N1) % N1
                for a2 in range(n2):
                    p2 = a2 if full2 else (i2 - f2 + 1 + a2 + N2) % N2
                    if count[p1, p2] >= s:
                        ok = False
                        break
                if not ok:
                    break
            if ok:
                for a1 in range(n1):
                    p1 = a1 if full1 else (i1 - f1 + 1 + a1 + N1) % N1
                    for a2 in range(n2):
                        p2 = a2 if full2 else (i2 - f2 + 1 + a2 + N2) % N2
                        count[p1, p2] += 1
                out[k, i1, i2, b] = v[k, i1, i2, b]


def stripe_project(v, s, f1, f2):
    """Greedy projection onto ``{‖γ‖₀,∞ ≤ s}`` for each of the ``B`` codes (numba)."""
    if not v.flags.writeable or not v.flags.c_contiguous:
        v = np.ascontiguousarray(v).copy()
    out = np.zeros(v.shape, dtype=v.dtype)
    _project(v, int(s), int(f1), int(f2), out)
    return out


def window_offsets(i, f, n):
    """The window positions (circular) whose stripe contains position ``i`` along an axis of length ``n``."""
    if 2 * f - 1 >= n:
        return np.arange(n)
    return (i - f + 1 + np.arange(2 * f - 1)) % n


def stripe_project_numpy(v, s, f1, f2):
    """NumPy twin of :func:`stripe_project` (same order, same ties, same result)."""
    K, N1, N2, B = v.shape
    out = np.zeros_like(v)
    rows = [window_offsets(i, f1, N1) for i in range(N1)]
    cols = [window_offsets(i, f2, N2) for i in range(N2)]
    for b in range(B):
        mags = np.abs(v[..., b]).ravel()
        order = np.argsort(-mags, kind="stable")
        count = np.zeros((N1, N2), dtype=np.int64)
        for q in order[: np.count_nonzero(mags > 0)]:
            k, i1, i2 = np.unravel_index(q, (K, N1, N2))
            window = np.ix_(rows[i1], cols[i2])
            if count[window].max() < s:
                count[window] += 1
                out[k, i1, i2, b] = v[k, i1, i2, b]
    return out


def stripe_counts(v, f1, f2):
    """The number of non-zeros in the stripe of every window: shape ``(N1, N2, B)`` (NumPy).

    ``counts[p] = Σ_{|j − p| ≤ f − 1} Σ_k [v_k[j] ≠ 0]``, a circular box sum of
    the per-position counts, done separably along each axis.
    """
    c = np.count_nonzero(v, axis=0).astype(np.int64)  # (N1, N2, B)
    for axis, f in ((0, f1), (1, f2)):
        n = c.shape[axis]
        if 2 * f - 1 >= n:
            c = np.broadcast_to(c.sum(axis=axis, keepdims=True), c.shape)
        else:
            acc = np.zeros_like(c)
            for t in range(-(f - 1), f):
                acc += np.roll(c, -t, axis=axis)
            c = acc
    return np.ascontiguousarray(c)
