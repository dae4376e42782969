"""The exact engine against cvxpy (an independent conic solver) on small multi-layer instances."""

import warnings

import networkx as nx
import numpy as np
import pytest

import proxcore as pc
from tests.conftest import frozen

cp = pytest.importorskip("cvxpy")


def instance(seed, dims, n_signals=3, dtype=np.float64):
    """Unit-norm random ``D_i`` of shapes ``dims[i] × dims[i+1]`` and Gaussian data."""
    rng = np.random.default_rng(seed)
    Ds = []
    for rows, cols in zip(dims[:-1], dims[1:]):
        D = rng.standard_normal((rows, cols))
        Ds.append((D / np.linalg.norm(D, axis=0)).astype(dtype))
    return Ds, rng.standard_normal((dims[0], n_signals)).astype(dtype)


def cvxpy_mlbp(Ds, Y, lams, nonneg=()):
    """The multi-layer BP optimum ``min ½‖Y − D_(1,L)X‖² + Σ λ_i‖D_(i+1,L)X‖₁``, written out for cvxpy."""
    Ds = [np.asarray(D, dtype=np.float64) for D in Ds]
    X = cp.Variable((Ds[-1].shape[1], Y.shape[1]))
    maps, M = [], np.eye(Ds[-1].shape[1])
    for D in reversed(Ds):
        maps.append(M)
        M = D @ M
    maps = maps[::-1]  # maps[i] takes X to γ_{i+1}; M is D_(1,L)
    objective = 0.5 * cp.sum_squares(np.asarray(Y, dtype=np.float64) - M @ X)
    # a weight per row of a code, or one for all
    objective += sum(cp.sum(cp.multiply(np.reshape(lam, (-1, 1)) * np.ones((1, Y.shape[1])), cp.abs(Mi @ X)))
                     for lam, Mi in zip(lams, maps))
    constraints = [maps[i] @ X >= 0 for i in nonneg]
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return problem.value, X.value


def relative_gap(value, optimum):
    return (value - optimum) / abs(optimum)


@pytest.mark.parametrize("algorithm", ["admm", "condat-vu"])
@pytest.mark.parametrize("dims, lams", [([20, 30, 40], [0.1, 0.2]), ([12, 18, 24, 30], [0.1, 0.2, 0.3])])
@pytest.mark.parametrize("seed", [0, 1])
def test_exact_engine_reaches_cvxpy_optimum(seed, dims, lams, algorithm):
    Ds, Y = instance(seed, dims)
    optimum, _ = cvxpy_mlbp(Ds, Y, lams)
    problem = pc.chain(Y, [(D, pc.L1(lam)) for D, lam in zip(Ds, lams)])
    res = pc.solve(problem, method="primal-dual", algorithm=algorithm)
    assert res.converged, res.message
    assert abs(relative_gap(res.objective, optimum)) <= 1e-6
    assert res.objective == pytest.approx(problem.objective(res.x), rel=1e-12)
    # every code is computed from x, so the model relations hold exactly (shallowest first, x last)
    assert len(res.codes) == len(Ds) and res.codes[-1] is not None
    np.testing.assert_array_equal(res.codes[-1], res.x)
    for i in range(len(Ds) - 1):
        np.testing.assert_allclose(res.codes[i], Ds[i + 1] @ res.codes[i + 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("zero", ["code", "inner"])
def test_zero_weights_are_solved_on_the_residuals_against_cvxpy(zero):
    """Where some ``λ_i = 0`` the gap's dual point is feasible only at the optimum (the gap would stay the
    whole objective, as it did: 3,000 iterations, relative gap 1): the ADMM residuals stop the run instead,
    at cvxpy's optimum."""
    Ds, Y = instance(3, [20, 30, 40], n_signals=5)
    if zero == "code":  # three atoms of the deepest code unpenalised
        lams = [0.05, np.where(np.arange(40) < 3, 0.0, 0.1)]
    else:  # four rows of the inner code
        lams = [np.where(np.arange(30) < 4, 0.0, 0.05), 0.1]
    optimum, _ = cvxpy_mlbp(Ds, Y, lams)
    res = pc.solve(pc.chain(Y, [(D, pc.L1(lam)) for D, lam in zip(Ds, lams)]), method="primal-dual")
    assert res.converged and "ADMM residual" in res.message, res.message
    assert abs(relative_gap(res.objective, optimum)) <= 1e-6


def test_nonnegative_layers_against_cvxpy():
    """Non-negative codes (a ReLU network's model): D2 ≥ 0 and a non-negative sparse γ2 generate y."""
    rng = np.random.default_rng(3)
    Ds, _ = instance(3, [15, 20, 25])
    Ds[1] = np.abs(Ds[1])
    X = np.zeros((25, 3))
    X[rng.choice(25, 3, replace=False)] = rng.uniform(0.5, 1.5, (3, 3))
    Y = Ds[0] @ Ds[1] @ X + 0.05 * rng.standard_normal((15, 3))
    optimum, _ = cvxpy_mlbp(Ds, Y, [0.05, 0.1], nonneg=(0, 1))
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.05, nonneg=True)), (Ds[1], pc.L1(0.1, nonneg=True))])
    res = pc.solve(problem, method="primal-dual")
    assert res.converged, res.message
    assert np.count_nonzero(res.x) > 0
    assert abs(relative_gap(res.objective, optimum)) <= 1e-6
    assert all((code >= -1e-8 * np.abs(code).max()).all() for code in res.codes)


