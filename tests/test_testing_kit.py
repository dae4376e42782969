"""The testing kit checks itself: it passes on correct code and CAN fail on each classic bug.

Every check must raise AssertionError with a readable reason on a broken
object (an adjoint off by 1%, an ℓ0 prox thresholding at step·λ, an ℓ1
prox that shrinks by half, a solver converging to the wrong point, a
divergent step) and stay silent on the correct one (RELIABILITY §6, §8).
"""

import numpy as np
import pytest

import proxcore as pc
from proxcore.testing import (
    check_adjoint,
    check_convergence,
    check_loss,
    check_operator,
    check_prox,
    check_pursuit,
    optimum,
    tolerance,
)
from tests.conftest import frozen, unit_norm_dictionary


# ----------------------------------------------------------------------------- broken objects
class ScaledAdjoint(pc.LinearOperator):
    """A dense matrix whose adjoint is off by ``factor`` (1.01: a 1% error)."""

    def __init__(self, A, factor=1.01):
        self.A, self.factor = np.asarray(A), factor
        self.out_shape, self.in_shape = (self.A.shape[0],), (self.A.shape[1],)
        self.dtype = self.A.dtype

    def apply(self, x):
        return np.tensordot(self.A, x, 1)

    def adjoint(self, y):
        return (self.factor * np.tensordot(self.A.T, y, 1)).astype(self.A.dtype)


class FlippedConvolution(pc.LinearOperator):
    """Circular convolution whose 'adjoint' convolves again instead of correlating (the off-by-flip bug)."""

    def __init__(self, h, n):
        self.h, self.in_shape, self.out_shape = np.asarray(h, float), (n,), (n,)

    def _conv(self, x, h):
        out = np.zeros_like(x)
        for k, hk in enumerate(h):
            out += x.dtype.type(hk) * np.roll(x, k, axis=0)
        return out

    def apply(self, x):
        return self._conv(x, self.h)

    def adjoint(self, y):
        return self._conv(y, self.h)  # wrong: should be correlation (roll by -k)


class InPlaceOperator(ScaledAdjoint):
    def apply(self, x):
        x *= 1.0  # writes into the caller's array
        return np.tensordot(self.A, x, 1)


class UpcastingOperator(pc.LinearOperator):
    """Declares nothing, keeps a float64 matrix: float32 in, float64 out."""

    def __init__(self, A):
        self.A = np.asarray(A, dtype=np.float64)
        self.out_shape, self.in_shape = (self.A.shape[0],), (self.A.shape[1],)

    def apply(self, x):
        return np.tensordot(self.A, x, 1)

    def adjoint(self, y):
        return np.tensordot(self.A.T, y, 1)


class LowNorm(pc.Matrix):
    """Reports the 5-step power-iteration estimate: below the true norm."""

    def norm(self):
        return 0.9 * float(np.linalg.norm(self.array, 2))


class L0AtStepLam(pc.L0):
    """The bug public libraries shipped: hard threshold at step·λ instead of sqrt(2·step·λ)."""

    def prox(self, v, step):
        v = np.asarray(v)
        return np.where(np.abs(v) > step * self.lam, v, 0).astype(v.dtype)


class HalfShrinkL1(pc.L1):
    """An ℓ1 prox that shrinks by half the right amount: soft(v, step·λ/2)."""

    def prox(self, v, step):
        return super().prox(v, step / 2)


class HalvedL1(pc.L1):
    """An ℓ1 prox whose output is half the right one."""

    def prox(self, v, step):
        p = super().prox(v, step)
        return (p / 2).astype(p.dtype)


class InPlaceL1(pc.L1):
    def prox(self, v, step):
        v = np.asarray(v)
        np.multiply(v, 1.0, out=v)
        return super().prox(v, step)


class StatefulL1(pc.L1):
    """Shrinks a bit more on every call (hidden state, as pyproximal's call counters)."""

    def prox(self, v, step):
        calls = self.__dict__.setdefault("calls", [0])
        calls[0] += 1
        return super().prox(v, step * (1 + 1e-3 * calls[0]))


class ConvexLabelledL0(pc.L0):
    convex = True  # a lie: hard thresholding is not firmly non-expansive


def doubled_lambda_ista(problem, **options):
    """A 'solver' that converges, but to the minimizer with λ doubled."""
    (layer,) = problem.layers
    wrong = pc.chain(problem.y, [(layer.operator, pc.L1(2 * layer.regularizer.lam))])
    return pc.solve(wrong, method="ista", **options)


def misreporting_ista(problem, **options):
    """Correct iterates, but a history that claims an objective 10% lower."""
    res = pc.solve(problem, method="ista", **options)
    res.history["objective"] = res.history["objective"] * 0.9
    return res


