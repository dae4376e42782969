"""ISTA and FISTA against independent references: scikit-learn, least squares, the rate theorems."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Lasso

import proxcore as pc
from proxcore.certificates import lam_max, lasso_duality_gap
from tests.conftest import cvxpy_lasso_optimum, frozen, sparse_signals, unit_norm_dictionary


@pytest.fixture(scope="module")
def lasso_batch():
    rng = np.random.default_rng(7)
    D = unit_norm_dictionary(rng, 64, 256)
    _, Y = sparse_signals(rng, D, 200, 8, noise=0.05)
    return D, Y


def sklearn_codes(D, Y, lam, positive=False):
    model = Lasso(alpha=lam / D.shape[0], fit_intercept=False, tol=1e-14, max_iter=200_000, positive=positive)
    return model.fit(D, Y).coef_.T


@pytest.mark.parametrize("method", ["ista", "fista"])
@pytest.mark.parametrize("nonneg", [False, True])
def test_batch_lasso_agrees_with_sklearn(lasso_batch, method, nonneg):
    D, Y = lasso_batch
    if method == "ista":
        Y = Y[:, :100]  # ISTA's O(1/k) makes 1e-6 expensive; FISTA covers all 200 signals
    lam = 0.1
    problem = pc.chain(Y, [(pc.Matrix(D), pc.L1(lam, nonneg=nonneg))])
    res = pc.solve(problem, method=method, gap_tol=1e-13 if method == "fista" else 1e-7, max_iter=20_000)
    assert res.converged, res.message
    ref = problem.objective(sklearn_codes(D, Y, lam, positive=nonneg))
    assert abs(res.objective - ref) <= 1e-6 * ref
    assert res.objective <= ref * (1 + 1e-9)  # not worse than scikit-learn beyond round-off
    if nonneg:
        assert np.all(res.x >= 0)
    # the engine's gap equals the independently computed certificate, and bounds F(x) − F*
    gap = lasso_duality_gap(D, Y, res.x, lam, nonneg=nonneg)
    np.testing.assert_allclose(res.gap, gap, rtol=1e-6, atol=1e-9)
    assert np.all(gap >= -1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["ista", "fista"])
def test_lam_at_or_above_lam_max_gives_exact_zeros(method, dtype, rng):
    D = unit_norm_dictionary(rng, 20, 40).astype(dtype)
    Y = rng.standard_normal((20, 6)).astype(dtype)
    lmax = float(np.abs(D.T.astype(np.float64) @ Y).max())  # ‖Dᵀy‖∞ of the worst signal, written out
    np.testing.assert_allclose(lam_max(D, Y), np.abs(D.T.astype(np.float64) @ Y).max(0), rtol=1e-6)
    for lam in (lmax, lmax * (1 + 8 * np.finfo(dtype).eps), 2 * lmax):
        res = pc.solve(pc.chain(Y, [(D, pc.L1(lam))]), method=method)
        assert res.x.dtype == dtype
        assert np.count_nonzero(res.x) == 0
        assert res.converged and res.n_iter == 1
    res = pc.solve(pc.chain(Y, [(D, pc.L1(0.99 * lmax))]), method=method, max_iter=50, tol=0)
    assert np.count_nonzero(res.x) > 0


def test_per_signal_lam_max_in_a_batch(rng):
    D = unit_norm_dictionary(rng, 20, 40)
    Y = rng.standard_normal((20, 4))
    Y[:, 1] *= 1e-3  # this signal's λ_max is far below λ
    lam = 0.5 * float(np.abs(D.T @ Y[:, [0, 2, 3]]).max(0).min())  # half the smallest ‖Dᵀy_j‖∞ of the others
    res = pc.solve(pc.chain(Y, [(D, pc.L1(lam))]), method="fista", tol=1e-10, max_iter=5000)
    assert np.count_nonzero(res.x[:, 1]) == 0
    assert all(np.count_nonzero(res.x[:, j]) > 0 for j in (0, 2, 3))


def test_lam_zero_overdetermined_is_least_squares(rng):
    D = rng.standard_normal((30, 10))
    Y = rng.standard_normal((30, 3))
    res = pc.solve(pc.chain(Y, [(D, pc.L1(0.0))]), method="fista", tol=1e-12, max_iter=20_000)
    np.testing.assert_allclose(res.x, np.linalg.lstsq(D, Y, rcond=None)[0], atol=1e-8)


def test_lam_zero_underdetermined_is_min_norm(rng):
    D = rng.standard_normal((8, 20))
    Y = rng.standard_normal((8, 2))
    res = pc.solve(pc.chain(Y, [(D, pc.Zero())]), method="fista", tol=1e-13, max_iter=50_000)
    np.testing.assert_allclose(res.x, np.linalg.pinv(D) @ Y, atol=1e-8)


@pytest.mark.parametrize("method", ["ista", "fista"])
def test_batch_equals_per_signal(lasso_batch, method):
    D, Y = lasso_batch
    Y = Y[:, :12]
    opts = dict(method=method, tol=1e-12, max_iter=20_000)
    res = pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), **opts)
    for j in (0, 5, 11):
        single = pc.solve(pc.chain(Y[:, j], [(D, pc.L1(0.1))]), **opts)
        assert single.x.shape == (256,)
        np.testing.assert_allclose(res.x[:, j], single.x, atol=1e-8)


def lasso_objective(D, Y, X, lam):
    """½‖Y − DX‖² + Σ λ_i|x_i|, summed over the batch, written out."""
    lam = np.asarray(lam, dtype=float).reshape(-1, 1) if np.ndim(lam) else lam
    return 0.5 * float(np.sum((Y - D @ X) ** 2)) + float(np.sum(lam * np.abs(X)))


def sklearn_optimum(D, Y, lam, positive=False):
    """F* and x* from scikit-learn's coordinate descent (an independent solver), per-atom λ by column rescaling.

    ``Σ λ_i|x_i|`` with ``λ_i = c·w_i`` is ``c‖u‖₁`` for ``u = w·x`` and the dictionary ``D/w``.
    """
    lam = np.asarray(lam, dtype=float)
    scale = lam / lam.max() if lam.ndim else np.ones(D.shape[1])
    c = float(lam.max())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a scikit-learn ConvergenceWarning would make it no reference
        U = sklearn_codes(D / scale, Y, c, positive=positive).reshape(D.shape[1], -1)  # one signal: coef_ is 1-D
    X = U / scale[:, None]
    return lasso_objective(D, Y, X, lam), X


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rate_bounds_and_ista_monotone(seed):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((30, 60))
    D[:, :5] *= 3  # uneven atoms: L well above 1
    Y = rng.standard_normal((30, 4))
    lam = 0.3
    f_star, x_star = sklearn_optimum(D, Y, lam)  # an independent F* (above the true one by CD's tolerance only)
    L = np.linalg.norm(D, 2) ** 2
    R2 = float(np.sum(x_star**2))  # x0 = 0
    problem = pc.chain(Y, [(D, pc.L1(lam))])
    ista = pc.solve(problem, method="ista", max_iter=300, tol=0, step=1 / L)
    fista = pc.solve(problem, method="fista", max_iter=300, tol=0, step=1 / L, restart=False)
    k = np.arange(1, 301)
    F_ista, F_fista = ista.history["objective"], fista.history["objective"]
    assert np.all(F_ista - f_star <= L * R2 / (2 * k) * (1 + 1e-9))
    assert np.all(F_fista - f_star <= 2 * L * R2 / (k + 1) ** 2 * (1 + 1e-9))
    assert np.all(np.diff(F_ista) <= 1e-12 * F_ista[:-1])  # ISTA is monotone (FISTA need not be)


@pytest.mark.parametrize("case", ["plain", "weighted", "nonneg", "weighted-nonneg"])
def test_duality_gap_bounds_the_suboptimality_against_sklearn(case):
    """gap(x) ≥ F(x) − F* at any x (F* from scikit-learn, which is ≥ the true F*), and gap(x*) ≈ 0."""
    rng = np.random.default_rng(11)
    D = rng.standard_normal((25, 50))
    Y = rng.standard_normal((25, 3))
    nonneg = "nonneg" in case
    lam = rng.uniform(0.2, 1.0, 50) if "weighted" in case else 0.4
    f_ref, x_ref = sklearn_optimum(D, Y, lam, positive=nonneg)
    per_signal = [sklearn_optimum(D, Y[:, [j]], lam, positive=nonneg)[0] for j in range(3)]
    assert sum(per_signal) == pytest.approx(f_ref, rel=1e-10)
    assert np.all(lasso_duality_gap(D, Y, x_ref, lam, nonneg=nonneg) <= 1e-9 * np.array(per_signal))
    points = [x_ref + 10.0 ** -e * rng.standard_normal(x_ref.shape) for e in (1, 3, 5)]
    points += [rng.standard_normal(x_ref.shape), 0 * x_ref, 3 * x_ref]
    for X in points:
        X = np.abs(X) if nonneg else X  # feasible points of the non-negative problem
        gap = lasso_duality_gap(D, Y, X, lam, nonneg=nonneg)
        for j in range(3):
            sub = lasso_objective(D, Y[:, [j]], X[:, [j]], lam) - per_signal[j]
            assert gap[j] >= sub - 1e-10 * per_signal[j], (case, j, gap[j], sub)


@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("free", ["some", "all"])
def test_duality_gap_with_unpenalised_atoms_is_a_certificate(nonneg, free):
    """λ_i = 0 on some atoms (or all: least squares): gap(x) ≥ F(x) − F* at any x, and gap → 0 at x* (without the
    residual's projection off those atoms the gap is the whole objective at any point but the exact optimum)."""
    rng = np.random.default_rng(13)
    D = rng.standard_normal((25, 50 if free == "some" else 12))
    m = D.shape[1]
    Y = rng.standard_normal((25, 3))
    lam = rng.uniform(0.2, 1.0, m)
    lam[[3, 7, 8] if free == "some" else slice(None)] = 0
    optima = [cvxpy_lasso_optimum(D, Y[:, j], lam, nonneg) for j in range(3)]
    f_star = np.array([f for f, _ in optima])
    x_star = np.column_stack([x for _, x in optima])
    if nonneg:
        x_star = np.maximum(x_star, 0)
    assert np.all(lasso_duality_gap(D, Y, x_star, lam, nonneg=nonneg) <= 1e-7 * f_star)
    points = [x_star + 10.0 ** -e * rng.standard_normal(x_star.shape) for e in (1, 3, 5)]
    points += [rng.standard_normal(x_star.shape), 0 * x_star, 3 * x_star]
    for X in points:
        X = np.abs(X) if nonneg else X
        gap = lasso_duality_gap(D, Y, X, lam, nonneg=nonneg)
        sub = np.array([lasso_objective(D, Y[:, [j]], X[:, [j]], lam) for j in range(3)]) - f_star
        assert np.all(gap >= sub - 1e-9 * f_star), (gap, sub)


@pytest.mark.parametrize("nonneg", [False, True])
def test_fista_certifies_with_unpenalised_atoms(nonneg):
    rng = np.random.default_rng(14)
    D = unit_norm_dictionary(rng, 30, 60)
    _, Y = sparse_signals(rng, D, 4, 4, noise=0.05)
    lam = np.full(60, 0.1)
    lam[[0, 9]] = 0
    res = pc.solve(pc.chain(Y, [(D, pc.L1(lam, nonneg=nonneg))]), method="fista", gap_tol=1e-12, max_iter=50_000)
    assert res.converged, res.message
    f_star = sum(cvxpy_lasso_optimum(D, Y[:, j], lam, nonneg)[0] for j in range(4))
    assert abs(res.objective - f_star) <= 1e-8 * f_star
    np.testing.assert_allclose(res.gap, lasso_duality_gap(D, Y, res.x, lam, nonneg=nonneg), atol=1e-10)


@pytest.mark.parametrize("method", ["ista", "fista"])
@pytest.mark.parametrize("nonneg", [False, True])
def test_per_atom_lam_agrees_with_sklearn_on_rescaled_columns(method, nonneg):
    """Σ λ_i|x_i| with λ_i = c·w_i is scikit-learn's c‖u‖₁ on D/w with u = w·x."""
    rng = np.random.default_rng(12)
    D = unit_norm_dictionary(rng, 30, 60)
    _, Y = sparse_signals(rng, D, 8, 4, noise=0.05)
    lam = 0.1 * rng.uniform(0.5, 2.0, 60)
    f_ref, x_ref = sklearn_optimum(D, Y, lam, positive=nonneg)
    problem = pc.chain(Y, [(D, pc.L1(lam, nonneg=nonneg))])
    res = pc.solve(problem, method=method, gap_tol=1e-12, max_iter=50_000)
    assert res.converged, res.message
    assert abs(lasso_objective(D, Y, res.x, lam) - f_ref) <= 1e-8 * f_ref
    np.testing.assert_allclose(res.x, x_ref, atol=1e-5)
    uniform = pc.solve(pc.chain(Y, [(D, pc.L1(float(lam.mean()), nonneg=nonneg))]), method=method, max_iter=500,
                       tol=1e-10)
    assert np.abs(uniform.x - x_ref).max() > 1e-3  # the weights matter: a scalar λ gives another code
    if nonneg:
        assert res.x.min() >= 0


class _Counted:
    """Counts the products with every pc.Matrix (the Gram one included), by shape of the matrix and direction.

    A product is counted once, whether it is made by ``apply``/``adjoint`` or into a buffer.
    """

    def __init__(self, monkeypatch):
        self.calls = []
        calls = self.calls

        def counted(kind, method):
            def wrapper(op, x, *out):
                calls.append((kind, op.array.shape, np.shape(x)))
                return method(op, x, *out)
            return wrapper

        for name, kind in (("apply", "apply"), ("apply_into", "apply"),
                           ("adjoint", "adjoint"), ("adjoint_into", "adjoint")):
            monkeypatch.setattr(pc.Matrix, name, counted(kind, getattr(pc.Matrix, name)))


@pytest.mark.parametrize("options", [{"method": "ista"}, {"method": "fista"}, {"method": "fista", "restart": False},
                                     {"method": "fista", "gap_tol": 1e-14}])
def test_one_gram_product_per_iteration_tall_two_products_wide(options, monkeypatch, rng):
    """Tall D (m < 2n): one product with DᵀD per iteration for the whole batch; wide D: one with D, one with Dᵀ."""
    for (n, m), expected in (((40, 15), [("apply", (15, 15))]), ((15, 40), [("apply", (15, 40)), ("adjoint", (15, 40))])):
        D = rng.standard_normal((n, m))
        Y = rng.standard_normal((n, 7))
        counter = _Counted(monkeypatch)
        marks = []
        res = pc.solve(pc.chain(Y, [(D, pc.L1(0.05))]), max_iter=25, tol=0,
                       callback=lambda state: marks.append(len(counter.calls)), **options)
        monkeypatch.undo()
        if "gap_tol" in options and n < m:
            continue  # the gap at x needs Dᵀ(y − Dx), a third product, without the Gram
        assert res.n_iter == len(marks) == 25
        for before, after in zip(marks[:-1], marks[1:]):  # the calls made by one iteration
            made = counter.calls[before:after]
            assert sorted((kind, shape) for kind, shape, _ in made) == sorted(expected), made
            assert all(arg[1:] == (7,) for _, _, arg in made)  # the batch in one call


def test_history_is_honest(lasso_batch):
    D, Y = lasso_batch
    problem = pc.chain(Y[:, :20], [(D, pc.L1(0.1))])
    seen = []
    res = pc.solve(problem, method="fista", max_iter=40, tol=0,
                   callback=lambda s: seen.append((s.iteration, s.objective, problem.objective(s.x))))
    assert len(res.history["objective"]) == len(res.history["time"]) == res.n_iter == 40
    for (it, reported, recomputed), hist in zip(seen, res.history["objective"]):
        assert reported == hist
        assert abs(reported - recomputed) <= 1e-10 * recomputed
    assert [s[0] for s in seen] == list(range(1, 41))
    assert res.objective == pytest.approx(problem.objective(res.x), rel=1e-12)
    assert np.all(np.diff(res.history["time"]) >= 0)


@pytest.mark.parametrize("method", ["ista", "fista"])
def test_float32_in_float32_out_every_iterate(method, lasso_batch):
    D, Y = lasso_batch
    D32, Y32 = D.astype(np.float32), Y[:, :30].astype(np.float32)
    dtypes = set()
    res = pc.solve(pc.chain(Y32, [(D32, pc.L1(0.1))]), method=method, max_iter=3000, gap_tol=1e-6,
                   callback=lambda s: dtypes.add((s.x.dtype, s.z.dtype)))
    assert res.x.dtype == np.float32 and dtypes == {(np.dtype(np.float32), np.dtype(np.float32))}
    ref = pc.solve(pc.chain(Y[:, :30], [(D, pc.L1(0.1))]), method=method, gap_tol=1e-12, max_iter=20_000)
    assert abs(res.objective - ref.objective) <= 1e-4 * ref.objective


@pytest.mark.parametrize("method", ["ista", "fista"])
@pytest.mark.parametrize("shape", [(20, 50), (60, 30)])  # D z through images, and through the Gram
def test_state_holds_the_extrapolated_point_and_the_residual_there(method, shape, rng):
    # the state keeps x_k, x_{k−1} and β: z, its image and the residual D z − y (the gradient's input)
    # must be what FISTA's recursion defines, from the iterates a callback sees
    D = rng.standard_normal(shape)
    Y = rng.standard_normal((shape[0], 6))
    seen = []
    res = pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method=method, max_iter=30, tol=0,
                   callback=lambda s: seen.append(s))
    gram = shape[0] > shape[1]
    for s, after in zip(seen, seen[1:]):  # the next iterate is the prox step from z
        u = s.z - res.step * D.T @ (D @ s.z - Y)
        np.testing.assert_allclose(after.x, np.sign(u) * np.maximum(np.abs(u) - 0.1 * res.step, 0), atol=1e-13)
    for previous, s in zip(seen, seen[1:]):
        if method == "ista":  # z = x: the iterate before is x itself
            np.testing.assert_array_equal(s.beta, 0)
            np.testing.assert_array_equal(s.x_prev, s.x)
        else:  # β_k = (t_k − 1)/t_{k+1}, or 0 with t_{k+1} = φ where the momentum restarted
            np.testing.assert_array_equal(s.x_prev, previous.x)
            restarted = s.beta == 0
            t, t_next = previous.momentum, s.momentum
            np.testing.assert_allclose(t_next[restarted], (1 + np.sqrt(5)) / 2, rtol=1e-15)
            np.testing.assert_allclose(t_next[~restarted], (1 + np.sqrt(1 + 4 * t * t))[~restarted] / 2, rtol=1e-15)
            np.testing.assert_allclose(s.beta[~restarted], ((t - 1) / t_next)[~restarted], rtol=1e-15)
        z = s.z
        np.testing.assert_allclose(s.z_image, (D.T @ D if gram else D) @ z, atol=1e-12)
        gradient = D.T @ (D @ z - Y)
        np.testing.assert_allclose(s.residual if gram else D.T @ s.residual, gradient, atol=1e-11)
    if method == "fista":
        assert any((s.beta > 0).any() for s in seen)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_proximal_step_takes_its_prox_at_prox_step(dtype, rng):
    """x⁺ = prox_{τg}(z − η·grad), τ = prox_step (ML-ISTA's layers): the fused ℓ1 step and the generic one (ℓ0)."""
    from proxcore.engines.proximal_gradient import proximal_step

    x, x_prev, grad = rng.standard_normal((3, 40, 6)).astype(dtype)
    beta = rng.uniform(0, 1, 6).astype(dtype)
    step, tau, lam = dtype(0.3), 0.05, 2.0
    z = x + beta * (x - x_prev)
    v = (z - step * grad).astype(np.float64)
    for reg, expected in ((pc.L1(lam), np.sign(v) * np.maximum(np.abs(v) - tau * lam, 0)),
                          (pc.L0(lam), np.where(np.abs(v) > np.sqrt(2 * tau * lam), v, 0))):
        x_next, stats = proximal_step(reg, x, x_prev, beta, grad, step, 1, prox_step=tau)
        assert x_next.dtype == dtype
        np.testing.assert_allclose(x_next, expected, rtol=1e-6 if dtype == np.float32 else 1e-15, atol=1e-6)
        d = (x_next - z).astype(np.float64)
        np.testing.assert_allclose(stats[0], (d * d).sum(0), rtol=1e-5)  # ‖x⁺ − z‖², the step's size
    # without prox_step, the prox is at the gradient step itself
    x_next, _ = proximal_step(pc.L1(lam), x, x_prev, beta, grad, step, 1)
    np.testing.assert_allclose(x_next, np.sign(v) * np.maximum(np.abs(v) - 0.3 * lam, 0), rtol=1e-5, atol=1e-6)