def test_nonnegative_inner_layer_with_mixed_signs_is_reported():
    """A mixed-sign D2 with γ1 ≥ 0: the constraint D2 x ≥ 0 holds to the tolerance; the message says by how much."""
    Ds, Y = instance(3, [15, 20, 25])
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.05, nonneg=True)), (Ds[1], pc.L1(0.1, nonneg=True))])
    optimum, _ = cvxpy_mlbp(Ds, Y, [0.05, 0.1], nonneg=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converged: the violation is within tol, so no warning
        res = pc.solve(problem, method="primal-dual")
    assert res.converged, res.message
    assert abs(relative_gap(res.objective, optimum)) <= 1e-6
    gamma1 = Ds[1] @ res.x
    negative = np.count_nonzero(gamma1 < 0)
    assert negative > 0 and gamma1.min() >= -1e-7  # tolerance-level: the optimum has active constraints
    assert f"'gamma1' has {negative} negative entries" in res.message
    assert problem.objective(res.x) == np.inf and "problem.objective(res.x) is inf" in res.message
    with pytest.warns(pc.ConvergenceWarning, match="violates the non-negativity of inner code.*'gamma1'"):
        early = pc.solve(problem, method="primal-dual", max_iter=3)  # far from feasible: warned
    assert f"'gamma1' has {np.count_nonzero(Ds[1] @ early.x < 0)} negative entries" in early.message


def test_ill_conditioned_instance_against_cvxpy():
    """Unnormalized Gaussian layers: cond(D1 D2)² ≈ 500, where a first-order splitting crawls."""
    rng = np.random.default_rng(0)
    Ds, Y = [rng.standard_normal((6, 8)), rng.standard_normal((8, 10))], rng.standard_normal((6, 3))
    optimum, _ = cvxpy_mlbp(Ds, Y, [0.1, 0.05])
    res = pc.solve(pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.05))]), method="primal-dual")
    assert res.converged, res.message
    assert abs(relative_gap(res.objective, optimum)) <= 1e-6


def test_one_layer_agrees_with_certified_fista():
    Ds, Y = instance(4, [20, 40])
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.2))])
    reference = pc.solve(problem, method="fista", gap_tol=1e-13, max_iter=20_000)
    assert reference.converged
    res = pc.solve(problem, method="primal-dual")
    assert abs(relative_gap(res.objective, reference.objective)) <= 1e-8


def test_code_shared_by_two_data_terms_against_cvxpy():
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((10, 16)), rng.standard_normal((8, 16))
    y1, y2 = rng.standard_normal((10, 2)), rng.standard_normal((8, 2))
    graph = nx.DiGraph()
    graph.add_node("y1", loss=pc.LeastSquares(y1))
    graph.add_node("y2", loss=pc.LeastSquares(y2))
    graph.add_node("gamma", regularizer=pc.L1(0.3))
    graph.add_edge("gamma", "y1", operator=pc.Matrix(A))
    graph.add_edge("gamma", "y2", operator=pc.Matrix(B))
    problem = pc.Problem(graph)
    X = cp.Variable((16, 2))
    ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(y1 - A @ X) + 0.5 * cp.sum_squares(y2 - B @ X)
                                 + 0.3 * cp.sum(cp.abs(X))))
    ref.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    res = pc.solve(problem, method="primal-dual")
    assert abs(relative_gap(res.objective, ref.value)) <= 1e-6


