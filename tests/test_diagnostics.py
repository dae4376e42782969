"""Pursuit theory, verified numerically: where a recovery condition holds, the pursuit recovers.

- coherence, Babel and RIP against brute force and their known relations
  (δ₂ = μ and δ_s ≤ μ₁(s−1) for unit-norm atoms, μ₁(1) = μ, μ₁(s) ≤ sμ);
- OMP and BP recover every s-sparse code when s < (1 + 1/μ)/2 (Donoho & Elad
  2003, Tropp 2004; RELIABILITY P1);
- layered thresholding finds every layer's support, within the error bound,
  when the stability condition of Papyan, Romano & Elad (2017) holds.
"""

import itertools
import math

import numpy as np
import pytest
import scipy.optimize
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from scipy.linalg import hadamard

import proxcore as pc
from proxcore.diagnostics import (
    _matrix,
    babel,
    convolutional_coherence,
    exact_recovery_condition,
    layered_thresholding_condition,
    mutual_coherence,
    rip_constant,
    thresholding_condition,
)
from proxcore.testing import strategies as pst


def identity_hadamard(n):
    return np.hstack([np.eye(n), hadamard(n) / np.sqrt(n)])


def brute_coherence(D):
    A = D / np.linalg.norm(D, axis=0)
    m = A.shape[1]
    return max((abs(A[:, i] @ A[:, j]) for i in range(m) for j in range(m) if i != j), default=0.0)


def brute_babel(D, s):
    A = D / np.linalg.norm(D, axis=0)
    m = A.shape[1]
    best = 0.0
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for L in itertools.combinations(others, s):
            best = max(best, sum(abs(A[:, i] @ A[:, j]) for j in L))
    return best


# ----------------------------------------------------------------------------- dictionary measures
def test_coherence_of_identity_and_hadamard():
    for n in (4, 16, 64):
        assert mutual_coherence(identity_hadamard(n)) == pytest.approx(1 / np.sqrt(n), rel=1e-12)
    assert mutual_coherence(np.eye(5)) == 0.0
    assert mutual_coherence(np.ones((3, 1))) == 0.0


def test_coherence_accepts_operators_and_ignores_atom_scale(rng):
    D = rng.standard_normal((6, 9))
    mu = mutual_coherence(D)
    assert mutual_coherence(pc.Matrix(D)) == pytest.approx(mu, rel=1e-12)
    assert mutual_coherence(D * rng.uniform(0.1, 10, size=9)) == pytest.approx(mu, rel=1e-12)
    assert mutual_coherence(pc.Matrix(D) @ pc.Identity(9)) == pytest.approx(mu, rel=1e-12)


def test_coherence_refuses_a_zero_atom():
    D = np.eye(3)
    D[:, 1] = 0
    with pytest.raises(ValueError, match="zero atom .column 1"):
        mutual_coherence(D)


@settings(max_examples=25)
@given(pst.dictionaries(n=(2, 6), m=(2, 7)))
def test_coherence_and_babel_match_brute_force(D):
    assert mutual_coherence(D) == pytest.approx(brute_coherence(D), abs=1e-6)
    curve = babel(D)
    m = D.shape[1]
    assert curve.shape == (m - 1,)
    for s in range(1, m):
        assert curve[s - 1] == pytest.approx(brute_babel(D, s), abs=1e-5)
    mu = mutual_coherence(D)
    assert curve[0] == pytest.approx(mu, abs=1e-6)                      # μ₁(1) = μ
    assert np.all(np.diff(curve) >= -1e-12)                            # nondecreasing
    assert np.all(curve <= np.arange(1, m) * mu + 1e-6)                # μ₁(s) ≤ sμ


@settings(max_examples=25)
@given(pst.dictionaries(dtype=np.float64, n=(2, 6), m=(2, 8)), st.integers(1, 4))
def test_rip_relations(D, s):
    m = D.shape[1]
    s = min(s, m)
    est = rip_constant(D, s)
    assert est.exact and len(est.support) == s
    # the support certifies the value
    S = list(est.support)
    w = np.linalg.eigvalsh(D[:, S].T @ D[:, S])
    assert max(1 - w[0], w[-1] - 1) == pytest.approx(est.delta, abs=1e-12)
    assert rip_constant(D, 1).delta == pytest.approx(0.0, abs=1e-6)    # unit-norm atoms
    if m >= 2:
        assert rip_constant(D, 2).delta == pytest.approx(mutual_coherence(D), abs=1e-6)   # δ₂ = μ
    if s >= 2:
        assert est.delta <= babel(D, s - 1) + 1e-6                     # δ_s ≤ μ₁(s−1) (Gershgorin)
    if s < m:
        assert rip_constant(D, s + 1).delta >= est.delta - 1e-12       # nondecreasing in s