def test_backtracking_and_restart_reach_the_optimum(lasso_batch):
    D, Y = lasso_batch
    Y = Y[:, :40]
    f_star, _ = sklearn_optimum(D, Y, 0.1)
    problem = pc.chain(Y, [(D, pc.L1(0.1))])
    for opts in ({"backtracking": True}, {"restart": False}, {"restart": True}):
        res = pc.solve(problem, method="fista", gap_tol=1e-12, max_iter=20_000, **opts)
        assert res.converged, (opts, res.message)
        assert abs(res.objective - f_star) <= 1e-9 * f_star
    bt = pc.solve(problem, method="ista", backtracking=True, max_iter=50, tol=0)
    assert bt.step >= 1 / np.linalg.norm(D, 2) ** 2 / 2  # backtracking never halves below 1/(2L)
    assert np.all(np.diff(bt.history["objective"]) <= 1e-12 * bt.history["objective"][:-1])


def test_gram_and_two_product_paths_agree(rng):
    # tall D uses the Gram, wide D and a generic operator use two products
    for shape in ((40, 15), (15, 40)):
        D = rng.standard_normal(shape)
        Y = rng.standard_normal((shape[0], 5))

        class Generic(pc.LinearOperator):
            in_shape, out_shape = (shape[1],), (shape[0],)

            def apply(self, x):
                return D @ x

            def adjoint(self, y):
                return D.T @ y

        a = pc.solve(pc.chain(Y, [(pc.Matrix(D), pc.L1(0.2))]), method="fista", max_iter=200, tol=0)
        b = pc.solve(pc.chain(Y, [(Generic(), pc.L1(0.2))]), method="fista", max_iter=200, tol=0,
                     step=a.step * (1 - 1e-6))
        np.testing.assert_allclose(a.history["objective"], b.history["objective"], rtol=1e-6)


