"""Regularizer.prox_vjp: the proxes' vector-Jacobian products (finite differences), and unrolling a user's regularizer."""

import dataclasses
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import proxcore as pc
from proxcore import InvalidParameterError
from proxcore.learn import LISTA
from proxcore.learn import _networks as nets
from tests.conftest import frozen, sparse_signals, unit_norm_dictionary


@dataclasses.dataclass(frozen=True)
class ElasticNet(pc.Regularizer):
    """A user's regularizer ``λ‖x‖₁ + (α/2)‖x‖²``: ``prox_t(v) = S_{tλ}(v) / (1 + tα)``, written here, not in proxcore."""

    lam: float = 0.3
    alpha: float = 0.5

    def value(self, x):
        return float(self.lam * np.abs(x).sum() + 0.5 * self.alpha * (x * x).sum())

    def prox(self, v, step):
        return np.sign(v) * np.maximum(np.abs(v) - step * self.lam, 0) / (1 + step * self.alpha)

    def prox_vjp(self, v, step):
        t = np.reshape(step, np.shape(step) + (1,) * (v.ndim - np.ndim(step)))
        mask = np.abs(v) > t * self.lam
        shrunk = np.sign(v) * np.maximum(np.abs(v) - t * self.lam, 0)
        scale = 1 + t * self.alpha
        axes = tuple(range(np.ndim(step), v.ndim))

        def pullback(c):
            d_step = (-self.lam * np.sign(v) * mask * scale - self.alpha * shrunk) / scale**2
            return c * mask / scale, np.sum(c * d_step, axis=axes)
        return shrunk / scale, pullback


class NoVJP(pc.Regularizer):
    def value(self, x):
        return 0.0

    def prox(self, v, step):
        return np.array(v, dtype=float)


def regularizer(name, m, rng):
    lam = rng.uniform(0.1, 1.0, m) if name.endswith("per-atom") else float(rng.uniform(0.1, 1.0))
    return {"L1": lambda: pc.L1(lam), "L1 nonneg": lambda: pc.L1(lam, nonneg=True), "L0": lambda: pc.L0(lam),
            "Zero": pc.Zero, "elastic net": lambda: ElasticNet(float(rng.uniform(0.1, 1)), float(rng.uniform(0, 1))),
            }[name.replace(" per-atom", "")]()


def thresholds(reg, t):
    """Where the prox has a kink or a jump, as a threshold on ``|v|`` (``t`` broadcast against ``v``)."""
    lam = np.asarray(getattr(reg, "lam", 0.0))
    lam = lam.reshape(lam.shape + (1,) * (t.ndim - lam.ndim))
    if isinstance(reg, pc.L0):
        return np.sqrt(2 * t * lam)
    return t * lam  # L1 (nonneg: a subset), elastic net; Zero: no kink, the check is harmless


def reference_prox(reg, v, step):
    """The prox through ``reg.prox`` (the engines' code path), one row at a time for per-row steps."""
    if np.ndim(step) == 0:
        return reg.prox(v, float(step))
    rows = []
    for r in range(v.shape[0]):
        row_reg = reg
        if isinstance(getattr(reg, "lam", None), np.ndarray):
            row_reg = dataclasses.replace(reg, lam=reg.lam[r:r + 1])
        rows.append(row_reg.prox(v[r:r + 1], float(step[r])))
    return np.concatenate(rows)


NAMES = ["L1", "L1 per-atom", "L1 nonneg", "L1 nonneg per-atom", "L0", "L0 per-atom", "Zero", "elastic net"]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), n=st.integers(1, 4), per_row=st.booleans())
def test_prox_vjp_matches_finite_differences(name, seed, m, n, per_row):
    rng = np.random.default_rng(seed)
    reg = regularizer(name, m, rng)
    v = 2 * rng.standard_normal((m, n))
    step = rng.uniform(0.05, 1.5, m) if per_row else float(rng.uniform(0.05, 1.5))
    t = np.reshape(step, np.shape(step) + (1,) * (v.ndim - np.ndim(step)))
    assume(np.min(np.abs(np.abs(v) - thresholds(reg, t))) > 1e-4)  # away from the kinks

    u, pullback = reg.prox_vjp(frozen(v), step)
    np.testing.assert_allclose(u, reference_prox(reg, v, step), rtol=1e-13, atol=1e-14)
    c = rng.standard_normal(v.shape)
    grad_v, grad_step = pullback(c)
    assert grad_v.shape == v.shape and np.shape(grad_step) == np.shape(step)

    eps = 1e-6
    d = rng.standard_normal(v.shape)
    fd_v = (np.vdot(c, reference_prox(reg, v + eps * d, step)) - np.vdot(c, reference_prox(reg, v - eps * d, step)))
    assert abs(fd_v / (2 * eps) - np.vdot(grad_v, d)) <= 1e-6 * (1 + abs(np.vdot(grad_v, d)))
    e = rng.standard_normal(np.shape(step))
    fd_t = (np.vdot(c, reference_prox(reg, v, step + eps * e)) - np.vdot(c, reference_prox(reg, v, step - eps * e)))
    assert abs(fd_t / (2 * eps) - np.sum(grad_step * e)) <= 1e-6 * (1 + abs(np.sum(grad_step * e)))


