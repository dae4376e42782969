"""The built-in pursuits (OMP, IHT, thresholding, layered), against independent references.

References: exact recovery below the mutual-coherence bound on ``[I, H/√n]``
(Tropp 2004; ``scipy.linalg.hadamard``), scikit-learn's ``orthogonal_mp_gram``,
closed forms for one-shot and layered thresholding and for layered BP on
orthonormal dictionaries, and the invariants of OMP and IHT (residual
orthogonality, monotone decrease, sparsity, the IHT fixed point).
"""

import contextlib
import doctest
import importlib
import sys
import warnings

import numba
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import orthogonal_mp_gram

import proxcore as pc

from .conftest import cvxpy_lasso_optimum, frozen, sparse_signals, unit_norm_dictionary

N_HAD = 64
SPIKES_HADAMARD = np.hstack([np.eye(N_HAD), scipy.linalg.hadamard(N_HAD) / np.sqrt(N_HAD)])  # μ = 1/8


def soft(v, t):
    return np.sign(v) * np.maximum(np.abs(v) - t, 0)


def keep_largest(v, s):
    out = np.zeros_like(v)
    idx = np.argsort(-np.abs(v), axis=0, kind="stable")[:s]
    np.put_along_axis(out, idx, np.take_along_axis(v, idx, axis=0), axis=0)
    return out


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    """Compile the OMP kernel once (both dtypes) before hypothesis times anything."""
    for dt in (np.float64, np.float32):
        pc.solve(pc.chain(np.ones((2, 1), dt), [(np.eye(2, dtype=dt), pc.L0Ball(1))]), method="omp")


# ------------------------------------------------------------------ OMP
def test_coherence_of_the_fixture():
    G = SPIKES_HADAMARD.T @ SPIKES_HADAMARD
    mu = np.abs(G - np.eye(2 * N_HAD)).max()
    assert np.isclose(mu, 1 / 8)  # the bound s < (1 + 1/μ)/2 = 4.5 covers s <= 4


@st.composite
def sparse_codes(draw, m=2 * N_HAD, max_s=4):
    s = draw(st.integers(1, max_s))
    support = draw(st.lists(st.integers(0, m - 1), min_size=s, max_size=s, unique=True))
    magnitudes = draw(st.lists(st.floats(0.1, 10.0), min_size=s, max_size=s))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=s, max_size=s))
    x = np.zeros(m)
    x[support] = np.array(magnitudes) * np.array(signs)
    return x


@given(x=sparse_codes(), jit=st.booleans())
def test_omp_exact_recovery_below_the_coherence_bound(x, jit):
    s = np.count_nonzero(x)
    y = SPIKES_HADAMARD @ x
    res = pc.solve(pc.chain(y, [(SPIKES_HADAMARD, pc.L0Ball(s))]), method="omp", jit=jit)
    np.testing.assert_array_equal(np.flatnonzero(res.x), np.flatnonzero(x))
    np.testing.assert_allclose(res.x, x, rtol=1e-10, atol=1e-12)
    assert res.n_iter == s and res.converged


@settings(max_examples=15)
@given(x=sparse_codes())
def test_basis_pursuit_recovers_the_support_below_the_coherence_bound(x):
    # Lasso with a small λ: below the bound the exact recovery condition holds with margin
    # (off-support correlations at most sμ/(1 − (s−1)μ) <= 0.8 of λ), so the support is exact.
    y = SPIKES_HADAMARD @ x
    res = pc.solve(pc.chain(y, [(SPIKES_HADAMARD, pc.L1(1e-3))]), method="fista", tol=1e-12, max_iter=20_000)
    np.testing.assert_array_equal(np.flatnonzero(np.abs(res.x) > 1e-6), np.flatnonzero(x))
    np.testing.assert_allclose(res.x, x, atol=5e-3)


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("seed, s", [(0, 1), (1, 5), (2, 12)])
def test_omp_matches_scikit_learn(seed, s, jit):
    rng = np.random.default_rng(seed)
    D = unit_norm_dictionary(rng, 32, 80)
    Y = rng.standard_normal((32, 40))
    res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(s))]), method="omp", jit=jit)
    ref = orthogonal_mp_gram(D.T @ D, D.T @ Y, n_nonzero_coefs=s)
    np.testing.assert_array_equal(res.x != 0, ref != 0)
    np.testing.assert_allclose(res.x, ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("jit", [True, False])
def test_omp_residual_tolerance_matches_scikit_learn(jit):
    rng = np.random.default_rng(3)
    D = unit_norm_dictionary(rng, 32, 80)
    Y = rng.standard_normal((32, 40))
    tol = 0.6 * np.sqrt(32)
    res = pc.solve(pc.chain(Y, [(D, pc.Zero())]), method="omp", tol=tol, jit=jit)
    ref = orthogonal_mp_gram(D.T @ D, D.T @ Y, tol=tol**2, norms_squared=(Y**2).sum(axis=0))
    np.testing.assert_array_equal(res.x != 0, ref != 0)
    np.testing.assert_allclose(res.x, ref, rtol=1e-9, atol=1e-11)
    assert np.all(np.linalg.norm(Y - D @ res.x, axis=0) <= tol * (1 + 1e-9))


@pytest.mark.parametrize("jit", [True, False])
def test_omp_invariants(jit, rng):
    D = unit_norm_dictionary(rng, 40, 100)
    Y = D[:, :6] @ rng.standard_normal((6, 25)) + 0.1 * rng.standard_normal((40, 25))
    s = 10
    res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(s))]), method="omp", jit=jit)
    R = Y - D @ res.x
    for j in range(Y.shape[1]):
        support = np.flatnonzero(res.x[:, j])
        assert support.size == s  # s distinct atoms: none selected twice
        assert np.abs(D[:, support].T @ R[:, j]).max() <= 1e-10 * np.linalg.norm(Y[:, j])  # D_Iᵀ r = 0
    history = res.history["objective"]
    assert len(history) == s and np.all(np.diff(history) <= 1e-12 * history[0])
    assert np.isclose(history[-1], res.objective, rtol=1e-8)
    assert np.isclose(res.objective, 0.5 * np.sum(R * R))