def test_nonconvex_regularizers(rng):
    D = unit_norm_dictionary(rng, 30, 60)
    X, Y = sparse_signals(rng, D, 10, 3)
    res = pc.solve(pc.chain(Y, [(D, pc.L0Ball(3))]), method="ista", max_iter=500, tol=1e-12)
    assert np.all(np.count_nonzero(res.x, axis=0) <= 3)
    assert np.all(np.diff(res.history["objective"]) <= 1e-12 * (1 + res.history["objective"][:-1]))
    res0 = pc.solve(pc.chain(Y, [(D, pc.L0(0.01))]), method="ista", max_iter=500, tol=1e-12)
    assert np.all(np.diff(res0.history["objective"]) <= 1e-12 * (1 + res0.history["objective"][:-1]))


# ------------------------------------------------------------- stopping contract
def test_max_iter_warns_and_reports(lasso_batch):
    D, Y = lasso_batch
    with pytest.warns(pc.ConvergenceWarning, match=r"Maximum number of iterations \(3\) reached"):
        res = pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method="fista", max_iter=3, tol=1e-12)
    assert not res.converged and res.status == pc.Status.MAX_ITER and res.n_iter == 3
    assert "tol 1e-12" in res.message
    assert res.signal_converged.shape == (200,)


def test_target_and_callback_stop(lasso_batch):
    D, Y = lasso_batch
    problem = pc.chain(Y[:, :10], [(D, pc.L1(0.1))])
    full = pc.solve(problem, method="fista", max_iter=100, tol=0)
    target = full.history["objective"][9]
    res = pc.solve(problem, method="fista", target=target, max_iter=100)
    assert res.status == pc.Status.TARGET_REACHED and res.objective <= target and res.n_iter <= 10
    res = pc.solve(problem, method="fista", callback=lambda s: s.iteration == 4)
    assert res.status == pc.Status.CALLBACK_STOP and res.n_iter == 4

    def boom(state):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom") as info:
        pc.solve(problem, method="ista", callback=boom)
    assert "iteration 1" in "".join(getattr(info.value, "__notes__", []))


