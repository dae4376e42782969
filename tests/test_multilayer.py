"""ML-ISTA / ML-FISTA: closed forms, reductions to ISTA/FISTA, and the neighbourhood of the cvxpy optimum."""

import warnings

import numpy as np
import pytest

import proxcore as pc
from proxcore.engines.multilayer import default_steps, step_bounds
from tests.conftest import frozen
from tests.test_primal_dual import cvxpy_mlbp, instance


def soft(v, t):
    return np.sign(v) * np.maximum(np.abs(v) - t, 0)


def test_one_step_is_the_talks_two_layer_formula():
    """γ2 ← T_{tλ2}(γ2 − (t/μ) D2ᵀ(γ1 − T_{μλ1}(γ1 − μ D1ᵀ(D1γ1 − y)))), γ1 = D2γ2 (DESIGN §1)."""
    Ds, Y = instance(0, [8, 10, 12], n_signals=2)
    D1, D2 = Ds
    lam1, lam2 = 0.3, 0.2
    mu, mu2 = 0.5 / np.linalg.norm(D1, 2) ** 2, 0.6 / np.linalg.norm(D2, 2) ** 2
    t = mu * mu2
    g2 = np.random.default_rng(1).standard_normal((12, 2))
    g1 = D2 @ g2
    inner = soft(g1 - mu * D1.T @ (D1 @ g1 - Y), mu * lam1)
    expected = soft(g2 - (t / mu) * D2.T @ (g1 - inner), t * lam2)
    problem = pc.chain(Y, [(D1, pc.L1(lam1)), (D2, pc.L1(lam2))])
    res = pc.solve(problem, method="ml-ista", step=[mu, mu2], x0=g2, max_iter=1, tol=0)
    np.testing.assert_allclose(res.x, expected, rtol=1e-12, atol=1e-14)


def nested_mapping_reference(Ds, proxes, penalties, Y, mus, n_iter, accelerated, restart=True):
    """ML-ISTA/ML-FISTA written out in NumPy from the module docstring: every code recomputed, nothing fused.

    Returns the last iterate and the objective ``½‖y − D_(1,L)x‖² + Σ_i penalties[i](γ_i)`` of every iterate.
    """
    taus = np.cumprod(mus)
    x = np.zeros((Ds[-1].shape[1], Y.shape[1]))
    x_old, z, t = x, x, np.ones(Y.shape[1])
    objectives = []
    for _ in range(n_iter):
        hats = [z]
        for D in reversed(Ds):
            hats.insert(0, D @ hats[0])  # (D_(1,L) z, γ̂_1, …, γ̂_L = z)
        prev = Y
        for i, (D, prox) in enumerate(zip(Ds, proxes)):
            prev = prox(hats[i + 1] - mus[i] * D.T @ (hats[i] - prev), taus[i])
        x_old, x = x, prev
        codes = [x]
        for D in reversed(Ds):
            codes.insert(0, D @ codes[0])
        objectives.append(0.5 * np.sum((codes[0] - Y) ** 2) + sum(g(c) for g, c in zip(penalties, codes[1:])))
        if accelerated:
            if restart:
                t = np.where(((z - x) * (x - x_old)).sum(axis=0) > 0, 1.0, t)
            t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
            z, t = x + (t - 1) / t_next * (x - x_old), t_next
        else:
            z = x
    return x, np.array(objectives)


