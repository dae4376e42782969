"""pc.Convolution against independent references: direct convolution wrapped circularly, dense
matrices (adjoint, spectral norm, Gram, composition), convolutional BP through the ordinary fista
engine against FISTA on the explicit matrix; batches, dtypes, purity, bad input, the plugin."""

import importlib.metadata

import numpy as np
import pytest
import scipy.signal
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import proxcore as pc
from proxcore.convolution import ConvolutionGram
from proxcore.linalg import gram, spectral_norm
from proxcore.testing import check_adjoint, check_operator
from tests.conftest import frozen, run_tutorial


# ----------------------------------------------------------------------------- references
def wrap(full, shape):
    """Fold a full linear convolution onto ``shape`` circularly (index i goes to i mod N)."""
    out = np.zeros(shape)
    for idx in np.ndindex(full.shape):
        out[tuple(i % n for i, n in zip(idx, shape))] += full[idx]
    return out


def direct(filters, x, signal_shape):
    """Σ_k d_k ⊛ x_k (and per channel for multichannel filters) by scipy.signal.convolve, wrapped."""
    d = len(signal_shape)
    if filters.ndim == d + 1:
        return sum(wrap(scipy.signal.convolve(x[k], filters[k], method="direct"), signal_shape)
                   for k in range(filters.shape[0]))
    K, C = filters.shape[:2]
    return np.stack([
        sum(wrap(scipy.signal.convolve(x[k], filters[k, c], method="direct"), signal_shape) for k in range(K))
        for c in range(C)
    ])


def dense(op):
    """The matrix of ``op`` (rows: flattened out_shape, columns: flattened in_shape)."""
    n = op.in_size
    eye = np.eye(n).reshape(tuple(op.in_shape) + (n,))
    return np.asarray(op.apply(eye), dtype=np.float64).reshape(op.out_size, n)


def asymmetric(rng, shape, dtype=np.float64):
    """Random filters; reject (vanishingly unlikely) symmetric ones (RELIABILITY A1)."""
    h = rng.standard_normal(shape)
    spatial = tuple(range(h.ndim - (len(shape) - 1), h.ndim))
    assert not np.allclose(h, np.flip(h, axis=spatial[-1]))
    return h.astype(dtype)


def fft_tol(filters, x, n):
    """c·log2(N)·eps·‖h‖₁‖x‖_∞ (RELIABILITY A7), per output sample, summed over filters."""
    eps = np.finfo(np.float64).eps
    return 32 * (np.log2(max(n, 2)) + 1) * eps * np.abs(filters).sum() * max(np.abs(x).max(), 1e-300)


# 1-D cases: even, odd, prime lengths, filter longer than signal, length-1 filter and signal
CASES_1D = [(3, 2, 8), (2, 3, 9), (4, 5, 13), (2, 7, 5), (3, 1, 6), (2, 4, 1), (2, 1, 1), (1, 2, 2), (5, 11, 31)]


@pytest.mark.parametrize("K,f,N", CASES_1D)
def test_apply_1d_equals_direct_convolution(rng, K, f, N):
    h = rng.standard_normal((K, f))
    x = rng.standard_normal((K, N))
    D = pc.Convolution(h, N)
    assert D.in_shape == (K, N) and D.out_shape == (N,)
    np.testing.assert_allclose(D @ x, direct(h, x, (N,)), rtol=0, atol=fft_tol(h, x, N))


def test_very_long_signal(rng):
    """RELIABILITY T16: a long prime-length signal; np.convolve wrapped as the reference."""
    N, f = 262_147, 5  # prime
    h = rng.standard_normal((2, f))
    x = rng.standard_normal((2, N))
    ref = np.zeros(N)
    for k in range(2):
        full = np.convolve(x[k], h[k])
        ref += full[:N]
        ref[: f - 1] += full[N:]
    D = pc.Convolution(h, N)
    np.testing.assert_allclose(D @ x, ref, rtol=0, atol=fft_tol(h, x, N))
    assert D.norm() <= np.abs(h).sum(axis=1) @ np.ones(2) and D.norm() >= np.abs(h.sum(axis=1)).max()