@pytest.mark.parametrize("method", ["omp", "ormp"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_greedy_objective_from_sparse_codes_is_the_problems(method, dtype, rng):
    """The greedy pursuits compute F(x) through their codes' non-zeros (a sparse product); it is the value the
    problem gives for the returned x, for a batch of any shape, with fewer atoms than s (tol) and zero data."""
    D = unit_norm_dictionary(rng, 20, 50).astype(dtype) * rng.uniform(0.5, 2, 50).astype(dtype)
    Y = rng.standard_normal((20, 3, 4)).astype(dtype)
    Y[:, 0, 0] = 0
    for reg, tol in ((pc.L0Ball(5), None), (pc.Zero(), 0.5)):
        problem = pc.chain(Y, [(D, reg)])
        res = pc.solve(problem, method=method, tol=tol)
        assert res.objective == pytest.approx(problem.objective(res.x), rel=1e-12 if dtype == np.float64 else 1e-5)
        R = (Y - np.einsum("ij,jkl->ikl", D, res.x)).astype(np.float64)
        assert res.objective == pytest.approx(0.5 * np.sum(R * R), rel=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("method", ["omp", "ormp"])
def test_greedy_batches_larger_than_a_kernel_block_match_signal_by_signal_solves(method, rng):
    """The correlations are made a block of signals at a time: the signals on either side of a block's edge,
    and the batch's objective, are those of signals solved alone."""
    import importlib

    block = importlib.import_module("proxcore_pursuits.omp")._BLOCK
    D = unit_norm_dictionary(rng, 16, 40)
    Y = rng.standard_normal((16, 2 * block + 3)) * rng.uniform(0.2, 2.0, 2 * block + 3)
    for reg, tol in ((pc.L0Ball(4), None), (pc.Zero(), 1.0)):  # with tol, where each signal stops depends on ‖y‖
        res = pc.solve(pc.chain(Y, [(D, reg)]), method=method, tol=tol)
        for j in (0, block - 1, block, 2 * block - 1, 2 * block, 2 * block + 2):
            alone = pc.solve(pc.chain(Y[:, j], [(D, reg)]), method=method, tol=tol)
            np.testing.assert_array_equal(np.flatnonzero(res.x[:, j]), np.flatnonzero(alone.x))
            np.testing.assert_allclose(res.x[:, j], alone.x, rtol=1e-12, atol=1e-14)
        R = Y - D @ res.x
        assert res.objective == pytest.approx(0.5 * np.sum(R * R), rel=1e-12)
        if tol is not None:
            counts = np.count_nonzero(res.x, axis=0)
            assert counts.min() < counts.max() and np.all(np.linalg.norm(R, axis=0) <= tol * (1 + 1e-12))


def test_omp_numba_and_numpy_agree_in_value_and_dtype(rng):
    D = unit_norm_dictionary(rng, 24, 60)
    Y = rng.standard_normal((24, 30))
    for dt in (np.float64, np.float32):
        problem = pc.chain(Y.astype(dt), [(D.astype(dt), pc.L0Ball(7))])
        a = pc.solve(problem, method="omp")
        b = pc.solve(problem, method="omp", jit=False)
        assert a.x.dtype == b.x.dtype == dt
        np.testing.assert_array_equal(a.x != 0, b.x != 0)
        np.testing.assert_allclose(a.x, b.x, rtol=1e-4 if dt == np.float32 else 1e-12, atol=1e-6 if dt == np.float32 else 1e-14)


def test_omp_float32_close_to_float64(rng):
    D = unit_norm_dictionary(rng, 32, 64)
    X = np.zeros((64, 20))
    for j in range(20):
        X[rng.choice(64, 3, replace=False), j] = rng.choice([-1, 1], 3) * rng.uniform(1, 2, 3)
    Y = D @ X
    res = pc.solve(pc.chain(Y.astype(np.float32), [(D.astype(np.float32), pc.L0Ball(3))]), method="omp")
    ref = pc.solve(pc.chain(Y, [(D, pc.L0Ball(3))]), method="omp")
    assert res.x.dtype == np.float32 and ref.x.dtype == np.float64
    np.testing.assert_array_equal(res.x != 0, ref.x != 0)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-4)
    assert np.isclose(res.objective, ref.objective, rtol=1e-4, atol=1e-6)


def test_omp_batch_shapes_and_caller_arrays_untouched(rng):
    D = frozen(unit_norm_dictionary(rng, 16, 32))
    Y = frozen(rng.standard_normal((16, 3, 4)))
    res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(2))]), method="omp")
    assert res.x.shape == (32, 3, 4) and res.signal_converged.shape == (3, 4)
    flat = pc.solve(pc.chain(Y.reshape(16, 12), [(D, pc.L0Ball(2))]), method="omp")
    np.testing.assert_array_equal(res.x.reshape(32, 12), flat.x)
    single = pc.solve(pc.chain(Y[:, 1, 2], [(D, pc.L0Ball(2))]), method="omp")
    np.testing.assert_allclose(single.x, res.x[:, 1, 2], atol=1e-14)


def test_omp_normalises_atoms_and_rescales(rng):
    D = unit_norm_dictionary(rng, 20, 40)
    scale = rng.uniform(0.1, 10, 40)
    Y = rng.standard_normal((20, 5))
    unit = pc.solve(pc.chain(Y, [(D, pc.L0Ball(4))]), method="omp")
    scaled = pc.solve(pc.chain(Y, [(D * scale, pc.L0Ball(4))]), method="omp")
    np.testing.assert_allclose(scaled.x, unit.x / scale[:, None], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("jit", [True, False])
def test_omp_linear_dependence_warns_and_stays_finite(jit):
    delta = 1e-9
    D = np.array([[1.0, 1.0], [0.0, delta]]) / np.array([1.0, np.hypot(1.0, delta)])
    with pytest.warns(RuntimeWarning, match="linear dependence"):
        res = pc.solve(pc.chain(np.array([3.0, 2.0]), [(D, pc.L0Ball(2))]), method="omp", jit=jit)
    assert np.all(np.isfinite(res.x)) and np.count_nonzero(res.x) == 1
    assert not res.converged and "linearly" in res.message


def test_omp_exact_fit_stops_early(rng):
    D = unit_norm_dictionary(rng, 16, 32)
    x = np.zeros(32)
    x[[2, 9]] = [1.0, -1.5]
    res = pc.solve(pc.chain(D @ x, [(D, pc.L0Ball(6))]), method="omp")
    assert res.n_iter == 2 and res.converged
    np.testing.assert_allclose(res.x, x, atol=1e-12)
    zero = pc.solve(pc.chain(np.zeros(16), [(D, pc.L0Ball(3))]), method="omp")
    assert zero.n_iter == 0 and np.all(zero.x == 0) and zero.converged


def test_omp_bad_input():
    D = np.eye(3)
    y = np.ones(3)
    with pytest.raises(pc.InvalidParameterError, match="L0Ball"):
        pc.solve(pc.chain(y, [(D, pc.L1(0.1))]), method="omp")
    with pytest.raises(pc.InvalidParameterError, match="'tol'"):
        pc.solve(pc.chain(y, [(D, pc.L0Ball(1))]), method="omp", tol=-1.0)
    with pytest.raises(pc.InvalidParameterError, match="'jit'"):
        pc.solve(pc.chain(y, [(D, pc.L0Ball(1))]), method="omp", jit="yes")
    with pytest.raises(pc.InvalidParameterError, match="atom 1 .*zero norm"):
        pc.solve(pc.chain(y, [(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), pc.L0Ball(1))]), method="omp")
    with pytest.raises(pc.InvalidParameterError, match="one-layer"):
        pc.solve(pc.chain(y, [(D, pc.Zero()), (D, pc.L0Ball(1))]), method="omp")
    with pytest.raises(pc.InvalidParameterError, match="'problem'"):
        pc.pursuit("omp")("not a problem")


