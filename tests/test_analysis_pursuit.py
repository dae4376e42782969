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

from .conftest import frozen

n, p, ell = 30, 45, 22


def model(rng, N, sigma):
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
