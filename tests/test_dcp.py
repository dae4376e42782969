"""The deep coding problem: declaration, feasibility report, and layered pursuits against the stability theorems.

References: the layered-thresholding theorem (Papyan, Romano & Elad 2017,
``proxcore.diagnostics.thresholding_condition``: where it holds, every
support is found and ``‖γ̂_i − γ_i‖₂ ≤ ε_i``) and OMP's stability theorem
(Donoho, Elad & Temlyakov 2006: ``s < ½(1 + 1/μ) − δ/(μ|γ^min|)`` gives the
support and ``‖γ̂ − γ‖² ≤ δ²/(1 − μ(s − 1))``), checked signal by signal with
bounds from the theory (a relative 1e-9 for rounding only).
"""

import doctest
import math

import numpy as np
import pytest
from scipy.linalg import hadamard

import proxcore as pc
import proxcore_models.layered
from proxcore import dcp as dcp_module
from proxcore.dcp import DCP, layer_residuals, layer_tolerances, load_dcp, with_tolerances
from proxcore.diagnostics import mutual_coherence, thresholding_condition
from proxcore.testing import check_pursuit

from .conftest import frozen

n = 256


def model(rng, N, noise, s2=1, spread=0.05):
    """D₁ = [I, H/16] (μ = 1/16); D₂ with two-entry unit atoms on disjoint rows (μ = 0); ‖y − D₁γ₁‖ = noise exactly."""
    D1 = np.hstack([np.eye(n), hadamard(n) / 16.0])
    m2 = 48
    rows = rng.permutation(2 * n)[: 2 * m2].reshape(m2, 2)
    theta = np.pi / 4 + rng.uniform(-spread, spread, size=m2)
    D2 = np.zeros((2 * n, m2))
    D2[rows[:, 0], np.arange(m2)] = np.cos(theta)
    D2[rows[:, 1], np.arange(m2)] = np.sin(theta)
    G2 = np.zeros((m2, N))
    for j in range(N):
        T = rng.choice(m2, s2, replace=False)
        G2[T, j] = rng.uniform(1.0, 1.1, s2) * rng.choice([-1.0, 1.0], s2)
    G1 = D2 @ G2
    E = rng.standard_normal((n, N))
    Y = D1 @ G1 + noise * E / np.linalg.norm(E, axis=0)
    return D1, D2, G1, G2, Y


def common_thresholds(Ds, codes, noise):
    """One threshold per layer valid for every signal, and each signal's error bound ε_i from the theorem."""
    N = codes[0].shape[1]
    eps = np.full(N, float(noise))
    betas, bounds = [], []
    for D, G in zip(Ds, codes):
        first = [thresholding_condition(D, G[:, j], eps[j]) for j in range(N)]
        lo, hi = max(c.threshold_range[0] for c in first), min(c.threshold_range[1] for c in first)
        assert lo < hi, "no common threshold: the test's model is too loose"
        beta = lo + 0.1 * (hi - lo)
        conds = [thresholding_condition(D, G[:, j], eps[j], beta) for j in range(N)]
        assert all(conds)
        eps = np.array([c.noise_out for c in conds])
        betas.append(beta)
        bounds.append(eps)
    return betas, bounds


def test_layered_thresholding_meets_the_stability_theorem_and_the_dcp(rng):
    noise = 0.02
    D1, D2, G1, G2, Y = model(rng, 40, noise)
    betas, bounds = common_thresholds([D1, D2], [G1, G2], noise)
    res = pc.solve(pc.chain(Y, [(D1, pc.L1(betas[0])), (D2, pc.L1(betas[1]))]), method="layered-thresholding")
    for G, Ghat, bound in zip([G1, G2], res.codes, bounds):
        assert np.array_equal(np.sign(Ghat), np.sign(G))  # supports and signs, every signal
        assert np.all(np.linalg.norm(Ghat - G, axis=0) <= bound * (1 + 1e-9))
    # the DCP with tolerances from the theorem: ‖γ̂_{i−1} − D_iγ̂_i‖ ≤ b_{i−1} + ‖D_i‖b_i (b_0 = noise)
    b0, b1, b2 = noise, bounds[0].max(), bounds[1].max()
    tol = [(b0 + np.linalg.norm(D1, 2) * b1) ** 2, (b1 + np.linalg.norm(D2, 2) * b2) ** 2]
    dcp = DCP.chain(Y, [(D1, 2, tol[0]), (D2, 1, tol[1])])
    report = dcp.feasibility(res.codes)
    assert report.feasible, str(report)
    assert all(np.all(m >= 0) for m in report.residual_margins + report.sparsity_margins)
    # the true codes solve the DCP with ε₀ = noise² and (exact model) ε₁ = 0 up to rounding
    truth = DCP.chain(Y, [(D1, 2, noise**2 * (1 + 1e-9)), (D2, 1, 1e-24)])
    assert truth.feasibility([G1, G2]).feasible