@pytest.fixture(scope="module")
def lasso():
    rng = np.random.default_rng(7)
    D = unit_norm_dictionary(rng, 20, 40)
    X = np.zeros((40, 3))
    X[:4] = rng.standard_normal((4, 3))
    Y = D @ X + 0.01 * rng.standard_normal((20, 3))
    return D, Y, pc.chain(Y, [(D, pc.L1(0.1))])


# ----------------------------------------------------------------------------- tolerance
def test_tolerance_is_dtype_aware_and_scaled():
    assert tolerance(np.float64, 1.0) == pytest.approx(100 * np.finfo(np.float64).eps)
    assert tolerance(np.float32, 1.0) == pytest.approx(30 * np.finfo(np.float32).eps)
    assert tolerance(np.float64, 1e6) == pytest.approx(1e6 * tolerance(np.float64))
    np.testing.assert_allclose(tolerance(np.float64, np.array([1.0, 2.0])), tolerance(np.float64) * np.r_[1, 2])


# ----------------------------------------------------------------------------- check_adjoint
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_check_adjoint_passes_on_correct_operators(dtype):
    rng = np.random.default_rng(0)
    A = pc.Matrix(rng.standard_normal((7, 11)).astype(dtype))
    B = pc.Matrix(rng.standard_normal((11, 5)).astype(dtype))
    for op in (A, A.T, A @ B, 2.0 * A - A, A @ A.T + pc.Identity(7)):
        check_adjoint(op)
    check_adjoint(ScaledAdjoint(rng.standard_normal((6, 4)).astype(dtype), factor=1.0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_check_adjoint_catches_an_adjoint_off_by_one_percent(dtype):
    A = np.random.default_rng(1).standard_normal((9, 13)).astype(dtype)
    with pytest.raises(AssertionError, match=r"dot test <Ax, y> = <x, Aᵀy> does not hold") as info:
        check_adjoint(ScaledAdjoint(A, factor=1.01))
    msg = str(info.value)
    # readable: both sides, the tolerance, the relative error (about 1%), dtype and seed
    assert "<Ax, y> =" in msg and "<x, Aᵀy> =" in msg and "tolerance" in msg
    assert f"dtype {np.dtype(dtype)}" in msg and "seed 0" in msg
    rel = float(msg.split("the error is ")[1].split(")")[0])
    assert 1e-4 < rel < 2e-2


def test_check_adjoint_catches_a_flipped_convolution_adjoint():
    check_adjoint(FlippedConvolution([1.0], 8))  # a length-1 filter hides the bug (RELIABILITY A1)
    with pytest.raises(AssertionError, match="dot test"):
        check_adjoint(FlippedConvolution([1.0, -0.5, 0.25], 8))


def test_check_adjoint_catches_writes_into_the_input():
    A = np.random.default_rng(2).standard_normal((4, 3))
    with pytest.raises(AssertionError, match="writes into its input"):
        check_adjoint(InPlaceOperator(A, factor=1.0))


def test_check_adjoint_catches_float32_upcast():
    A = np.random.default_rng(3).standard_normal((4, 3))
    with pytest.raises(AssertionError, match=r"turned float32 input into float64"):
        check_adjoint(UpcastingOperator(A))
    check_adjoint(UpcastingOperator(A), dtype=np.float64)


class MemoryOrderBug(pc.LinearOperator):
    """The identity, computed through the array's memory order: wrong for Fortran-ordered batches."""

    in_shape = out_shape = (3,)

    def apply(self, x):
        return x.ravel(order="K").reshape(x.shape)

    def adjoint(self, y):
        return y.ravel(order="K").reshape(y.shape)


def test_check_adjoint_catches_a_memory_layout_bug():
    with pytest.raises(AssertionError, match="Fortran-ordered copy of x differs"):
        check_adjoint(MemoryOrderBug(), dtype=np.float64)


def test_check_adjoint_does_not_modify_the_operator():
    A = np.random.default_rng(4).standard_normal((5, 6))
    op = pc.Matrix(A)
    before = np.array(op.array, copy=True)
    check_adjoint(op)
    np.testing.assert_array_equal(op.array, before)


def test_check_operator_catches_a_norm_below_the_truth():
    A = np.random.default_rng(5).standard_normal((6, 8))
    check_operator(pc.Matrix(A))
    with pytest.raises(AssertionError, match="below a certified lower bound"):
        check_operator(LowNorm(A))


# ----------------------------------------------------------------------------- check_prox
@pytest.mark.parametrize(
    "reg",
    [
        pc.Zero(),
        pc.L1(0.3),
        pc.L1(2.0, nonneg=True),
        pc.L1(np.array([0.0, 0.1, 0.5, 1.0, 3.0])),
        pc.L0(0.5),
        pc.L0(np.array([0.01, 0.1, 1.0, 10.0])),
        pc.L0Ball(2),
        pc.L0Ball(3, signal_shape=(2, 3)),
    ],
    ids=repr,
)
def test_check_prox_passes_on_the_builtins(reg):
    check_prox(reg, trials=8)


@pytest.mark.parametrize("lam", [0.01, 1.0, 30.0])
def test_check_prox_catches_l0_thresholding_at_step_lam(lam):
    with pytest.raises(AssertionError, match=r"not the minimizer of Φ\(u\) = step·g\(u\) \+ ½‖u − v‖²") as info:
        check_prox(L0AtStepLam(lam))
    msg = str(info.value)
    assert "does better" in msg and "Φ(q) =" in msg and "v       =" in msg and "prox(v) =" in msg


@pytest.mark.parametrize("broken", [HalfShrinkL1(0.3), HalvedL1(0.3), HalfShrinkL1(0.3, nonneg=True)], ids=repr)
def test_check_prox_catches_an_l1_prox_that_shrinks_by_half(broken):
    with pytest.raises(AssertionError, match="not the minimizer"):
        check_prox(broken)


def test_the_subgradient_inequality_alone_catches_the_half_shrink():
    from proxcore.testing import _check_subgradient

    v = frozen(np.array([2.0, -0.05, 1.0, -3.0]))
    reg = HalfShrinkL1(1.0)
    p = reg.prox(v, 0.5)
    with pytest.raises(AssertionError, match="subgradient inequality"):
        _check_subgradient(reg, v, p, 0.5, np.random.default_rng(0), "check_prox(...) failed", "test")


def test_check_prox_catches_writes_into_the_input():
    with pytest.raises(AssertionError, match="writes into its input"):
        check_prox(InPlaceL1(0.3))


def test_check_prox_catches_hidden_state():
    with pytest.raises(AssertionError, match="two calls of prox on the same input disagree"):
        check_prox(StatefulL1(0.3))


def test_check_prox_catches_a_false_convex_flag():
    with pytest.raises(AssertionError, match="not a subgradient|firmly non-expansive") as info:
        check_prox(ConvexLabelledL0(1.0))
    assert "convex=False" in str(info.value)
    check_prox(ConvexLabelledL0(1.0), convex=False, trials=5)


def test_firm_nonexpansiveness_alone_catches_hard_thresholding():
    from proxcore.testing import _check_firm

    reg = pc.L0(1.0)  # threshold sqrt(2) at step 1: 1.5 is kept, 1.3 is not
    v1, v2 = frozen(np.array([1.5, 0.0])), frozen(np.array([1.3, 0.0]))
    pairs = [(1.0, v1, reg.prox(v1, 1.0)), (1.0, v2, reg.prox(v2, 1.0))]
    with pytest.raises(AssertionError, match="firmly non-expansive"):
        _check_firm(reg, pairs, np.random.default_rng(0), "check_prox(L0) failed", np.dtype(np.float64), 0)


class GreedyL0Ball(pc.L0Ball):
    """Keeps entries left to right while fewer than s are kept: feasible and maximal, not the projection."""

    def prox(self, v, step):
        def one(col):
            out, kept = np.zeros_like(col), 0
            for i in np.flatnonzero(col)[: self.s]:
                out[i], kept = col[i], kept + 1
            return out

        v = np.asarray(v)
        return one(v) if v.ndim == 1 else np.apply_along_axis(one, 0, v)


def test_brute_force_catches_a_heuristic_projection_unless_it_is_declared():
    reg = GreedyL0Ball(2, signal_shape=(6,))
    with pytest.raises(AssertionError, match="v kept on support"):
        check_prox(reg, steps=(1.0,), dtype="float64", shape=(6,))
    # declared as a heuristic: only local optimality is required, which a maximal keep-or-zero rule has
    check_prox(reg, steps=(1.0,), dtype="float64", shape=(6,), exact=False)


class UpcastingL1(pc.L1):
    def prox(self, v, step):
        return super().prox(np.asarray(v, dtype=np.float64), step)


class DeclaredFloat64L1(UpcastingL1):
    dtype = np.dtype(np.float64)


def test_check_prox_catches_float32_upcast_unless_declared():
    with pytest.raises(AssertionError, match="turned float32 input into float64"):
        check_prox(UpcastingL1(0.3), trials=2)
    check_prox(DeclaredFloat64L1(0.3), trials=2)


def soft(v, t):
    return np.sign(v) * np.maximum(np.abs(v) - t, 0)


def test_closed_forms_and_moreau():
    # RELIABILITY R2 and R4: ℓ1 is soft thresholding; its conjugate's prox is a clip to [−λ, λ]
    check_prox(pc.L1(0.3), closed_form=lambda v, t: soft(v, 0.3 * t),
               conjugate=lambda w, sigma: np.clip(w, -0.3, 0.3))
    check_prox(pc.L0(0.5), closed_form=lambda v, t: np.where(np.abs(v) > np.sqrt(2 * t * 0.5), v, 0))
    with pytest.raises(AssertionError, match="differs from its closed form"):
        check_prox(pc.L1(0.3), closed_form=lambda v, t: soft(v, 0.6 * t))
    with pytest.raises(AssertionError, match="Moreau's decomposition"):
        check_prox(pc.L1(0.3), conjugate=lambda w, sigma: np.clip(w, -0.6, 0.6))


def test_check_prox_does_not_modify_the_regularizer():
    lam = np.array([0.1, 0.2, 0.3])
    reg = pc.L1(lam)
    check_prox(reg, trials=3)
    np.testing.assert_array_equal(reg.lam, [0.1, 0.2, 0.3])


# ----------------------------------------------------------------------------- check_loss
class DoubledGradient(pc.LeastSquares):
    def grad(self, z):
        return 2 * super().grad(z)


class LowLipschitz(pc.LeastSquares):
    lipschitz = 0.5


@pytest.mark.parametrize("y", [np.array([1.0, -2.0, 0.5]), np.arange(6.0).reshape(3, 2),
                               np.ones((2, 2), dtype=np.float32)], ids=["one", "batch", "float32"])
def test_check_loss_passes_on_least_squares(y):
    check_loss(pc.LeastSquares(y))


def test_check_loss_catches_a_wrong_gradient_and_a_wrong_lipschitz_constant():
    y = np.array([1.0, -2.0, 0.5])
    with pytest.raises(AssertionError, match="grad is not the gradient of value"):
        check_loss(DoubledGradient(y))
    with pytest.raises(AssertionError, match=r"> L‖z − w‖"):
        check_loss(LowLipschitz(y))


# ----------------------------------------------------------------------------- optimum
def test_optimum_is_certified_by_the_duality_gap(lasso):
    D, Y, problem = lasso
    opt = optimum(problem)
    assert opt.slack <= 1e-12 * 0.5 * np.sum(Y * Y)
    assert opt.objective == pytest.approx(problem.objective(opt.x), rel=1e-13)
    sk = pytest.importorskip("sklearn.linear_model")
    for j in range(Y.shape[1]):  # λ_proxcore = n·α_sklearn (RELIABILITY F1)
        model = sk.Lasso(alpha=0.1 / Y.shape[0], fit_intercept=False, tol=1e-14, max_iter=100_000).fit(D, Y[:, j])
        ref = pc.chain(Y[:, j], [(D, pc.L1(0.1))]).objective(model.coef_)
        ours = pc.chain(Y[:, j], [(D, pc.L1(0.1))]).objective(opt.x[:, j])
        assert ours <= ref + 1e-12


def test_optimum_refuses_problems_it_cannot_certify():
    # a non-convex problem: not a Lasso, and the exact engine (when registered) refuses it too
    problem = pc.chain(np.ones(3), [(np.eye(3), pc.L0(0.1))])
    with pytest.raises(ValueError, match="no reference optimum.*primal-dual"):
        optimum(problem)


def test_optimum_of_a_multilayer_problem_comes_from_the_exact_engine(lasso):
    from proxcore.engines import ENGINES

    if "primal-dual" not in ENGINES:
        pytest.skip("needs the exact engine")
    D, Y, _ = lasso
    D2 = unit_norm_dictionary(np.random.default_rng(9), 40, 30)
    problem = pc.chain(Y, [(D, pc.L1(0.05)), (D2, pc.L1(0.05))])
    opt = optimum(problem)
    assert opt.source.startswith("primal-dual")
    assert opt.objective == pytest.approx(problem.objective(opt.x))
    # one layer of ℓ1: the kit certifies it itself, and agrees with the exact engine
    one = pc.chain(Y, [(D, pc.L1(0.1))])
    exact = pc.solve(one, method="primal-dual", max_iter=20000, tol=1e-12)
    assert optimum(one).objective <= exact.objective + 1e-12
    assert optimum(one).objective == pytest.approx(exact.objective, rel=1e-7)


def test_rates_are_refused_on_nonconvex_problems():
    problem = pc.chain(np.ones(3), [(np.eye(3), pc.L0(0.1))])
    with pytest.raises(ValueError, match="convex problems only"):
        check_convergence(problem, "ista", "1/k")


# ----------------------------------------------------------------------------- check_convergence
@pytest.mark.parametrize(
    "method, rate, options",
    [
        ("ista", "monotone", {}),
        ("ista", "1/k", {}),
        ("ista", "1/k", {"backtracking": True}),
        ("fista", "1/k^2", {"restart": False}),
        ("fista", "1/k^2", {}),
        ("fista", "near-optimum", {}),
    ],
)
def test_check_convergence_passes_on_correct_solvers(lasso, method, rate, options):
    check_convergence(lasso[2], method, rate, **options)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_check_convergence_float32_problems(lasso, dtype):
    D, Y, _ = lasso
    problem = pc.chain(Y.astype(dtype), [(D.astype(dtype), pc.L1(0.1))])
    check_convergence(problem, "ista", "1/k")
    check_convergence(problem, "fista", "1/k^2", restart=False)


def test_check_convergence_monotone_for_l0_ista():
    rng = np.random.default_rng(8)
    D = unit_norm_dictionary(rng, 15, 30)
    y = D[:, :3] @ np.array([1.0, -2.0, 1.5])
    check_convergence(pc.chain(y, [(D, pc.L0(0.05))]), "ista", "monotone")


@pytest.mark.parametrize("rate", ["1/k", "1/k^2", "near-optimum"])
def test_check_convergence_catches_convergence_to_the_wrong_point(lasso, rate):
    with pytest.raises(AssertionError) as info:
        check_convergence(lasso[2], doubled_lambda_ista, rate)
    msg = str(info.value)
    assert "doubled_lambda_ista" in msg and "F*" in msg
    if rate != "near-optimum":
        assert "is violated at iteration k =" in msg and "certified lasso" in msg


@pytest.mark.parametrize("method, factor", [("ista", 3.0), ("fista", 2.5)])
@pytest.mark.parametrize("rate", ["monotone", "1/k", "1/k^2"])
def test_check_convergence_catches_a_divergent_step(lasso, method, factor, rate):
    D = lasso[0]
    step = factor / np.linalg.norm(D, 2) ** 2
    with pytest.raises(AssertionError, match="rose at iteration|diverged|is violated|became"):
        check_convergence(lasso[2], method, rate, step=step, check_step=False)


def test_check_convergence_catches_a_misreported_history(lasso):
    with pytest.raises(AssertionError, match=r"history\['objective'\]"):
        check_convergence(lasso[2], misreporting_ista, "monotone")


def test_check_convergence_keeps_the_users_callback_and_inputs(lasso):
    D, Y, problem = lasso
    seen = []
    x0 = frozen(np.zeros((40, 3)))
    check_convergence(problem, "ista", "1/k", x0=x0, max_iter=50, callback=lambda s: seen.append(s.iteration))
    assert seen == list(range(1, 51))
    np.testing.assert_array_equal(problem.y, Y)


def test_check_convergence_accepts_a_given_optimum(lasso):
    opt = optimum(lasso[2])
    check_convergence(lasso[2], "ista", "1/k", optimum=(opt.objective, opt.x))
    with pytest.raises(AssertionError, match="violated"):  # a too-low F* makes every bound fail
        check_convergence(lasso[2], "ista", "1/k", optimum=(opt.objective - 1.0, opt.x))


def test_check_convergence_runs_pursuits_without_a_callback(lasso):
    def no_callback(problem, *, max_iter=100):  # a pursuit that knows no callback nor tol
        return pc.solve(problem, method="ista", max_iter=max_iter)

    check_convergence(lasso[2], no_callback, "monotone")

    def rising(problem):
        res = pc.solve(problem, method="ista", max_iter=20)
        res.history["objective"][5:] += 1.0
        return res

    with pytest.raises(AssertionError, match="rose at iteration 6"):
        check_convergence(lasso[2], rising, "monotone")


def test_check_convergence_rejects_unknown_rates(lasso):
    with pytest.raises(ValueError, match="rate must be one of"):
        check_convergence(lasso[2], "ista", "linear")


# ----------------------------------------------------------------------------- check_pursuit
def test_check_pursuit(lasso):
    check_pursuit("ista", lasso[2])
    check_pursuit("fista", lasso[2])

    def lying(problem, **options):
        res = pc.solve(problem, method="fista", **options)
        import dataclasses

        return dataclasses.replace(res, objective=res.objective - 1.0)

    with pytest.raises(AssertionError, match="res.objective"):
        check_pursuit(lying, lasso[2])
