"""Synthesis vs synthesis–analysis oracle denoising (Aberdam, Sulam & Elad 2019), against closed forms.

References, independent of :mod:`proxcore.oracle`'s null-space computation:
the synthesis oracle is ``pinv(D_T) y``; the synthesis–analysis oracle is the
KKT system of ``min ‖y − D_Tγ_T‖²  s.t.  Φ^Λγ_T = 0``. The Monte-Carlo
errors are judged against the exact risks ``σ² tr(C)`` with a tolerance of
five standard errors of the mean (the squared error of a Gaussian vector of
covariance ``C`` has variance ``2σ⁴ tr(C²)``), and the risks against the
talk's bounds ``σ²s₂/(1 − δ)`` and ``σ²(s₂ − rank Φ^Λ)/(1 − δ)``.
"""

import doctest
import re

import numpy as np
import pytest

import proxcore as pc
from proxcore import oracle
from proxcore.oracle import (analysis_oracle, null_basis, oracle_risks, synthesis_analysis_oracle,
                             synthesis_oracle)

from .conftest import frozen, run_tutorial


def two_layer(rng, n=80, m1=100, m2=120):
    D1 = np.linalg.qr(rng.standard_normal((m1, n)))[0].T  # orthonormal rows: D1 D2 is as well conditioned as D2
    D2 = rng.standard_normal((m1, m2))
    D2 /= np.linalg.norm(D1 @ D2, axis=0)  # unit-norm atoms of the effective dictionary D1 D2
    return D1, D2


def draw(rng, D1, D2, N, s2, r, sigma):
    """``γ₂`` with ``s₂`` non-zeros and ``γ₁ = D₂γ₂`` zero on ``r`` random rows; ``Y = D₁γ₁ + σW``."""
    m1, m2 = D2.shape
    G2 = np.zeros((m2, N))
    S = np.zeros((m2, N), bool)
    C = np.zeros((m1, N), bool)
    for j in range(N):
        T = rng.choice(m2, s2, replace=False)
        L = rng.choice(m1, r, replace=False)
        basis = np.linalg.svd(D2[np.ix_(L, T)])[2][r:].T  # null space, dimension s2 − r
        G2[T, j] = basis @ rng.standard_normal(s2 - r) * 2.0
        S[T, j] = True
        C[:, j] = np.abs(D2 @ G2[:, j]) < 1e-9
    assert C.sum(axis=0).min() >= r
    return G2, S, C, D1 @ (D2 @ G2) + sigma * rng.standard_normal((D1.shape[0], N))


def kkt_reference(D, Phi, y):
    s = D.shape[1]
    K = np.block([[D.T @ D, Phi.T], [Phi, np.zeros((Phi.shape[0],) * 2)]])
    sol = np.linalg.lstsq(K, np.concatenate([D.T @ y, np.zeros(Phi.shape[0])]), rcond=None)[0]
    return sol[:s]