def test_hard_forward_pass_through_the_dcp_budgets(rng):
    # pc.L0Ball(s_i) keeps the s_i largest correlations: under the theorem's condition they are the support
    # (off-support ≤ sμ|γmax| + ε < on-support), and the error is the soft bound with β = 0
    noise = 0.02
    D1, D2, G1, G2, Y = model(rng, 40, noise)
    eps = np.full(40, noise)
    bounds = []
    for D, G, s in ((D1, G1, 2), (D2, G2, 1)):
        mu = mutual_coherence(D)
        conds = [thresholding_condition(D, G[:, j], eps[j]) for j in range(40)]
        assert all(c.sparsity < c.bound for c in conds)
        gmax = np.abs(G).max(axis=0)
        eps = math.sqrt(s) * (eps + mu * (s - 1) * gmax)
        bounds.append(eps)
    dcp = DCP.chain(Y, [(D1, 2, 1.0), (D2, 1, 1.0)])
    res, report = dcp.solve("layered-thresholding")
    for G, Ghat, bound in zip([G1, G2], res.codes, bounds):
        assert np.array_equal(Ghat != 0, G != 0)
        assert np.all(np.linalg.norm(Ghat - G, axis=0) <= bound * (1 + 1e-9))
    assert report.feasible
    assert [int(k.max()) for k in report.sparsities] == [2, 1]


def test_layered_omp_meets_omp_stability_layer_by_layer(rng):
    noise = 0.02
    D1, D2, G1, G2, Y = model(rng, 40, noise, s2=2, spread=0.2)
    deltas, delta = [], noise
    for D, G in ((D1, G1), (D2, G2)):
        mu = mutual_coherence(D)
        s = int(np.count_nonzero(G[:, 0]))
        gmin = np.min(np.where(G != 0, np.abs(G), np.inf), axis=0)
        if mu > 0:
            assert np.all(s < 0.5 * (1 + 1 / mu) - delta / (mu * gmin))  # the condition, every signal
        else:
            assert np.all(delta < gmin / 2)
        deltas.append(delta)
        delta = delta / math.sqrt(1 - mu * (s - 1))  # the next layer's input error bound
    deltas.append(delta)
    dcp = DCP.chain(Y, [(D1, 4, deltas[0] ** 2), (D2, 2, deltas[1] ** 2)])
    res, report = dcp.solve("layered-omp")
    assert res.converged
    for i, (G, Ghat) in enumerate(zip([G1, G2], res.codes)):
        assert np.array_equal(Ghat != 0, G != 0)
        assert np.all(np.linalg.norm(Ghat - G, axis=0) <= deltas[i + 1] * (1 + 1e-9))
    assert report.feasible, str(report)


def test_feasibility_reports_what_is_missed(rng):
    D1, D2, G1, G2, Y = model(rng, 5, 0.1)
    dcp = DCP.chain(Y, [(D1, 1, 0.001), (D2, 1, 0.0)])
    report = dcp.feasibility([G1, G2])
    assert not report.feasible and not report.signal_feasible.any()
    np.testing.assert_allclose(report.residuals[0], 0.01, rtol=1e-9)  # ‖y − D₁γ₁‖² = noise²
    np.testing.assert_allclose(report.residual_margins[0], 0.001 - 0.01, rtol=1e-9)
    assert np.all(report.sparsity_margins[0] == 1 - 2)  # two non-zeros against a budget of one
    text = str(report)
    assert "NOT feasible" in text and "layer 1" in text and "layer 2" in text


