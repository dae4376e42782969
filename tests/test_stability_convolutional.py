"""Layered thresholding on a 1-D convolutional (ML-CSC) model, against the talk's stability theorem.

The theorem (Papyan, Romano & Elad 2017) for convolutional layers reads the
stripe sparsity ``‖γ_i‖₀,∞``, the convolutional coherence and the ℓ2,∞ norm
of the noise. The expectations here are computed independently of
``proxcore.diagnostics``: the coherence from the dense Gram of the
convolution's matrix, the stripe and window counts and the ℓ2,∞ norm by
brute force over every shift, and the theorem's bounds from its formulas.
"""

import math

import numpy as np
import pytest

import proxcore as pc
from proxcore.diagnostics import layered_thresholding_condition, noise_norm, thresholding_condition

N = 256
BARKER = np.array([1, 1, 1, 1, 1, -1, -1, 1, 1, -1, 1, -1, 1.0]) / np.sqrt(13)  # sidelobes 1/13
THETA, LAG = 0.55, 25  # layer 2: one filter, taps cos θ at 0 and sin θ at 25


def model():
    D1 = pc.Convolution(BARKER[None], N)  # codes (1, N) -> signals (N,)
    f2 = np.zeros((1, 1, LAG + 1))
    f2[0, 0, 0], f2[0, 0, LAG] = np.cos(THETA), np.sin(THETA)
    D2 = pc.Convolution(f2, N)  # codes (1, N) -> (1 channel, N): layer 1's code
    return D1, D2


def draw(rng, n_spikes=4, spacing=51):
    """γ₂: spikes at least ``spacing`` apart (circularly); γ₁ = D₂γ₂ written exactly (no FFT rounding)."""
    while True:
        pos = np.sort(rng.choice(N, n_spikes, replace=False))
        if np.diff(np.r_[pos, pos[0] + N]).min() >= spacing:
            break
    g2 = np.zeros((1, N))
    g2[0, pos] = rng.uniform(1.0, 1.02, n_spikes) * rng.choice([-1.0, 1.0], n_spikes)
    g1 = np.zeros((1, N))
    g1[0, pos] += np.cos(THETA) * g2[0, pos]
    g1[0, (pos + LAG) % N] += np.sin(THETA) * g2[0, pos]
    return g1, g2


# ------------------------------------------------------------------ brute-force references
def matrix(D):
    m = math.prod(D.in_shape)
    return np.asarray(D.apply(np.eye(m).reshape(tuple(D.in_shape) + (m,)))).reshape(-1, m)


def coherence(D):
    A = matrix(D)
    G = np.abs(A.T @ A) / np.outer(np.linalg.norm(A, axis=0), np.linalg.norm(A, axis=0))
    np.fill_diagonal(G, 0.0)
    return float(G.max())


def circular(d):
    return np.minimum(d % N, (-d) % N)


def stripe_norm(g, f):
    """max_p #{(k, j) : γ_k[j] ≠ 0, |j − p| ≤ f − 1 circularly}."""
    nz = np.flatnonzero(np.any(g != 0, axis=0))
    counts = (g != 0).sum(axis=0)
    return max(int(sum(counts[j] for j in nz if circular(j - p) <= f - 1)) for p in range(N))


def window_max(values, f):
    """max_t Σ over the window [t, t + f) (all channels) of ``values`` (channels, N)."""
    values = np.atleast_2d(values)
    return max(float(values[:, (t + np.arange(f)) % N].sum()) for t in range(N))


def theorem(mu, s, count, gmin, gmax, eps):
    """The condition's bound, the threshold interval, β = lo + 0.1(hi − lo), the entry and window bounds."""
    bound = 0.5 * (1 + gmin / (mu * gmax)) - eps / (mu * gmax)
    lo, hi = s * mu * gmax + eps, gmin - (s - 1) * mu * gmax - eps
    beta = lo + 0.1 * (hi - lo)
    entry = eps + mu * (s - 1) * gmax + beta
    return bound, (lo, hi), beta, entry, math.sqrt(count) * entry