def test_tree_of_codes_against_cvxpy():
    """γ2 feeds two codes γa, γb (each regularized) whose images add up in y: a diamond."""
    rng = np.random.default_rng(6)

    def unit(a):
        return a / np.linalg.norm(a, axis=0)

    Da, Db = unit(rng.standard_normal((12, 16))), unit(rng.standard_normal((12, 16)))
    Ea, Eb = unit(rng.standard_normal((16, 20))), unit(rng.standard_normal((16, 20)))
    Y = rng.standard_normal((12, 2))
    graph = nx.DiGraph()
    graph.add_node("y", loss=pc.LeastSquares(Y))
    graph.add_node("a", regularizer=pc.L1(0.2))
    graph.add_node("b", regularizer=pc.L1(0.1))
    graph.add_node("g2", regularizer=pc.L1(0.3))
    graph.add_edge("a", "y", operator=pc.Matrix(Da))
    graph.add_edge("b", "y", operator=pc.Matrix(Db))
    graph.add_edge("g2", "a", operator=pc.Matrix(Ea))
    graph.add_edge("g2", "b", operator=pc.Matrix(Eb))
    problem = pc.Problem(graph)
    assert not problem.is_chain
    X = cp.Variable((20, 2))
    objective = (0.5 * cp.sum_squares(Y - (Da @ Ea + Db @ Eb) @ X) + 0.2 * cp.sum(cp.abs(Ea @ X))
                 + 0.1 * cp.sum(cp.abs(Eb @ X)) + 0.3 * cp.sum(cp.abs(X)))
    ref = cp.Problem(cp.Minimize(objective))
    ref.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    res = pc.solve(problem, method="primal-dual")
    assert res.converged, res.message
    assert abs(relative_gap(res.objective, ref.value)) <= 1e-6
    assert len(res.codes) == 3
    np.testing.assert_array_equal(res.codes[-1], res.x)


def test_analysis_l1_split_against_cvxpy():
    rng = np.random.default_rng(7)
    D = rng.standard_normal((15, 20))
    omega = np.diff(np.eye(20), axis=0)  # total variation
    Y = rng.standard_normal((15, 2))
    problem = pc.chain(Y, [(D, pc.AnalysisL1(omega, 0.4))])
    X = cp.Variable((20, 2))
    ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - D @ X) + 0.4 * cp.sum(cp.abs(omega @ X))))
    ref.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    res = pc.solve(problem, method="primal-dual")
    assert abs(relative_gap(res.objective, ref.value)) <= 1e-6


def test_float32_preserved_and_close_to_float64():
    Ds, Y = instance(8, [12, 16, 20])
    problem64 = pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.1))])
    Ds32 = [D.astype(np.float32) for D in Ds]
    problem32 = pc.chain(Y.astype(np.float32), [(Ds32[0], pc.L1(0.1)), (Ds32[1], pc.L1(0.1))])
    seen = []
    res32 = pc.solve(problem32, method="primal-dual", max_iter=3000, tol=1e-6,
                     callback=lambda state: seen.append(state.x.dtype))
    res64 = pc.solve(problem64, method="primal-dual")
    assert res32.x.dtype == np.float32 and all(c.dtype == np.float32 for c in res32.codes)
    assert set(seen) == {np.dtype(np.float32)}
    assert abs(relative_gap(res32.objective, res64.objective)) <= 1e-4


def test_batch_equals_column_by_column():
    Ds, Y = instance(9, [12, 16, 20], n_signals=4)
    layers = [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.2))]
    batch = pc.solve(pc.chain(Y, layers), method="primal-dual", tol=1e-10)
    for j in range(Y.shape[1]):
        single = pc.solve(pc.chain(Y[:, j], layers), method="primal-dual", tol=1e-10)
        assert single.x.shape == (20,)
        np.testing.assert_allclose(batch.x[:, j], single.x, atol=1e-6)


def test_inputs_never_modified():
    Ds, Y = instance(10, [10, 12, 14])
    D1, D2, Y, x0 = frozen(Ds[0], Ds[1], Y, np.ones((14, 3)))
    res = pc.solve(pc.chain(Y, [(D1, pc.L1(0.1)), (D2, pc.L1(0.1))]), method="primal-dual", x0=x0, max_iter=50)
    assert not np.shares_memory(res.x, x0)
    np.testing.assert_array_equal(x0, np.ones((14, 3)))