# ------------------------------------------------------------------ ORMP (forward selection)
def forward_selection(D, y, s):
    """ORMP written out: at every step, the atom whose least-squares fit with the chosen ones is best."""
    chosen = []
    for _ in range(s):
        best, best_r = None, np.inf
        for j in range(D.shape[1]):
            if j in chosen:
                continue
            B = D[:, chosen + [j]]
            r = np.linalg.norm(y - B @ np.linalg.lstsq(B, y, rcond=None)[0])
            if r < best_r - 1e-12:
                best, best_r = j, r
        chosen.append(best)
    x = np.zeros(D.shape[1])
    x[chosen] = np.linalg.lstsq(D[:, chosen], y, rcond=None)[0]
    return x


@pytest.mark.parametrize("seed", range(4))
def test_ormp_is_forward_selection(seed):
    rng = np.random.default_rng(seed)
    D = unit_norm_dictionary(rng, 12, 30)
    Y = D[:, :5] @ rng.standard_normal((5, 6)) + 0.3 * rng.standard_normal((12, 6))
    res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(4))]), method="ormp")
    for j in range(Y.shape[1]):
        ref = forward_selection(D, Y[:, j], 4)
        np.testing.assert_array_equal(np.flatnonzero(res.x[:, j]), np.flatnonzero(ref))
        np.testing.assert_allclose(res.x[:, j], ref, atol=1e-10)
    history = res.history["objective"]
    assert np.all(np.diff(history) <= 1e-12 * history[0]) and np.isclose(history[-1], res.objective, rtol=1e-10)


def test_ormp_residual_never_above_omp_after_the_same_first_step(rng):
    # the first atom is the same (q = 1 for every atom); from then on ORMP's step is the best one
    D = unit_norm_dictionary(rng, 10, 40)
    Y = rng.standard_normal((10, 200))
    one = [pc.solve(pc.chain(Y, [(D, pc.L0Ball(1))]), method=m).x for m in ("omp", "ormp")]
    np.testing.assert_array_equal(one[0], one[1])
    two = {m: pc.solve(pc.chain(Y, [(D, pc.L0Ball(2))]), method=m).x for m in ("omp", "ormp")}
    r = {m: np.linalg.norm(Y - D @ x, axis=0) for m, x in two.items()}
    assert np.all(r["ormp"] <= r["omp"] + 1e-12) and np.any(r["ormp"] < r["omp"] - 1e-6)


def test_ormp_twin_dtypes_tolerance_and_bad_input(rng):
    D = unit_norm_dictionary(rng, 16, 40) * rng.uniform(0.5, 2.0, 40)  # unnormalised atoms are rescaled
    Y = frozen(rng.standard_normal((16, 8)))
    for dt in (np.float64, np.float32):
        problem = pc.chain(Y.astype(dt), [(D.astype(dt), pc.L0Ball(5))])
        a, b = pc.solve(problem, method="ormp"), pc.solve(problem, method="ormp", jit=False)
        assert a.x.dtype == b.x.dtype == dt
        np.testing.assert_array_equal(a.x, b.x)  # the twin is the same source
    ref = np.stack([forward_selection(D / np.linalg.norm(D, axis=0), y, 5) for y in Y.T], axis=1)
    x64 = pc.solve(pc.chain(Y, [(D, pc.L0Ball(5))]), method="ormp").x
    np.testing.assert_allclose(x64 * np.linalg.norm(D, axis=0)[:, None], ref, atol=1e-10)
    tol = 0.5 * float(np.linalg.norm(Y, axis=0).min())
    res = pc.solve(pc.chain(Y, [(D, pc.Zero())]), method="ormp", tol=tol)
    assert np.all(np.linalg.norm(Y - D @ res.x, axis=0) <= tol + 1e-12) and res.converged
    with pytest.raises(pc.InvalidParameterError, match="ormp"):
        pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method="ormp")
    with pytest.raises(pc.InvalidParameterError, match="'tol'.*ormp"):
        pc.solve(pc.chain(Y, [(D, pc.L0Ball(2))]), method="ormp", tol=-1.0)


@pytest.mark.parametrize("jit", [True, False])
def test_ormp_linear_dependence_and_exact_fit(jit, rng):
    delta = 1e-12
    D = np.array([[1.0, 1.0], [0.0, delta]]) / np.array([1.0, np.hypot(1.0, delta)])
    with pytest.warns(RuntimeWarning, match="linear dependence"):
        res = pc.solve(pc.chain(np.array([3.0, 2.0]), [(D, pc.L0Ball(2))]), method="ormp", jit=jit)
    assert np.all(np.isfinite(res.x)) and np.count_nonzero(res.x) == 1 and not res.converged
    D = unit_norm_dictionary(rng, 16, 32)
    x = np.zeros(32)
    x[[2, 9]] = [1.0, -1.5]
    exact = pc.solve(pc.chain(D @ x, [(D, pc.L0Ball(6))]), method="ormp", jit=jit)
    assert exact.n_iter == 2 and exact.converged
    np.testing.assert_allclose(exact.x, x, atol=1e-12)


def test_ormp_is_what_spams_calls_omp(rng):
    spams = pytest.importorskip("spams")
    D = unit_norm_dictionary(rng, 20, 60)
    Y = D[:, :6] @ rng.standard_normal((6, 300))
    ours = pc.solve(pc.chain(Y, [(D, pc.L0Ball(5))]), method="ormp").x
    theirs = spams.omp(np.asfortranarray(Y), np.asfortranarray(D), L=5, numThreads=1).toarray()
    np.testing.assert_array_equal(ours != 0, theirs != 0)
    np.testing.assert_allclose(ours, theirs, atol=1e-8)


# ------------------------------------------------------------------ IHT
def iht_instance(seed, n=48, m=96, N=12, s=3, noise=0.0):
    rng = np.random.default_rng(seed)
    D = unit_norm_dictionary(rng, n, m)
    X = np.zeros((m, N))
    for j in range(N):
        X[rng.choice(m, s, replace=False), j] = rng.choice([-1, 1], s) * rng.uniform(1, 2, s)
    return D, X, D @ X + noise * rng.standard_normal((n, N))


@pytest.mark.filterwarnings("ignore::proxcore.ConvergenceWarning")  # the fixed step is slow; monotone all the same
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fixed", [False, True])
def test_iht_is_s_sparse_and_monotone(seed, fixed):
    D, X, Y = iht_instance(seed, noise=0.1)
    step = 1 / np.linalg.norm(D, 2) ** 2 if fixed else None
    objectives = []
    res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(5))]), method="iht", step=step, max_iter=200, tol=1e-10,
                   callback=lambda state: objectives.append(state.objective))
    assert np.all(np.count_nonzero(res.x, axis=0) <= 5)
    history = res.history["objective"]
    np.testing.assert_allclose(history, objectives)
    start = 0.5 * np.sum(Y * Y)
    assert np.all(np.diff(np.concatenate([[start], history])) <= 1e-12 * start)
    assert np.isclose(res.objective, 0.5 * np.sum((Y - D @ res.x) ** 2))