@pytest.mark.parametrize("method, restart", [("ml-ista", None), ("ml-fista", True), ("ml-fista", False)])
def test_iterates_are_the_written_out_nested_mapping(method, restart):
    """40 iterations of three layers (ℓ1, non-negative ℓ1, no penalty on an inner layer; per-atom weights),
    against the mapping written out in NumPy: the fused passes, the recycled buffers and the momentum."""
    Ds, Y = instance(11, [12, 16, 20, 24], n_signals=5)
    lam3 = np.random.default_rng(12).uniform(0.05, 0.2, 24)
    regs = [pc.L1(0.1), pc.L1(0.05, nonneg=True), pc.L1(lam3)]
    proxes = [lambda v, tau: soft(v, tau * 0.1), lambda v, tau: np.maximum(v - tau * 0.05, 0),
              lambda v, tau: soft(v, tau * lam3[:, None])]
    # the inner non-negative layer's codes D_3 x may be negative: its penalty is counted as plain ℓ1 (Notes)
    penalties = [lambda c: 0.1 * np.abs(c).sum(), lambda c: 0.05 * np.abs(c).sum(),
                 lambda c: (lam3[:, None] * np.abs(c)).sum()]
    mus = default_steps(pc.chain(Y, list(zip(Ds, regs))))
    options = {} if restart is None else {"restart": restart}
    accelerated = method == "ml-fista"
    for layers, prox, penalty in ((list(zip(Ds, regs)), proxes, penalties),
                                  ([(Ds[0], pc.L1(0.1)), (Ds[1], pc.Zero()), (Ds[2], pc.L1(lam3))],
                                   [proxes[0], lambda v, tau: v, proxes[2]], [penalties[0], lambda c: 0.0, penalties[2]])):
        x, objectives = nested_mapping_reference(Ds, prox, penalty, Y, mus, 40, accelerated, restart is not False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pc.ConvergenceWarning)  # 40 iterations, and negative inner codes
            res = pc.solve(pc.chain(Y, layers), method=method, max_iter=40, tol=0, **options)
        np.testing.assert_allclose(res.x, x, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(res.history["objective"], objectives, rtol=1e-12)


def test_state_extrapolation_and_recycled_buffers_agree():
    """Callbacks see ``z``, ``z_codes`` as the extrapolated codes; a run without a callback (buffers recycled)
    gives the same iterates as one with (fresh buffers)."""
    Ds, Y = instance(13, [10, 14, 18], n_signals=4)
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.2))])
    seen = []

    def check(state):
        z_codes = state.z_codes
        np.testing.assert_array_equal(z_codes[-1], state.z)
        np.testing.assert_allclose(z_codes[1], Ds[1] @ state.z, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(z_codes[0], Ds[0] @ z_codes[1], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(state.residual, z_codes[0] - Y, rtol=1e-12, atol=1e-14)
        seen.append(state.x.copy())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pc.ConvergenceWarning)  # 30 iterations
        with_callback = pc.solve(problem, method="ml-fista", max_iter=30, tol=0, callback=check)
        recycled = pc.solve(problem, method="ml-fista", max_iter=30, tol=0)
    assert len(seen) == 30 and any(np.any(seen[0] != s) for s in seen[1:])
    np.testing.assert_array_equal(recycled.x, with_callback.x)
    np.testing.assert_array_equal(recycled.history["objective"], with_callback.history["objective"])


def test_one_layer_is_ista_and_fista():
    Ds, Y = instance(2, [10, 20], n_signals=3)
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.1))])
    step = 1 / np.linalg.norm(Ds[0], 2) ** 2
    for ml, single in (("ml-ista", "ista"), ("ml-fista", "fista")):
        a = pc.solve(problem, method=ml, step=step, max_iter=30, tol=0)
        b = pc.solve(problem, method=single, step=step, max_iter=30, tol=0)
        np.testing.assert_allclose(a.x, b.x, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.history["objective"], b.history["objective"], rtol=1e-10)


@pytest.mark.parametrize("dims", [[10, 14, 18], [8, 10, 12, 14]])
def test_zero_inner_penalties_is_fista_on_the_effective_dictionary(dims):
    """M2: with g_i = 0 for i < L the fixed point is the Lasso on D_(1,L) (FISTA with a duality-gap certificate)."""
    Ds, Y = instance(3, dims)
    layers = [(D, pc.Zero()) for D in Ds[:-1]] + [(Ds[-1], pc.L1(0.2))]
    effective = Ds[0]
    for D in Ds[1:]:
        effective = effective @ D
    reference = pc.solve(pc.chain(Y, [(effective, pc.L1(0.2))]), method="fista", gap_tol=1e-13, max_iter=20_000)
    assert reference.converged
    res = pc.solve(pc.chain(Y, layers), method="ml-fista", tol=1e-11, max_iter=20_000)
    assert abs(res.objective - reference.objective) <= 1e-8 * reference.objective


@pytest.mark.parametrize("method, dims, lams", [
    ("ml-fista", [20, 30, 40], [0.1, 0.2]),  # overcomplete layers
    ("ml-fista", [12, 18, 24, 30], [0.1, 0.2, 0.3]),
    ("ml-ista", [24, 20, 16], [0.1, 0.2]),  # undercomplete layers: ML-ISTA converges in a few thousand iterations
    ("ml-ista", [24, 20, 16, 12], [0.1, 0.2, 0.3]),
])
def test_neighbourhood_of_the_cvxpy_optimum_shrinks_with_mu(method, dims, lams):
    """M4: converged runs end at F(x) − F* ≥ 0, small, and smaller for a smaller μ_1 (the theorem's (β + κt)μ term)."""
    Ds, Y = instance(0, dims, n_signals=2)
    optimum, _ = cvxpy_mlbp(Ds, Y, lams)
    problem = pc.chain(Y, [(D, pc.L1(lam)) for D, lam in zip(Ds, lams)])
    bounds = step_bounds(problem)
    gaps = []
    for fraction in (0.8, 0.2):
        steps = [fraction * bounds[0]] + [0.5 * b for b in bounds[1:]]
        res = pc.solve(problem, method=method, step=steps, tol=1e-8, max_iter=10_000)
        assert res.converged, res.message  # a fixed point of the nested map, not a run cut short
        gaps.append((res.objective - optimum) / optimum)
        if method == "ml-ista":  # ML-FISTA iterates the same map: the same fixed point
            other = pc.solve(problem, method="ml-fista", step=steps, tol=1e-8, max_iter=10_000)
            assert other.converged and other.objective == pytest.approx(res.objective, rel=1e-7)
    assert gaps[0] >= -1e-9 and gaps[1] >= -1e-9  # never below the optimum
    assert gaps[0] <= 1e-2  # a neighbourhood
    assert gaps[1] < 0.5 * gaps[0]  # that shrinks with μ