def test_rip_sampling_gives_a_certified_lower_bound(rng):
    D = rng.standard_normal((10, 18))
    D /= np.linalg.norm(D, axis=0)
    exact = rip_constant(D, 3)
    sampled = rip_constant(D, 3, max_supports=100)
    assert exact.exact and not sampled.exact
    assert sampled.delta <= exact.delta + 1e-12
    assert sampled.delta >= 0.8 * exact.delta            # the greedy growth from the worst pair is good here
    S = list(sampled.support)
    w = np.linalg.eigvalsh(D[:, S].T @ D[:, S])
    assert max(1 - w[0], w[-1] - 1) == pytest.approx(sampled.delta, abs=1e-12)


# ----------------------------------------------------------------------------- OMP / BP recovery
def reference_omp(D, y, s):
    """OMP with a least-squares refit each step (ties: the lowest index)."""
    support, r = [], y.copy()
    for _ in range(s):
        j = int(np.argmax(np.abs(D.T @ r)))
        support.append(j)
        coef, *_ = np.linalg.lstsq(D[:, support], y, rcond=None)
        r = y - D[:, support] @ coef
    x = np.zeros(D.shape[1])
    x[support] = coef
    return x


def registered_omp(D, y, s):
    return np.asarray(pc.pursuit("omp")(pc.chain(y, [(D, pc.L0Ball(s))])).x)


def basis_pursuit(D, y):
    """min ‖x‖₁ s.t. Dx = y, as a linear program in (u, v) ≥ 0 with x = u − v."""
    n, m = D.shape
    res = scipy.optimize.linprog(np.ones(2 * m), A_eq=np.hstack([D, -D]), b_eq=y, bounds=(0, None), method="highs")
    assert res.status == 0, res.message
    return res.x[:m] - res.x[m:]


@st.composite
def sparse_codes(draw, m, max_s, min_s=1):
    s = draw(st.integers(min_s, max_s))
    support = draw(st.lists(st.integers(0, m - 1), min_size=s, max_size=s, unique=True))
    mags = draw(st.lists(st.floats(0.1, 10.0), min_size=s, max_size=s))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=s, max_size=s))
    x = np.zeros(m)
    x[support] = np.array(mags) * np.array(signs)
    return x


def largest_recoverable_sparsity(mu):
    """The largest integer ``s < (1 + 1/μ)/2``, from the theorem's formula (not from the code under test)."""
    return math.ceil((1 + 1 / mu) / 2) - 1


@st.composite
def codes_below_the_coherence_bound(draw):
    """``(n, x)`` for ``[I, H/√n]`` (μ = 1/√n) with ``‖x‖₀`` at most the bound, and often at it."""
    n = draw(st.sampled_from([16, 64]))
    top = largest_recoverable_sparsity(1 / math.sqrt(n))  # 2 for n = 16, 4 for n = 64
    s = draw(st.one_of(st.just(top), st.integers(1, top)))
    return n, draw(sparse_codes(2 * n, s, min_s=s))


@settings(max_examples=40)
@given(codes_below_the_coherence_bound())
def test_omp_and_bp_recover_below_the_coherence_bound(case):
    n, x = case
    D = identity_hadamard(n)
    s = int(np.count_nonzero(x))
    condition = exact_recovery_condition(D, s)
    assert condition, (s, condition)  # drawn below the bound: the function must agree with the formula
    event(f"n = {n}, s = {s} (bound {condition.bound:.2f})")
    y = D @ x
    for label, xhat in (("reference OMP", reference_omp(D, y, s)), ("registered OMP", registered_omp(D, y, s)),
                        ("BP", basis_pursuit(D, y))):
        assert set(np.flatnonzero(np.abs(xhat) > 1e-8)) == set(np.flatnonzero(x)), label
        np.testing.assert_allclose(xhat, x, atol=1e-7 * np.abs(x).max(), err_msg=label)