def test_iht_fixed_point_with_fixed_step():
    D, X, Y = iht_instance(4, noise=0.05)
    t = 1 / np.linalg.norm(D, 2) ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pc.ConvergenceWarning)
        res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(3))]), method="iht", step=t, max_iter=5000, tol=1e-13)
    np.testing.assert_allclose(keep_largest(res.x + t * D.T @ (Y - D @ res.x), 3), res.x, atol=1e-9)


@pytest.mark.parametrize("seed", [5, 6])
def test_iht_recovers_a_sparse_code(seed):
    D, X, Y = iht_instance(seed, n=64, m=128, N=10, s=3)
    res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(3))]), method="iht", max_iter=1000, tol=1e-12)
    np.testing.assert_array_equal(res.x != 0, X != 0)
    np.testing.assert_allclose(res.x, X, atol=1e-8)


def test_iht_float32_and_bad_input():
    D, X, Y = iht_instance(7)
    res = pc.solve(pc.chain(Y.astype(np.float32), [(D.astype(np.float32), pc.L0Ball(3))]), method="iht",
                   max_iter=50, tol=1e-4)
    assert res.x.dtype == np.float32
    problem = pc.chain(Y, [(D, pc.L0Ball(3))])
    with pytest.raises(pc.InvalidParameterError, match="'step'.*1/L"):
        pc.solve(problem, method="iht", step=1.5 / np.linalg.norm(D, 2) ** 2)
    with pytest.raises(pc.InvalidParameterError, match="'x0'"):
        pc.solve(problem, method="iht", x0=np.zeros(3))
    with pytest.raises(pc.InvalidParameterError, match="L0Ball"):
        pc.solve(pc.chain(Y, [(D, pc.L1(1.0))]), method="iht")
    with pytest.raises(pc.InvalidParameterError, match="'max_iter'"):
        pc.solve(problem, method="iht", max_iter=0)


def test_iht_x0_is_projected_and_not_modified():
    D, X, Y = iht_instance(8)
    x0 = frozen(np.ones(X.shape))
    res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(3))]), method="iht", x0=x0, max_iter=300, tol=1e-12)
    assert np.all(np.count_nonzero(res.x, axis=0) <= 3) and np.all(x0 == 1)


# ------------------------------------------------------------------ thresholding and layered pursuits
def test_thresholding_closed_forms(rng):
    D = unit_norm_dictionary(rng, 10, 20)
    Y = rng.standard_normal((10, 6))
    C = D.T @ Y
    np.testing.assert_array_equal(pc.solve(pc.chain(Y, [(D, pc.L1(0.3))]), method="thresholding").x, soft(C, 0.3))
    np.testing.assert_allclose(pc.solve(pc.chain(Y, [(D, pc.L1(0.3, nonneg=True))]), method="thresholding").x,
                               np.maximum(C - 0.3, 0))
    np.testing.assert_array_equal(pc.solve(pc.chain(Y, [(D, pc.L0Ball(4))]), method="thresholding").x,
                                  keep_largest(C, 4))
    res32 = pc.solve(pc.chain(Y.astype(np.float32), [(D.astype(np.float32), pc.L1(0.3))]), method="thresholding")
    assert res32.x.dtype == np.float32 and res32.n_iter == 1 and res32.converged
    with pytest.raises(pc.InvalidParameterError, match="one-layer"):
        pc.solve(pc.chain(Y, [(D, pc.L1(0.1)), (np.eye(20), pc.L1(0.1))]), method="thresholding")
    with pytest.raises(pc.InvalidParameterError, match="no options.*'tol'"):
        pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method="thresholding", tol=1e-3)