def test_convolutional_layer_budget_is_the_stripe_norm():
    D = pc.Convolution(np.array([[1.0, 1.0]]) / np.sqrt(2), 8)
    g = np.zeros((1, 8))
    g[0, [0, 1, 5]] = 1.0  # stripes of 3 positions: ‖γ‖₀,∞ = 2
    y = np.asarray(D @ g)
    dcp = DCP(pc.chain(y, [(D, pc.L0Inf(2, filter_shape=2))]), [1e-12])
    report = dcp.feasibility([g])
    assert report.feasible and int(report.sparsities[0]) == 2
    assert not DCP(pc.chain(y, [(D, pc.L0Inf(1, filter_shape=2))]), [1e-12]).feasibility([g]).feasible


def test_spec_declaration_and_toml(tmp_path, rng):
    D1, D2, G1, G2, Y = model(rng, 3, 0.01)
    np.save(tmp_path / "D1.npy", D1)
    np.save(tmp_path / "D2.npy", D2)
    (tmp_path / "dcp.toml").write_text(
        '[[layer]]\ndictionary = { name = "matrix", path = "D1.npy" }\n'
        'regularizer = { name = "l0-ball", s = 2 }\ntolerance = 0.001\n\n'
        '[[layer]]\ndictionary = { name = "matrix", path = "D2.npy" }\n'
        'regularizer = { name = "l0-ball", s = 1 }\ntolerance = 1e-20\n')
    dcp = load_dcp(tmp_path / "dcp.toml", y=Y)
    assert dcp.budgets == (2, 1) and dcp.tolerances == (0.001, 1e-20)
    assert dcp.feasibility([G1, G2]).feasible
    spec = {"layer": [{"dictionary": {"name": "identity", "n": 4}, "regularizer": {"name": "l0-ball", "s": 1}}]}
    with pytest.raises(pc.InvalidParameterError, match="tolerance"):
        DCP.from_spec(spec, y=np.ones(4))
    spec["layer"][0]["tolerance"] = "0.1"
    with pytest.raises(pc.InvalidParameterError, match="tolerance"):
        DCP.from_spec(spec, y=np.ones(4))


def test_bad_declarations_and_codes_name_the_argument(rng):
    y = np.ones(4)
    with pytest.raises(pc.InvalidParameterError, match="budget"):
        DCP(pc.chain(y, [(np.eye(4), pc.L1(0.1))]), [0.1])
    with pytest.raises(pc.InvalidParameterError, match="tolerances"):
        DCP(pc.chain(y, [(np.eye(4), pc.L0Ball(1))]), [0.1, 0.2])
    with pytest.raises(pc.InvalidParameterError, match="tolerances"):
        DCP(pc.chain(y, [(np.eye(4), pc.L0Ball(1))]), [-0.1])
    with pytest.raises(pc.InvalidParameterError, match="tolerances"):
        DCP(pc.chain(y, [(np.eye(4), pc.L0Ball(1))]), 0.1)
    with pytest.raises(pc.InvalidParameterError, match="problem"):
        DCP("not a problem", [0.1])
    dcp = DCP.chain(y, [(np.eye(4), 1, 0.1)])
    with pytest.raises(pc.InvalidParameterError, match="codes"):
        dcp.feasibility([np.ones(5)])
    with pytest.raises(pc.InvalidParameterError, match="codes"):
        dcp.feasibility([np.ones(4), np.ones(4)])
    with pytest.raises(pc.InvalidParameterError, match="codes"):
        dcp.feasibility([np.full(4, np.nan)])
    with pytest.raises(pc.InvalidParameterError, match="tolerances"):
        pc.solve(dcp.problem, method="layered-omp", tolerances=[0.1, 0.1])
    with pytest.raises(pc.InvalidParameterError, match="L0Ball"):
        pc.solve(pc.chain(y, [(np.eye(4), pc.L1(0.1))]), method="layered-omp")
    with pytest.raises(pc.InvalidParameterError, match="tolerances"):
        DCP(pc.chain(y, [(np.eye(4), pc.L0Ball(1))]))  # none given, none carried


def test_float32_batches_and_inputs_untouched(rng):
    D1, D2, G1, G2, Y = model(rng, 6, 0.02)
    D1f, D2f, Yf = frozen(D1.astype(np.float32), D2.astype(np.float32), Y.astype(np.float32))
    dcp = DCP.chain(Yf, [(D1f, 2, 0.01), (D2f, 1, 0.01)])
    res, report = dcp.solve("layered-omp")
    assert all(c.dtype == np.float32 for c in res.codes) and res.x.shape == (48, 6)
    assert report.signal_feasible.shape == (6,)
    check_pursuit("layered-omp", dcp.problem, tolerances=dcp.tolerances)
    one, _ = DCP.chain(Y[:, 1], [(D1, 2, 0.01), (D2, 1, 0.01)]).solve("layered-omp")
    np.testing.assert_allclose(one.x, dcp.solve("layered-omp")[0].x[:, 1], atol=1e-5)