def test_divergence_is_detected(rng):
    D = rng.standard_normal((20, 30))
    Y = rng.standard_normal((20, 2))
    L = np.linalg.norm(D, 2) ** 2
    with pytest.warns(pc.ConvergenceWarning, match="Diverged"):
        res = pc.solve(pc.chain(Y, [(D, pc.L1(0.01))]), method="ista", step=2.5 / L, check_step=False,
                       max_iter=5000)
    assert res.status == pc.Status.DIVERGED and not res.converged


def test_warm_start_at_optimum(lasso_batch):
    D, Y = lasso_batch
    problem = pc.chain(Y[:, :5], [(D, pc.L1(0.1))])
    res = pc.solve(problem, method="fista", tol=1e-12, max_iter=10_000)
    again = pc.solve(problem, method="ista", x0=frozen(res.x), tol=1e-8)
    assert again.converged and again.n_iter <= 2


def test_zero_data_converges_without_nan(rng):
    D = rng.standard_normal((5, 8))
    res = pc.solve(pc.chain(np.zeros((5, 3)), [(D, pc.L1(0.1))]), method="fista")
    assert res.converged and res.n_iter == 1 and np.all(res.x == 0)
    assert np.all(np.isfinite(res.gap))


# ------------------------------------------------------------------- bad input
def test_bad_options(rng):
    D = rng.standard_normal((5, 8))
    problem = pc.chain(rng.standard_normal((5, 2)), [(D, pc.L1(0.1))])
    L = np.linalg.norm(D, 2) ** 2
    cases = [
        (dict(max_iter=0), r"'max_iter' parameter of fista must be an int >= 1"),
        (dict(max_iter=2.5), "'max_iter'"),
        (dict(tol=-1.0), r"'tol' parameter of fista must be a float in the range \[0.0, inf\)"),
        (dict(tol=float("nan")), "'tol'"),
        (dict(step=0.0), "'step'"),
        (dict(step=1.5 / L), r"'step' parameter of fista must be at most 1/L"),
        (dict(step=0.1, backtracking=True), "either step= or backtracking"),
        (dict(x0=np.zeros(8)), r"'x0' parameter of fista must have shape \(8, 2\)"),
        (dict(x0=np.full((8, 2), np.nan)), "x0 contains NaN"),
        (dict(gap_tol=-1.0), "'gap_tol'"),
        (dict(target="low"), "'target'"),
        (dict(callback=3), "'callback'"),
    ]
    for options, match in cases:
        with pytest.raises((ValueError, TypeError), match=match):
            pc.solve(problem, method="fista", **options)
    with pytest.raises(ValueError, match=r"Unknown \w+ 'fsta'. Did you mean 'fista'"):
        pc.solve(problem, method="fsta")
    with pytest.raises(TypeError, match="unexpected keyword"):
        pc.solve(problem, method="fista", maxiter=10)
    with pytest.raises(ValueError, match="gap_tol.*needs an L1"):
        pc.solve(pc.chain(problem.y, [(D, pc.L0(0.1))]), method="fista", gap_tol=1e-6)