@pytest.mark.parametrize("nonneg", [False, True])
@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), n=st.integers(1, 4))
def test_l1_prox_vjp_at_steps_of_either_sign(nonneg, seed, m, n):
    """A learned threshold (a ReLU bias) may cross zero: the formulas extend, and so must the VJP."""
    rng = np.random.default_rng(seed)
    reg = pc.L1(float(rng.uniform(0.1, 1)), nonneg=nonneg)
    v, step = 2 * rng.standard_normal((m, n)), rng.uniform(-1, 1, m)
    thr = step[:, None] * reg.lam
    assume(np.min(np.abs(np.abs(v) - np.abs(thr))) > 1e-4 and np.min(np.abs(v)) > 1e-4)
    u, pullback = reg.prox_vjp(v, step)
    expected = np.maximum(v - thr, 0) if nonneg else np.where(np.abs(v) > thr, v - np.sign(v) * thr, 0)
    np.testing.assert_allclose(u, expected, rtol=1e-14)
    c, d, e, eps = rng.standard_normal(v.shape), rng.standard_normal(v.shape), rng.standard_normal(m), 1e-6
    grad_v, grad_step = pullback(c)
    fd_v = (np.vdot(c, reg.prox_vjp(v + eps * d, step)[0]) - np.vdot(c, reg.prox_vjp(v - eps * d, step)[0])) / 2 / eps
    fd_t = (np.vdot(c, reg.prox_vjp(v, step + eps * e)[0]) - np.vdot(c, reg.prox_vjp(v, step - eps * e)[0])) / 2 / eps
    assert abs(fd_v - np.vdot(grad_v, d)) <= 1e-6 * (1 + abs(fd_v))
    assert abs(fd_t - np.vdot(grad_step, e)) <= 1e-6 * (1 + abs(fd_t))


def test_relu_with_bias_is_the_nonneg_l1_prox_at_minus_the_bias():
    v, b = np.array([[0.3, -1.0], [2.0, -0.1]]), np.array([-0.5, 0.4])
    u, pullback = pc.L1(1.0, nonneg=True).prox_vjp(v, -b)
    np.testing.assert_array_equal(u, np.maximum(v + b[:, None], 0))
    grad_v, grad_step = pullback(np.ones_like(v))
    np.testing.assert_array_equal(grad_v, [[0, 0], [1, 1]])  # the ReLU mask
    np.testing.assert_array_equal(-grad_step, [0, 2])  # d/db: the mask's row sums


def test_prox_vjp_dtype_and_inputs():
    v = frozen(np.array([[1.0, -0.2], [0.4, -3.0]], dtype=np.float32))
    for reg in (pc.L1(0.5), pc.L1(np.array([0.1, 0.2]), nonneg=True), pc.L0(0.1), pc.Zero()):
        u, pullback = reg.prox_vjp(v, np.array([0.5, 1.0]))
        grad_v, grad_step = pullback(frozen(np.ones((2, 2), dtype=np.float32)))
        assert u.dtype == grad_v.dtype == grad_step.dtype == np.float32, reg
        assert grad_step.shape == (2,)
        _, pullback = reg.prox_vjp(v, 0.5)
        assert np.shape(pullback(np.ones((2, 2)))[1]) == ()


def test_prox_vjp_bad_input():
    v = np.ones((3, 2))
    with pytest.raises(InvalidParameterError, match="'step'.*leading axes"):
        pc.L1(0.1).prox_vjp(v, np.ones(2))
    with pytest.raises(InvalidParameterError, match="'step'"):
        pc.L1(0.1).prox_vjp(v, np.nan)
    with pytest.raises(InvalidParameterError, match="'step'.*>= 0"):
        pc.L0(0.1).prox_vjp(v, -1.0)
    with pytest.raises(InvalidParameterError, match="weights"):
        pc.L1(np.ones(2)).prox_vjp(v, 1.0)
    _, pullback = pc.Zero().prox_vjp(v, 1.0)
    with pytest.raises(InvalidParameterError, match="cotangent"):
        pullback(np.ones(3))


def test_a_regularizer_without_prox_vjp_is_refused_by_name():
    with pytest.raises(TypeError, match="NoVJP does not define prox_vjp"):
        NoVJP().prox_vjp(np.ones(3), 1.0)
    rng = np.random.default_rng(0)
    D = unit_norm_dictionary(rng, 4, 6)
    P = nets.lista_init(D, 2, "lista", np.float64)
    with pytest.raises(TypeError, match="NoVJP"):
        nets.lista_loss_grad(P, rng.standard_normal((4, 3)), rng.standard_normal((3, 6)), D, 2, "lista", NoVJP())
    with pytest.raises(TypeError, match="'lam' parameter of LISTA is a NoVJP.*prox_vjp"):
        LISTA(D, NoVJP(), n_layers=2).fit(rng.standard_normal((10, 4)))