def test_refuses_nonconvex_regularizer_naming_the_node():
    Ds, Y = instance(11, [10, 12, 14])
    problem = pc.chain(Y, [(Ds[0], pc.L0(0.1)), (Ds[1], pc.L1(0.1))])
    with pytest.raises(pc.InvalidParameterError, match="gamma1.*L0"):
        pc.solve(problem, method="primal-dual")


@pytest.mark.parametrize("options, word", [({"step": 100.0}, "step"), ({"step": -1.0}, "step"),
                                           ({"x0": np.zeros(3)}, "x0"), ({"balance": 0.0}, "balance"),
                                           ({"max_iter": 0}, "max_iter"), ({"algorithm": "adm"}, "algorithm")])
def test_bad_options_name_the_argument(options, word):
    Ds, Y = instance(12, [10, 12, 14])
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.1))])
    with pytest.raises(pc.InvalidParameterError, match=word):
        pc.solve(problem, method="primal-dual", **options)


def test_max_iter_reports_not_converged():
    Ds, Y = instance(13, [10, 12, 14])
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.1))])
    with pytest.warns(pc.ConvergenceWarning):
        res = pc.solve(problem, method="primal-dual", max_iter=5)
    assert not res.converged and res.n_iter == 5 and len(res.history["objective"]) == 5


@pytest.mark.parametrize("method", ["primal-dual", "ml-ista", "ml-fista"])
def test_empty_batch_and_zero_data(method):
    """No signals: an empty result, converged at once; y = 0: x = 0 (λ ≥ λ_max), no 0/0."""
    Ds, _ = instance(14, [6, 8, 10])
    layers = [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.1))]
    res = pc.solve(pc.chain(np.zeros((6, 0)), layers), method=method)
    assert res.x.shape == (10, 0) and res.converged
    res = pc.solve(pc.chain(np.zeros(6), layers), method=method)
    assert res.x.shape == (10,) and res.converged and not res.x.any()


def signal_objectives(Ds, Y, X, lams, weights=None):
    """``F`` per signal, written out: ``½‖y − D_(1,L)x‖² + Σ λ_i‖D_(i+1,L)x‖₁`` (``weights`` on ``x``'s term)."""
    M, terms = np.eye(Ds[-1].shape[1]), []
    for D, lam in zip(reversed(Ds), reversed(lams)):
        terms.append(lam * np.abs(M @ X).sum(axis=0))
        M = D @ M
    if weights is not None:
        terms[0] = (weights[:, None] * np.abs(X)).sum(axis=0)
    return 0.5 * ((Y - M @ X) ** 2).sum(axis=0) + sum(terms)


@pytest.mark.parametrize("nonneg, weighted", [(False, False), (True, False), (False, True)])
def test_certified_stop_bounds_each_signals_suboptimality(nonneg, weighted):
    """With ℓ1 terms ADMM stops a signal once its duality gap is at most tol·F: so F(x) − F* ≤ tol·F(x), per
    signal, against cvxpy; at a loose tol the bound is what stops the run (the codes are not yet optimal)."""
    Ds, Y = instance(15, [20, 30, 40], n_signals=5)
    lams, tol = [0.1, 0.2], 1e-2
    weights = np.linspace(0.1, 0.3, 40) if weighted else None
    code = pc.L1(weights if weighted else lams[1], nonneg=nonneg)
    res = pc.solve(pc.chain(Y, [(Ds[0], pc.L1(lams[0])), (Ds[1], code)]), method="primal-dual", tol=tol)
    assert res.converged and "duality gap" in res.message, res.message
    values = signal_objectives(Ds, Y, res.x, lams, weights)
    optima = []
    for j in range(Y.shape[1]):
        X = cp.Variable(40)
        objective = (0.5 * cp.sum_squares(Y[:, j] - Ds[0] @ Ds[1] @ X) + lams[0] * cp.norm1(Ds[1] @ X)
                     + (cp.sum(cp.multiply(weights, cp.abs(X))) if weighted else lams[1] * cp.norm1(X)))
        problem = cp.Problem(cp.Minimize(objective), [X >= 0] if nonneg else [])
        problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        optima.append(problem.value)
    suboptimality = values - np.array(optima)
    assert np.all(suboptimality <= tol * values + 1e-9)
    assert np.all(suboptimality >= -1e-8)
    assert np.max(suboptimality / values) > 1e-7  # stopped early: the certificate, not convergence, ended it
    assert res.objective == pytest.approx(values.sum(), rel=1e-12)