# ---------------------------------------------------------------- layered BP with per-layer tolerances
def cvxpy_layer(cp, D, g, eps, weights=1.0, nonneg=False):
    """min Σ w_k|γ_k| s.t. ‖g − Dγ‖² ≤ ε (γ ≥ 0 if nonneg), by CLARABEL: (optimal value, minimizer)."""
    x = cp.Variable(D.shape[1], nonneg=nonneg)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.multiply(weights, cp.abs(x)))), [cp.sum_squares(g - D @ x) <= eps])
    prob.solve(solver="CLARABEL")
    return prob.value, x.value


def test_layered_bp_eps_matches_cvxpy_layer_by_layer():
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(0)
    D1 = rng.standard_normal((8, 12))
    D1 /= np.linalg.norm(D1, axis=0)
    D2 = rng.standard_normal((12, 16))
    D2 /= np.linalg.norm(D2, axis=0)
    G2 = np.zeros((16, 3))
    G2[[0, 3], 0], G2[1, 1], G2[[2, 4, 5], 2] = [1.0, -1.0], 2.0, [1.0, 1.0, 0.5]
    Y = D1 @ D2 @ G2 + 0.05 * rng.standard_normal((8, 3))
    w1 = rng.uniform(0.5, 2.0, 12)  # weighted first layer; plain ℓ1 (a budget's relaxation) second
    eps = [0.05, 0.3]
    problem = with_tolerances(pc.chain(Y, [(D1, pc.L1(w1)), (D2, pc.L0Ball(4))]), eps)
    res = pc.solve(problem, method="layered-bp-eps")  # the tolerances come from the problem
    assert res.converged and len(res.codes) == 2
    above = Y
    for i, (D, code, e, w) in enumerate([(D1, res.codes[0], eps[0], w1), (D2, res.codes[1], eps[1], 1.0)]):
        r = np.sum((above - D @ code) ** 2, axis=0)
        assert np.all(r <= e) and np.all(r >= e * (1 - 1e-4))  # feasible, and the constraint active
        np.testing.assert_allclose(res.history["residual"][i], r, rtol=1e-12)
        for j in range(3):  # each layer's problem, on the previous layer's estimate (layered, not joint)
            value, x = cvxpy_layer(cp, D, above[:, j], e, w)
            ours = float(np.sum(w * np.abs(code[:, j])))
            assert value * (1 - 1e-6) <= ours <= value * (1 + 1e-5), (i, j, ours, value)
            np.testing.assert_allclose(code[:, j], x, atol=1e-3 * np.abs(x).max())
        above = code
    # non-negative codes (y in the cone of the atoms, so the tolerance is reachable)
    G = np.abs(rng.standard_normal((12, 2))) * (rng.uniform(size=(12, 2)) < 0.3)
    Yp = D1 @ G + 0.01 * rng.standard_normal((8, 2))
    pos = pc.solve(pc.chain(Yp, [(D1, pc.L1(w1, nonneg=True))]), method="layered-bp-eps", tolerances=[0.01])
    assert pos.converged and np.all(pos.x >= 0)
    for j in range(2):
        value, x = cvxpy_layer(cp, D1, Yp[:, j], 0.01, w1, nonneg=True)
        assert float(np.sum(w1 * pos.x[:, j])) == pytest.approx(value, rel=1e-5)
    np.testing.assert_allclose(np.array(layer_residuals(problem, res)), res.history["residual"], rtol=1e-9)
    assert len(res.history["objective"]) == res.n_iter and set(res.history["layer"]) == {1, 2}


def test_layered_bp_eps_on_a_convolutional_layer_against_cvxpy():
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(1)
    D = pc.dictionary("convolution", n_filters=2, filter_shape=4, signal_shape=16, seed=3)
    A = np.asarray(D.apply(np.eye(32).reshape(2, 16, 32))).reshape(16, 32)
    G = np.zeros((2, 16, 2))
    G[0, [1, 9], 0], G[1, 5, 1] = [1.0, -1.5], 2.0
    Y = np.asarray(D @ G) + 0.05 * rng.standard_normal((16, 2))
    dcp = DCP.chain(Y, [(D, pc.L0Inf(2, filter_shape=4), 0.08)])
    res, report = dcp.solve("layered-bp-eps")
    assert res.converged and res.x.shape == (2, 16, 2)
    for j in range(2):
        value, x = cvxpy_layer(cp, A, Y[:, j], 0.08)
        assert float(np.abs(res.x[..., j]).sum()) == pytest.approx(value, rel=1e-5)
    assert np.all(report.residuals[0] <= 0.08)
    assert report.sparsities[0].shape == (2,)  # the stripe budget is reported, not enforced by ℓ1