@pytest.mark.parametrize("seed", range(4))
def test_layered_thresholding_meets_the_convolutional_stability_theorem(seed):
    rng = np.random.default_rng(seed)
    D1, D2 = model()
    g1, g2 = draw(rng)
    np.testing.assert_allclose(np.asarray(D2 @ g2), g1, atol=1e-14)
    e = 0.003 * rng.standard_normal(N)
    y = np.asarray(D1 @ g1) + e

    # the theorem's quantities, by brute force
    eps0 = math.sqrt(window_max(e[None] ** 2, BARKER.size))  # ‖e‖₂,∞ over D₁'s windows
    mu1, mu2 = coherence(D1), coherence(D2)
    s1, s2 = stripe_norm(g1, BARKER.size), stripe_norm(g2, LAG + 1)
    assert (s1, s2) == (1, 1) and np.count_nonzero(g1) == 8  # locally sparse, globally not
    p1 = int(window_max(g1 != 0, LAG + 1))  # non-zeros of γ₁ in one window of D₂'s atoms
    a1, a2 = np.abs(g1[g1 != 0]), np.abs(g2[g2 != 0])
    bound1, range1, beta1, entry1, out1 = theorem(mu1, s1, p1, a1.min(), a1.max(), eps0)
    bound2, range2, beta2, entry2, out2 = theorem(mu2, s2, np.count_nonzero(g2), a2.min(), a2.max(), out1)
    assert s1 < bound1 and s2 < bound2  # the condition holds at both layers

    conditions = layered_thresholding_condition([D1, D2], [g1, g2], noise=noise_norm(D1, e))
    assert all(conditions)
    for c, (mu, s, bound, rng_, beta, entry, out) in zip(conditions, [
            (mu1, s1, bound1, range1, beta1, entry1, out1), (mu2, s2, bound2, range2, beta2, entry2, out2)]):
        assert c.sparsity == s and c.mu == pytest.approx(mu, abs=1e-12)
        assert c.bound == pytest.approx(bound, rel=1e-9) and c.threshold == pytest.approx(beta, rel=1e-9)
        np.testing.assert_allclose(c.threshold_range, rng_, rtol=1e-9)
        assert c.entry_error == pytest.approx(entry, rel=1e-9) and c.noise_out == pytest.approx(out, rel=1e-9)
    assert conditions[0].noise_in == pytest.approx(eps0, rel=1e-12)

    # the forward pass with those thresholds: every support and sign, errors within the bounds
    problem = pc.chain(y, [(D1, pc.L1(beta1)), (D2, pc.L1(beta2))])
    h1, h2 = pc.solve(problem, method="layered-thresholding").codes
    for g, h, entry in ((g1, h1, entry1), (g2, h2, entry2)):
        assert np.array_equal(np.sign(h), np.sign(g))
        assert np.abs(h - g).max() <= entry * (1 + 1e-9)
    assert math.sqrt(window_max((h1 - g1) ** 2, LAG + 1)) <= out1 * (1 + 1e-9)  # ‖γ̂₁ − γ₁‖₂,∞ over D₂'s windows
    assert np.linalg.norm(h2 - g2) <= out2 * (1 + 1e-9)

    # the dense reading (global ‖γ₁‖₀ = 8, ℓ2 noise) certifies nothing here, and ℓ2 noise alone fails layer 2
    dense = thresholding_condition(pc.Matrix(matrix(D1)), g1.ravel(), noise=float(np.linalg.norm(e)))
    assert not dense and dense.sparsity == 8
    assert not layered_thresholding_condition([D1, D2], [g1, g2], noise=float(np.linalg.norm(e)))[1]


def test_noise_norm_is_the_largest_window_energy():
    rng = np.random.default_rng(3)
    e = rng.standard_normal(N)
    D1, D2 = model()
    assert noise_norm(D1, e) == pytest.approx(math.sqrt(window_max(e[None] ** 2, BARKER.size)), rel=1e-12)
    assert noise_norm(np.eye(N), e) == pytest.approx(np.linalg.norm(e), rel=1e-12)
    assert noise_norm(D1, e) < np.linalg.norm(e)
    # 2-D, two channels: windows of 2×3 over both channels
    conv = pc.Convolution(rng.standard_normal((2, 2, 2, 3)), (5, 6))
    e2 = rng.standard_normal((2, 5, 6))
    brute = max(float(np.sum(e2[:, (i + np.arange(2)) % 5][:, :, (j + np.arange(3)) % 6] ** 2))
                for i in range(5) for j in range(6))
    assert noise_norm(conv, e2) == pytest.approx(math.sqrt(brute), rel=1e-12)
    with pytest.raises(pc.InvalidParameterError, match="shape"):
        noise_norm(conv, e2[0])


def test_convolutional_condition_checks_its_arguments():
    D1, _ = model()
    g1, _ = draw(np.random.default_rng(0))
    with pytest.raises(pc.InvalidParameterError, match="unit-norm"):
        thresholding_condition(pc.Convolution(2 * BARKER[None], N), g1)
    with pytest.raises(pc.InvalidParameterError, match="gamma"):
        thresholding_condition(D1, g1.ravel())
    with pytest.raises(pc.InvalidParameterError, match="noise"):
        thresholding_condition(D1, g1, noise=-1.0)