def test_default_steps_satisfy_the_theorem_and_ml_fista_is_near_the_exact_engine():
    Ds, Y = instance(1, [20, 30, 40], n_signals=3)
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.2))])
    n1, n2 = np.linalg.norm(Ds[0], 2) ** 2, np.linalg.norm(Ds[1], 2) ** 2
    # the documented defaults: half of each bound, μ_1 = 1/(2‖D1‖²), μ_2 = 2/(3‖D2‖²)
    mu, mu2 = default_steps(problem)
    assert mu == pytest.approx(0.5 / n1, rel=1e-9) and mu2 == pytest.approx(0.5 * 4 / (3 * n2), rel=1e-9)
    t = mu * mu2
    assert mu < 1 / n1 and t < 4 * mu / (3 * n2)  # the two-layer theorem: μ < 1/‖D1‖², t < 4μ/(3‖D2‖²)
    exact = pc.solve(problem, method="primal-dual")
    res = pc.solve(problem, method="ml-fista")
    assert res.converged
    assert res.step == pytest.approx(t, rel=1e-9)  # τ_L = μ_1μ_2, the effective step of the deepest layer
    same = pc.solve(problem, method="ml-fista", step=[0.5 / n1, 2 / (3 * n2)])
    np.testing.assert_allclose(same.x, res.x, rtol=1e-8, atol=1e-12)  # step=None runs with these steps
    assert 0 <= (res.objective - exact.objective) / exact.objective <= 1e-2


def test_codes_are_computed_from_x_shallowest_first():
    Ds, Y = instance(4, [8, 10, 12, 14])
    problem = pc.chain(Y, [(D, pc.L1(0.1)) for D in Ds])
    res = pc.solve(problem, method="ml-fista", max_iter=50, tol=0)
    assert [c.shape for c in res.codes] == [(10, 3), (12, 3), (14, 3)]
    np.testing.assert_array_equal(res.codes[-1], res.x)
    for i in range(2):
        np.testing.assert_array_equal(res.codes[i], Ds[i + 1] @ res.codes[i + 1])
    assert res.objective == pytest.approx(problem.objective(res.x), rel=1e-12)


def test_inner_lambda_above_its_max_zeroes_every_layer():
    """M5: λ1 ≥ ‖D1ᵀy‖_∞ makes the first prox return 0 from x = 0, so γ2 = T(0) = 0 and nothing moves."""
    Ds, Y = instance(5, [8, 10, 12])
    lam_max = np.abs(Ds[0].T @ Y).max()
    res = pc.solve(pc.chain(Y, [(Ds[0], pc.L1(lam_max)), (Ds[1], pc.L1(0.1))]), method="ml-ista")
    assert res.converged and res.n_iter == 1
    assert not res.x.any() and not res.codes[0].any()


def test_float32_preserved_and_batch_invariant():
    Ds, Y = instance(6, [10, 14, 18], n_signals=4)
    layers32 = [(Ds[0].astype(np.float32), pc.L1(0.1)), (Ds[1].astype(np.float32), pc.L1(0.2))]
    seen = []
    res32 = pc.solve(pc.chain(Y.astype(np.float32), layers32), method="ml-fista", max_iter=300, tol=0,
                     callback=lambda state: seen.append(state.x.dtype))
    assert res32.x.dtype == np.float32 and {c.dtype for c in res32.codes} == {np.dtype(np.float32)}
    assert set(seen) == {np.dtype(np.float32)}
    layers = [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.2))]
    batch = pc.solve(pc.chain(Y, layers), method="ml-fista", max_iter=300, tol=0)
    assert abs(res32.objective - batch.objective) <= 1e-4 * batch.objective
    for j in range(Y.shape[1]):
        single = pc.solve(pc.chain(Y[:, j], layers), method="ml-fista", max_iter=300, tol=0)
        np.testing.assert_allclose(batch.x[:, j], single.x, rtol=1e-8, atol=1e-10)