@settings(max_examples=40)
@given(data=st.data())
def test_hypothesis_dot_test(data):
    """RELIABILITY A1 with hypothesis: filters of length ≥ 2 and not symmetric (a flipped adjoint passes
    the dot test exactly for symmetric or length-1 filters)."""
    K = data.draw(st.integers(1, 3))
    f = data.draw(st.integers(2, 6))
    N = data.draw(st.integers(1, 12))
    elems = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
    h = np.array(data.draw(st.lists(elems, min_size=K * f, max_size=K * f))).reshape(K, f)
    assume(not np.allclose(h, h[:, ::-1]))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    D = pc.Convolution(h.astype(dtype), N)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((K, N)).astype(dtype)
    y = rng.standard_normal(N).astype(dtype)
    Ax, ATy = D @ x, D.T @ y
    lhs = np.vdot(Ax.astype(np.float64), y.astype(np.float64))
    rhs = np.vdot(x.astype(np.float64), ATy.astype(np.float64))
    scale = np.linalg.norm(Ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(ATy)
    assert abs(lhs - rhs) <= 50 * np.finfo(dtype).eps * scale


@pytest.mark.parametrize("K,fshape,shape", [(3, (2, 3), (6, 7)), (2, (4, 4), (5, 8)), (2, (3, 1), (2, 3)),
                                            (1, (6, 2), (3, 5)), (4, (1, 1), (4, 4))])
def test_apply_2d_equals_direct_convolution(rng, K, fshape, shape):
    h = rng.standard_normal((K,) + fshape)
    x = rng.standard_normal((K,) + shape)
    D = pc.Convolution(h, shape)
    np.testing.assert_allclose(D @ x, direct(h, x, shape), rtol=0, atol=fft_tol(h, x, np.prod(shape)))


@pytest.mark.parametrize("signal_shape,fshape", [((9,), (3,)), ((5, 6), (2, 3))])
def test_multichannel_apply_equals_direct_convolution(rng, signal_shape, fshape):
    h = rng.standard_normal((4, 3) + fshape)
    x = rng.standard_normal((4,) + signal_shape)
    D = pc.Convolution(h, signal_shape)
    assert D.in_shape == (4,) + signal_shape and D.out_shape == (3,) + signal_shape
    np.testing.assert_allclose(D @ x, direct(h, x, signal_shape), rtol=0, atol=fft_tol(h, x, np.prod(signal_shape)))


def test_filter_at_origin_and_delta_code():
    """A delta code at position 0 reproduces the filter in the first samples (SPORCO's placement)."""
    h = np.array([[1.0, 2.0, 3.0]])
    x = np.zeros((1, 6))
    x[0, 0] = 1.0
    np.testing.assert_allclose(pc.Convolution(h, 6) @ x, [1, 2, 3, 0, 0, 0], atol=1e-15)
    x = np.zeros((1, 6))
    x[0, 5] = 1.0  # the last position wraps around
    np.testing.assert_allclose(pc.Convolution(h, 6) @ x, [2, 3, 0, 0, 0, 1], atol=1e-15)


def test_adjoint_is_correlation(rng):
    """(Dᵀy)_k[n] = Σ_m h_k[m] y[n + m] (circular), computed by explicit loops."""
    K, f, N = 3, 4, 7
    h = asymmetric(rng, (K, f))
    y = rng.standard_normal(N)
    ref = np.array([[sum(h[k, m] * y[(n + m) % N] for m in range(f)) for n in range(N)] for k in range(K)])
    np.testing.assert_allclose(pc.Convolution(h, N).T @ y, ref, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fshape,shape,channels", [((2,), (7,), None), ((5,), (8,), None), ((3, 2), (5, 6), None),
                                                   ((2, 3), (4, 5), 3), ((4,), (3,), 2), ((9,), (4,), None)])
