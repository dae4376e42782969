"""Hypothesis strategies for operators, regularizers and well-posed problems.

Requires the ``hypothesis`` package. Every strategy takes ``dtype``
(float64 or float32; ``None`` draws one of them) and draws bounded elements
(``|a| ≤ 10`` by default, ``width=32`` for float32, no NaN, no infinity, and
magnitudes below ``1e-6·bound`` flushed to 0) with small shapes, so that failures shrink to small, readable
cases. Drawing any regularizer or problem first compiles the numba kernels
(once per process), so the first example of a property does not hit
hypothesis's deadline.

Examples
--------
>>> from hypothesis import given, settings
>>> from proxcore.testing import check_adjoint, check_prox
>>> from proxcore.testing import strategies as pst
>>> @settings(max_examples=5, deadline=None)
... @given(pst.operators())
... def test_adjoint(op):
...     check_adjoint(op)
>>> test_adjoint()
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import proxcore as pc

__all__ = [
    "dtypes",
    "arrays",
    "dense_operators",
    "sparse_operators",
    "composed_operators",
    "convolution_operators",
    "operators",
    "dictionaries",
    "regularizers",
    "problems",
    "warm_up",
]

_WARM = False


def warm_up():
    """Compile the numba kernels once for float32 and float64 (idempotent).

    Called by the strategies that draw regularizers or problems, so the
    compilation happens while drawing data, not inside a timed example.
    """
    global _WARM
    if _WARM:
        return
    for dt in (np.float32, np.float64):
        v = np.ones((3, 2), dtype=dt)
        pc.L1(0.1).prox(v, 1.0)
        pc.L1(0.1, nonneg=True).prox(v, 1.0)
        pc.L0(0.1).prox(v, 1.0)
        pc.L0Ball(1).prox(v, 1.0)
        if hasattr(pc, "L0Inf"):  # the ℓ0,∞ stripe kernels, drawn by regularizers() for 2-D and 3-D codes
            stripes = pc.L0Inf(1, filter_shape=1)  # a (3, 2) array: 2 one-filter codes of 3 samples
            stripes.prox(v, 1.0)
            stripes.value(v)
        pc.solve(pc.chain(v, [(np.eye(3, dtype=dt), pc.L1(0.1))]), method="fista", max_iter=2)
    _WARM = True


def dtypes():
    """float64 or float32 (shrinks to float64)."""
    return st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])


def _dtype(dtype):
    return dtypes() if dtype is None else st.just(np.dtype(dtype))


def _elements(dtype, bound, tiny=1e-6):
    """Floats in ``[-bound, bound]``; magnitudes below ``tiny·bound`` become exactly 0.

    Flushing tiny entries keeps products of entries far from underflow, so
    the properties test the code rather than the limits of the float format
    (extreme magnitudes deserve their own, explicit tests).
    """
    width = 32 if np.dtype(dtype) == np.float32 else 64
    floor = tiny * bound
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width).map(
        lambda a: 0.0 if abs(a) < floor else a
    )


@st.composite
def arrays(draw, shape, dtype=None, bound=10.0):
    """A finite array of ``shape`` with elements in ``[-bound, bound]``."""
    dt = draw(_dtype(dtype))
    return draw(hnp.arrays(dt, shape, elements=_elements(dt, bound)))


def _shape(max_side):
    return st.tuples(st.integers(1, max_side), st.integers(1, max_side))


@st.composite
def dense_operators(draw, dtype=None, max_side=8, bound=10.0):
    """``pc.Matrix`` of a dense ``n×m`` array, ``1 ≤ n, m ≤ max_side``."""
    dt = draw(_dtype(dtype))
    n, m = draw(_shape(max_side))
    return pc.Matrix(draw(arrays((n, m), dt, bound)))


@st.composite
def sparse_operators(draw, dtype=None, max_side=8, bound=10.0):
    """``pc.Matrix`` of a scipy.sparse CSR/CSC/COO array (duplicates in COO are summed)."""
    import scipy.sparse as sp

    dt = draw(_dtype(dtype))
    n, m = draw(_shape(max_side))
    nnz = draw(st.integers(0, n * m))
    rows = draw(hnp.arrays(np.int64, nnz, elements=st.integers(0, n - 1)))
    cols = draw(hnp.arrays(np.int64, nnz, elements=st.integers(0, m - 1)))
    vals = draw(arrays((nnz,), dt, bound))
    fmt = draw(st.sampled_from(["csr", "csc", "coo"]))
    return pc.Matrix(sp.coo_array((vals, (rows, cols)), shape=(n, m)).asformat(fmt))


def _leaves(dtype, max_side, bound):
    return st.one_of(
        dense_operators(dtype, max_side, bound),
        sparse_operators(dtype, max_side, bound),
        st.integers(1, max_side).map(pc.Identity),
    )


@st.composite
def composed_operators(draw, dtype=None, max_side=8, bound=10.0, depth=2):
    """Compositions ``A @ B``, sums ``A + B``, scalings ``c·A`` and adjoints ``A.T`` of operators."""
    dt = draw(_dtype(dtype))
    if depth <= 0:
        return draw(_leaves(dt, max_side, bound))
    kind = draw(st.sampled_from(["matmul", "sum", "scaled", "adjoint"]))
    A = draw(composed_operators(dt, max_side, bound, depth - 1))
    if kind == "adjoint":
        return A.T
    if kind == "scaled":
        return draw(st.floats(-3, 3, allow_nan=False, width=32).filter(lambda c: c != 0)) * A
    (n,), (m,) = A.out_shape, A.in_shape
    if kind == "sum":
        B = pc.Matrix(draw(arrays((n, m), dt, bound)))
        return A + B
    k = draw(st.integers(1, max_side))
    return A @ pc.Matrix(draw(arrays((m, k), dt, bound)))


@st.composite
def convolution_operators(draw, dtype=None, max_side=8, bound=10.0):
    """``pc.Convolution``: 1-D or 2-D, one or several channels, ``K ≤ 3`` asymmetric filters of length ≥ 2.

    Filters may be longer than the signal (they wrap around). A length-1 or
    symmetric filter would let a flipped adjoint pass the dot test
    (RELIABILITY A1), so each filter has two different end taps.
    """
    if not hasattr(pc, "Convolution"):
        raise TypeError("this proxcore has no pc.Convolution")
    dt = draw(_dtype(dtype))
    d = draw(st.integers(1, 2))
    K = draw(st.integers(1, 3))
    channels = draw(st.one_of(st.none(), st.integers(1, 2)))
    signal = tuple(draw(st.integers(1, max_side)) for _ in range(d))
    fshape = tuple(draw(st.integers(2, max_side)) for _ in range(d))
    shape = (K,) + ((channels,) if channels else ()) + fshape
    filters = draw(arrays(shape, dt, bound))
    first = (slice(None),) * (filters.ndim - d) + (0,) * d
    last = (slice(None),) * (filters.ndim - d) + (-1,) * d
    filters[first] = filters[first] + 1.0
    filters[last] = filters[last] - 2.0  # distinct end taps: not symmetric
    return pc.Convolution(filters.astype(dt), signal if d > 1 else signal[0])


def operators(dtype=None, max_side=8, bound=10.0):
    """Any operator: dense, sparse, identity, composed or convolutional (shrinks toward small dense matrices)."""
    families = [
        dense_operators(dtype, max_side, bound),
        sparse_operators(dtype, max_side, bound),
        composed_operators(dtype, max_side, bound),
    ]
    if hasattr(pc, "Convolution"):
        families.append(convolution_operators(dtype, max_side, bound))
    return st.one_of(families)


@st.composite
def dictionaries(draw, dtype=None, n=(3, 12), m=(3, 24), max_coherence=0.999):
    """A dense ``n×m`` dictionary with unit-norm atoms and coherence at most ``max_coherence``.

    Returned as a NumPy array (wrap it in ``pc.Matrix`` when needed).
    """
    dt = draw(_dtype(dtype))
    rows = draw(st.integers(*n))
    cols = draw(st.integers(max(m[0], 1), m[1]))
    seed = draw(st.integers(0, 2**32 - 1))
    D = np.random.default_rng(seed).standard_normal((rows, cols))
    D /= np.linalg.norm(D, axis=0)
    G = np.abs(D.T @ D) - np.eye(cols)
    assume(G.max(initial=0.0) <= max_coherence)
    return D.astype(dt)


@st.composite
def regularizers(draw, shape=(6,), convex=None):
    """``Zero``, ``L1`` (scalar or per-atom weights, optionally non-negative), ``L0``, ``L0Ball``,
    ``AnalysisL1`` (1-D signals) and ``L0Inf`` (codes ``(K, *spatial)``, i.e. 2-D or 3-D ``shape``).

    ``convex=True``/``False`` restricts to the convex/non-convex ones.
    """
    warm_up()
    size = math.prod(shape)
    lam = st.floats(1e-3, 10.0, allow_nan=False, allow_subnormal=False)
    weights = st.one_of(lam, hnp.arrays(np.float64, shape, elements=st.floats(0.0, 10.0, allow_subnormal=False)))
    convex_ones = [
        st.just(pc.Zero()),
        st.builds(pc.L1, weights, st.booleans()),
    ]
    nonconvex = [
        st.builds(pc.L0, weights),
        st.integers(1, size).map(lambda s: pc.L0Ball(s, signal_shape=tuple(shape))),
    ]
    if hasattr(pc, "AnalysisL1"):
        rows = st.integers(1, 2 * size)
        omega = rows.flatmap(lambda p: arrays((p,) + tuple(shape), np.float64, 3.0))
        convex_ones.append(st.builds(lambda om, lam: pc.AnalysisL1(om.reshape(om.shape[0], -1), lam), omega, lam)
                           if len(shape) == 1 else st.nothing())
    if hasattr(pc, "L0Inf") and len(shape) in (2, 3):
        # codes (K, *spatial) of a convolutional model: stripes of 2f − 1 positions
        nonconvex.append(st.builds(
            lambda s, f: pc.L0Inf(s, filter_shape=tuple(min(f, n) for n in shape[1:]), signal_shape=tuple(shape)),
            st.integers(1, size), st.integers(1, 3)))
    pool = convex_ones if convex is True else nonconvex if convex is False else convex_ones + nonconvex
    return draw(st.one_of(pool))


@st.composite
def problems(draw, dtype=None, n=(4, 12), m=(4, 24), batch=(1, 3), layers=1, regularizer="l1", noise=0.05):
    """A well-posed problem ``½‖y − D₁⋯D_L x‖² + Σ g_i``: unit-norm atoms, ``y`` from a sparse code plus noise.

    Parameters
    ----------
    layers : int
        Number of layers of the chain (dictionaries of shrinking width).
    regularizer : {"l1", "l1+", "l0"}
        The penalty on every layer; its weight is a fraction in
        ``[0.05, 0.8]`` of ``λ_max = ‖Dᵀy‖∞`` (so the solution is neither
        zero nor the least-squares fit).
    """
    warm_up()
    dt = draw(_dtype(dtype))
    rows = draw(st.integers(*n))
    widths = [draw(st.integers(max(m[0], 2), m[1]))]
    for _ in range(layers - 1):
        widths.append(draw(st.integers(max(2, widths[-1] // 2), widths[-1])))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    dims = [rows] + widths
    Ds = []
    for i in range(layers):
        D = rng.standard_normal((dims[i], dims[i + 1]))
        D /= np.linalg.norm(D, axis=0)
        Ds.append(D)
    B = draw(st.integers(*batch))
    k = max(1, min(3, widths[-1] // 3))
    X = np.zeros((widths[-1], B))
    for j in range(B):
        X[rng.choice(widths[-1], k, replace=False), j] = rng.standard_normal(k) + np.sign(rng.standard_normal(k))
    if regularizer == "l1+":
        X = np.abs(X)
    Deff = Ds[0]
    for D in Ds[1:]:
        Deff = Deff @ D
    Y = Deff @ X + noise * rng.standard_normal((rows, B))
    assume(np.all(np.linalg.norm(Y, axis=0) > 1e-3))
    frac = draw(st.floats(0.05, 0.8))
    lam_max = float(np.max(np.abs(Deff.T @ Y)))
    regs = []
    for i in range(layers):
        lam = frac * lam_max / (layers if layers > 1 else 1)
        if regularizer == "l1":
            regs.append(pc.L1(lam))
        elif regularizer == "l1+":
            regs.append(pc.L1(lam, nonneg=True))
        elif regularizer == "l0":
            regs.append(pc.L0(0.5 * (frac * lam_max) ** 2 / 4))
        else:
            raise ValueError(f"regularizer must be 'l1', 'l1+' or 'l0'; got {regularizer!r}.")
    return pc.chain(Y.astype(dt), [(D.astype(dt), g) for D, g in zip(Ds, regs)])