def test_the_classifier_networks_dispatch_through_prox_vjp(monkeypatch):
    calls = []
    true_prox_vjp = pc.L1.prox_vjp

    def counting(self, v, step):
        calls.append(self)
        return true_prox_vjp(self, v, step)

    monkeypatch.setattr(pc.L1, "prox_vjp", counting)
    rng = np.random.default_rng(0)
    P = nets.ml_init((5, 4, 3), 2, rng, np.float64)
    nets.ml_loss_grad(P, rng.standard_normal((5, 6)), rng.integers(0, 2, 6), "ml-ista", 3)
    assert len(calls) == 2 * 3 and all(reg.nonneg and reg.lam == 1.0 for reg in calls)  # 2 layers, 3 iterations


# --- a user's regularizer, unrolled ------------------------------------------------------------------------------
def elastic_net_ista(D, Y, reg, K):
    """``K`` ISTA iterations on ``½‖y − Dx‖² + λ‖x‖₁ + (α/2)‖x‖²`` from 0, step ``1/‖D‖²``, written out here."""
    eta = 1 / np.linalg.norm(D, 2) ** 2
    x = np.zeros((D.shape[1], Y.shape[1]))
    for _ in range(K):
        z = x - eta * D.T @ (D @ x - Y)
        x = np.sign(z) * np.maximum(np.abs(z) - eta * reg.lam, 0) / (1 + eta * reg.alpha)
    return x


@pytest.mark.parametrize("variant", nets.VARIANTS)
def test_a_user_regularizer_is_unrolled_with_exact_gradients(variant):
    rng = np.random.default_rng(7)
    D = unit_norm_dictionary(rng, 6, 9)
    reg, K = ElasticNet(0.2, 0.5), 3
    Y, X_star = rng.standard_normal((6, 5)), rng.standard_normal((5, 9))
    assert nets.lista_regularizer(reg) == (reg, 1.0)  # a user's regularizer: its own prox, steps from η
    P = nets.lista_init(D, K, variant, np.float64)
    np.testing.assert_allclose(nets.lista_codes(P, Y, D, K, variant, reg), elastic_net_ista(D, Y, reg, K),
                               rtol=1e-10, atol=1e-12)
    P = {k: v + 0.05 * rng.standard_normal(v.shape) for k, v in P.items()}
    _, grads = nets.lista_loss_grad(P, Y, X_star, D, K, variant, reg)
    for k, v in P.items():
        d, eps = rng.standard_normal(v.shape), 1e-6
        loss = lambda Q: nets.lista_loss_grad(Q, Y, X_star, D, K, variant, reg, need_grad=False)[0]  # noqa: E731
        fd = (loss({**P, k: v + eps * d}) - loss({**P, k: v - eps * d})) / (2 * eps)
        assert abs(fd - np.sum(grads[k] * d)) <= 1e-5 * max(abs(fd), 1e-3), k


def test_lista_learns_a_user_regularizer():
    """Trained on the elastic-net codes (scikit-learn's ElasticNet, rescaled), it approaches them better than ISTA."""
    from sklearn.linear_model import ElasticNet as SklearnElasticNet

    rng = np.random.default_rng(3)
    D = unit_norm_dictionary(rng, 12, 24)
    _, Y = sparse_signals(rng, D, 500, 3, noise=0.02)
    Y_train, Y_test = Y.T[:400], Y.T[400:]
    reg, K, n = ElasticNet(0.1, 0.2), 4, D.shape[0]
    # ½‖y − Dx‖² + λ‖x‖₁ + (a/2)‖x‖², divided by n, is scikit-learn's objective with these alpha and l1_ratio
    sk = SklearnElasticNet(alpha=(reg.lam + reg.alpha) / n, l1_ratio=reg.lam / (reg.lam + reg.alpha),
                           fit_intercept=False, tol=1e-14, max_iter=100_000)
    star = sk.fit(D, Y_test.T).coef_.T
    est = LISTA(D, reg, n_layers=K, learning_rate=1e-2, max_epochs=15, batch_size=32, n_iter_no_change=15,
                random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pc.ConvergenceWarning)  # its targets converged
        est.fit(Y_train)
    np.testing.assert_allclose(est.lasso_codes(Y_test).T, star, atol=1e-6)

    def error(X):
        return np.linalg.norm(X - star) / np.linalg.norm(star)

    err_lista, err_ista = error(est.transform(Y_test).T), error(elastic_net_ista(D, Y_test.T, reg, K))
    assert err_lista < 0.6 * err_ista, (err_lista, err_ista)