def test_dot_test_asymmetric_filters(rng, dtype, fshape, shape, channels):
    """RELIABILITY A1: ⟨Ax, y⟩ = ⟨x, Aᵀy⟩, tolerance scaled by the norms, inner products in float64."""
    K = 3
    h = asymmetric(rng, (K,) + ((channels,) if channels else ()) + fshape, dtype)
    D = pc.Convolution(h, shape)
    for _ in range(3):
        x = rng.standard_normal(D.in_shape + (2,)).astype(dtype)
        y = rng.standard_normal(D.out_shape + (2,)).astype(dtype)
        Ax, ATy = D @ x, D.T @ y
        assert Ax.dtype == dtype and ATy.dtype == dtype
        lhs = np.vdot(Ax.astype(np.float64), y.astype(np.float64))
        rhs = np.vdot(x.astype(np.float64), ATy.astype(np.float64))
        scale = np.linalg.norm(Ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(ATy)
        assert abs(lhs - rhs) <= 50 * np.finfo(dtype).eps * scale, (lhs, rhs, scale)
    check_adjoint(D)  # also: shapes, batch = per signal, purity on read-only inputs, dtype


def test_flipped_adjoint_would_be_caught(rng):
    """The test above separates a correct adjoint from the classic flipped one (length ≥ 2, asymmetric)."""
    h = asymmetric(rng, (1, 3))
    D, flipped = pc.Convolution(h, 8), pc.Convolution(h[:, ::-1], 8)
    x, y = rng.standard_normal((1, 8)), rng.standard_normal(8)
    good = abs(np.vdot(D @ x, y) - np.vdot(x, D.T @ y))
    bad = abs(np.vdot(D @ x, y) - np.vdot(x, flipped.T @ y))
    assert good < 1e-12 and bad > 1e-3


@pytest.mark.parametrize("filters_shape,shape", [((3, 4), (9,)), ((2, 7), (5,)), ((4, 2, 3), (5, 4)),
                                                 ((3, 2, 2, 2), (4, 3)), ((2, 3, 5), (11,)), ((1, 1), (1,))])
def test_spectral_norm_exact(rng, filters_shape, shape):
    D = pc.Convolution(rng.standard_normal(filters_shape), shape)
    exact = np.linalg.norm(dense(D), 2)
    value = D.norm()
    assert value >= exact  # an upper bound (step sizes rely on it) ...
    assert value <= exact * (1 + 1e-10) + 1e-13  # ... tight to round-off
    assert spectral_norm(D) == value
    check_operator(D)


def test_gram_in_fourier_domain(rng):
    for filters_shape, shape in [((3, 4), (9,)), ((3, 2, 2, 3), (4, 5)), ((2, 3), (6,)), ((2, 3, 3), (7,))]:
        D = pc.Convolution(rng.standard_normal(filters_shape), shape)
        G = ConvolutionGram(D)
        # offered to the engines by the rule of pc.Matrix: fewer filters than twice the channels
        assert (gram(D) is not None) == (D.n_filters < 2 * D.n_channels)
        assert G.in_shape == G.out_shape == D.in_shape
        M = dense(D)
        np.testing.assert_allclose(dense(G), M.T @ M, atol=1e-12 * np.abs(M).max() ** 2 * M.shape[0])
        assert G.norm() >= np.linalg.norm(M, 2) ** 2 * (1 - 1e-12)
        check_adjoint(G)


def test_composition_is_an_exact_convolution(rng):
    D1 = pc.Convolution(rng.standard_normal((4, 3, 3)), (5, 6))  # γ1 (4, 5, 6) -> signal (5, 6)
    D2 = pc.Convolution(rng.standard_normal((6, 4, 2, 3)), (5, 6))  # γ2 (6, 5, 6) -> γ1 (4, 5, 6)
    P = D1 @ D2
    assert isinstance(P, pc.Convolution) and P.in_shape == (6, 5, 6) and P.out_shape == (5, 6)
    M = dense(D1) @ dense(D2)
    np.testing.assert_allclose(dense(P), M, atol=1e-12 * np.abs(M).max())
    assert np.linalg.norm(M, 2) <= P.norm() <= np.linalg.norm(M, 2) * (1 + 1e-10)
    x = rng.standard_normal((6, 5, 6))
    np.testing.assert_allclose(P @ x, D1 @ (D2 @ x), atol=1e-12 * np.abs(M).max() * x.size)
    assert isinstance(D1 @ (D2 @ x), np.ndarray)  # arrays still apply


def test_batch_is_per_signal_and_keeps_axes(rng):
    D = pc.Convolution(rng.standard_normal((3, 2, 2)), (4, 5))
    X = rng.standard_normal((3, 4, 5, 2, 3))
    Y = D @ X
    assert Y.shape == (4, 5, 2, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(Y[..., i, j], D @ X[..., i, j], atol=1e-13)
    Z = D.T @ Y
    assert Z.shape == X.shape
    np.testing.assert_allclose(Z[..., 1, 2], D.T @ Y[..., 1, 2], atol=1e-13)
    # Fortran-ordered and strided inputs give the same result (RELIABILITY N11)
    np.testing.assert_allclose(D @ np.asfortranarray(X), Y, atol=1e-13)
    np.testing.assert_allclose(D @ X[..., ::2, :], Y[..., ::2, :], atol=1e-13)


def test_caller_arrays_never_modified_and_filters_owned(rng):
    h = rng.standard_normal((2, 3))
    h0 = h.copy()
    D = pc.Convolution(h, 6)
    x, y = frozen(rng.standard_normal((2, 6)), rng.standard_normal(6))
    D @ x, D.T @ y, ConvolutionGram(D) @ x
    h[:] = 0.0  # the operator owns a copy
    assert np.abs(D @ x).max() > 0
    np.testing.assert_array_equal(D.filters, h0)


def test_float32_preserved_and_mixed_precision(rng):
    h = rng.standard_normal((3, 4)).astype(np.float32)
    D = pc.Convolution(h, 10)
    x32 = rng.standard_normal((3, 10)).astype(np.float32)
    assert D.dtype == np.float32
    assert (D @ x32).dtype == np.float32 and (D.T @ (D @ x32)).dtype == np.float32
    assert (ConvolutionGram(D) @ x32).dtype == np.float32
    assert (D @ x32.astype(np.float64)).dtype == np.float64  # result_type, as pc.Matrix
    ref = pc.Convolution(h.astype(np.float64), 10) @ x32.astype(np.float64)
    np.testing.assert_allclose(D @ x32, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_workers_give_the_same_result(rng):
    h, x = rng.standard_normal((4, 3, 3)), rng.standard_normal((4, 16, 16))
    np.testing.assert_allclose(pc.Convolution(h, (16, 16), workers=2) @ x, pc.Convolution(h, (16, 16)) @ x,
                               atol=1e-12)


@pytest.mark.parametrize("kwargs,name", [
    ({"filters": np.ones((2, 3)), "signal_shape": 0}, "signal_shape"),
    ({"filters": np.ones((2, 3)), "signal_shape": (4, 4)}, "filters"),
    ({"filters": np.ones(3), "signal_shape": 4}, "filters"),
    ({"filters": np.ones((0, 3)), "signal_shape": 4}, "filters"),
    ({"filters": np.array([[1.0, np.nan]]), "signal_shape": 4}, "filters"),
    ({"filters": np.array([[1.0 + 1j, 0]]), "signal_shape": 4}, "filters"),
    ({"filters": np.ones((2, 3)), "signal_shape": 4, "workers": 0}, "workers"),
])
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(pc.InvalidParameterError, match=name):
        pc.Convolution(**kwargs)


def test_wrong_code_shape_is_refused():
    D = pc.Convolution(np.ones((2, 3)), 5)
    with pytest.raises(pc.InvalidParameterError, match=r"\(2, 5\)"):
        D @ np.ones((3, 5))
    with pytest.raises(pc.InvalidParameterError):
        D.T @ np.ones(4)


# ----------------------------------------------------------------------------- solvers
def _conv_problem(rng, dtype=np.float64):
    shape = (12, 10)
    h = rng.standard_normal((3, 3, 3))
    h /= np.linalg.norm(h.reshape(3, -1), axis=1)[:, None, None]
    D = pc.Convolution(h.astype(dtype), shape)
    x = np.zeros((3,) + shape)
    x.flat[rng.choice(x.size, 12, replace=False)] = rng.standard_normal(12)
    y = (D @ x + 0.05 * rng.standard_normal(shape)).astype(dtype)
    return D, y


def test_conv_bp_through_fista_equals_fista_on_the_dense_matrix(rng):
    """Convolutional BP ½‖Σ d_k * x_k − s‖² + λΣ‖x_k‖₁ with the FFT operator and the ordinary engine."""
    D, y = _conv_problem(rng)
    lam = 0.1
    res = pc.solve(pc.chain(y, [(D, pc.L1(lam))]), method="fista", tol=1e-11, max_iter=5000)
    M = dense(D)
    ref = pc.solve(pc.chain(y.ravel(), [(pc.Matrix(M), pc.L1(lam))]), method="fista", tol=1e-11, max_iter=5000)
    assert res.converged and ref.converged
    assert res.x.shape == D.in_shape
    assert abs(res.objective - ref.objective) <= 1e-9 * ref.objective
    np.testing.assert_allclose(res.x.ravel(), ref.x, atol=1e-6)
    # and it is the Lasso optimum: the KKT conditions hold on the dense matrix
    corr = M.T @ (y.ravel() - M @ res.x.ravel())
    assert np.abs(corr).max() <= lam * (1 + 1e-5)
    on = res.x.ravel() != 0
    np.testing.assert_allclose(corr[on], lam * np.sign(res.x.ravel()[on]), atol=1e-5)


def test_conv_bp_float32_and_batch(rng):
    D, y = _conv_problem(rng, np.float32)
    Y = np.stack([y, 0.5 * y], axis=-1)
    res = pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method="fista", tol=1e-6, max_iter=3000)
    assert res.x.dtype == np.float32 and res.x.shape == D.in_shape + (2,)
    one = pc.solve(pc.chain(Y[..., 1], [(D, pc.L1(0.1))]), method="fista", tol=1e-6, max_iter=3000)
    np.testing.assert_allclose(res.x[..., 1], one.x, atol=1e-3)


def _ml_csc(rng):
    shape = (16,)
    D1 = pc.dictionary("convolution", n_filters=4, filter_shape=3, signal_shape=shape, seed=1)
    D2 = pc.dictionary("convolution", n_filters=6, filter_shape=3, channels=4, signal_shape=shape, seed=2)
    g2 = np.zeros((6,) + shape)
    g2.flat[rng.choice(g2.size, 4, replace=False)] = 1.0 + rng.random(4)
    y = D1 @ (D2 @ g2) + 0.01 * rng.standard_normal(shape)
    return D1, D2, y


def _method(name):
    if name not in pc.plugins.names()["pursuits"]:
        pytest.skip(f"pursuit {name!r} is not registered in this tree")
    return name


@pytest.fixture(scope="module")
def ml_csc():
    """A two-layer convolutional model, its chain with the FFT operators, the same chain with dense
    matrices, and the exact optimum (primal-dual on the dense chain)."""
    method = _method("primal-dual")
    D1, D2, y = _ml_csc(np.random.default_rng(7))
    conv = pc.chain(y, [(D1, pc.L1(0.02)), (D2, pc.L1(0.02))])
    mats = pc.chain(y, [(dense(D1), pc.L1(0.02)), (dense(D2), pc.L1(0.02))])
    best = pc.solve(mats, method=method, tol=1e-10, max_iter=30000)
    assert best.converged
    return D1, D2, y, conv, mats, best


@pytest.mark.filterwarnings("ignore::proxcore.ConvergenceWarning")
def test_ml_csc_two_layers_primal_dual_against_dense(ml_csc):
    """A two-layer convolutional model through pc.chain: the exact engine runs the same iterates as on
    the explicit matrices (same algorithm, same operator up to round-off)."""
    D1, D2, y, conv, mats, best = ml_csc
    x = np.random.default_rng(1).standard_normal(D2.in_shape)
    assert abs(conv.objective(x) - mats.objective(x.reshape(-1))) <= 1e-12 * mats.objective(x.reshape(-1))
    a = pc.solve(conv, method="primal-dual", max_iter=400)
    b = pc.solve(mats, method="primal-dual", max_iter=400)
    assert a.n_iter == b.n_iter == 400
    assert abs(a.objective - b.objective) <= 1e-9 * b.objective
    np.testing.assert_allclose(a.x.reshape(-1), b.x, atol=1e-8)
    assert best.objective <= a.objective


@pytest.mark.filterwarnings("ignore::proxcore.ConvergenceWarning")
@pytest.mark.parametrize("name,iters,rgap", [("ml-ista", 1000, 0.1), ("ml-fista", 300, 0.01)])
def test_ml_csc_two_layers_nested_engines(ml_csc, name, iters, rgap):
    method = _method(name)
    D1, D2, y, conv, mats, best = ml_csc
    res = pc.solve(conv, method=method, max_iter=iters)
    assert res.x.shape == D2.in_shape
    assert len(res.codes) == 2 and res.codes[0].shape == D1.in_shape
    # ML-ISTA/FISTA approach a neighbourhood of the optimum that shrinks with the step (DESIGN §1)
    assert best.objective * (1 - 1e-9) <= res.objective <= best.objective * (1 + rgap)
    same = pc.solve(mats, method=method, max_iter=iters)
    assert abs(res.objective - same.objective) <= 1e-8 * same.objective  # the same iterates as on matrices


def test_ml_csc_layered_thresholding():
    method = _method("layered-thresholding")
    D1, D2, y = _ml_csc(np.random.default_rng(7))
    problem = pc.chain(y, [(D1, pc.L1(0.05, nonneg=True)), (D2, pc.L1(0.05, nonneg=True))])
    res = pc.solve(problem, method=method)
    # the forward pass γ̂1 = ReLU(D1ᵀy − b1), γ̂2 = ReLU(D2ᵀγ̂1 − b2), here with the thresholds λ_i
    g1 = np.maximum(D1.T @ y - 0.05, 0.0)
    g2 = np.maximum(D2.T @ g1 - 0.05, 0.0)
    assert res.x.shape == D2.in_shape
    np.testing.assert_allclose(res.x, g2, atol=1e-12)


# ----------------------------------------------------------------------------- plugin
def test_plugin_is_an_entry_point_and_builds_dictionaries(rng):
    eps = importlib.metadata.entry_points(group="proxcore")
    assert "proxcore_convolution" in {ep.value for ep in eps}
    D = pc.dictionary("convolution", n_filters=5, filter_shape=(3, 3), signal_shape=(8, 8), seed=0)
    assert isinstance(D, pc.Convolution) and D.in_shape == (5, 8, 8)
    np.testing.assert_allclose(np.linalg.norm(D.filters.reshape(5, -1), axis=1), 1.0)
    E = pc.dictionary("convolution", n_filters=5, filter_shape=(3, 3), signal_shape=(8, 8), seed=0)
    np.testing.assert_array_equal(D.filters, E.filters)  # reproducible from the seed
    F = pc.plugins.operator("convolution", filters=[[1.0, 2.0]], signal_shape=4)
    assert F.out_shape == (4,)
    G = pc.dictionary("convolution", n_filters=2, filter_shape=2, signal_shape=6, dtype="float32")
    assert G.dtype == np.float32
    with pytest.raises(pc.InvalidParameterError, match="n_filters"):
        pc.dictionary("convolution", signal_shape=8)
    with pytest.raises(pc.InvalidParameterError, match="filter_shape"):
        pc.dictionary("convolution", n_filters=2, filter_shape=(2, 2), signal_shape=8)


# ----------------------------------------------------------------------------- tutorial
def test_tutorial_runs_in_fast_mode(tmp_path):
    pytest.importorskip("skimage")
    stdout = run_tutorial("plot_convolutional_image.py", tmp_path)
    assert "PSNR of the reconstructed image" in stdout and "stripe norm 1," in stdout
    assert "ml-fista: objective" in stdout
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["convolutional_1d.png", "convolutional_convergence.png", "convolutional_filters.png",
                    "convolutional_image.png"], pngs


@pytest.mark.parametrize("name", ["proxcore_convolution", "proxcore_convolution.factories"])
def test_plugin_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_same_operator_and_objective_as_sporco(rng):
    """SPORCO (the reference for convolutional BP) places filters at the origin and convolves circularly:
    its reconstruction equals pc.Convolution @ x, and its ConvBPDN objective is ours."""
    pytest.importorskip("sporco")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sporco.admm import cbpdn

    h = rng.standard_normal((3, 4, 5))
    s = rng.standard_normal((12, 10))
    opt = cbpdn.ConvBPDN.Options({"Verbose": False, "MaxMainIter": 5, "RelStopTol": 0.0})
    b = cbpdn.ConvBPDN(np.moveaxis(h, 0, -1).copy(), s, 0.1, opt)
    b.solve()
    def codes(a):
        return np.moveaxis(np.asarray(a).reshape(s.shape + (3,)), -1, 0)

    X, Y = codes(b.X), codes(b.Y)  # ADMM's two variables; SPORCO scores F at X, returns the sparse Y
    D = pc.Convolution(h, s.shape)
    recon = np.asarray(b.reconstruct(b.X)).reshape(s.shape)
    np.testing.assert_allclose(D @ X, recon, atol=1e-12 * np.abs(recon).max())
    np.testing.assert_array_equal(codes(b.getcoef()), Y)
    problem = pc.chain(s, [(D, pc.L1(0.1))])
    sporco_objective = b.obfn_dfd() + 0.1 * b.obfn_reg()[1]  # ½‖DX − s‖² + λ‖X‖₁, SPORCO's own ObjFun
    assert abs(problem.objective(X) - sporco_objective) <= 1e-12 * sporco_objective
    assert abs(b.getitstat().ObjFun[-1] - sporco_objective) <= 1e-12 * sporco_objective


# ----------------------------------------------------------------------------- conv-admm
def _dense_lasso_optimum(D, y, reg):
    """F* from scikit-learn's coordinate descent on the dense matrix of D (an independent solver)."""
    from sklearn.linear_model import Lasso

    M = dense(D)
    n = M.shape[0]
    lam = np.asarray(reg.lam, dtype=np.float64)
    lam = np.broadcast_to(lam.reshape(lam.shape + (1,) * (len(D.in_shape) - lam.ndim)), D.in_shape).reshape(-1)
    fit = Lasso(alpha=1.0 / n, fit_intercept=False, tol=1e-14, max_iter=200_000, positive=reg.nonneg)
    fit.fit(M / lam, np.asarray(y, np.float64).ravel())  # per-entry weights folded into the columns
    x = fit.coef_ / lam
    r = M @ x - np.asarray(y, np.float64).ravel()
    return 0.5 * float(r @ r) + float(np.sum(lam * np.abs(x)))


@pytest.mark.parametrize("reg", [pc.L1(0.1), pc.L1(0.1, nonneg=True), pc.L1(np.array([0.05, 0.1, 0.2]))])
def test_conv_admm_reaches_the_lasso_optimum(rng, reg):
    """ADMM with the Sherman–Morrison x-update: the optimum of scikit-learn's CD on the dense matrix."""
    D, y = _conv_problem(rng)
    res = pc.solve(pc.chain(y, [(D, reg)]), method="conv-admm", tol=1e-9, max_iter=5000)
    assert res.converged, res.message
    optimum = _dense_lasso_optimum(D, y, reg)
    assert abs(res.objective - optimum) <= 1e-8 * optimum
    assert res.objective == pytest.approx(pc.chain(y, [(D, reg)]).objective(res.x), rel=1e-12)
    if reg.nonneg:
        assert res.x.min() >= 0
    assert np.count_nonzero(res.x) < res.x.size / 2  # the returned code is the sparse ADMM variable


def test_conv_admm_float32_batch_and_inputs_untouched(rng):
    D, y = _conv_problem(rng, np.float32)
    Y = frozen(np.stack([y, 0.5 * y], axis=-1))
    x0 = frozen(np.zeros(D.in_shape + (2,), dtype=np.float32))
    seen = []
    res = pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method="conv-admm", tol=1e-4, x0=x0,
                   callback=lambda state: seen.append(state.x.dtype))
    assert res.converged and res.x.dtype == np.float32 and res.x.shape == D.in_shape + (2,)
    assert set(seen) == {np.dtype(np.float32)}
    one = pc.solve(pc.chain(Y[..., 1], [(D, pc.L1(0.1))]), method="conv-admm", tol=1e-4)
    np.testing.assert_allclose(res.x[..., 1], one.x, atol=1e-3)
    wide = pc.solve(pc.chain(Y.astype(np.float64), [(pc.Convolution(D.filters.astype(np.float64), D.signal_shape),
                                                     pc.L1(0.1))]), method="conv-admm", tol=1e-10)
    assert abs(res.objective - wide.objective) <= 1e-4 * wide.objective


def test_conv_admm_refuses_what_it_cannot_solve(rng):
    D, y = _conv_problem(rng)
    with pytest.raises(pc.InvalidParameterError, match="one-channel pc.Convolution"):
        pc.solve(pc.chain(y.ravel(), [(pc.Matrix(dense(D)), pc.L1(0.1))]), method="conv-admm")
    multi = pc.Convolution(rng.standard_normal((3, 2, 3, 3)), (12, 10))
    with pytest.raises(pc.InvalidParameterError, match="one-channel"):
        pc.solve(pc.chain(rng.standard_normal((2, 12, 10)), [(multi, pc.L1(0.1))]), method="conv-admm")
    with pytest.raises(pc.InvalidParameterError, match="convex"):
        pc.solve(pc.chain(y, [(D, pc.L0(0.1))]), method="conv-admm")
    with pytest.raises(pc.InvalidParameterError, match="'rho'"):
        pc.solve(pc.chain(y, [(D, pc.L1(0.1))]), method="conv-admm", rho=0.0)
    with pytest.raises(pc.InvalidParameterError, match="'x0'"):
        pc.solve(pc.chain(y, [(D, pc.L1(0.1))]), method="conv-admm", x0=np.zeros(3))


def test_conv_admm_matches_sporco_iteration_by_iteration(rng):
    """The same algorithm as SPORCO's ConvBPDN (ρ = 50λ + 1, relaxation 1.8, SPORCO's ρ balancing), iterate for
    iterate: after 1, 7 and 30 iterations the sparse codes and ρ agree to rounding."""
    pytest.importorskip("sporco")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sporco.admm import cbpdn

    D, y = _conv_problem(rng)
    h = np.asarray(D.filters)
    problem = pc.chain(y, [(D, pc.L1(0.1))])
    for iters in (1, 7, 30):
        opt = cbpdn.ConvBPDN.Options({"Verbose": False, "MaxMainIter": iters, "RelStopTol": 0.0})
        b = cbpdn.ConvBPDN(np.moveaxis(h, 0, -1).copy(), y, 0.1, opt)
        b.solve()
        Y = np.moveaxis(np.asarray(b.getcoef()).reshape(y.shape + (3,)), -1, 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pc.ConvergenceWarning)
            ours = pc.solve(problem, method="conv-admm", max_iter=iters, tol=0.0)
        np.testing.assert_allclose(ours.x, Y, rtol=0, atol=1e-12)
        assert ours.step == pytest.approx(float(b.rho), rel=1e-12)


class _Box(pc.Regularizer):
    """The indicator of ``|x| ≤ c``: convex, a prox but no ℓ1 structure (conv-admm's generic y-update)."""

    def __init__(self, c):
        self.c = c

    def value(self, x):
        return 0.0 if np.all(np.abs(x) <= self.c * (1 + 1e-12)) else np.inf

    def prox(self, v, step):
        return np.clip(v, -self.c, self.c)


def test_conv_admm_takes_any_convex_regularizer_with_a_prox(rng):
    D, y = _conv_problem(rng)
    problem = pc.chain(y, [(D, _Box(0.05))])
    res = pc.solve(problem, method="conv-admm", tol=1e-9, max_iter=20_000)
    ref = pc.solve(problem, method="fista", tol=1e-12, max_iter=50_000)
    assert res.converged and np.abs(res.x).max() <= 0.05
    assert abs(res.objective - ref.objective) <= 1e-7 * ref.objective