def test_bad_data(rng):
    D = rng.standard_normal((5, 8))
    with pytest.raises(ValueError, match="Input y contains NaN"):
        pc.chain(np.array([1.0, np.nan, 0, 0, 0]), [(D, pc.L1(0.1))])
    with pytest.raises(ValueError, match="Input y contains infinity"):
        pc.chain(np.array([1.0, np.inf, 0, 0, 0]), [(D, pc.L1(0.1))])
    with pytest.raises(ValueError, match=r"has shape \(4, 3\) but the operator.*\(5,\)"):
        pc.chain(np.ones((4, 3)), [(D, pc.L1(0.1))])
    with pytest.raises(ValueError, match="Complex"):
        pc.chain(np.ones(5, dtype=complex), [(D, pc.L1(0.1))])
    with pytest.raises(ValueError, match="2-D"):
        pc.chain(np.ones(5), [(np.ones(5), pc.L1(0.1))])
    with pytest.raises(ValueError, match="needs a pc.Regularizer"):
        pc.chain(np.ones(5), [(D, 0.1)])


def test_inputs_are_never_modified(rng):
    D = frozen(rng.standard_normal((10, 20)))
    Y = frozen(rng.standard_normal((10, 4)))
    x0 = frozen(rng.standard_normal((20, 4)))
    lam = frozen(np.full(20, 0.1))
    before = (D.copy(), Y.copy(), x0.copy())
    for method in ("ista", "fista"):
        res = pc.solve(pc.chain(Y, [(D, pc.L1(lam))]), method=method, x0=x0, max_iter=20, tol=0)
        assert not np.shares_memory(res.x, x0)
    for a, b in zip((D, Y, x0), before):
        np.testing.assert_array_equal(a, b)