def test_layered_thresholding_is_the_relu_network(rng):
    D1, D2, D3 = rng.standard_normal((12, 20)), rng.standard_normal((20, 30)), rng.standard_normal((30, 8))
    lam = [0.5, 1.0, 0.2]
    Y = rng.standard_normal((12, 5))
    problem = pc.chain(Y, [(D1, pc.L1(lam[0], nonneg=True)), (D2, pc.L1(lam[1], nonneg=True)),
                           (D3, pc.L1(lam[2], nonneg=True))])
    res = pc.solve(problem, method="layered-thresholding")
    g1 = np.maximum(D1.T @ Y - lam[0], 0)  # ReLU(Dᵀγ + b), b = −λ
    g2 = np.maximum(D2.T @ g1 - lam[1], 0)
    g3 = np.maximum(D3.T @ g2 - lam[2], 0)
    for got, want in zip(res.codes, (g1, g2, g3)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert res.x is res.codes[-1]


def test_layered_bp_on_orthonormal_layers_is_soft_thresholding_twice(rng):
    D1 = pc.dictionary("dct", n=16)
    Q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    Y = rng.standard_normal((16, 4))
    problem = pc.chain(Y, [(D1, pc.L1(0.3)), (Q, pc.L1(0.2))])
    res = pc.solve(problem, method="layered-bp", tol=1e-12)
    g1 = soft(D1.array.T @ Y, 0.3)
    np.testing.assert_allclose(res.codes[0], g1, atol=1e-10)
    np.testing.assert_allclose(res.x, soft(Q.T @ g1, 0.2), atol=1e-10)
    assert res.converged and len(res.history["layer_objective"]) == 2
    assert len(res.history["objective"]) == len(res.history["layer"]) == res.n_iter
    one = pc.chain(Y, [(Q, pc.L1(0.2))])
    inner = pc.solve(one, method="fista", tol=1e-10)
    np.testing.assert_array_equal(pc.solve(one, method="layered-bp", tol=1e-10).history["objective"],
                                  inner.history["objective"])
    omp_bp = pc.solve(pc.chain(Y, [(D1, pc.L0Ball(3))]), method="layered-bp", inner="omp")
    np.testing.assert_allclose(omp_bp.x, pc.solve(pc.chain(Y, [(D1, pc.L0Ball(3))]), method="omp").x)


@pytest.mark.parametrize("name", ["proxcore_pursuits", "proxcore_pursuits.omp", "proxcore_pursuits.iht",
                                  "proxcore_pursuits.layered", "proxcore_pursuits.lasso"])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


# ------------------------------------------------------------------ coordinate descent (cd)
from proxcore.certificates import lam_max, lasso_duality_gap  # noqa: E402
from sklearn.linear_model import Lasso  # noqa: E402


def lasso_instance(seed, n=30, m=60, N=8):
    rng = np.random.default_rng(seed)
    D = unit_norm_dictionary(rng, n, m)
    X = np.zeros((m, N))
    for j in range(N):
        X[rng.choice(m, 4, replace=False), j] = rng.standard_normal(4)
    return D, D @ X + 0.05 * rng.standard_normal((n, N))


@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_cd_agrees_with_scikit_learn_and_certifies(seed, nonneg):
    D, Y = lasso_instance(seed)
    lam, n = 0.1, D.shape[0]
    problem = pc.chain(Y, [(D, pc.L1(lam, nonneg=nonneg))])
    res = pc.solve(problem, method="cd", tol=1e-12, max_iter=5000)
    assert res.converged
    gap = lasso_duality_gap(D, Y, res.x, lam, nonneg=nonneg)  # recomputed from scratch
    assert np.all(gap <= 1e-12 * (Y * Y).sum(axis=0) * (1 + 1e-6) + 1e-14)
    np.testing.assert_allclose(res.gap, gap, rtol=1e-6, atol=1e-12)
    sk = Lasso(alpha=lam / n, fit_intercept=False, tol=1e-14, max_iter=100_000, positive=nonneg).fit(D, Y)
    reference = problem.objective(sk.coef_.T)
    assert abs(res.objective - reference) <= 1e-8 * reference
    history = res.history["objective"]
    assert len(history) == res.n_iter and np.all(np.diff(history) <= 1e-12 * history[0])  # CD is monotone


def test_cd_numba_and_numpy_agree():
    D, Y = lasso_instance(2)
    weights = np.linspace(0.05, 0.2, D.shape[1])  # per-atom weights
    for dt in (np.float64, np.float32):
        problem = pc.chain(Y.astype(dt), [(D.astype(dt), pc.L1(weights))])
        tol = 1e-5 if dt == np.float32 else 1e-8  # a relative gap below float32's eps is out of reach
        a = pc.solve(problem, method="cd", tol=tol)
        b = pc.solve(problem, method="cd", tol=tol, jit=False)
        assert a.x.dtype == b.x.dtype == dt and a.n_iter == b.n_iter
        np.testing.assert_allclose(a.x, b.x, rtol=1e-4 if dt == np.float32 else 1e-10,
                                   atol=1e-5 if dt == np.float32 else 1e-12)




@pytest.mark.parametrize("jit", [True, False])
def test_cd_history_of_a_batch_is_the_sum_of_its_signals_histories(jit):
    """Each signal run alone gives its own history; the batch's, after sweep ``k``, is their sum, a signal that
    stopped contributing its final value (max_iter far above what is used: the kernel reads only what it wrote)."""
    import numba

    D, Y = lasso_instance(3, N=7)
    lam = pc.L1(0.1)
    alone = [pc.solve(pc.chain(Y[:, j], [(D, lam)]), method="cd", tol=1e-10, max_iter=10**6).history["objective"]
             for j in range(Y.shape[1])]
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))  # chunks of 3 and 4 signals where there are two
    try:
        res = pc.solve(pc.chain(Y, [(D, lam)]), method="cd", tol=1e-10, max_iter=10**6, jit=jit)
    finally:
        numba.set_num_threads(before)
    n = max(map(len, alone))
    assert len({len(h) for h in alone}) > 1 and res.n_iter == n  # the signals stop at different sweeps
    expected = sum(np.concatenate([h, np.full(n - len(h), h[-1])]) for h in alone)
    np.testing.assert_allclose(res.history["objective"], expected, rtol=1e-12)
@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cd_objective_from_the_residual(dtype, nonneg):
    # the reported objective is ½‖y − Dx‖² + Σλ_i|x_i| at the returned x, to float64 rounding, also where the
    # residual is tiny (an exact fit, small λ), where the Gram form ½(‖y‖² − 2bᵀx + xᵀGx) cancels
    rng = np.random.default_rng(7)
    D = unit_norm_dictionary(rng, 30, 60)
    X = np.zeros((60, 6))
    for j in range(6):
        X[rng.choice(60, 4, replace=False), j] = np.abs(rng.standard_normal(4)) + 1
    weights = np.linspace(1e-2, 2e-2, 60)
    problem = pc.chain((D @ X).astype(dtype), [(D.astype(dtype), pc.L1(weights, nonneg=nonneg))])
    res = pc.solve(problem, method="cd", tol=1e-12 if dtype == np.float64 else 1e-6)
    x, D64, Y64 = (a.astype(dtype).astype(np.float64) for a in (res.x, D, D @ X))
    r = Y64 - D64 @ x
    expected = 0.5 * np.sum(r * r) + np.sum(weights[:, None] * np.abs(x))
    assert expected < 0.05 * 0.5 * np.sum(Y64 * Y64)  # the regime where the Gram form loses digits
    assert res.objective == pytest.approx(expected, rel=1e-13)


def test_cd_exact_zero_above_lam_max():
    D, Y = lasso_instance(3)
    lam = float(np.max(lam_max(D, Y)))
    res = pc.solve(pc.chain(Y, [(D, pc.L1(lam))]), method="cd")
    assert np.all(res.x == 0) and res.n_iter == 1 and res.converged and np.all(res.gap == 0)


def test_cd_warm_start_and_bad_input():
    D, Y = lasso_instance(4)
    problem = pc.chain(Y, [(D, pc.L1(0.1))])
    res = pc.solve(problem, method="cd", tol=1e-10)
    x0 = frozen(res.x)
    again = pc.solve(problem, method="cd", tol=1e-10, x0=x0)
    assert again.converged and again.n_iter <= 2 and again.n_iter < res.n_iter / 4  # one sweep, or two for the inner tolerance
    with pytest.raises(pc.InvalidParameterError, match="pc.L1"):
        pc.solve(pc.chain(Y, [(D, pc.L0Ball(2))]), method="cd")
    with pytest.raises(pc.InvalidParameterError, match="'x0'"):
        pc.solve(problem, method="cd", x0=np.zeros(3))
    with pytest.raises(pc.InvalidParameterError, match="'tol'"):
        pc.solve(problem, method="cd", tol=-1.0)
    with pytest.warns(pc.ConvergenceWarning, match="sweeps"):
        short = pc.solve(problem, method="cd", tol=0.0, max_iter=2)
    assert not short.converged and short.n_iter == 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("shape", [(30, 60, 4), (40, 600, 1)])  # the whole Gram; sets of atoms (m ≥ 128 N)
def test_cd_solves_unpenalised_atoms_out_and_certifies(shape, jit, dtype):
    """λ_i = 0 on some atoms: the optimum of cvxpy (Clarabel), a gap from scratch below the tolerance (before:
    no certificate, and every sweep run on the first working set)."""
    n, m, N = shape
    rng = np.random.default_rng(21)
    D = unit_norm_dictionary(rng, n, m)
    _, Y = sparse_signals(rng, D, N, 4, noise=0.05)
    lam = np.full(m, 0.1)
    lam[[2, 11, 40]] = 0
    tol = 1e-5 if dtype == np.float32 else 1e-12
    x0 = frozen(np.full((m, N), 0.01, dtype=dtype))
    res = pc.solve(pc.chain(Y.astype(dtype), [(D.astype(dtype), pc.L1(lam))]), method="cd", tol=tol, x0=x0)
    assert res.converged and res.x.dtype == dtype and np.all(x0 == 0.01)
    yy = np.sum(Y * Y, axis=0)
    gap = lasso_duality_gap(D, Y, res.x.astype(np.float64), lam)
    assert np.all(gap <= tol * yy * 1.01 + (1e-5 if dtype == np.float32 else 1e-13))
    f_star = sum(cvxpy_lasso_optimum(D, Y[:, j], lam)[0] for j in range(N))
    assert res.objective == pytest.approx(f_star, rel=1e-5 if dtype == np.float32 else 1e-9)


