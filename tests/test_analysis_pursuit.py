"""The cosparse analysis model: greedy analysis pursuit (GAP) and its ℓ1 relaxation, against references.

References: the oracle that knows the co-support (``P_{null(Ω_Λ)} y``, a
closed-form projection computed here from an SVD), the recovery condition
of GAP's docstring (``‖w‖ + ε < ½ min_{j∉Λ*} |ω̄_jᵀx|``, checked signal by
signal, no fitted tolerance), cvxpy for the ℓ1 relaxation
``½‖x − y‖² + λ‖Ωx‖₁``, and ``σ²(n − ℓ)`` for the oracle's expected error.
"""

import doctest

import numpy as np
import pytest

import proxcore as pc
import proxcore_models
from proxcore.testing import check_pursuit
from proxcore_models import Cosparse, cosparse
from proxcore_models.cosparse import _constrained_estimate, _factor

from .conftest import frozen

n, p, ell = 30, 45, 22


def model(rng, N, sigma, n=n, p=p, ell=ell):
    """Random unit-norm rows Ω; each x in the null space of ℓ random rows (its co-support)."""
    W = rng.standard_normal((p, n))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    X = np.zeros((n, N))
    co = np.zeros((p, N), bool)
    for j in range(N):
        L = rng.choice(p, ell, replace=False)
        co[L, j] = True
        basis = np.linalg.svd(W[L])[2][ell:].T
        X[:, j] = basis @ rng.standard_normal(n - ell)
    return W, X, co, X + sigma * rng.standard_normal((n, N))


def oracle(W, Y, co):
    out = np.empty_like(Y)
    for j in range(Y.shape[1]):
        V = np.linalg.svd(W[co[:, j]])[2][co[:, j].sum():].T
        out[:, j] = V @ (V.T @ Y[:, j])
    return out


def denoise(W, Y, **options):
    problem = pc.chain(Y, [(pc.Identity(n), Cosparse(W, ell))])
    return pc.solve(problem, method="gap", **options)


def test_noiseless_signals_are_recovered_exactly(rng):
    W, X, co, Y = model(rng, 40, 0.0)
    res = denoise(W, Y)
    np.testing.assert_allclose(res.x, X, atol=1e-10)
    assert np.array_equal(Cosparse(W, ell, rtol=1e-9).cosupport(res.x), co)
    assert res.converged and res.n_iter == p - ell + 1 and len(res.history["objective"]) == res.n_iter


@pytest.mark.parametrize("use_noise", [False, True])
def test_high_snr_recovery_where_the_condition_holds(rng, use_noise):
    sigma = 1e-4
    W, X, co, Y = model(rng, 120, sigma)
    eps = sigma * np.sqrt(n) * 1.2 if use_noise else 0.0
    res = denoise(W, Y, noise=eps if use_noise else None)
    margin = np.min(np.where(co, np.inf, np.abs(W @ X)), axis=0)  # min_{j∉Λ*} |ω̄_jᵀx| (unit rows)
    holds = np.linalg.norm(Y - X, axis=0) + eps < margin / 2
    assert holds.mean() > 0.6  # the check below is not vacuous
    found = Cosparse(W, ell, rtol=1e-6).cosupport(res.x)
    assert np.all(found[:, holds] == co[:, holds])
    # where it holds the answer is the oracle's, error P_{null(Ω_Λ)} w
    np.testing.assert_allclose(res.x[:, holds], oracle(W, Y, co)[:, holds], atol=1e-10)
    # the result is feasible for every signal
    assert np.all(Cosparse(W, ell).cosupport(res.x).sum(axis=0) >= ell)


def test_denoising_errors_of_gap_and_l1_against_the_oracle(rng):
    sigma, N = 0.01, 300
    W, X, co, Y = model(rng, N, sigma)
    err = lambda Z: np.sum((Z - X) ** 2, axis=0)  # noqa: E731
    e_oracle = err(oracle(W, Y, co))
    # the oracle's error is σ²χ²(n − ℓ): mean σ²(n − ℓ), five standard errors
    assert abs(e_oracle.mean() - sigma**2 * (n - ell)) <= 5 * np.sqrt(2 * sigma**4 * (n - ell) / N)
    e_gap = err(denoise(W, Y, noise=sigma * np.sqrt(n)).x)
    lam = 0.5 * sigma
    l1 = pc.solve(pc.chain(Y, [(pc.Identity(n), pc.AnalysisL1(W, lam))]), method="primal-dual", tol=1e-10,
                  max_iter=20_000)
    e_l1 = err(l1.x)
    # neither beats the oracle on average (it is the best estimator that uses only the true co-support's subspace)
    assert e_oracle.mean() <= e_gap.mean() and e_oracle.mean() <= e_l1.mean()
    # both are within an order of magnitude of it at this noise level
    assert e_gap.mean() < 10 * e_oracle.mean() and e_l1.mean() < 10 * e_oracle.mean()