def test_inputs_never_modified():
    Ds, Y = instance(7, [8, 10, 12])
    D1, D2, Y, x0 = frozen(Ds[0], Ds[1], Y, np.ones((12, 3)))
    for method in ("ml-ista", "ml-fista"):
        res = pc.solve(pc.chain(Y, [(D1, pc.L1(0.1)), (D2, pc.L1(0.1))]), method=method, x0=x0,
                       max_iter=20, tol=0)
        assert not np.shares_memory(res.x, x0)


def test_refusals_name_the_argument():
    Ds, Y = instance(8, [8, 10, 12])
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.1))])
    bound1 = step_bounds(problem)[0]
    with pytest.raises(pc.InvalidParameterError, match="step.*μ_1"):
        pc.solve(problem, method="ml-ista", step=2 * bound1)
    with pytest.raises(pc.InvalidParameterError, match="step.*μ_2"):
        pc.solve(problem, method="ml-fista", step=[0.5 * bound1, 10.0])
    with pytest.raises(pc.InvalidParameterError, match="step"):
        pc.solve(problem, method="ml-fista", step=[0.1, 0.1, 0.1])
    with pytest.raises(pc.InvalidParameterError, match="x0"):
        pc.solve(problem, method="ml-fista", x0=np.zeros(12))
    with pytest.raises(pc.InvalidParameterError, match="step"):
        pc.solve(problem, method="ml-fista", step=-1.0)


def test_refuses_a_graph_that_is_not_a_chain():
    import networkx as nx

    rng = np.random.default_rng(9)
    graph = nx.DiGraph()
    graph.add_node("y1", loss=pc.LeastSquares(rng.standard_normal(5)))
    graph.add_node("y2", loss=pc.LeastSquares(rng.standard_normal(4)))
    graph.add_node("gamma", regularizer=pc.L1(0.1))
    graph.add_edge("gamma", "y1", operator=pc.Matrix(rng.standard_normal((5, 6))))
    graph.add_edge("gamma", "y2", operator=pc.Matrix(rng.standard_normal((4, 6))))
    with pytest.raises(pc.InvalidParameterError, match="not a chain.*primal-dual"):
        pc.solve(pc.Problem(graph), method="ml-fista")


def test_nonnegative_model_near_the_cvxpy_optimum():
    """The ReLU network's model (D2 ≥ 0, non-negative codes): ML-FISTA ends near the constrained optimum."""
    rng = np.random.default_rng(3)
    Ds, _ = instance(3, [15, 20, 25])
    Ds[1] = np.abs(Ds[1])
    X = np.zeros((25, 3))
    X[rng.choice(25, 3, replace=False)] = rng.uniform(0.5, 1.5, (3, 3))
    Y = Ds[0] @ Ds[1] @ X + 0.05 * rng.standard_normal((15, 3))
    optimum, _ = cvxpy_mlbp(Ds, Y, [0.05, 0.1], nonneg=(0, 1))
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.05, nonneg=True)), (Ds[1], pc.L1(0.1, nonneg=True))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # D2 ≥ 0 and x ≥ 0 keep γ1 = D2 x ≥ 0: nothing to warn about
        res = pc.solve(problem, method="ml-fista", tol=1e-10, max_iter=5000)
    assert res.converged and (res.x >= 0).all() and "violates" not in res.message
    assert res.objective == pytest.approx(problem.objective(res.x), rel=1e-12)  # feasible: the objectives agree
    assert -1e-9 <= (res.objective - optimum) / optimum <= 1e-2  # never below the optimum (up to rounding)


@pytest.mark.parametrize("method", ["ml-ista", "ml-fista"])
def test_nonnegative_inner_layer_with_mixed_signs_is_reported(method):
    """With a mixed-sign D2, D2 x may leave γ1 ≥ 0: the run goes on, counting the ℓ1 penalty, and says so."""
    Ds, Y = instance(3, [15, 20, 25])
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.05, nonneg=True)), (Ds[1], pc.L1(0.1, nonneg=True))])
    with pytest.warns(pc.ConvergenceWarning, match="violates the non-negativity of inner code.*'gamma1'"):
        res = pc.solve(problem, method=method, max_iter=5000)
    assert res.converged and np.isfinite(res.objective) and (res.x >= 0).all()
    negative = np.count_nonzero(Ds[1] @ res.x < 0)
    assert negative > 0 and f"'gamma1' has {negative} negative entries" in res.message
    assert problem.objective(res.x) == np.inf and "problem.objective(res.x) is inf" in res.message
    penalty = 0.5 * np.sum((Y - Ds[0] @ Ds[1] @ res.x) ** 2) + 0.05 * np.abs(Ds[1] @ res.x).sum() + 0.1 * res.x.sum()
    assert res.objective == pytest.approx(penalty, rel=1e-12)
