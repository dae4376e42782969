"""Pursuit theory as numbers: coherence, Babel function, RIP constants and recovery conditions.

The worst-case guarantees of sparse coding are stated in terms of a few
properties of the dictionary ``D`` (columns ``d_i`` are the atoms):

- mutual coherence ``μ(D) = max_{i≠j} |d_iᵀd_j| / (‖d_i‖‖d_j‖)``;
- the Babel function ``μ₁(s) = max_i max_{|Λ|=s, i∉Λ} Σ_{j∈Λ} |d_iᵀd_j|``
  (unit-norm atoms; ``μ₁(1) = μ`` and ``μ₁(s) ≤ sμ``);
- the restricted isometry constant ``δ_s``, the smallest ``δ`` with
  ``(1−δ)‖γ‖² ≤ ‖Dγ‖² ≤ (1+δ)‖γ‖²`` for every ``s``-sparse ``γ``
  (for unit-norm atoms ``δ_2 = μ`` and ``δ_s ≤ μ₁(s−1)``).

The recovery conditions return a :class:`Condition`: whether it holds, and
the bound. They are the sufficient conditions of the talk in ``reference/``:

- OMP and BP recover every ``s``-sparse representation exactly when
  ``s < (1 + 1/μ)/2`` (Donoho & Elad 2003; Tropp 2004);
- layered thresholding, ``γ̂_i = ReLU(D_iᵀγ̂_{i−1} − β_i)`` (or soft
  thresholding for signed codes), finds the support of every layer when
  ``‖γ_i‖₀ < ½(1 + |γ_i^min|/(μ(D_i)|γ_i^max|)) − ε_{i−1}/(μ(D_i)|γ_i^max|)``
  (Papyan, Romano & Elad 2017), with ``ε_0`` the noise energy ``‖y − D₁γ₁‖₂``
  and ``ε_i = sqrt(‖γ_i‖₀)(ε_{i−1} + μ(D_i)(‖γ_i‖₀ − 1)|γ_i^max| + β_i)``.

For dense dictionaries a stripe is the whole code, so ``‖·‖₀,∞ = ‖·‖₀`` and
``‖·‖₂,∞ = ‖·‖₂``. For a :class:`proxcore.Convolution`, ``μ`` is computed
from the filters' cross-correlations (:func:`convolutional_coherence`) and
the OMP/BP condition reads ``‖Γ‖₀,∞ < (1 + 1/μ)/2`` with the stripe
sparsity (``pc.L0Inf(...).norm``) in place of ``s`` (Papyan, Sulam & Elad 2017).
The thresholding conditions read, for a convolutional layer, the stripe
sparsity ``‖γ_i‖₀,∞``, the convolutional coherence and the ℓ2,∞ norm of the
noise, the largest ℓ2 norm over the windows the atoms cover
(:func:`noise_norm`), as in the talk's stability theorem (Papyan, Romano &
Elad 2017).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from ._validation import InvalidParameterError, check_array

__all__ = [
    "mutual_coherence",
    "convolutional_coherence",
    "babel",
    "rip_constant",
    "RIPEstimate",
    "Condition",
    "LayerCondition",
    "exact_recovery_condition",
    "thresholding_condition",
    "layered_thresholding_condition",
    "noise_norm",
]


def _matrix(D, name="D"):
    """``D`` as a dense float64 array: arrays, ``pc.Matrix`` or any small ``pc.LinearOperator``."""
    from .operators import LinearOperator, Matrix

    if isinstance(D, Matrix):
        A = D.array
        A = A.toarray() if hasattr(A, "toarray") else A
    elif isinstance(D, LinearOperator):
        n = math.prod(D.in_shape)
        A = np.asarray(D.apply(np.eye(n).reshape(tuple(D.in_shape) + (n,))), dtype=np.float64).reshape(-1, n)
    else:
        A = check_array(D.toarray() if hasattr(D, "toarray") else D, name, ndim=2)
    return np.asarray(A, dtype=np.float64)


def _unit_columns(A, name):
    norms = np.linalg.norm(A, axis=0)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InvalidParameterError(f"{name} has a zero atom (column {int(zero[0])}); its coherence is undefined.")
    return A / norms


def _abs_gram(D, name="D"):
    A = _unit_columns(_matrix(D, name), name)
    G = np.abs(A.T @ A)
    np.fill_diagonal(G, 0.0)
    return G


def mutual_coherence(D) -> float:
    """The mutual coherence ``μ(D) = max_{i≠j} |d_iᵀd_j| / (‖d_i‖‖d_j‖)``.

    A :class:`proxcore.Convolution` is measured without forming its matrix
    (:func:`convolutional_coherence`).

    Parameters
    ----------
    D : array_like (n, m), scipy.sparse matrix or proxcore.LinearOperator
        The dictionary; its columns are the atoms (normalized here).

    Returns
    -------
    float
        In ``[0, 1]``; 0 for a single atom.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hadamard
    >>> from proxcore.diagnostics import mutual_coherence
    >>> D = np.hstack([np.eye(16), hadamard(16) / 4.0])     # identity + Hadamard: μ = 1/√16
    >>> mutual_coherence(D)
    0.25
    """
    if _is_convolution(D):
        return convolutional_coherence(D)
    G = _abs_gram(D)
    return float(min(G.max(initial=0.0), 1.0))


def _is_convolution(D):
    import proxcore

    conv = getattr(proxcore, "Convolution", None)
    return conv is not None and isinstance(D, conv)


def convolutional_coherence(D) -> float:
    """The mutual coherence of a convolutional dictionary, from the cross-correlations of its filters.

    The atoms of ``D = [C(d_1) ⋯ C(d_K)]`` are every circular shift of
    every filter, so ``d_{k,s}ᵀ d_{k',s'} = (d_k ⋆ d_{k'})[s' − s]`` (summed
    over channels) and::

        μ(D) = max over (k, k', lag), lag ≠ 0 when k = k', of |(d_k ⋆ d_{k'})[lag]| / (‖d_k‖‖d_{k'}‖)

    computed with FFTs in ``O(K²N log N)`` instead of forming the
    ``(N·C) × (K·N)`` matrix. Two atoms with a non-zero inner product overlap,
    so they lie in one stripe: this is also the largest coherence of any
    stripe's dictionary, the ``μ(D)`` of the convolutional recovery
    conditions, where ``s`` is the stripe sparsity ``‖Γ‖₀,∞``
    (Papyan, Sulam & Elad 2017).

    Parameters
    ----------
    D : proxcore.Convolution

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.diagnostics import convolutional_coherence
    >>> D = pc.Convolution(np.array([[1.0, 1.0]]), 8)           # atoms (1,1) shifted: overlap 1/2
    >>> round(convolutional_coherence(D), 12)
    0.5
    """
    K = D.in_shape[0]
    spatial = tuple(D.in_shape[1:])
    atoms = _conv_atoms(D)  # (K, channels, *spatial)
    norms = np.sqrt((atoms ** 2).reshape(K, -1).sum(axis=1))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InvalidParameterError(f"the convolutional dictionary has a zero filter (filter {int(zero[0])}).")
    axes = tuple(range(2, 2 + len(spatial)))
    F = np.fft.fftn(atoms / norms.reshape((K,) + (1,) * (atoms.ndim - 1)), axes=axes)
    mu = 0.0
    for k in range(K):
        # (d_k ⋆ d_j)[lag] = Σ_c Σ_n d_k[c, n] d_j[c, n + lag], for every j at once
        corr = np.fft.ifftn(np.conj(F[k])[None] * F, axes=axes).real.sum(axis=1)  # (K, *spatial)
        corr = np.abs(corr)
        corr[(k,) + (0,) * len(spatial)] = 0.0  # an atom with itself
        mu = max(mu, float(corr.max()))
    return float(min(mu, 1.0))


def _conv_atoms(D):
    """The atom of each filter of a Convolution at shift 0, as ``(K, channels, *spatial)`` float64."""
    K = D.in_shape[0]
    spatial = tuple(D.in_shape[1:])
    deltas = np.zeros((K,) + spatial + (K,))
    for k in range(K):
        deltas[(k,) + (0,) * len(spatial) + (k,)] = 1.0
    atoms = np.asarray(D.apply(deltas), dtype=np.float64)  # out_shape + (K,)
    return np.moveaxis(atoms, -1, 0).reshape((K, -1) + spatial)


def _window_sums(D, a):
    """``Σ`` of ``a`` (one signal of ``D``: ``D.out_shape``) over every window ``D``'s atoms cover, circularly.

    The atom of any filter at shift ``t`` lives on the window ``[t, t + f)`` (all
    channels); entry ``t`` of the result is the sum over that window.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.shape != tuple(D.out_shape):
        raise InvalidParameterError(f"expected one signal of the convolution, shape {tuple(D.out_shape)}; "
                                    f"got {a.shape}.")
    if D.multichannel:
        a = a.sum(axis=0)
    for axis, (f, n) in enumerate(zip(D.filter_shape, D.signal_shape)):
        f = min(int(f), int(n))
        ext = np.concatenate([a, np.take(a, np.arange(f - 1), axis=axis)], axis=axis)
        cs = np.cumsum(ext, axis=axis)
        zero = np.zeros_like(np.take(cs, [0], axis=axis))
        cs = np.concatenate([zero, cs], axis=axis)
        a = np.take(cs, np.arange(f, f + n), axis=axis) - np.take(cs, np.arange(n), axis=axis)
    return a


def noise_norm(D, e) -> float:
    """The norm of a noise ``e`` (one signal) in which the thresholding conditions of ``D`` read it.

    For a dense dictionary, ``‖e‖₂``. For a :class:`proxcore.Convolution`,
    the ℓ2,∞ norm over the windows of its atoms (the patches of the talk's
    stability theorem)::

        ‖e‖₂,∞ = max_t ‖e[:, t : t + f]‖₂        (all channels, circular; 2-D: f₁×f₂ windows)

    which bounds ``|d_jᵀe|`` for every unit-norm atom ``d_j`` and is at most
    ``‖e‖₂`` (much less for long signals with spread noise).

    Parameters
    ----------
    D : array_like (n, m), proxcore.LinearOperator or proxcore.Convolution
    e : array_like
        One signal of ``D``'s output (``D.out_shape``; ``(n,)`` for a matrix).

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.diagnostics import noise_norm
    >>> e = np.array([0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    >>> noise_norm(np.eye(8), e)                                  # ‖e‖₂ = √26
    5.0990195135927845
    >>> noise_norm(pc.Convolution(np.array([[1.0, 1.0]]) / 2 ** 0.5, 8), e)   # windows of 2: (3, 4)
    5.0
    """
    if _is_convolution(D):
        return float(math.sqrt(max(float(_window_sums(D, np.asarray(e, dtype=np.float64) ** 2).max()), 0.0)))
    e = check_array(e, "e")
    return float(np.linalg.norm(e.ravel()))


def _patch_sparsity(D_next, gamma):
    """The most non-zeros of ``gamma`` (a signal of ``D_next``) in one window of ``D_next``'s atoms."""
    return int(round(float(_window_sums(D_next, np.asarray(gamma) != 0).max())))


def babel(D, s=None):
    """The Babel function ``μ₁(k) = max_i max_{|Λ|=k, i∉Λ} Σ_{j∈Λ} |⟨d_i, d_j⟩|`` (atoms normalized).

    Parameters
    ----------
    D : array_like (n, m) or proxcore.LinearOperator
    s : int, optional
        Return ``μ₁(s)`` only; default the whole function ``[μ₁(1), …, μ₁(m−1)]``.

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.diagnostics import babel
    >>> D = np.array([[1.0, 0.6, 0.0], [0.0, 0.8, 1.0]])
    >>> babel(D)                      # μ₁(1) = μ = 0.8, μ₁(2) = 0.6 + 0.8
    array([0.8, 1.4])
    """
    G = _abs_gram(D)
    m = G.shape[0]
    rows = -np.sort(-G, axis=1)[:, : max(m - 1, 0)]  # each row without the diagonal zero, largest first
    curve = np.cumsum(rows, axis=1).max(axis=0) if m > 1 else np.zeros(0)
    if s is None:
        return curve
    if not (1 <= int(s) <= m - 1):
        raise InvalidParameterError(f"The 's' parameter of babel must be in [1, {m - 1}]; got {s!r}.")
    return float(curve[int(s) - 1])


class RIPEstimate(NamedTuple):
    """The restricted isometry constant ``δ_s``: ``delta`` is exact when ``exact``, else a lower bound.

    ``support`` is a support of size ``s`` that attains ``delta`` (a certificate:
    the Gram of ``D`` on it has an eigenvalue at ``1 ± delta``).
    """

    delta: float
    exact: bool
    support: tuple


def _support_delta(A, S):
    w = np.linalg.eigvalsh(A[:, list(S)].T @ A[:, list(S)])
    return max(1.0 - w[0], w[-1] - 1.0)


def rip_constant(D, s, *, max_supports=20000, seed=0) -> RIPEstimate:
    """The restricted isometry constant ``δ_s`` of ``D`` (as given, not normalized).

    ``δ_s = max_{|S|=s} max(λ_max(D_SᵀD_S) − 1, 1 − λ_min(D_SᵀD_S))``. When
    there are at most ``max_supports`` supports, every one is enumerated and
    the value is exact. Otherwise random supports, each grown greedily from
    the most coherent atom pair, give a certified **lower bound** (``δ_s`` is
    at least the value on any support), with ``exact=False``.

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.diagnostics import rip_constant, mutual_coherence
    >>> D = np.random.default_rng(0).standard_normal((6, 9)); D /= np.linalg.norm(D, axis=0)
    >>> est = rip_constant(D, 2)
    >>> est.exact, bool(np.isclose(est.delta, mutual_coherence(D)))   # δ₂ = μ for unit-norm atoms
    (True, True)
    """
    A = _matrix(D)
    m = A.shape[1]
    s = int(s)
    if not 1 <= s <= m:
        raise InvalidParameterError(f"The 's' parameter of rip_constant must be in [1, {m}]; got {s!r}.")
    if math.comb(m, s) <= max_supports:
        best = (-math.inf, ())
        for S in itertools.combinations(range(m), s):
            d = _support_delta(A, S)
            if d > best[0]:
                best = (d, S)
        return RIPEstimate(float(best[0]), True, tuple(int(i) for i in best[1]))
    rng = np.random.default_rng(seed)
    G = np.abs(_unit_columns(A, "D").T @ _unit_columns(A, "D"))
    np.fill_diagonal(G, -1.0)
    best = (-math.inf, ())
    starts = [tuple(np.unravel_index(int(np.argmax(G)), G.shape))] if s >= 2 else []
    starts += [tuple(rng.choice(m, min(s, 2), replace=False)) for _ in range(max(1, max_supports // (4 * m)))]
    for start in starts:
        S = list(dict.fromkeys(int(i) for i in start))[:s]
        while len(S) < s:  # grow greedily: the atom most correlated with the current support
            score = G[S].sum(axis=0)
            score[S] = -np.inf
            S.append(int(np.argmax(score)))
        d = _support_delta(A, S)
        if d > best[0]:
            best = (d, tuple(sorted(S)))
    return RIPEstimate(float(best[0]), False, best[1])


class Condition(NamedTuple):
    """A sufficient condition ``value < bound``; truthy when it holds."""

    holds: bool
    value: float
    bound: float
    statement: str

    def __bool__(self):
        return bool(self.holds)


def exact_recovery_condition(D, s) -> Condition:
    """The coherence condition for exact recovery by OMP and BP: ``s < (1 + 1/μ)/2``.

    When it holds, every ``y = Dγ`` with ``‖γ‖₀ = s`` has ``γ`` as its
    unique sparsest representation, OMP finds it in ``s`` steps and BP
    (``min ‖γ‖₁ s.t. Dγ = y``) returns it (Donoho & Elad 2003, Tropp 2004).
    ``D`` must have unit-norm atoms (BP's ℓ1 norm is not scale-invariant).
    For a :class:`proxcore.Convolution`, pass the stripe sparsity
    ``‖Γ‖₀,∞`` as ``s`` (Papyan, Sulam & Elad 2017).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hadamard
    >>> from proxcore.diagnostics import exact_recovery_condition
    >>> D = np.hstack([np.eye(64), hadamard(64) / 8.0])      # μ = 1/8
    >>> exact_recovery_condition(D, 4)
    Condition(holds=True, value=4.0, bound=4.5, statement='s < (1 + 1/μ)/2 with μ = 0.125')
    >>> bool(exact_recovery_condition(D, 5))
    False
    """
    _check_unit_atoms(D, "exact_recovery_condition")
    mu = mutual_coherence(D)
    bound = math.inf if mu == 0 else 0.5 * (1.0 + 1.0 / mu)
    return Condition(float(s) < bound, float(s), bound, f"s < (1 + 1/μ)/2 with μ = {mu:.6g}")


def _check_unit_atoms(D, owner):
    A = _matrix(D)
    norms = np.linalg.norm(A, axis=0)
    if not np.allclose(norms, 1.0, rtol=1e-6, atol=0):
        j = int(np.argmax(np.abs(norms - 1.0)))
        raise InvalidParameterError(
            f"{owner} needs unit-norm atoms (the theorem is stated for them); atom {j} has norm {norms[j]:.6g}. "
            "Normalize the atoms (and rescale the codes) first."
        )


class LayerCondition(NamedTuple):
    """The stability condition of thresholding at one layer.

    ``holds`` says that ``sparsity < bound`` and the threshold lies in
    ``[threshold_range[0], threshold_range[1])``; then the support is found,
    every entry has ``|γ̂_j − γ_j| ≤ entry_error`` and the error's norm is at
    most ``noise_out``: ``‖γ̂ − γ‖₂`` (the next layer dense, or none), or its
    ℓ2,∞ norm over the windows of a convolutional next layer
    (:func:`noise_norm` of that layer), the ``noise_in`` of the next layer.
    ``noise_in`` is the error ``ε_{i−1}`` of the layer's input: its ℓ2 norm
    for a dense layer, its ℓ2,∞ norm (:func:`noise_norm`) for a
    convolutional one, whose ``sparsity`` is the stripe norm ``‖γ‖₀,∞``.
    """

    holds: bool
    sparsity: int
    bound: float
    threshold_range: tuple
    threshold: float
    noise_in: float
    noise_out: float
    mu: float
    entry_error: float = math.nan

    def __bool__(self):
        return bool(self.holds)


def thresholding_condition(D, gamma, noise=0.0, threshold=None, *, next_layer=None) -> LayerCondition:
    """The stability condition of one thresholding step ``γ̂ = T_β(Dᵀy)`` for ``y = Dγ + e``.

    With ``s = ‖γ‖₀``, ``μ = μ(D)``, unit-norm atoms and ``‖e‖₂ ≤ ε``, every
    on-support correlation is within ``(s−1)μ|γ^max| + ε`` of ``γ_j`` and
    every off-support one at most ``sμ|γ^max| + ε``, so the threshold
    ``β ∈ [sμ|γ^max| + ε, |γ^min| − (s−1)μ|γ^max| − ε)`` keeps exactly the
    support (with the signs). The interval is non-empty if and only if::

        s < ½(1 + |γ^min|/(μ|γ^max|)) − ε/(μ|γ^max|)

    and then every entry has ``|γ̂_j − γ_j| ≤ δ = ε + μ(s−1)|γ^max| + β``
    (soft thresholding; ``ReLU(Dᵀy − β)`` for non-negative codes), so
    ``‖γ̂ − γ‖₂ ≤ sqrt(s)·δ``.

    For a :class:`proxcore.Convolution` ``D`` (Papyan, Romano & Elad 2017)
    the same holds with ``s = ‖γ‖₀,∞`` the stripe sparsity (an atom meets only
    the atoms of its stripe), ``μ`` the convolutional coherence
    (:func:`convolutional_coherence`) and ``ε ≥ ‖e‖₂,∞``, the largest ℓ2
    norm of the noise over the windows of the atoms (:func:`noise_norm`;
    ``|d_jᵀe|`` sees only its window). The error passed on to a
    convolutional next layer is then ``‖γ̂ − γ‖₂,∞ ≤ sqrt(p)·δ`` over its
    windows, with ``p`` the most non-zeros of ``γ`` in one of them (the
    talk's ``‖γ_i‖₀,∞^P``).

    Parameters
    ----------
    D : array_like (n, m), proxcore.LinearOperator or proxcore.Convolution
        Unit-norm atoms (refused otherwise: the theorem assumes them).
    gamma : array_like
        The true code of one signal: ``(m,)``, or ``D.in_shape`` for a convolution.
    noise : float
        ``ε``: ``≥ ‖y − Dγ‖₂`` (dense ``D``) or ``≥ ‖y − Dγ‖₂,∞`` (convolutional ``D``).
    threshold : float, optional
        The ``β`` to judge; default ``lo + 0.1·(hi − lo)`` for the valid
        interval ``[lo, hi)``: near its lower end, which passes the least
        error to a next layer, with a margin against rounding.
    next_layer : array_like or proxcore.LinearOperator, optional
        The dictionary that reads ``γ`` as its signal (layer ``i + 1``):
        when it is a :class:`proxcore.Convolution`, ``noise_out`` is the
        ℓ2,∞ bound over its windows; otherwise (dense, or none) the ℓ2 bound.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hadamard
    >>> from proxcore.diagnostics import thresholding_condition
    >>> D = np.hstack([np.eye(64), hadamard(64) / 8.0])
    >>> gamma = np.zeros(128); gamma[[3, 70]] = [1.0, 0.9]
    >>> c = thresholding_condition(D, gamma, noise=0.05)
    >>> bool(c), c.sparsity, round(c.bound, 4), [round(b, 4) for b in c.threshold_range]
    (True, 2, 3.7, [0.3, 0.725])

    A convolutional layer: far-apart spikes make a small stripe norm even
    when the code has many non-zeros.

    >>> import proxcore as pc
    >>> barker = np.array([1, 1, 1, 1, 1, -1, -1, 1, 1, -1, 1, -1, 1.0]) / 13 ** 0.5   # μ = 1/13
    >>> D = pc.Convolution(barker[None], 128)
    >>> gamma = np.zeros((1, 128)); gamma[0, ::32] = 1.0                    # ‖γ‖₀ = 4, ‖γ‖₀,∞ = 1
    >>> c = thresholding_condition(D, gamma, noise=0.1)
    >>> bool(c), c.sparsity, round(c.mu, 6), round(c.bound, 4)
    (True, 1, 0.076923, 5.7)
    """
    conv = _is_convolution(D)
    if conv:
        _check_unit_filters(D, "thresholding_condition")
        gamma = check_array(gamma, "gamma")
        if gamma.shape != tuple(D.in_shape):
            raise InvalidParameterError(f"gamma must be one code of the convolution, shape {tuple(D.in_shape)}; "
                                        f"got {gamma.shape}.")
        mu = convolutional_coherence(D)
    else:
        A = _matrix(D)
        _check_unit_atoms(A, "thresholding_condition")
        gamma = check_array(gamma, "gamma", ndim=1)
        if gamma.shape[0] != A.shape[1]:
            raise InvalidParameterError(f"gamma has {gamma.shape[0]} entries; D has {A.shape[1]} atoms.")
        mu = mutual_coherence(A)
    noise = float(noise)
    if not noise >= 0:
        raise InvalidParameterError(f"The 'noise' parameter must be non-negative; got {noise!r}.")
    nonzero = gamma[gamma != 0]
    if conv:
        from .stripes import L0Inf

        s = int(L0Inf(1, filter_shape=D.filter_shape, signal_shape=tuple(D.in_shape)).norm(gamma))
    else:
        s = int(nonzero.size)
    if s == 0:
        return LayerCondition(True, 0, math.inf, (noise, math.inf), noise if threshold is None else float(threshold),
                              noise, 0.0, mu, 0.0)
    gmax, gmin = float(np.abs(nonzero).max()), float(np.abs(nonzero).min())
    lo = s * mu * gmax + noise
    hi = gmin - (s - 1) * mu * gmax - noise
    bound = math.inf if mu == 0 else 0.5 * (1 + gmin / (mu * gmax)) - noise / (mu * gmax)
    if mu == 0:
        bound = math.inf if gmin > 2 * noise else -math.inf
    beta = lo + 0.1 * (hi - lo) if threshold is None else float(threshold)
    holds = s < bound and lo <= beta < hi
    entry = noise + mu * (s - 1) * gmax + beta
    if next_layer is not None and _is_convolution(next_layer):
        if gamma.shape != tuple(next_layer.out_shape):
            raise InvalidParameterError(f"next_layer reads signals of shape {tuple(next_layer.out_shape)}; the code "
                                        f"has shape {gamma.shape}.")
        count = _patch_sparsity(next_layer, gamma)
    else:
        count = int(nonzero.size)
    out = math.sqrt(count) * entry
    return LayerCondition(bool(holds), s, float(bound), (float(lo), float(hi)), float(beta), noise, float(out), mu,
                          float(entry))


def _check_unit_filters(D, owner):
    atoms = _conv_atoms(D)
    norms = np.sqrt((atoms ** 2).reshape(atoms.shape[0], -1).sum(axis=1))
    if not np.allclose(norms, 1.0, rtol=1e-6, atol=0):
        j = int(np.argmax(np.abs(norms - 1.0)))
        raise InvalidParameterError(
            f"{owner} needs unit-norm atoms (the theorem is stated for them); filter {j} has norm {norms[j]:.6g}. "
            "Normalize the filters (and rescale the codes) first."
        )


def layered_thresholding_condition(dictionaries, codes, noise=0.0, thresholds=None) -> list:
    """The stability condition of layered thresholding, layer by layer (Papyan, Romano & Elad 2017).

    For ``y = D₁γ₁ + e`` with ``‖e‖₂ ≤ noise``, ``γ_{i−1} = D_iγ_i``, the
    forward pass ``γ̂_i = T_{β_i}(D_iᵀγ̂_{i−1})`` (``γ̂_0 = y``) recovers the
    support of every layer when, at every layer ``i``,
    :func:`thresholding_condition` holds for ``D_i``, ``γ_i`` and the error
    ``ε_{i−1}`` of its input, where ``ε_0 = noise`` and
    ``ε_i = sqrt(‖γ_i‖₀)(ε_{i−1} + μ(D_i)(‖γ_i‖₀ − 1)|γ_i^max| + β_i)``.

    Convolutional layers (:class:`proxcore.Convolution`, the ML-CSC model)
    read the talk's form of the theorem::

        ‖γ_i‖₀,∞ < ½(1 + |γ_i^min|/(μ(D_i)|γ_i^max|)) − ε_{i−1}/(μ(D_i)|γ_i^max|)

    with the stripe sparsity, the convolutional coherence and ℓ2,∞ errors:
    ``noise ≥ ‖e‖₂,∞`` over ``D₁``'s windows (:func:`noise_norm`), and
    ``ε_i = sqrt(‖γ_i‖₀,∞^P)(ε_{i−1} + μ(D_i)(‖γ_i‖₀,∞ − 1)|γ_i^max| + β_i)``
    bounds ``‖γ̂_i − γ_i‖₂,∞`` over the windows of ``D_{i+1}``, where
    ``‖γ_i‖₀,∞^P`` is the most non-zeros of ``γ_i`` in one such window.

    Parameters
    ----------
    dictionaries : sequence of array_like or proxcore.LinearOperator
        ``[D₁, …, D_L]``, unit-norm atoms; dense or :class:`proxcore.Convolution`.
    codes : sequence of array_like
        ``[γ₁, …, γ_L]`` for one signal, with ``γ_{i−1} = D_iγ_i``.
    noise : float
        ``ε_0``: ``‖e‖₂`` for a dense ``D₁``, ``‖e‖₂,∞`` for a convolutional one.
    thresholds : sequence of float, optional
        The ``β_i`` to judge; default near the lower end of each valid
        interval (see :func:`thresholding_condition`).

    Returns
    -------
    list of LayerCondition
        One per layer; the whole condition holds when ``all(...)`` does.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import hadamard
    >>> from proxcore.diagnostics import layered_thresholding_condition
    >>> D1 = np.hstack([np.eye(64), hadamard(64) / 8.0])
    >>> D2 = np.zeros((128, 64)); D2[np.arange(64), np.arange(64)] = D2[np.arange(64) + 64, np.arange(64)] = 0.5 ** 0.5
    >>> g2 = np.zeros(64); g2[5] = 1.0
    >>> conditions = layered_thresholding_condition([D1, D2], [D2 @ g2, g2], noise=0.01)
    >>> [bool(c) for c in conditions]
    [True, True]
    """
    dictionaries, codes = list(dictionaries), list(codes)
    if len(dictionaries) != len(codes) or not codes:
        raise InvalidParameterError(
            f"layered_thresholding_condition needs one code per dictionary; got {len(dictionaries)} "
            f"dictionaries and {len(codes)} codes."
        )
    if thresholds is not None and len(list(thresholds)) != len(codes):
        raise InvalidParameterError("thresholds must have one entry per layer.")
    out = []
    eps = float(noise)
    for i, (D, gamma) in enumerate(zip(dictionaries, codes)):
        beta = None if thresholds is None else list(thresholds)[i]
        following = dictionaries[i + 1] if i + 1 < len(dictionaries) else None
        c = thresholding_condition(D, gamma, eps, beta, next_layer=following)
        out.append(c)
        eps = c.noise_out
    return out