def test_cd_with_every_atom_unpenalised_is_least_squares():
    rng = np.random.default_rng(22)
    D, Y = rng.standard_normal((30, 12)), rng.standard_normal((30, 5))
    res = pc.solve(pc.chain(Y, [(D, pc.L1(0.0))]), method="cd")
    assert res.converged and np.all(res.gap == 0)
    np.testing.assert_allclose(res.x, np.linalg.lstsq(D, Y, rcond=None)[0], rtol=1e-10, atol=1e-12)


def test_cd_refuses_unpenalised_non_negative_atoms():
    D, Y = lasso_instance(5)
    lam = np.full(D.shape[1], 0.1)
    lam[3] = 0
    with pytest.raises(pc.InvalidParameterError, match="'lam'.*fista"):
        pc.solve(pc.chain(Y, [(D, pc.L1(lam, nonneg=True))]), method="cd")


@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, np.inf]), min_size=1, max_size=40), st.data())
def test_cd_working_set_selection_takes_the_largest_scores(scores, data):
    """The working set's selection: the q largest scores, largest first, ties to the lower index (ties and
    infinite scores included): the first q entries of a stable sort."""
    from proxcore_pursuits import _cd_kernels

    score = np.array(scores)
    q = data.draw(st.integers(1, score.size))
    order = np.full(score.size, -1, dtype=np.int64)
    best = np.empty(score.size)
    _cd_kernels._top(score, order, q, best)
    expected = np.argsort(-score, kind="stable")[:q]
    np.testing.assert_array_equal(order[:q], expected)
    np.testing.assert_array_equal(best[:q], score[expected])


def test_cd_finishes_with_the_exact_solve_on_the_support():
    """Once CD has the support, the Cholesky solve on it ends the run: the LARS solution to rounding, in far
    fewer sweeps than cyclic CD alone (178 at most on this instance, with the solve switched off)."""
    D, Y = lasso_instance(5, N=20)
    problem = pc.chain(Y, [(D, pc.L1(0.1))])
    res = pc.solve(problem, method="cd", tol=1e-13, max_iter=5000)
    exact = pc.solve(problem, method="lars")
    np.testing.assert_allclose(res.x, exact.x, atol=1e-10)
    assert res.n_iter <= 30

def test_cd_exact_solve_survives_shrinking_supports_and_dependent_atoms(rng):
    """The exact solve's Cholesky factor is kept between solves (its prefix still in the support, new atoms
    appended): from a dense warm start whose support shrinks, and with a duplicated atom (a factor that cannot
    be extended), cd still ends at the Lasso optimum, certified, with LARS' objective."""
    D, Y = lasso_instance(6, N=12)
    problem = pc.chain(Y, [(D, pc.L1(0.1))])
    exact = pc.solve(problem, method="lars")
    x0 = rng.standard_normal(exact.x.shape)  # every atom in the first support
    warm = pc.solve(problem, method="cd", tol=1e-13, max_iter=5000, x0=x0)
    assert warm.converged
    np.testing.assert_allclose(warm.x, exact.x, atol=1e-10)
    twin = np.hstack([D, D[:, :1]])  # atom 0 twice: G_SS is singular once both are in the support
    doubled = pc.chain(Y, [(twin, pc.L1(0.1))])
    for jit in (True, False):
        res = pc.solve(doubled, method="cd", tol=1e-12, max_iter=5000, x0=np.vstack([x0, x0[:1]]), jit=jit)
        assert res.converged and np.all(res.gap <= 1e-12 * (Y * Y).sum(axis=0))
        assert res.objective == pytest.approx(exact.objective, rel=1e-10)


def wide_lasso_instance(seed, N, n=40, m=400):
    """A few signals on a wide dictionary: cd's sets-of-atoms regime (N ≤ m/128)."""
    rng = np.random.default_rng(seed)
    D = unit_norm_dictionary(rng, n, m)
    X = np.zeros((m, N))
    X[rng.choice(m, 6, replace=False)] = rng.standard_normal((6, N))
    return D, D @ X + 0.05 * rng.standard_normal((n, N))