@pytest.mark.parametrize("measure", ["identity", "tall"])
def test_reprojection_step_matches_cvxpy(measure):
    # GAP's step 1, x̂ = argmin ‖Ω_Λx‖²  s.t.  ‖y − Mx‖₂ ≤ ε, per signal, against cvxpy (CLARABEL)
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(7)
    q, m, kept = 14, 10, 6  # Ω ∈ R^{q×m}, Λ = 6 rows: null(Ω_Λ) has dimension 4
    W = rng.standard_normal((q, m))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    M = np.eye(m) if measure == "identity" else rng.standard_normal((16, m))
    N = 6
    Y = M @ rng.standard_normal((m, N)) + 0.3 * rng.standard_normal((M.shape[0], N))
    mask = np.zeros((q, N), bool)
    for j in range(N):
        mask[rng.choice(q, kept, replace=False), j] = True
    # ε between the least-squares residual and the residual of the best fit in null(Ω_Λ):
    # the constraint is active and, M being injective, the minimizer unique
    ls = np.linalg.norm(Y - M @ np.linalg.lstsq(M, Y, rcond=None)[0], axis=0)
    on_null, fits = np.empty(N), np.empty((m, N))
    for j in range(N):
        V = np.linalg.svd(W[mask[:, j]])[2][kept:].T
        fits[:, j] = V @ np.linalg.lstsq(M @ V, Y[:, j], rcond=None)[0]
        on_null[j] = np.linalg.norm(Y[:, j] - M @ fits[:, j])
    frac = np.array([0.1, 0.3, 0.5, 0.7, 0.9, 1.5])  # the last one: the null-space fit is within ε
    eps = ls + frac * (on_null - ls)
    Linv, WL = _factor(M)
    X = _constrained_estimate(W, mask, Linv, WL, Linv @ (M.T @ Y), Y, eps)
    # ε = 0: the unconstrained least-squares fit (for M = I, y itself)
    X0 = _constrained_estimate(W, mask, Linv, WL, Linv @ (M.T @ Y), Y, np.zeros(N))
    np.testing.assert_allclose(X0, np.linalg.lstsq(M, Y, rcond=None)[0], atol=1e-9)
    assert np.all(np.linalg.norm(X - X0, axis=0) > 0.05 * np.linalg.norm(X0, axis=0))  # ε moves every estimate
    for j in range(N):
        Wl = W[mask[:, j]]
        x = cp.Variable(m)
        prob = cp.Problem(cp.Minimize(cp.sum_squares(Wl @ x)), [cp.norm(Y[:, j] - M @ x, 2) <= eps[j]])
        prob.solve(solver="CLARABEL")
        ours = float(np.sum((Wl @ X[:, j]) ** 2))
        assert np.linalg.norm(Y[:, j] - M @ X[:, j]) <= eps[j] * (1 + 1e-9)  # feasible
        if frac[j] < 1:  # active constraint: the unique minimizer (cvxpy's default accuracy is ~1e-5)
            assert ours == pytest.approx(prob.value, rel=1e-6)
            np.testing.assert_allclose(X[:, j], x.value, atol=1e-4 * np.linalg.norm(Y[:, j]))
            # and its KKT certificate, to rounding: ‖y − Mx‖ = ε and Ω_ΛᵀΩ_Λx = ν Mᵀ(y − Mx) with ν > 0
            r = Y[:, j] - M @ X[:, j]
            g, h = Wl.T @ (Wl @ X[:, j]), M.T @ r
            nu = (g @ h) / (h @ h)
            assert nu > 0 and np.linalg.norm(g - nu * h) <= 1e-9 * np.linalg.norm(g)
            assert np.linalg.norm(r) == pytest.approx(eps[j], rel=1e-9)
        else:  # the null space is within ε: objective 0 at the least-squares fit in null(Ω_Λ)
            assert ours <= 1e-20 and prob.value <= 1e-9
            np.testing.assert_allclose(X[:, j], fits[:, j], atol=1e-9)


def cosupport_of(W, Z, ell):
    """The ℓ rows of smallest |ω̄_jᵀz| of each column (unit rows)."""
    mask = np.zeros((W.shape[0], Z.shape[1]), bool)
    mask[np.argsort(np.abs(W @ Z), axis=0, kind="stable")[:ell], np.arange(Z.shape[1])] = True
    return mask


def test_reprojection_finds_cosupports_one_shot_thresholding_misses():
    # moderate SNR (σ = 0.01, ‖w‖ ≈ 0.04 against rows |ω̄_jᵀx| of order 0.3): GAP with noise = ε re-projects
    # towards null(Ω_Λ) within ε of y, and finds co-supports that the ℓ smallest |ω̄_jᵀy| (one shot) miss.
    # With noise = 0 the estimate stays y, and GAP *is* that one-shot thresholding.
    q_n, q_p, q_ell, sigma, N = 16, 24, 12, 0.01, 25
    gained, lost, totals = [], [], np.zeros(2, int)
    for seed in range(4):
        W, X, co, Y = model(np.random.default_rng(seed), N, sigma, n=q_n, p=q_p, ell=q_ell)
        problem = pc.chain(Y, [(pc.Identity(q_n), Cosparse(W, q_ell))])
        with_eps = pc.solve(problem, method="gap", noise=sigma * np.sqrt(q_n))
        without = pc.solve(problem, method="gap")
        one_shot = np.all(cosupport_of(W, Y, q_ell) == co, axis=0)
        assert np.array_equal(cosupport_of(W, without.x, q_ell), cosupport_of(W, Y, q_ell))
        gap_ok = np.all(cosupport_of(W, with_eps.x, q_ell) == co, axis=0)
        gained.append(int(np.sum(gap_ok & ~one_shot)))
        lost.append(int(np.sum(one_shot & ~gap_ok)))
        totals += [gap_ok.sum(), one_shot.sum()]
    assert all(g >= 1 for g in gained), gained  # in every trial, co-supports only the re-projection finds
    assert sum(gained) >= sum(lost) + 5, (gained, lost)
    assert totals[0] > totals[1], totals