def test_estimators_match_closed_forms(rng):
    D1, D2 = two_layer(rng)
    _, S, C, Y = draw(rng, D1, D2, 30, 10, 6, 0.1)
    D = D1 @ D2
    syn = synthesis_oracle(D, Y, S)
    sa = synthesis_analysis_oracle(D1, D2, Y, S, C)
    for j in range(Y.shape[1]):
        T = np.flatnonzero(S[:, j])
        np.testing.assert_allclose(syn[T, j], np.linalg.pinv(D[:, T]) @ Y[:, j], rtol=1e-9, atol=1e-10)
        assert not syn[~S[:, j], j].any() and not sa[~S[:, j], j].any()
        Phi = D2[np.ix_(np.flatnonzero(C[:, j]), T)]
        np.testing.assert_allclose(sa[T, j], kkt_reference(D[:, T], Phi, Y[:, j]), rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(Phi @ sa[T, j], 0, atol=1e-10)  # the analysis constraint holds


def test_monte_carlo_errors_match_exact_risks_and_the_gap(rng):
    D1, D2 = two_layer(rng)
    s2, r, sigma, N = 8, 5, 0.05, 1500
    G2, S, C, Y = draw(rng, D1, D2, N, s2, r, sigma)
    err_syn = np.sum((synthesis_oracle(D1 @ D2, Y, S) - G2) ** 2, axis=0)
    err_sa = np.sum((synthesis_analysis_oracle(D1, D2, Y, S, C) - G2) ** 2, axis=0)
    risks = [oracle_risks(D1, D2, S[:, j], C[:, j], sigma) for j in range(N)]
    for name, err in (("synthesis", err_syn), ("synthesis_analysis", err_sa)):
        expected = np.mean([getattr(k, name) for k in risks])
        se = np.sqrt(np.mean([getattr(k, "variance_" + name) for k in risks]) / N)
        assert abs(err.mean() - expected) <= 5 * se, (name, err.mean(), expected, se)
    for k in risks:  # the talk's bounds, exact inequalities up to rounding
        assert k.rank == r and k.s == s2
        assert k.delta < 1  # the bounds below are finite
        assert k.synthesis <= k.bound_synthesis * (1 + 1e-9)
        assert k.synthesis_analysis <= k.bound_synthesis_analysis * (1 + 1e-9)
        assert k.synthesis_analysis < k.synthesis
    # the gap: (s₂ − rank)/s₂ = 3/8 of the synthesis error, within the conditioning of D on T
    ratio = err_sa.mean() / err_syn.mean()
    lo = min((k.s - k.rank) / k.s * (1 - k.delta) / (1 + k.delta) for k in risks)
    hi = max((k.s - k.rank) / k.s * (1 + k.delta) / (1 - k.delta) for k in risks)
    assert lo <= ratio <= hi and ratio < 0.6, (lo, ratio, hi)


def test_analysis_oracle_risk(rng):
    n, p, ell, sigma, N = 30, 45, 20, 0.1, 1000
    omega = rng.standard_normal((p, n))
    co = np.zeros((p, N), bool)
    X = np.zeros((n, N))
    for j in range(N):
        L = rng.choice(p, ell, replace=False)
        co[L, j] = True
        basis = null_basis(omega[L])[0]
        X[:, j] = basis @ rng.standard_normal(n - ell)
    Y = X + sigma * rng.standard_normal((n, N))
    est = analysis_oracle(omega, Y, co)
    err = np.sum((est - X) ** 2, axis=0)
    # the error is σ²χ²(n − ℓ): mean σ²(n − ℓ), variance 2σ⁴(n − ℓ)
    assert abs(err.mean() - sigma**2 * (n - ell)) <= 5 * np.sqrt(2 * sigma**4 * (n - ell) / N)
    np.testing.assert_allclose(est[:, 0], np.linalg.lstsq(np.vstack([np.eye(n), 1e8 * omega[co[:, 0]]]),
                                                          np.concatenate([Y[:, 0], np.zeros(ell)]),
                                                          rcond=None)[0], atol=1e-6)


def test_float32_kept_and_inputs_untouched(rng):
    D1, D2 = two_layer(rng, 20, 30, 40)
    _, S, C, Y = draw(rng, D1, D2, 5, 6, 3, 0.1)
    D1f, D2f, Yf, Sf, Cf = frozen(D1.astype(np.float32), D2.astype(np.float32), Y.astype(np.float32), S, C)
    out = synthesis_analysis_oracle(D1f, D2f, Yf, Sf, Cf)
    assert out.dtype == np.float32 and out.shape == (40, 5)
    assert synthesis_oracle(pc.Matrix(D1f @ D2f), Yf, Sf).dtype == np.float32
    assert analysis_oracle(D2f.T, np.ones(30, np.float32), [0]).dtype == np.float32
    single = synthesis_oracle(D1 @ D2, Y[:, 0], np.flatnonzero(S[:, 0]))
    assert single.shape == (40,)


@pytest.mark.parametrize("call, name", [
    (lambda D1, D2, Y, S, C: synthesis_oracle(D1 @ D2, Y[:-1], S), "Y"),
    (lambda D1, D2, Y, S, C: synthesis_oracle(D1 @ D2, np.where(Y > 0, np.nan, Y), S), "Y"),
    (lambda D1, D2, Y, S, C: synthesis_oracle(D1 @ D2, Y, S[:-1]), "support"),
    (lambda D1, D2, Y, S, C: synthesis_analysis_oracle(D1, D2, Y, S, C[:-1]), "cosupport"),
    (lambda D1, D2, Y, S, C: synthesis_analysis_oracle(D1, D2.T, Y, S, C), "D1"),
    (lambda D1, D2, Y, S, C: oracle_risks(D1, D2, S[:, 0], C[:, 0], -1.0), "sigma"),
    (lambda D1, D2, Y, S, C: synthesis_oracle(D1 @ D2, Y[:, 0], [0, 99]), "support"),
])
def test_bad_input_names_the_argument(rng, call, name):
    D1, D2 = two_layer(rng, 10, 12, 14)
    _, S, C, Y = draw(rng, D1, D2, 3, 4, 2, 0.1)
    with pytest.raises(pc.InvalidParameterError, match=name):
        call(D1, D2, Y, S, C)


def test_docstring_examples():
    result = doctest.testmod(oracle, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_tutorial_reproduces_the_gap(tmp_path):
    stdout = run_tutorial("plot_oracle_denoising.py", tmp_path)
    assert (tmp_path / "oracle_denoising.png").exists()
    rows = re.findall(r"^sigma=(\S+)\s+synthesis=(\S+)\s+synthesis-analysis=(\S+)\s+ratio=(\S+)", stdout, re.M)
    assert len(rows) >= 3
    for _, syn, sa, ratio in rows:
        assert float(sa) < float(syn) and float(ratio) < 0.7