def test_multilayer_problem_refused_by_single_layer_engines(rng):
    D1, D2 = rng.standard_normal((6, 8)), rng.standard_normal((8, 10))
    problem = pc.chain(np.ones(6), [(D1, pc.L1(0.1)), (D2, pc.L1(0.1))])
    with pytest.raises(ValueError, match="ista solves one-layer problems.*ml-ista"):
        pc.solve(problem, method="ista")


def test_solve_is_pursuit_call(rng):
    D = rng.standard_normal((5, 8))
    problem = pc.chain(rng.standard_normal(5), [(D, pc.L1(0.1))])
    a = pc.solve(problem, method="ista", max_iter=7, tol=0)
    b = pc.pursuit("ista")(problem, max_iter=7, tol=0)
    np.testing.assert_array_equal(a.x, b.x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pc.solve(problem, method="fista", tol=1e-6, max_iter=10_000)


@pytest.mark.parametrize("options", [
    {"method": "ista"}, {"method": "fista"}, {"method": "fista", "restart": False},
    {"method": "fista", "backtracking": True}, {"method": "fista", "gap_tol": 1e-10},
])
@pytest.mark.parametrize("shape", [(12, 30), (30, 12)])  # wide: two products; tall: the Gram
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reused_buffers_give_the_iterates_of_fresh_ones(options, shape, dtype, rng):
    """Without a callback the engine writes into the buffers of dead states; with one it allocates afresh.

    Both runs make the same iterates, bit for bit, and the states a callback keeps stay as they were.
    """
    D = rng.standard_normal(shape).astype(dtype)
    Y = rng.standard_normal((shape[0], 5)).astype(dtype)
    problem = pc.chain(Y, [(D, pc.L1(0.3, nonneg=True))])
    kept = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pc.ConvergenceWarning)
        reused = pc.solve(problem, max_iter=40, tol=0, **options)
        fresh = pc.solve(problem, max_iter=40, tol=0, callback=lambda s: kept.append((s, s.x.copy())), **options)
    np.testing.assert_array_equal(reused.x, fresh.x)
    np.testing.assert_array_equal(reused.history["objective"], fresh.history["objective"])
    assert all(np.array_equal(state.x, copy) for state, copy in kept)
    assert len({id(state.x) for state, _ in kept}) == len(kept)


