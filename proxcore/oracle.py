"""Oracle estimators: least squares given the true support or co-support (Aberdam, Sulam & Elad 2019).

An oracle knows where the model's zeros are and fits what is left by least
squares; its error is the noise that survives the projection, the floor any
pursuit of the same model can reach. For ``y = Mγ + w``,
``w ~ N(0, σ²I)``, an unbiased least-squares estimator on a subspace
``γ = Nz`` (``N`` with orthonormal columns containing the true ``γ``) has::

    E‖γ̂ − γ‖² = σ² tr((NᵀMᵀMN)⁻¹)

- **Synthesis oracle** (two-layer model ``y = D₁D₂γ₂ + w``, ``D = D₁D₂``):
  it knows ``T = supp(γ₂)``, ``s₂ = |T|``, ``N = I_T``, so
  ``E‖γ̂₂ − γ₂‖² = σ² tr((D_TᵀD_T)⁻¹) ≤ σ² s₂/(1 − δ)``, with ``δ`` the
  restricted isometry constant of ``D`` on ``T`` (at most ``δ_{s₂}``).
- **Synthesis–analysis oracle**: it also knows ``Λ``, the zero rows of
  ``γ₁ = D₂γ₂``, hence the analysis constraint ``Φ^Λγ_T = 0`` with
  ``Φ^Λ = (D₂)_{Λ,T}``. ``N`` spans the null space of ``Φ^Λ``, of dimension
  ``s₂ − rank Φ^Λ``, so
  ``E‖γ̂₂ − γ₂‖² = σ² tr((NᵀD_TᵀD_TN)⁻¹) ≤ σ²(s₂ − rank Φ^Λ)/(1 − δ)``
  (the eigenvalues of ``NᵀAN`` lie in those of ``A = D_TᵀD_T``).
- **Analysis (cosparse) oracle** (``y = x + w``, ``Ω_Λx = 0``):
  ``x̂ = P_{null(Ω_Λ)} y`` and ``E‖x̂ − x‖² = σ²(n − rank Ω_Λ)``.

Arrays: a dictionary is ``(n, m)``; data ``Y`` is ``(n, N)``, signals as
columns (a 1-D ``y`` is one signal); supports and co-supports are boolean
masks of the codes' shape (``(m, N)``) or index lists for one signal.
float32 in, float32 out; the caller's arrays are never modified.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._validation import InvalidParameterError, check_array, check_scalar

__all__ = [
    "synthesis_oracle",
    "synthesis_analysis_oracle",
    "analysis_oracle",
    "oracle_risks",
    "OracleRisks",
    "null_basis",
]


def _dense(D, name):
    from .operators import LinearOperator, Matrix

    if isinstance(D, Matrix):
        A = D.array
        A = A.toarray() if hasattr(A, "toarray") else A
        return np.asarray(A)
    if isinstance(D, LinearOperator):
        if len(D.in_shape) != 1 or len(D.out_shape) != 1:
            raise InvalidParameterError(f"The {name!r} parameter must act on 1-D signals; got {D!r}.")
        m = D.in_shape[0]
        return np.asarray(D.apply(np.eye(m)))
    if hasattr(D, "toarray"):
        D = D.toarray()
    return check_array(D, name, ndim=2)


def _data(Y, rows, name):
    Y = check_array(Y, name, ndim=(1, 2))
    if Y.shape[0] != rows:
        raise InvalidParameterError(f"The {name!r} parameter must have {rows} rows (one signal per column); "
                                    f"got shape {Y.shape}.")
    return Y


def _mask(mask, shape, name):
    """A boolean mask of ``shape`` (``(m,)`` or ``(m, N)``) from a mask or, for one signal, indices."""
    arr = np.asarray(mask)
    if arr.dtype == bool:
        if arr.shape != shape:
            raise InvalidParameterError(f"The {name!r} parameter must be a boolean mask of shape {shape}; "
                                        f"got shape {arr.shape}.")
        return arr
    if len(shape) != 1 or arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise InvalidParameterError(f"The {name!r} parameter must be a boolean mask of shape {shape} "
                                    f"(or, for one signal, a list of indices); got {mask!r}.")
    idx = arr.astype(np.intp)
    if idx.size and (idx.min() < 0 or idx.max() >= shape[0]):
        raise InvalidParameterError(f"The {name!r} parameter has indices outside [0, {shape[0]}).")
    out = np.zeros(shape, dtype=bool)
    out[idx] = True
    return out


def null_basis(A, rtol=None):
    """An orthonormal basis of the null space of ``A`` (columns) and ``rank A``.

    Singular values at most ``rtol·σ_max·max(A.shape)`` count as zero
    (default ``rtol`` the dtype's machine epsilon, as ``numpy.linalg.matrix_rank``).

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.oracle import null_basis
    >>> N, rank = null_basis(np.array([[1.0, 1.0, 0.0]]))
    >>> N.shape, rank, np.allclose(np.array([[1.0, 1.0, 0.0]]) @ N, 0)
    ((3, 2), 1, True)
    """
    A = np.asarray(A)
    k, m = A.shape
    if k == 0:
        return np.eye(m, dtype=A.dtype if A.dtype.kind == "f" else float), 0
    _, s, Vt = np.linalg.svd(A, full_matrices=True)
    eps = np.finfo(A.dtype if A.dtype.kind == "f" else float).eps if rtol is None else rtol
    tol = (s[0] if s.size else 0.0) * eps * max(k, m)
    rank = int(np.count_nonzero(s > tol))
    return Vt[rank:].T, rank


def _columns(Y):
    return Y if Y.ndim == 2 else Y[:, None]


def _restricted_ls(M, y, N):
    """``N z`` with ``z = argmin ‖y − MNz‖`` (``N`` orthonormal columns; empty → zero)."""
    if N.shape[1] == 0:
        return np.zeros(N.shape[0], dtype=np.float64)
    z, *_ = np.linalg.lstsq(M @ N, y, rcond=None)
    return N @ z


def synthesis_oracle(D, Y, support):
    """The synthesis oracle: least squares on the true support, ``γ̂_T = D_T⁺y``, ``γ̂ = 0`` off ``T``.

    For ``y = Dγ + w``, ``w ~ N(0, σ²I)``, ``supp γ = T`` (``|T| = s``)::

        E‖γ̂ − γ‖² = σ² tr((D_TᵀD_T)⁻¹) ≤ σ² s/(1 − δ_s)

    Parameters
    ----------
    D : array_like (n, m), pc.Matrix or 1-D pc.LinearOperator
        The effective dictionary (``D₁D₂`` for a two-layer model).
    Y : array_like (n,) or (n, N)
        The data, signals as columns.
    support : bool array of the codes' shape (m,) or (m, N), or indices (one signal)

    Returns
    -------
    ndarray (m,) or (m, N)
        In ``Y``'s dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.oracle import synthesis_oracle
    >>> D = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    >>> synthesis_oracle(D, np.array([2.0, 1.0]), [0])       # fit y with atom 0 alone
    array([2., 0., 0.])
    """
    A = _dense(D, "D")
    Y = _data(Y, A.shape[0], "Y")
    mask = _mask(support, (A.shape[1],) + Y.shape[1:], "support")
    Yc, Mc = _columns(Y), _columns(mask)
    A64 = A.astype(np.float64)
    out = np.zeros((A.shape[1], Yc.shape[1]), dtype=np.float64)
    for j in range(Yc.shape[1]):
        T = np.flatnonzero(Mc[:, j])
        if T.size:
            out[T, j], *_ = np.linalg.lstsq(A64[:, T], Yc[:, j].astype(np.float64), rcond=None)
    return out.reshape((A.shape[1],) + Y.shape[1:]).astype(Y.dtype, copy=False)


def synthesis_analysis_oracle(D1, D2, Y, support, cosupport):
    """The synthesis–analysis oracle of a two-layer model: least squares on ``T`` with ``Φ^Λγ_T = 0``.

    For ``y = D₁D₂γ₂ + w``, ``T = supp γ₂`` and ``Λ`` the zero rows of
    ``γ₁ = D₂γ₂`` (its co-support), ``Φ^Λ = (D₂)_{Λ,T}`` and, with ``N`` an
    orthonormal basis of ``null(Φ^Λ)`` and ``D = D₁D₂``::

        γ̂_T = N (D_TN)⁺ y,   E‖γ̂₂ − γ₂‖² = σ² tr((NᵀD_TᵀD_TN)⁻¹) ≤ σ²(s₂ − rank Φ^Λ)/(1 − δ)

    Parameters
    ----------
    D1 : array_like (n, m1) or pc.Matrix
    D2 : array_like (m1, m2) or pc.Matrix
    Y : array_like (n,) or (n, N)
    support : bool array (m2,) or (m2, N), or indices (one signal)
        The support ``T`` of ``γ₂``.
    cosupport : bool array (m1,) or (m1, N), or indices (one signal)
        The rows ``Λ`` where ``γ₁`` is zero (rows of ``D₂`` with no entry
        in ``T`` add nothing: their constraint is ``0 = 0``).

    Returns
    -------
    ndarray (m2,) or (m2, N)

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.oracle import synthesis_analysis_oracle
    >>> D1 = np.eye(2)
    >>> D2 = np.array([[1.0, -1.0], [1.0, 1.0]])             # γ₁ = D₂γ₂; row 0 zero ⇔ γ₂[0] = γ₂[1]
    >>> y = np.array([0.2, 2.0])
    >>> synthesis_analysis_oracle(D1, D2, y, [0, 1], [0])     # only γ₂ = (t, t): t = 1
    array([1., 1.])
    """
    A1, A2 = _dense(D1, "D1"), _dense(D2, "D2")
    if A1.shape[1] != A2.shape[0]:
        raise InvalidParameterError(f"D1 has {A1.shape[1]} atoms but D2 maps to {A2.shape[0]} rows; "
                                    "they must agree (D1 @ D2).")
    Y = _data(Y, A1.shape[0], "Y")
    mask = _mask(support, (A2.shape[1],) + Y.shape[1:], "support")
    co = _mask(cosupport, (A2.shape[0],) + Y.shape[1:], "cosupport")
    A1, A2 = A1.astype(np.float64), A2.astype(np.float64)
    D = A1 @ A2
    Yc, Mc, Cc = _columns(Y), _columns(mask), _columns(co)
    out = np.zeros((A2.shape[1], Yc.shape[1]), dtype=np.float64)
    for j in range(Yc.shape[1]):
        T = np.flatnonzero(Mc[:, j])
        if not T.size:
            continue
        N, _ = null_basis(A2[np.ix_(np.flatnonzero(Cc[:, j]), T)])
        out[T, j] = _restricted_ls(D[:, T], Yc[:, j].astype(np.float64), N)
    return out.reshape((A2.shape[1],) + Y.shape[1:]).astype(Y.dtype, copy=False)


def analysis_oracle(omega, Y, cosupport):
    """The cosparse (analysis) oracle of denoising: ``x̂ = P_{null(Ω_Λ)} y``.

    For ``y = x + w`` with ``Ω_Λx = 0`` and ``w ~ N(0, σ²I)``:
    ``E‖x̂ − x‖² = σ²(n − rank Ω_Λ)``.

    Parameters
    ----------
    omega : array_like (p, n) or pc.Matrix
    Y : array_like (n,) or (n, N)
    cosupport : bool array (p,) or (p, N), or indices (one signal)

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.oracle import analysis_oracle
    >>> omega = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])   # finite differences
    >>> analysis_oracle(omega, np.array([1.0, 2.0, 6.0]), [0])    # x₀ = x₁: average them
    array([1.5, 1.5, 6. ])
    """
    W = _dense(omega, "omega").astype(np.float64)
    Y = _data(Y, W.shape[1], "Y")
    co = _mask(cosupport, (W.shape[0],) + Y.shape[1:], "cosupport")
    Yc, Cc = _columns(Y), _columns(co)
    out = np.empty(Yc.shape, dtype=np.float64)
    for j in range(Yc.shape[1]):
        N, _ = null_basis(W[Cc[:, j]])
        out[:, j] = N @ (N.T @ Yc[:, j].astype(np.float64))
    return out.reshape(Y.shape).astype(Y.dtype, copy=False)


class OracleRisks(NamedTuple):
    """Expected squared errors of the two oracles for one signal's supports, and the talk's bounds.

    ``synthesis = σ² tr((D_TᵀD_T)⁻¹)`` and ``synthesis_analysis =
    σ² tr((NᵀD_TᵀD_TN)⁻¹)`` are exact; ``delta = max(1 − λ_min, λ_max − 1)``
    of ``D_TᵀD_T`` (the restricted isometry constant of ``D`` on ``T``, at most
    ``δ_{s₂}``); ``bound_synthesis = σ²s₂/(1 − δ)`` and
    ``bound_synthesis_analysis = σ²(s₂ − rank)/(1 − δ)`` (inf when ``δ ≥ 1``).
    ``variance_*`` are the variances of the squared error (Gaussian noise:
    ``2σ⁴ tr(C²)`` for the error covariance ``C``), for Monte-Carlo tolerances.

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.oracle import oracle_risks
    >>> D2 = np.array([[0.6, -0.6], [0.8, 0.0], [0.0, 0.8]])    # unit-norm atoms, ⟨d₁, d₂⟩ = −0.36
    >>> r = oracle_risks(np.eye(3), D2, support=[0, 1], cosupport=[0], sigma=1.0)   # γ₁[0] = 0: γ₂[0] = γ₂[1]
    >>> round(r.delta, 6), r.s, r.rank
    (0.36, 2, 1)
    >>> round(r.synthesis, 4), round(r.bound_synthesis, 4)                    # σ² tr(G⁻¹) ≤ σ²s₂/(1 − δ)
    (2.2978, 3.125)
    >>> round(r.synthesis_analysis, 4), round(r.bound_synthesis_analysis, 4)  # ≤ σ²(s₂ − rank)/(1 − δ)
    (1.5625, 1.5625)
    """

    synthesis: float
    synthesis_analysis: float
    s: int
    rank: int
    delta: float
    bound_synthesis: float
    bound_synthesis_analysis: float
    variance_synthesis: float
    variance_synthesis_analysis: float


def oracle_risks(D1, D2, support, cosupport, sigma) -> OracleRisks:
    """Exact expected errors of the synthesis and synthesis–analysis oracles for one signal.

    Parameters
    ----------
    D1, D2 : array_like or pc.Matrix
        The two layers, ``D = D₁D₂`` (the bounds assume unit-norm columns of ``D``
        for ``δ`` to be the RIP constant; the exact risks do not).
    support : bool array (m2,) or indices
    cosupport : bool array (m1,) or indices
    sigma : float
        Noise standard deviation, ``≥ 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.oracle import oracle_risks
    >>> r = oracle_risks(np.eye(2), np.array([[1.0, -1.0], [1.0, 1.0]]) / 2 ** 0.5, [0, 1], [0], sigma=0.1)
    >>> round(r.synthesis, 6), round(r.synthesis_analysis, 6), r.rank    # σ²·2 and σ²·(2 − 1)
    (0.02, 0.01, 1)
    """
    sigma = check_scalar(sigma, "sigma", "oracle_risks", low=0.0, high=math.inf, high_open=True)
    A1, A2 = _dense(D1, "D1").astype(np.float64), _dense(D2, "D2").astype(np.float64)
    if A1.shape[1] != A2.shape[0]:
        raise InvalidParameterError(f"D1 has {A1.shape[1]} atoms but D2 maps to {A2.shape[0]} rows; they must agree.")
    T = np.flatnonzero(_mask(support, (A2.shape[1],), "support"))
    Lam = np.flatnonzero(_mask(cosupport, (A2.shape[0],), "cosupport"))
    D_T = (A1 @ A2)[:, T]
    G = D_T.T @ D_T
    w = np.linalg.eigvalsh(G) if T.size else np.ones(1)
    if T.size and w[0] <= 0:
        raise InvalidParameterError("the atoms of D = D1 @ D2 on the support are linearly dependent; "
                                    "the synthesis oracle is not defined.")
    delta = float(max(1.0 - w[0], w[-1] - 1.0))
    N, rank = null_basis(A2[np.ix_(Lam, T)]) if T.size else (np.zeros((0, 0)), 0)
    s = int(T.size)
    C_syn = np.linalg.inv(G) if s else np.zeros((0, 0))
    C_sa = N @ np.linalg.inv(N.T @ G @ N) @ N.T if N.shape[1] else np.zeros((s, s))
    s2 = sigma ** 2
    bound = math.inf if delta >= 1 else 1.0 / (1.0 - delta)
    return OracleRisks(
        synthesis=float(s2 * np.trace(C_syn)),
        synthesis_analysis=float(s2 * np.trace(C_sa)),
        s=s, rank=int(rank), delta=delta,
        bound_synthesis=float(s2 * s * bound),
        bound_synthesis_analysis=float(s2 * (s - rank) * bound),
        variance_synthesis=float(2 * s2 ** 2 * np.sum(C_syn * C_syn)),
        variance_synthesis_analysis=float(2 * s2 ** 2 * np.sum(C_sa * C_sa)),
    )