def test_each_signal_stops_on_its_own():
    """A signal stops iterating when its own criterion is met: the batch gives every signal the code it gets
    alone, and runs as long as its slowest signal."""
    Ds, Y = instance(16, [12, 16, 20], n_signals=5)
    layers = [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.2))]
    batch = pc.solve(pc.chain(Y, layers), method="primal-dual", tol=1e-6)
    singles = [pc.solve(pc.chain(Y[:, j], layers), method="primal-dual", tol=1e-6) for j in range(Y.shape[1])]
    assert len({s.n_iter for s in singles}) > 1  # the signals do need different numbers of iterations
    assert batch.n_iter == max(s.n_iter for s in singles)
    for j, single in enumerate(singles):
        np.testing.assert_allclose(batch.x[:, j], single.x, rtol=0, atol=1e-12)


def test_callback_states_keep_their_codes():
    """Each state's codes are its own: signals that stop later do not change what an earlier state holds."""
    Ds, Y = instance(17, [12, 16, 20], n_signals=4)
    seen = []
    pc.solve(pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.2))]), method="primal-dual", tol=1e-6,
             callback=lambda state: seen.append((state, state.x.copy(), state.error.copy())))
    for state, x, error in seen:
        np.testing.assert_array_equal(state.x, x)
        np.testing.assert_array_equal(state.error, error)
    final = seen[-1][1]
    first_stop = next(i for i, (_, _, error) in enumerate(seen) if (error <= 1e-6).any())
    stopped = seen[first_stop][2] <= 1e-6
    assert first_stop < len(seen) - 1  # some signal stopped before the last iteration ...
    np.testing.assert_array_equal(seen[first_stop][1][:, stopped], final[:, stopped])  # ... and kept its code


@pytest.mark.parametrize("max_iter", [12, 40])
def test_output_evaluated_at_checks_agrees_with_every_iteration(max_iter):
    """Without a callback the certified ADMM evaluates its output every 5 iterations (and at the last): the codes,
    the objective and the checked history are those of a run that evaluates every iteration (a callback), and
    every reported objective is the exact objective of the output reported with it."""
    Ds, Y = instance(18, [12, 16, 20], n_signals=4)
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.2))])
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pc.ConvergenceWarning)
        lazy = pc.solve(problem, method="primal-dual", tol=1e-8, max_iter=max_iter)
        eager = pc.solve(problem, method="primal-dual", tol=1e-8, max_iter=max_iter,
                         callback=lambda state: seen.append((state.iteration, state.objective, state.x.copy())))
    assert lazy.n_iter == eager.n_iter == max_iter
    np.testing.assert_array_equal(lazy.x, eager.x)
    assert lazy.objective == eager.objective == pytest.approx(problem.objective(lazy.x), rel=1e-12)
    history = lazy.history["objective"]
    before = problem.objective(np.zeros((20, 4)))  # the starting point's, until the first check
    for k, objective, x in seen:
        assert objective == pytest.approx(problem.objective(x), rel=1e-12)
        latest = max((c for c in (*range(5, k + 1, 5), max_iter) if c <= k), default=None)
        if latest is None:
            assert history[k - 1] == pytest.approx(before, rel=1e-12)
        else:
            assert history[k - 1] == seen[latest - 1][1]