def test_layered_bp_eps_edge_cases():
    y = np.array([[3.0, 0.1], [0.5, 0.1]])
    # a tolerance above ‖y‖² gives 0 (the second signal); the first is soft thresholding at λ = 0.5
    res = pc.solve(pc.chain(y, [(np.eye(2), pc.L1(1.0))]), method="layered-bp-eps", tolerances=[0.5])
    np.testing.assert_allclose(res.x, [[2.5, 0.0], [0.0, 0.0]], atol=1e-5)
    assert res.converged
    # below the least-squares residual (a tall D): unreachable, reported, not raised
    tall = np.array([[1.0], [0.0]])
    out = pc.solve(pc.chain(np.array([1.0, 1.0]), [(tall, pc.L1(1.0))]), method="layered-bp-eps",
                   tolerances=[0.5])
    assert not out.converged and out.history["residual"][0] == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(pc.InvalidParameterError, match="tolerances"):
        pc.solve(pc.chain(y, [(np.eye(2), pc.L1(1.0))]), method="layered-bp-eps")
    with pytest.raises(pc.InvalidParameterError, match="ℓ1"):
        pc.solve(pc.chain(y, [(np.eye(2), pc.L0(1.0))]), method="layered-bp-eps", tolerances=[0.1])
    yf = frozen(y.astype(np.float32))
    res32 = pc.solve(pc.chain(yf, [(np.eye(2, dtype=np.float32), pc.L1(1.0))]), method="layered-bp-eps",
                     tolerances=[0.5])
    assert res32.x.dtype == np.float32
    check_pursuit("layered-bp-eps", pc.chain(yf, [(np.eye(2, dtype=np.float32), pc.L1(1.0))]), tolerances=[0.5])


def test_layered_omp_refuses_stripe_budgets_naming_what_to_use():
    D = pc.Convolution(np.array([[1.0, 1.0]]) / np.sqrt(2), 8)
    problem = pc.chain(np.ones(8), [(D, pc.L0Inf(1, filter_shape=2))])
    with pytest.raises(pc.InvalidParameterError, match="stripe budget.*layered-bp-eps.*layered-thresholding"):
        pc.solve(problem, method="layered-omp", tolerances=[0.1])


def test_tolerances_travel_with_the_problem(rng):
    D1, D2, G1, G2, Y = model(rng, 4, 0.01)
    plain = pc.chain(Y, [(D1, pc.L0Ball(2)), (D2, pc.L0Ball(1))])
    carried = with_tolerances(plain, [2e-4, 1e-3])
    assert layer_tolerances(plain) is None and layer_tolerances(carried) == (2e-4, 1e-3)
    assert DCP(carried).tolerances == (2e-4, 1e-3)
    # layered-omp reads them from the problem: the same answer as when they are passed
    np.testing.assert_array_equal(pc.solve(carried, method="layered-omp").x,
                                  pc.solve(plain, method="layered-omp", tolerances=[2e-4, 1e-3]).x)
    # DCP(problem, tolerances) overrides and carries the new ones; the caller's problem is untouched
    assert layer_tolerances(DCP(carried, [1.0, 1.0]).problem) == (1.0, 1.0)
    assert layer_tolerances(carried) == (2e-4, 1e-3)
    with pytest.raises(pc.InvalidParameterError, match="tolerances"):
        with_tolerances(plain, [0.1])
    with pytest.raises(pc.InvalidParameterError, match="tolerances"):
        with_tolerances(plain, [0.1, -1.0])
    graph = carried.graph.copy()
    del graph.edges["gamma2", "gamma1"]["tolerance"]
    with pytest.raises(pc.InvalidParameterError, match="layer"):
        layer_tolerances(pc.Problem(graph))


@pytest.mark.parametrize("module", [dcp_module, proxcore_models.layered])
def test_docstring_examples(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE).failed == 0