@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("N", [1, 3])
def test_cd_on_sets_of_atoms_is_certified_and_never_forms_the_whole_gram(N, nonneg, monkeypatch):
    """A few signals on a wide D: the kernel sees Grams of fewer atoms than D has, and the result is LARS'
    optimum, certified by the whole problem's gap recomputed from scratch, with a monotone history."""
    from proxcore_pursuits import lasso

    D, Y = wide_lasso_instance(8 + N, N)
    weights = np.linspace(0.05, 0.2, D.shape[1])
    problem = pc.chain(Y, [(D, pc.L1(weights, nonneg=nonneg))])
    sizes = []
    kernel = lasso.kernels.lasso_cd

    def spy(G, *args):
        sizes.append(G.shape[0])
        return kernel(G, *args)

    monkeypatch.setattr(lasso.kernels, "lasso_cd", spy)
    res = pc.solve(problem, method="cd", tol=1e-12, max_iter=5000)
    assert sizes and max(sizes) < D.shape[1]
    assert res.converged
    gap = lasso_duality_gap(D, Y, res.x, weights, nonneg=nonneg)
    assert np.all(gap <= 1e-12 * (Y * Y).sum(axis=0) * (1 + 1e-6) + 1e-14)
    np.testing.assert_allclose(res.gap, gap, rtol=1e-6, atol=1e-13)
    exact = pc.solve(problem, method="lars")
    assert res.objective == pytest.approx(exact.objective, rel=1e-10)
    np.testing.assert_allclose(res.x, exact.x, atol=1e-8)
    history = res.history["objective"]
    assert len(history) == res.n_iter and np.all(np.diff(history) <= 1e-12 * history[0])
    assert history[-1] == pytest.approx(res.objective, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cd_on_sets_of_atoms_numba_numpy_warm_start_and_max_iter(dtype):
    D, Y = wide_lasso_instance(12, 2)
    problem = pc.chain(Y.astype(dtype), [(D.astype(dtype), pc.L1(0.1))])
    tol = 1e-5 if dtype == np.float32 else 1e-10
    a = pc.solve(problem, method="cd", tol=tol)
    b = pc.solve(problem, method="cd", tol=tol, jit=False)
    assert a.converged and a.x.dtype == b.x.dtype == dtype and a.n_iter == b.n_iter
    np.testing.assert_allclose(a.x, b.x, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
    x0 = frozen(a.x)
    again = pc.solve(problem, method="cd", tol=tol, x0=x0)  # the support starts in the set: one round
    assert again.converged and again.n_iter <= 2
    with pytest.warns(pc.ConvergenceWarning, match="sweeps"):
        short = pc.solve(problem, method="cd", tol=0.0, max_iter=3)
    assert not short.converged and short.n_iter == len(short.history["objective"]) <= 3


# ------------------------------------------------------------------ LARS homotopy (lars)
from sklearn.linear_model import LassoLars  # noqa: E402


@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_lars_is_exact_and_agrees_with_scikit_learn(seed, nonneg):
    D, Y = lasso_instance(seed)
    lam, n = 0.1, D.shape[0]
    problem = pc.chain(Y, [(D, pc.L1(lam, nonneg=nonneg))])
    res = pc.solve(problem, method="lars")
    assert res.converged and len(res.history["objective"]) == res.n_iter
    gap = lasso_duality_gap(D, Y, res.x, lam, nonneg=nonneg)
    assert np.all(gap <= 1e-11 * (Y * Y).sum(axis=0))  # the exact solution, up to rounding
    sk = LassoLars(alpha=lam / n, fit_intercept=False, positive=nonneg).fit(D, Y)
    np.testing.assert_allclose(res.x, sk.coef_.T, atol=1e-9)
    cd = pc.solve(problem, method="cd", tol=1e-14, max_iter=20_000)
    np.testing.assert_allclose(res.x, cd.x, atol=1e-6)
    assert np.isclose(res.history["objective"][-1], res.objective, rtol=1e-10)


def test_lars_python_twin_weights_and_edge_cases():
    D, Y = lasso_instance(5, N=4)
    weights = np.linspace(0.05, 0.3, D.shape[1])
    problem = pc.chain(Y, [(D, pc.L1(weights))])
    a = pc.solve(problem, method="lars")
    b = pc.solve(problem, method="lars", jit=False)
    np.testing.assert_allclose(a.x, b.x, rtol=1e-12, atol=1e-14)
    assert np.all(a.gap <= 1e-11 * (Y * Y).sum(axis=0))
    lam = float(np.max(lam_max(D, Y)))
    zero = pc.solve(pc.chain(Y, [(D, pc.L1(lam))]), method="lars")
    assert np.all(zero.x == 0) and zero.n_iter == 0 and zero.converged
    f32 = pc.solve(pc.chain(Y.astype(np.float32), [(D.astype(np.float32), pc.L1(0.1))]), method="lars")
    ref = pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method="lars")
    assert f32.x.dtype == np.float32 and np.isclose(f32.objective, ref.objective, rtol=1e-5)
    with pytest.raises(pc.InvalidParameterError, match="positive.*'cd'"):
        pc.solve(pc.chain(Y, [(D, pc.L1(np.r_[0.0, weights[1:]]))]), method="lars")
    with pytest.raises(pc.InvalidParameterError, match="pc.L1"):
        pc.solve(pc.chain(Y, [(D, pc.L0Ball(2))]), method="lars")
    with pytest.warns(pc.ConvergenceWarning):
        assert not pc.solve(problem, method="lars", max_iter=1).converged


# ------------------------------------------------------------------ numba hygiene and adversarial inputs
def _blas_threads():
    """The thread count of every loaded BLAS (a sequential build reports 1 whatever it is asked)."""
    from threadpoolctl import threadpool_info

    return [(i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
def test_serial_blas_limits_a_blas_loaded_after_its_first_use(monkeypatch):
    # a controller made before an import that brought a BLAS of its own (scipy.linalg does) knows nothing of it
    from threadpoolctl import ThreadpoolController, threadpool_limits
    from proxcore_pursuits import _common

    before = numba.get_num_threads()
    stale = ThreadpoolController().select(filepath="no such library")  # what a scan before any BLAS had seen
    assert not stale.lib_controllers
    try:
        numba.set_num_threads(2)
        with threadpool_limits(2, user_api="blas"):
            outside = _blas_threads()
            assert any(n == 2 for _, n in outside)
            monkeypatch.setattr(_common, "_blas", (stale, len(sys.modules) - 1))  # modules were imported since
            with _common.serial_blas():
                assert all(n == 1 for _, n in _blas_threads())
            assert _blas_threads() == outside
            current = _common._blas
            assert current[0] is not stale and current[1] == len(sys.modules)
            with _common.serial_blas():  # nothing imported since: the same controller, no second scan
                assert _common._blas is current
    finally:
        numba.set_num_threads(before)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
def test_products_around_a_parallel_kernel_run_on_one_blas_thread(monkeypatch):
    # idle BLAS and OpenMP workers spin for a while and slow what runs next on their cores
    from threadpoolctl import threadpool_limits
    from proxcore_pursuits import _common, lasso

    def serial():
        return all(n == 1 for _, n in _blas_threads())

    before = numba.get_num_threads()
    try:
        with threadpool_limits(2, user_api="blas"):
            outside = _blas_threads()
            assert any(n == 2 for _, n in outside)  # something to limit
            numba.set_num_threads(2)
            with _common.serial_blas():
                assert serial()
            assert _blas_threads() == outside  # restored
            with pytest.raises(KeyError), _common.serial_blas():
                raise KeyError  # restored on an error too
            assert _blas_threads() == outside
            with _common.serial_blas(jit=False):  # the Python twin: nothing to protect
                assert _blas_threads() == outside
            numba.set_num_threads(1)
            with _common.serial_blas():  # one numba thread: nothing to protect
                assert _blas_threads() == outside
            numba.set_num_threads(2)
            seen = []

            @contextlib.contextmanager
            def spy(jit=True):
                with _common.serial_blas(jit):
                    seen.append(serial())
                    yield

            monkeypatch.setattr(lasso, "serial_blas", spy)
            D, Y = lasso_instance(5)
            for method in ("cd", "lars"):
                pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method=method)
            assert seen == [True, True]
    finally:
        numba.set_num_threads(before)


def test_kernels_compile_at_most_two_signatures(rng):
    from proxcore_pursuits import _cd_kernels, _lars_kernels, _omp_kernels

    D = unit_norm_dictionary(rng, 12, 24)
    Y = rng.standard_normal((12, 5))
    for dt in (np.float64, np.float32):
        for layout in (np.ascontiguousarray, np.asfortranarray, lambda a: frozen(a)[:, ::1]):
            Dl, Yl = layout(D.astype(dt)), layout(Y.astype(dt))
            for method, reg in (("omp", pc.L0Ball(3)), ("cd", pc.L1(0.1)), ("lars", pc.L1(0.1))):
                res = pc.solve(pc.chain(Yl, [(Dl, reg)]), method=method)
                assert res.x.dtype == dt
    def signatures(kernel):  # none under NUMBA_DISABLE_JIT=1, where a kernel is its plain Python function
        return getattr(kernel, "signatures", ())

    assert len(signatures(_omp_kernels._compiled)) <= 2
    assert len(signatures(_cd_kernels._compiled)) <= 2, signatures(_cd_kernels._compiled)
    assert len(signatures(_lars_kernels._compiled)) <= 1  # the path runs in float64 whatever the input


FIRST_CALLS = """
import numpy as np, proxcore as pc
rng = np.random.default_rng(0)
D, Y = rng.standard_normal((12, 24)), rng.standard_normal((12, 3))
for dt in (np.float64, np.float32):
    for method, reg in (("omp", pc.L0Ball(3)), ("ormp", pc.L0Ball(3)), ("fista", pc.L1(0.1))):
        pc.solve(pc.chain(Y.astype(dt), [(D.astype(dt), reg)]), method=method)
"""


def test_kernels_load_from_the_disk_cache_in_a_new_process(tmp_path):
    """A second process finds every kernel the first compiled in numba's disk cache (no new entry): kernels
    defined inside a function would recompile in every process, their closures differing."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_DISABLE_JIT": "0"}

    def run_and_list():
        subprocess.run([sys.executable, "-c", FIRST_CALLS], check=True, env=env, capture_output=True)
        return sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.nbc"))

    first = run_and_list()
    assert any("_omp_kernels" in str(p) for p in first) and any("_ormp_kernels" in str(p) for p in first)
    assert run_and_list() == first


def test_omp_beyond_the_bound_is_deterministic():
    # a Dirac comb of 8 spikes is also a sum of 8 Hadamard atoms (RELIABILITY P2/T15): no recovery claim,
    # but no crash, finite output, and the same answer every time
    y = np.zeros(N_HAD)
    y[::8] = 1.0
    problem = pc.chain(y, [(SPIKES_HADAMARD, pc.L0Ball(8))])
    first, second = pc.solve(problem, method="omp"), pc.solve(problem, method="omp", jit=False)
    np.testing.assert_array_equal(first.x != 0, second.x != 0)
    assert np.all(np.isfinite(first.x)) and np.count_nonzero(first.x) <= 8
    np.testing.assert_allclose(SPIKES_HADAMARD @ first.x, y, atol=1e-12)


class TwoAxisCodes(pc.LinearOperator):
    """A dense dictionary whose codes have shape (2, m/2): the pursuits flatten signal and code."""

    def __init__(self, A):
        self.A = A
        self.in_shape, self.out_shape = (2, A.shape[1] // 2), (A.shape[0],)

    def apply(self, x):
        return self.A @ x.reshape((-1,) + x.shape[2:])

    def adjoint(self, y):
        return (self.A.T @ y).reshape(self.in_shape + y.shape[1:])


def test_pursuits_accept_operators_with_multi_axis_codes(rng):
    A = unit_norm_dictionary(rng, 16, 32)
    Y = rng.standard_normal((16, 3))
    op = TwoAxisCodes(A)
    for method, reg, options in (("omp", pc.L0Ball(3), {}), ("cd", pc.L1(0.1), {"tol": 1e-12}),
                                 ("lars", pc.L1(0.1), {}), ("iht", pc.L0Ball(3), {"max_iter": 50})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pc.ConvergenceWarning)
            flat = pc.solve(pc.chain(Y, [(A, reg)]), method=method, **options)
            shaped = pc.solve(pc.chain(Y, [(op, reg)]), method=method, **options)
        assert shaped.x.shape == (2, 16, 3)
        np.testing.assert_allclose(shaped.x.reshape(32, 3), flat.x, atol=1e-10)


def test_omp_stops_at_whichever_comes_first_of_s_and_tol(rng):
    D = unit_norm_dictionary(rng, 24, 48)
    Y = rng.standard_normal((24, 30))
    tol = 0.7 * np.sqrt(24)
    res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(5))]), method="omp", tol=tol)
    nnz = np.count_nonzero(res.x, axis=0)
    residual = np.linalg.norm(Y - D @ res.x, axis=0)
    assert np.all(nnz <= 5) and np.all((nnz == 5) | (residual <= tol * (1 + 1e-9)))
    assert np.any(nnz < 5) and np.any(nnz == 5)  # both stopping rules occur on this instance
    by_tol = pc.solve(pc.chain(Y, [(D, pc.Zero())]), method="omp", tol=tol)
    early = nnz < 5
    np.testing.assert_allclose(res.x[:, early], by_tol.x[:, early], atol=1e-12)


def test_kernels_match_with_numba_jit_disabled(tmp_path, rng):
    # the kernels' own source run by the interpreter (NUMBA_DISABLE_JIT=1) gives the compiled results and dtypes
    import os
    import subprocess
    import sys

    D = unit_norm_dictionary(rng, 10, 20)
    Y = rng.standard_normal((10, 4))
    np.save(tmp_path / "D.npy", D)
    np.save(tmp_path / "Y.npy", Y)
    script = f"""
import numpy as np, proxcore as pc
D, Y = np.load({str(tmp_path / 'D.npy')!r}), np.load({str(tmp_path / 'Y.npy')!r})
out = {{}}
for dt in ("float64", "float32"):
    for method, reg in (("omp", pc.L0Ball(3)), ("cd", pc.L1(0.1)), ("lars", pc.L1(0.1))):
        res = pc.solve(pc.chain(Y.astype(dt), [(D.astype(dt), reg)]), method=method)
        out[method + dt] = res.x
np.savez({str(tmp_path / 'out.npz')!r}, **out)
"""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    interpreted = np.load(tmp_path / "out.npz")
    for dt in ("float64", "float32"):
        for method, reg in (("omp", pc.L0Ball(3)), ("cd", pc.L1(0.1)), ("lars", pc.L1(0.1))):
            compiled = pc.solve(pc.chain(Y.astype(dt), [(D.astype(dt), reg)]), method=method).x
            got = interpreted[method + dt]
            assert got.dtype == compiled.dtype == np.dtype(dt)
            np.testing.assert_allclose(got, compiled, rtol=1e-5 if dt == "float32" else 1e-12,
                                       atol=1e-6 if dt == "float32" else 1e-14)


def test_iht_does_not_stall_on_a_least_squares_fit_of_a_wrong_support():
    # at the LS fit on a support, the gradient on that support is 0; a zero normalised step would stall there
    rng = np.random.default_rng(0)
    D = unit_norm_dictionary(rng, 20, 40)
    x = np.zeros(40)
    x[[3, 7]] = [2.0, -1.5]
    y = D @ x
    x0 = np.zeros(40)
    x0[[10, 20]] = np.linalg.lstsq(D[:, [10, 20]], y, rcond=None)[0]
    res = pc.solve(pc.chain(y, [(D, pc.L0Ball(2))]), method="iht", x0=x0, tol=1e-12, max_iter=2000)
    assert res.n_iter > 1 and res.objective < 0.5 * np.sum((y - D @ x0) ** 2)
    np.testing.assert_array_equal(np.flatnonzero(res.x), [3, 7])