@st.composite
def perturbed_spikes_and_hadamard(draw, n=16):
    """``[I, H/√n]`` plus a small Gaussian perturbation, atoms renormalised: random, with μ just above 1/√n.

    Gaussian dictionaries of these sizes have μ > 1/3, where the bound allows s = 1 only; these allow s = 2.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    D = identity_hadamard(n) + draw(st.floats(0.0, 0.02)) * rng.standard_normal((n, 2 * n))
    return D / np.linalg.norm(D, axis=0)


@settings(max_examples=30)
@given(st.one_of(pst.dictionaries(n=(10, 16), m=(10, 20), max_coherence=0.9), perturbed_spikes_and_hadamard()),
       st.data())
def test_omp_and_bp_recover_on_random_dictionaries_when_the_condition_holds(D, data):
    m = D.shape[1]
    top = largest_recoverable_sparsity(brute_coherence(D))
    assume(top >= 1)  # μ < 1 (pst.dictionaries caps it at 0.9, so this always holds)
    s = data.draw(st.one_of(st.just(top), st.integers(1, top)), label="s")  # at the bound, or below it
    x = data.draw(sparse_codes(m, s, min_s=s), label="x")
    assert exact_recovery_condition(D, s), s  # below the bound by construction
    event(f"s = {s}")
    y = D @ x
    for label, xhat in (("reference OMP", reference_omp(D, y, s)), ("registered OMP", registered_omp(D, y, s)),
                        ("BP", basis_pursuit(D, y))):
        np.testing.assert_allclose(xhat, x, atol=1e-7 * np.abs(x).max(), err_msg=label)


def test_beyond_the_bound_uniqueness_fails():
    # a Dirac comb of √n spikes equals √n Hadamard atoms: two representations with nnz = √n (RELIABILITY P2)
    n = 16
    D = identity_hadamard(n)
    comb = np.zeros(n)
    comb[:: int(np.sqrt(n))] = 1.0
    assert not exact_recovery_condition(D, int(np.sqrt(n)))
    coef = np.linalg.lstsq(D[:, n:], comb, rcond=None)[0]
    assert np.count_nonzero(np.abs(coef) > 1e-10) == np.sqrt(n)
    np.testing.assert_allclose(D[:, n:] @ coef, comb, atol=1e-12)


# ----------------------------------------------------------------------------- layered thresholding
def soft(v, beta):
    return np.sign(v) * np.maximum(np.abs(v) - beta, 0.0)


def forward_pass(dictionaries, y, thresholds, nonneg=False):
    codes, g = [], y
    for D, beta in zip(dictionaries, thresholds):
        c = D.T @ g
        g = np.maximum(c - beta, 0.0) if nonneg else soft(c, beta)
        codes.append(g)
    return codes


def registered_layered_thresholding(dictionaries, y, thresholds, nonneg):
    """The registered pursuit: each layer's prox at step 1, so pc.L1(β_i) thresholds at β_i (a ReLU if nonneg)."""
    problem = pc.chain(y, [(D, pc.L1(beta, nonneg=nonneg)) for D, beta in zip(dictionaries, thresholds)])
    return [np.asarray(c) for c in pc.pursuit("layered-thresholding")(problem).codes]


