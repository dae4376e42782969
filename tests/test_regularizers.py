"""Regularizers: the prox is the argmin, against closed forms and brute force."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import minimize_scalar

import proxcore as pc
from tests.conftest import frozen

finite = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)
vectors = hnp.arrays(np.float64, st.integers(1, 8), elements=finite)
steps = st.floats(0.01, 5.0)
lams = st.floats(0.0, 3.0)


def phi(reg, u, v, step):
    """The prox objective ``step·g(u) + ½‖u − v‖²``."""
    return step * reg.value(u) + 0.5 * float(np.sum((u - v) ** 2))


# ------------------------------------------------------------------ closed forms
def test_l1_closed_form():
    v = np.array([3.0, -0.5, -2.0, 0.0, 1.0])
    np.testing.assert_array_equal(pc.L1(1.0).prox(v, 0.5), [2.5, 0.0, -1.5, 0.0, 0.5])
    np.testing.assert_array_equal(pc.L1(1.0, nonneg=True).prox(v, 0.5), [2.5, 0.0, 0.0, 0.0, 0.5])
    assert pc.L1(2.0).value(v) == 2 * 6.5
    assert pc.L1(1.0, nonneg=True).value(v) == np.inf
    assert pc.L1(1.0, nonneg=True).value(np.abs(v)) == 6.5


def test_l0_thresholds_at_sqrt_2_step_lam():
    # v = 1.2, λ = t = 1: keeping costs 1, zeroing costs 0.72, so the prox must be 0
    # (a prox thresholding at t·λ = 1 would keep it: the public-library bug).
    assert pc.L0(1.0).prox(np.array([1.2]), 1.0)[0] == 0.0
    thr = np.sqrt(2 * 0.3 * 0.7)
    v = np.array([thr * 1.001, -thr * 1.001, thr * 0.999, -thr * 0.999, 5.0])
    np.testing.assert_array_equal(pc.L0(0.7).prox(v, 0.3), [v[0], v[1], 0, 0, 5.0])
    assert pc.L0(0.5).value(np.array([1.0, 0.0, -2.0])) == 1.0


def test_l0ball_keeps_largest_with_lowest_index_ties():
    v = np.array([1.0, -3.0, 3.0, 0.5, -1.0])
    np.testing.assert_array_equal(pc.L0Ball(2).prox(v, 1.0), [0, -3.0, 3.0, 0, 0])
    # tie between indices 0 and 4 for the third slot: the lower index wins
    np.testing.assert_array_equal(pc.L0Ball(3).prox(v, 1.0), [1.0, -3.0, 3.0, 0, 0])
    assert pc.L0Ball(5).value(v) == 0.0
    assert pc.L0Ball(4).value(v) == np.inf


def test_zero_is_identity():
    v = np.array([1.0, -2.0])
    out = pc.Zero().prox(v, 3.0)
    np.testing.assert_array_equal(out, v)
    assert out is not v
    assert pc.Zero().value(v) == 0.0


# -------------------------------------------------------------- argmin, property
@given(v=vectors, step=steps, lam=lams)
def test_l1_prox_is_argmin(v, step, lam):
    reg = pc.L1(lam)
    p = reg.prox(v, step)
    # separable: compare each coordinate against a scalar minimizer and the candidates 0 and v
    for i in range(v.size):
        f = lambda u: step * lam * abs(u) + 0.5 * (u - v[i]) ** 2  # noqa: E731
        best = minimize_scalar(f, bounds=(-11, 11), method="bounded", options={"xatol": 1e-10}).fun
        assert f(p[i]) <= min(best, f(0.0), f(v[i])) + 1e-9
    # optimality condition: (v − p)/t ∈ λ ∂|p|
    on = p != 0
    np.testing.assert_allclose((v - p)[on], step * lam * np.sign(p[on]), atol=1e-12)
    assert np.all(np.abs(v[~on]) <= step * lam + 1e-12)


@given(v=vectors, step=steps, lam=lams)
def test_nonneg_l1_prox_is_argmin(v, step, lam):
    p = pc.L1(lam, nonneg=True).prox(v, step)
    assert np.all(p >= 0)
    on = p > 0
    np.testing.assert_allclose((v - p)[on], step * lam, atol=1e-12)
    assert np.all(v[~on] <= step * lam + 1e-12)
    # it is the ReLU with bias −tλ
    np.testing.assert_allclose(p, np.maximum(v - step * lam, 0), atol=0)


@given(v=hnp.arrays(np.float64, st.integers(1, 6), elements=finite), step=steps, lam=st.floats(0.01, 3.0))
def test_l0_prox_is_argmin_by_brute_force(v, step, lam):
    reg = pc.L0(lam)
    p = reg.prox(v, step)
    best = min(
        phi(reg, np.where(mask, v, 0.0), v, step) for mask in itertools.product([False, True], repeat=v.size)
    )
    assert phi(reg, p, v, step) <= best + 1e-12


@given(v=hnp.arrays(np.float64, st.integers(1, 7), elements=finite), s=st.integers(1, 7))
def test_l0ball_prox_is_projection_by_brute_force(v, s):
    reg = pc.L0Ball(s)
    p = reg.prox(v, 1.0)
    assert np.count_nonzero(p) <= s
    assert np.all((p == 0) | (p == v))
    best = min(
        float(np.sum((v - np.where(np.isin(np.arange(v.size), keep), v, 0)) ** 2))
        for k in range(min(s, v.size) + 1)
        for keep in itertools.combinations(range(v.size), k)
    )
    assert float(np.sum((v - p) ** 2)) <= best + 1e-12
    np.testing.assert_array_equal(reg.prox(p, 1.0), p)  # idempotent


@pytest.mark.parametrize("reg", [pc.L1(0.7), pc.L1(0.7, nonneg=True), pc.Zero()])
def test_convex_prox_is_firmly_nonexpansive(reg, rng):
    for _ in range(200):
        x, y = rng.standard_normal((2, 10)) * rng.uniform(0.1, 5)
        px, py = reg.prox(x, 0.8), reg.prox(y, 0.8)
        lhs = np.sum((px - py) ** 2)
        rhs = np.dot(px - py, x - y)
        assert lhs <= rhs + 1e-12 * (np.sum(x**2) + np.sum(y**2))


def test_hard_threshold_is_not_firmly_nonexpansive():
    # why the convex flag matters: the property fails for ℓ0
    reg = pc.L0(0.5)
    x, y = np.array([1.01]), np.array([0.99])
    px, py = reg.prox(x, 1.0), reg.prox(y, 1.0)
    assert np.sum((px - py) ** 2) > np.dot(px - py, x - y)
    assert pc.L0.convex is False and pc.L0Ball.convex is False and pc.L1.convex is True


# --------------------------------------------------------------- batches, weights
@pytest.mark.parametrize("reg", [pc.L1(0.3), pc.L1(0.3, nonneg=True), pc.L0(0.3), pc.L0Ball(3), pc.Zero()])
def test_batch_equals_per_signal(reg, rng):
    V = rng.standard_normal((8, 5))
    P = reg.prox(V, 0.9)
    for j in range(5):
        np.testing.assert_array_equal(P[:, j], reg.prox(V[:, j], 0.9))


def test_per_atom_weights_broadcast_over_batch(rng):
    lam = np.array([0.0, 1.0, 10.0])
    V = rng.standard_normal((3, 4))
    P = pc.L1(lam).prox(V, 0.5)
    for i in range(3):
        np.testing.assert_array_equal(P[i], pc.L1(float(lam[i])).prox(V[i], 0.5))
    assert pc.L1(lam).value(V) == pytest.approx(np.sum(lam[:, None] * np.abs(V)))
    P0 = pc.L0(lam).prox(V, 0.5)
    for i in range(3):
        np.testing.assert_array_equal(P0[i], pc.L0(float(lam[i])).prox(V[i], 0.5))
    with pytest.raises(ValueError, match="weights of shape"):
        pc.L1(lam).prox(np.ones((4, 2)), 1.0)


def test_weights_are_owned(rng):
    lam = np.array([1.0, 2.0])
    reg = pc.L1(lam)
    lam[:] = 0
    assert reg.value(np.ones(2)) == 3.0


def test_l0ball_signal_shape():
    reg = pc.L0Ball(1, signal_shape=(2, 2))
    V = np.arange(1.0, 9.0).reshape(2, 2, 2)  # two signals of shape (2, 2)
    P = reg.prox(V, 1.0)
    assert np.count_nonzero(P[..., 0]) == 1 and P[1, 1, 0] == 7.0
    assert pc.L0Ball(2).for_signal((4,)).signal_shape == (4,)
    with pytest.raises(ValueError, match="signal_shape"):
        pc.L0Ball(1).prox(np.ones((2, 2, 2)), 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reg", [pc.L1(0.3), pc.L1(0.3, nonneg=True), pc.L0(0.3), pc.L0Ball(2), pc.Zero()])
def test_dtype_preserved_and_input_untouched(reg, dtype, rng):
    v = frozen(rng.standard_normal((6, 3)).astype(dtype))
    out = reg.prox(v, 0.7)
    assert out.dtype == dtype
    assert not np.shares_memory(out, v)
    # float32 agrees with the float64 computation to float32 rounding
    ref = reg.prox(v.astype(np.float64), 0.7)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


def test_immutable():
    reg = pc.L1(1.0)
    with pytest.raises(AttributeError):
        reg.lam = 2.0


def test_stateless_repeated_calls(rng):
    v = rng.standard_normal(20)
    for reg in (pc.L1(0.5), pc.L0(0.5), pc.L0Ball(4)):
        np.testing.assert_array_equal(reg.prox(v, 1.0), reg.prox(v, 1.0))


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: pc.L1(-1.0), r"'lam' parameter of L1 must be a float in the range \[0.0, inf\); got -1.0"),
        (lambda: pc.L1(float("nan")), "got nan"),
        (lambda: pc.L1(float("inf")), "got inf"),
        (lambda: pc.L1("0.1"), "'lam' parameter of L1"),
        (lambda: pc.L1(True), "'lam' parameter of L1"),
        (lambda: pc.L1(np.array([1.0, -1.0])), "non-negative entries"),
        (lambda: pc.L1(np.array([1.0, np.nan])), "NaN"),
        (lambda: pc.L1(1.0, nonneg="yes"), "'nonneg'"),
        (lambda: pc.L0(-0.1), "'lam' parameter of L0"),
        (lambda: pc.L0Ball(0), r"'s' parameter of L0Ball must be an int >= 1"),
        (lambda: pc.L0Ball(2.5), "'s' parameter of L0Ball"),
        (lambda: pc.L0Ball(True), "'s' parameter of L0Ball"),
        (lambda: pc.L1(1.0).prox(np.ones(2), 0.0), r"'step' parameter of L1.prox"),
        (lambda: pc.L1(1.0).prox(np.ones(2), -1.0), r"'step' parameter of L1.prox"),
        (lambda: pc.L0(1.0).prox(np.ones(2), float("nan")), r"'step' parameter of L0.prox"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()
