"""AnalysisL1: exact value, prox against closed forms and cvxpy, and its use in the engines."""

import numpy as np
import pytest

import proxcore as pc
from tests.conftest import frozen

cp = pytest.importorskip("cvxpy")


def test_value_is_weighted_l1_of_omega_x():
    rng = np.random.default_rng(0)
    omega = rng.standard_normal((5, 4))
    X = rng.standard_normal((4, 3))
    assert pc.AnalysisL1(omega, 0.7).value(X) == pytest.approx(0.7 * np.abs(omega @ X).sum(), rel=1e-14)
    weights = rng.uniform(0, 1, 5)
    assert pc.AnalysisL1(omega, weights).value(X) == pytest.approx(
        np.sum(weights[:, None] * np.abs(omega @ X)), rel=1e-14)


def test_prox_with_orthonormal_omega_is_rotated_soft_thresholding():
    """For orthogonal Ω: prox(v) = Ωᵀ T_{tλ}(Ωv), a closed form."""
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    v = rng.standard_normal((6, 2))
    t, lam = 0.4, 0.5
    u = Q @ v
    expected = Q.T @ (np.sign(u) * np.maximum(np.abs(u) - t * lam, 0))
    np.testing.assert_allclose(pc.AnalysisL1(Q, lam).prox(v, t), expected, atol=1e-6)


def test_prox_matches_cvxpy_for_total_variation():
    rng = np.random.default_rng(2)
    omega = np.diff(np.eye(12), axis=0)
    v = np.cumsum(rng.standard_normal(12))
    t, lam = 0.8, 0.6
    u = cp.Variable(12)
    cp.Problem(cp.Minimize(t * lam * cp.norm1(omega @ u) + 0.5 * cp.sum_squares(u - v))).solve(
        solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    reg = pc.AnalysisL1(omega, lam)
    got = reg.prox(frozen(v), t)
    # the prox objective's sub-optimality is bounded by prox_tol·½‖v‖², so the point is within sqrt(2·that)
    assert np.linalg.norm(got - u.value) <= np.sqrt(2 * 1e-10 * 0.5 * v @ v) + 1e-6


def test_float32_and_bad_input():
    omega = np.diff(np.eye(5), axis=0).astype(np.float32)
    out = pc.AnalysisL1(omega, 0.1).prox(np.ones(5, dtype=np.float32), 1.0)
    assert out.dtype == np.float32
    with pytest.raises(pc.InvalidParameterError, match="lam"):
        pc.AnalysisL1(omega, -1.0)
    with pytest.raises(pc.InvalidParameterError, match="lam"):
        pc.AnalysisL1(omega, np.ones(3))
    with pytest.raises(pc.InvalidParameterError, match="omega"):
        pc.AnalysisL1("not an operator", 1.0)
    with pytest.raises(pc.InvalidParameterError, match="v"):
        pc.AnalysisL1(omega, 0.1).prox(np.ones(4), 1.0)
    with pytest.raises(pc.InvalidParameterError, match="step"):
        pc.AnalysisL1(omega, 0.1).prox(np.ones(5), 0.0)


def test_fista_with_the_inner_prox_agrees_with_the_exact_split():
    """The analysis Lasso solved by FISTA (AnalysisL1.prox inside) and by primal-dual (Ω split out)."""
    rng = np.random.default_rng(3)
    D = rng.standard_normal((10, 8))
    omega = np.diff(np.eye(8), axis=0)
    y = rng.standard_normal(10)
    problem = pc.chain(y, [(D, pc.AnalysisL1(omega, 0.5))])
    exact = pc.solve(problem, method="primal-dual")
    res = pc.solve(problem, method="fista", tol=1e-10, max_iter=5000)
    assert abs(res.objective - exact.objective) <= 1e-6 * exact.objective