def test_l1_relaxation_matches_cvxpy(rng):
    cp = pytest.importorskip("cvxpy")
    W, X, co, Y = model(rng, 4, 0.02)
    lam = 0.01
    res = pc.solve(pc.chain(Y, [(pc.Identity(n), pc.AnalysisL1(W, lam))]), method="primal-dual", tol=1e-12,
                   max_iter=50_000)
    for j in range(Y.shape[1]):
        x = cp.Variable(n)
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x - Y[:, j]) + lam * cp.norm1(W @ x))).solve(
            solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        # 1-strongly convex objective: ‖x − x*‖ ≤ sqrt(2(F(x) − F*)); both solvers stop near 1e-12 in objective
        np.testing.assert_allclose(res.x[:, j], x.value, atol=1e-6)


def test_gap_float32_batch_shapes_and_inputs_untouched(rng):
    W, X, co, Y = model(rng, 6, 1e-3)
    Wf, Yf = frozen(W.astype(np.float32), Y.astype(np.float32))
    res = denoise(Wf, Yf)
    assert res.x.dtype == np.float32 and res.x.shape == (n, 6)
    check_pursuit("gap", pc.chain(Yf, [(pc.Identity(n), Cosparse(Wf, ell))]))
    one = denoise(W, Y[:, 2])
    assert one.x.shape == (n,)
    np.testing.assert_allclose(one.x, denoise(W, Y).x[:, 2], atol=1e-12)
    batch = Y.reshape(n, 2, 3)
    np.testing.assert_allclose(denoise(W, batch).x.reshape(n, 6), denoise(W, Y).x, atol=1e-12)


def test_gap_on_the_synthesis_problem_is_a_backward_greedy(rng):
    # Ω = I: ‖x‖₀ ≤ s; noiseless and an orthonormal M, the s largest entries are kept and refitted
    Q = np.linalg.qr(rng.standard_normal((20, 20)))[0]
    x = np.zeros(20)
    x[[2, 7, 11]] = [3.0, -2.0, 1.5]
    res = pc.solve(pc.chain(Q @ x, [(Q, pc.L0Ball(3))]), method="gap", rows_per_step=4)
    np.testing.assert_allclose(res.x, x, atol=1e-12)
    check_pursuit("gap", pc.chain(Q @ x, [(Q, pc.L0Ball(3))]))


@pytest.mark.parametrize("options, name", [
    ({"noise": -1.0}, "noise"), ({"noise": np.ones(3)}, "noise"), ({"rows_per_step": 0}, "rows_per_step"),
    ({"noise": float("nan")}, "noise"),
])
def test_gap_bad_options_name_the_argument(rng, options, name):
    W, X, co, Y = model(rng, 2, 0.0)
    with pytest.raises(pc.InvalidParameterError, match=name):
        denoise(W, Y, **options)


def test_gap_refuses_other_problems_and_cosparse_checks_its_arguments(rng):
    W = rng.standard_normal((p, n))
    with pytest.raises(pc.InvalidParameterError, match="Cosparse"):
        pc.solve(pc.chain(np.ones(n), [(np.eye(n), pc.L1(0.1))]), method="gap")
    with pytest.raises(pc.InvalidParameterError, match="ell"):
        Cosparse(W, p + 1)
    with pytest.raises(pc.InvalidParameterError, match="ell"):
        Cosparse(W, -1)
    with pytest.raises(pc.InvalidParameterError, match="omega"):
        Cosparse("not a matrix", 2)
    with pytest.raises(pc.InvalidParameterError, match="x"):
        Cosparse(W, 2).value(np.ones(n + 1))


def test_cosparse_prox_is_feasible_and_keeps_feasible_points(rng):
    W, X, co, Y = model(rng, 5, 0.1)
    g = Cosparse(W, ell)
    V = frozen(Y)
    P = g.prox(V, 1.0)
    assert g.value(P) == 0.0 and g.value(V) == np.inf
    np.testing.assert_allclose(g.prox(X, 1.0), X, atol=1e-10)
    assert g.prox(V.astype(np.float32), 1.0).dtype == np.float32


@pytest.mark.parametrize("module", [proxcore_models, cosparse])
def test_docstring_examples(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE).failed == 0