def test_factored_x_update_equals_the_dense_one(rng):
    """On two layers the data map factors through the split (A = D₁·D₂): the Woodbury x-update and image
    K x equal the dense inverse's, over several ρ levels at once, and the factored form is the one in use."""
    import importlib

    engines = importlib.import_module("proxcore.engines.primal_dual")
    Ds, Y = instance(19, [12, 16, 40], n_signals=6)  # 3·16² < 40²: the factored form pays
    problem = pc.chain(Y, [(Ds[0], pc.L1(0.1)), (Ds[1], pc.L1(0.2))])
    prox_reg, splits = engines._compile(problem)
    factored = engines._ADMM(problem, prox_reg, splits, np.dtype(np.float64), 1e-9)
    dense = engines._ADMM(problem, prox_reg, splits, np.dtype(np.float64), 1e-9)
    dense.factor, dense.data = None, dense.Aty
    assert factored.factor is not None
    np.testing.assert_allclose(factored.factor[0] @ factored.terms[1][0], factored.A[0], atol=1e-12)
    levels = np.array([-3, -3, 0, 0, 2, 5])
    rho = factored.rho0 * 2.0**levels
    diffs = (rng.standard_normal((40, 6)), rng.standard_normal((16, 6)))
    x, (kx,) = factored._x_update(diffs, factored.data, rho, factored._groups(levels))
    x_ref, (kx_ref,) = dense._x_update(diffs, dense.data, rho, dense._groups(levels))
    np.testing.assert_allclose(x, x_ref, rtol=1e-10, atol=1e-12 * np.abs(x_ref).max())
    np.testing.assert_allclose(kx, kx_ref, rtol=1e-10, atol=1e-12 * np.abs(kx_ref).max())
    for j in range(6):  # and x solves the normal equations column by column
        Mj = dense.AtA + rho[j] * dense.KtK
        rhs = dense.Aty[:, j] + rho[j] * (diffs[0][:, j] + dense.terms[1][0].T @ diffs[1][:, j])
        np.testing.assert_allclose(Mj @ x[:, j], rhs, rtol=1e-9, atol=1e-10 * np.abs(rhs).max())


def test_no_factored_form_where_the_data_map_does_not_factor():
    """Three layers (two splits), or a split code the data does not go through (y ← x → γ): the dense
    x-update, and the same optimum as cvxpy's."""
    import importlib

    engines = importlib.import_module("proxcore.engines.primal_dual")
    Ds, Y = instance(20, [10, 14, 18, 22])
    rng = np.random.default_rng(7)
    D, Omega = rng.standard_normal((10, 22)), rng.standard_normal((8, 22))
    graph = nx.DiGraph()
    graph.add_node("y", loss=pc.LeastSquares(Y))
    graph.add_node("x", regularizer=pc.L1(0.1))
    graph.add_node("g", regularizer=pc.L1(0.2))
    graph.add_edge("x", "y", operator=pc.Matrix(D))
    graph.add_edge("x", "g", operator=pc.Matrix(Omega))
    side = pc.Problem(graph)
    for problem in (pc.chain(Y, [(D, pc.L1(0.1)) for D in Ds]), side):
        prox_reg, splits = engines._compile(problem)
        assert engines._ADMM(problem, prox_reg, splits, np.dtype(np.float64), 1e-9).factor is None
    X = cp.Variable((22, Y.shape[1]))
    ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - D @ X) + 0.1 * cp.sum(cp.abs(X))
                                 + 0.2 * cp.sum(cp.abs(Omega @ X))))
    ref.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    res = pc.solve(side, method="primal-dual")
    assert res.converged and abs(relative_gap(res.objective, ref.value)) <= 1e-6


@pytest.mark.parametrize("nonneg", [False, True])
def test_factored_form_reaches_cvxpy_optimum_and_certifies(nonneg):
    """The factored x-update end to end (two layers, 3r² < n²): cvxpy's optimum at the default tol, and at a
    loose tol each signal's certificate bounds its sub-optimality."""
    Ds, Y = instance(21, [12, 16, 40], n_signals=4)
    lams = [0.1, 0.2]
    layers = [(Ds[0], pc.L1(lams[0])), (Ds[1], pc.L1(lams[1], nonneg=nonneg))]
    X = cp.Variable((40, 4))
    objective = (0.5 * cp.sum_squares(Y - Ds[0] @ Ds[1] @ X) + lams[0] * cp.sum(cp.abs(Ds[1] @ X))
                 + lams[1] * cp.sum(cp.abs(X)))
    ref = cp.Problem(cp.Minimize(objective), [X >= 0] if nonneg else [])
    ref.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    res = pc.solve(pc.chain(Y, layers), method="primal-dual")
    assert res.converged and abs(relative_gap(res.objective, ref.value)) <= 1e-6
    loose = pc.solve(pc.chain(Y, layers), method="primal-dual", tol=1e-3)
    values = signal_objectives(Ds, Y, loose.x, lams)
    optima = signal_objectives(Ds, Y, X.value, lams)
    assert np.all(values - optima <= 1e-3 * values + 1e-9)