def test_reused_buffers_do_not_grow_with_the_iterations(monkeypatch, lasso_batch):
    from proxcore.engines import _workspace

    created = []
    original = _workspace.Workspace.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(_workspace.Workspace, "__init__", spy)
    D, Y = lasso_batch
    counts = []
    for iterations in (5, 60):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pc.ConvergenceWarning)
            pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method="fista", max_iter=iterations, tol=0)
        counts.append(len(created[-1]._owned))
    # at most x, z, Dx, Dz of two live states, the gradient and the residual
    assert counts[0] == counts[1] <= 10, counts


def test_workspace_hands_out_each_free_buffer_once_and_only_of_its_shape_and_dtype():
    from proxcore.engines._workspace import Workspace

    ws = Workspace()
    a, b = ws.empty((3, 2), np.float64), ws.empty((3, 2), np.float32)
    outside = np.empty((3, 2))
    ws.release(a, b, a, outside)  # twice, and an array it did not hand out
    again = [ws.empty((3, 2), np.float64), ws.empty((3, 2), np.float64)]
    assert again[0] is a and again[1] is not a and again[1] is not outside
    assert ws.empty((2, 3), np.float32) is not b and ws.empty((3, 2), np.float32) is b
    c, d = ws.empty((4,), np.float64), ws.empty((4,), np.float64)
    ws.release((c, (d,)), keep=(0, (d, "x")))  # pairs and states are searched; what keep holds stays in use
    assert ws.empty((4,), np.float64) is c and ws.empty((4,), np.float64) is not d
    fresh = Workspace(recycle=False)
    e = fresh.empty((2,), np.float64)
    fresh.release(e)
    assert fresh.empty((2,), np.float64) is not e