@st.composite
def two_layer_models(draw, nonneg=False):
    """D₁ = [I, H/8] (μ = 1/8); D₂ with unit-norm two-entry atoms on disjoint rows (μ = 0), codes γ₁ = D₂γ₂.

    Drawn around the stability bound: γ₂ has one atom (with two, the error ε₁ the theorem propagates to
    layer 2 is at least 1.75|γ₁^max| > |γ₂^min|/2, so its condition never holds), whose angle
    ``θ = π/4 + δ`` sets the ratio |γ₁^min|/|γ₁^max| that layer 1's condition needs (it fails for |δ|
    beyond about 0.4), and noise up to |γ₂|/40, about where layer 2's condition fails at δ = 0.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = 64
    D1 = identity_hadamard(n)
    m2 = 48
    rows = rng.permutation(2 * n)[: 2 * m2].reshape(m2, 2)
    theta = rng.uniform(0.25, 1.3, size=m2) if nonneg else rng.uniform(0, 2 * np.pi, size=m2)
    atom = draw(st.integers(0, m2 - 1))
    quadrant = 0 if nonneg else draw(st.integers(0, 3))
    theta[atom] = np.pi / 4 + quadrant * np.pi / 2 + draw(st.floats(-0.45, 0.45))
    D2 = np.zeros((2 * n, m2))
    D2[rows[:, 0], np.arange(m2)] = np.cos(theta)
    D2[rows[:, 1], np.arange(m2)] = np.sin(theta)
    g2 = np.zeros(m2)
    g2[atom] = draw(st.floats(1.0, 3.0)) * (1.0 if nonneg else draw(st.sampled_from([-1.0, 1.0])))
    g1 = D2 @ g2
    eps = draw(st.floats(0.0, 1.0)) * abs(g2[atom]) / 40
    e = rng.standard_normal(n)
    y = D1 @ g1 + eps * e / np.linalg.norm(e)
    return [D1, D2], [g1, g2], y, eps


@settings(max_examples=60)
@given(st.booleans().flatmap(lambda nn: st.tuples(st.just(nn), two_layer_models(nonneg=nn))))
def test_layered_thresholding_recovers_the_supports_where_the_condition_holds(case):
    nonneg, (dictionaries, codes, y, eps) = case
    conditions = layered_thresholding_condition(dictionaries, codes, noise=eps)
    assume(all(conditions))  # the theorem promises nothing elsewhere; the strategy lands near the bound
    # how close to the bound: layer 2 (μ = 0) needs |γ₂| > 2ε₁, ε₁ the error layer 1 passes on
    event(f"|γ₂| / 2ε₁ = {np.abs(codes[1]).max() / (2 * conditions[1].noise_in):.1f}")
    thresholds = [c.threshold for c in conditions]
    candidates = {"reference forward pass": forward_pass(dictionaries, y, thresholds, nonneg=nonneg),
                  "registered layered-thresholding": registered_layered_thresholding(dictionaries, y, thresholds,
                                                                                     nonneg)}
    for label, estimates in candidates.items():
        for i, (g, ghat, c) in enumerate(zip(codes, estimates, conditions), start=1):
            assert set(np.flatnonzero(ghat)) == set(np.flatnonzero(g)), f"{label}, layer {i}: support not recovered"
            assert np.all(np.sign(ghat) == np.sign(g)), f"{label}, layer {i}: signs differ"
            assert np.linalg.norm(ghat - g) <= c.noise_out * (1 + 1e-9), f"{label}, layer {i}: error above the bound"


def test_layered_thresholding_condition_holds_on_a_fixed_example():
    D1 = identity_hadamard(64)
    D2 = np.zeros((128, 64))
    D2[np.arange(64), np.arange(64)] = D2[np.arange(64) + 64, np.arange(64)] = np.sqrt(0.5)
    g2 = np.zeros(64)
    g2[5] = 1.0
    conditions = layered_thresholding_condition([D1, D2], [D2 @ g2, g2], noise=0.01)
    assert all(conditions)
    assert conditions[0].sparsity == 2 and conditions[1].sparsity == 1
    assert conditions[1].noise_in == conditions[0].noise_out
    e = np.random.default_rng(0).standard_normal(64)
    y = D1 @ (D2 @ g2) + 0.01 * e / np.linalg.norm(e)
    g1hat, g2hat = forward_pass([D1, D2], y, [c.threshold for c in conditions])
    assert np.flatnonzero(g2hat).tolist() == [5]
    # a threshold outside the valid interval is judged as failing the condition
    assert not all(layered_thresholding_condition([D1, D2], [D2 @ g2, g2], 0.01, thresholds=[0.01, 0.1]))


def test_thresholding_condition_refuses_unnormalized_atoms():
    with pytest.raises(ValueError, match="unit-norm atoms .the theorem is stated for them.; atom 1 has norm 2"):
        thresholding_condition(np.diag([1.0, 2.0]), np.array([1.0, 0.0]))


# ----------------------------------------------------------------------------- convolutional dictionaries
needs_convolution = pytest.mark.skipif(not hasattr(pc, "Convolution") or not hasattr(pc, "L0Inf"),
                                       reason="needs pc.Convolution and pc.L0Inf")


@needs_convolution
@settings(max_examples=40)
@given(pst.convolution_operators(dtype=np.float64, max_side=6))
def test_convolutional_coherence_matches_the_dense_matrix(D):
    A = _matrix(D)
    assert convolutional_coherence(D) == pytest.approx(brute_coherence(A), abs=1e-9)
    assert mutual_coherence(D) == convolutional_coherence(D)


@needs_convolution
@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(1, 2), st.integers(2, 4))
def test_convolutional_bp_recovers_below_the_stripe_coherence_bound(seed, K, f):
    # Papyan, Sulam & Elad 2017: BP recovers Γ when ‖Γ‖₀,∞ < (1 + 1/μ(D))/2
    rng = np.random.default_rng(seed)
    N = 24
    filters = rng.standard_normal((K, f))
    D = pc.Convolution(filters / np.linalg.norm(filters, axis=1, keepdims=True), N)  # unit-norm atoms
    mu = convolutional_coherence(D)
    stripes = pc.L0Inf(1, filter_shape=f, signal_shape=(K, N))
    x = np.zeros((K, N))
    for _ in range(rng.integers(1, 6)):  # spikes, kept only while the stripe sparsity stays below the bound
        trial = x.copy()
        trial[rng.integers(K), rng.integers(N)] = rng.uniform(0.5, 2.0) * rng.choice([-1.0, 1.0])
        if exact_recovery_condition(D, stripes.norm(trial)):
            x = trial
    s = stripes.norm(x)
    event(f"stripe sparsity {s}, bound {0.5 * (1 + 1 / mu):.2f}")
    if s == 0:
        return
    A = _matrix(D)
    xhat = basis_pursuit(A, A @ x.ravel())
    np.testing.assert_allclose(xhat, x.ravel(), atol=1e-7 * np.abs(x).max())


def test_exact_recovery_condition_refuses_unnormalized_atoms():
    # BP's ℓ1 is not scale-invariant: the coherence theorem is about unit-norm atoms
    with pytest.raises(ValueError, match="unit-norm atoms .the theorem is stated for them.; atom 1 has norm 2"):
        exact_recovery_condition(np.diag([1.0, 2.0]), 1)


@st.composite
def codes_near_the_thresholding_bound(draw, m=128, mu=1 / 8, max_s=4):
    """``(x, ε)``: ``s ≤ 4`` non-zeros whose dynamic range is just inside what one thresholding step allows.

    ``s < ½(1 + |x^min|/(μ|x^max|)) − ε/(μ|x^max|)`` is ``|x^min|/|x^max| > μ(2s − 1) + 2ε/|x^max|``: the
    other magnitudes are drawn between that ratio (``fraction`` → 0, the bound itself) and 1.
    """
    s = draw(st.integers(1, max_s))
    eps = draw(st.floats(0.0, 0.05))
    top = draw(st.floats(1.0, 10.0))
    ratio = mu * (2 * s - 1) + 2 * eps / top
    fractions = draw(st.lists(st.floats(1e-3, 1.0), min_size=s - 1, max_size=s - 1))
    mags = [top] + [top * (ratio + f * (1 - ratio)) for f in fractions]
    support = draw(st.lists(st.integers(0, m - 1), min_size=s, max_size=s, unique=True))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=s, max_size=s))
    x = np.zeros(m)
    x[support] = np.array(mags) * np.array(signs)
    return x, eps


@settings(max_examples=40)
@given(codes_near_the_thresholding_bound(), st.integers(0, 2**32 - 1))
def test_one_step_thresholding_recovers_where_the_condition_holds(case, seed):
    x, eps = case
    D = identity_hadamard(64)
    e = np.random.default_rng(seed).standard_normal(64)
    y = D @ x + eps * e / np.linalg.norm(e)
    c = thresholding_condition(D, x, noise=eps)
    assume(c)  # drawn inside the bound; a draw that rounds onto it is not a case of the theorem
    event(f"s = {c.sparsity}")
    estimates = {"reference": soft(D.T @ y, c.threshold),
                 "registered thresholding": pc.solve(pc.chain(y, [(D, pc.L1(c.threshold))]), method="thresholding").x}
    for label, xhat in estimates.items():
        assert set(np.flatnonzero(xhat)) == set(np.flatnonzero(x)), label
        assert np.linalg.norm(xhat - x) <= c.noise_out * (1 + 1e-9), label
