"""numba kernels against their NumPy twins, JIT on and off, float32 and float64."""

import os
import subprocess
import sys
import textwrap

import warnings

import numpy as np
import pytest

from proxcore import _kernels as K

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["soft_threshold", "nonneg_soft_threshold", "hard_threshold"])
def test_threshold_kernels_match_numpy(name, dtype, rng):
    v = rng.standard_normal((7, 50)).astype(dtype)
    v[0, :5] = 0.0
    thr = rng.uniform(0, 1, 7).astype(dtype)
    thr[1] = 0.0
    fast, twin = getattr(K, name)(v, thr), getattr(K, name + "_numpy")(v, thr)
    assert fast.dtype == twin.dtype == dtype
    np.testing.assert_array_equal(fast, twin)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_step_matches_numpy(dtype, rng):
    x, g = rng.standard_normal((2, 5, 30)).astype(dtype)
    thr = rng.uniform(0, 0.5, 5).astype(dtype)
    step = dtype(0.37)
    for nonneg in (False, True):
        fast = K.soft_threshold_step(x, g, step, thr, nonneg)
        np.testing.assert_array_equal(fast, K.soft_threshold_step_numpy(x, g, step, thr, nonneg))
        assert fast.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keep_largest_matches_numpy(dtype, rng):
    v = rng.standard_normal((9, 40)).astype(dtype)
    v[:, 0] = 1.0  # all tied: lowest indices kept
    for s in (1, 3, 9, 12):
        fast = K.keep_largest(v, s)
        np.testing.assert_array_equal(fast, K.keep_largest_numpy(v, s))
        assert fast.dtype == dtype
    np.testing.assert_array_equal(np.flatnonzero(K.keep_largest(v, 3)[:, 0]), [0, 1, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_sums_and_extrapolate_match_numpy(dtype, rng):
    x, z, p, y = rng.standard_normal((4, 11, 25)).astype(dtype)
    beta = rng.uniform(0, 1, 25).astype(dtype)
    stats = K.step_sums(x, z, p)
    assert stats.dtype == np.float64
    np.testing.assert_allclose(stats, K.step_sums_numpy(x, z, p), rtol=1e-12)
    for offset in (None, y):
        fast, distance = K.extrapolate(x, p, beta, offset=offset)
        ref, ref_distance = K.extrapolate_numpy(x, p, beta, offset)
        assert fast.dtype == dtype
        np.testing.assert_array_equal(fast, ref)
        np.testing.assert_allclose(distance, ref_distance, rtol=1e-12)
    # ‖x − y‖², the first of step_sums(x, y, ·)
    np.testing.assert_allclose(K.extrapolate(x, p, beta, offset=y)[1], K.step_sums(x, y, p)[0], rtol=1e-12)
    np.testing.assert_array_equal(K.extrapolate(x, p, beta)[1], np.zeros(25))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_control_matches_numpy_and_the_closed_forms(dtype, rng):
    stats = np.abs(rng.standard_normal((5, 40)))
    stats[3] = rng.standard_normal(40)  # the restart test: its sign
    stats[:3, 0] = 0  # x⁺ = z = 0: a step of 0, not 0/0
    stats[:3, 1] = np.nan  # a diverged signal: NaN, never converged
    t = rng.uniform(1, 30, 40)
    for accelerated in (False, True):
        for restart in (False, True):
            fast = K.step_control(stats, t, accelerated, restart, dtype)
            twin = K.step_control_numpy(stats, t, accelerated, restart, dtype)
            assert (fast[1] is None) == (twin[1] is None) == (fast[2] is None) == (not accelerated)
            for a, b in zip(fast, twin):
                if b is not None:
                    assert a.dtype == b.dtype
                    np.testing.assert_array_equal(a, b)
    error, beta, t_next = fast  # accelerated, with restart
    assert error[0] == 0 and np.isnan(error[1]) and beta.dtype == dtype
    np.testing.assert_allclose(error[2:], np.sqrt(stats[0, 2:] / np.maximum(stats[1, 2:], stats[2, 2:])), rtol=1e-15)
    restarted = stats[3] > 0
    assert restarted.any() and not restarted.all()
    np.testing.assert_array_equal(beta[restarted], 0)
    np.testing.assert_allclose(t_next[restarted], (1 + 5 ** 0.5) / 2, rtol=1e-16)
    kept = ~restarted
    # t_{k+1}² − t_{k+1} = t_k², the recursion t_{k+1} solves, and β_k = (t_k − 1)/t_{k+1}
    np.testing.assert_allclose(t_next[kept] ** 2 - t_next[kept], t[kept] ** 2, rtol=1e-14)
    np.testing.assert_allclose(beta[kept], (t[kept] - 1) / t_next[kept], rtol=np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("rows", [1, 7, 8])
def test_fused_l1_step_matches_numpy(dtype, nonneg, rows, rng):
    x, p, g = rng.standard_normal((3, rows, 30)).astype(dtype)
    lam = rng.uniform(0, 1, rows)
    step = dtype(0.3)
    thr = (lam * 0.3).astype(dtype)
    beta = rng.uniform(0, 1, 30).astype(dtype)
    for b, prev in ((np.zeros(30, dtype), x), (beta, p)):  # ISTA's step from x, and FISTA's from z
        x_next, stats = K.l1_step(x, prev, b, g, step, thr, lam, nonneg)
        ref, ref_stats = K.l1_step_numpy(x, prev, b, g, step, thr, lam, nonneg)
        assert x_next.dtype == dtype and stats.dtype == np.float64
        np.testing.assert_array_equal(x_next, ref)
        assert_sums_close(stats, ref_stats, x_next, x + b * (x - prev), x, dtype)
    # the step is soft(z − step·g) at z = x + β(x − p), independently of the twins
    z = x + beta * (x - p)
    u = (z - step * g).astype(np.float64)
    t = thr[:, None].astype(np.float64)
    expected = np.maximum(u - t, 0) if nonneg else np.sign(u) * np.maximum(np.abs(u) - t, 0)
    np.testing.assert_allclose(x_next, expected, rtol=1e-6 if dtype == np.float32 else 1e-15, atol=1e-6)
    # the penalty row is Σ λ|x⁺| per column, and the rest are step_sums for (x⁺, z, x)
    penalty = (lam[:, None] * np.abs(x_next.astype(np.float64))).sum(0)
    assert_sums_close(stats, np.vstack([K.step_sums(x_next, z, x), penalty]), x_next, z, x, dtype)


def assert_sums_close(stats, ref, x_next, z, x, dtype):
    """l1_step's sums against float64 ones: float32 inputs are summed in float32 over 32 rows (within 32 ulp)."""
    if dtype == np.float64:
        np.testing.assert_allclose(stats, ref, rtol=1e-12, atol=1e-300)
        return
    rtol = 64 * np.finfo(np.float32).eps
    np.testing.assert_allclose(np.delete(stats, 3, 0), np.delete(ref, 3, 0), rtol=rtol, atol=1e-300)
    # the mixed-sign row, against the sum of its terms' magnitudes
    x1, z1, a1 = (v.astype(np.float64) for v in (x_next, z, x))
    magnitude = np.abs((x1 - z1) * (x1 - a1)).sum(0)
    assert (np.abs(stats[3] - ref[3]) <= rtol * magnitude + 1e-300).all()


@pytest.mark.parametrize("scale", [1e-25, 1e-12, 1e25])
def test_float32_sums_fall_back_to_float64_near_the_ends_of_the_range(scale, rng):
    # ‖x⁺‖² below 2⁻⁶⁰ or above 2¹⁰⁰: a float32 term may under- or overflow, so the sums are float64 ones
    x, p, g = (scale * rng.standard_normal((3, 40, 12))).astype(np.float32)
    x[:, 0] = p[:, 0] = g[:, 0] = 0  # a signal whose iterates are zero: exact in any dtype
    lam = np.full(40, 0.01 * scale)
    thr = (0.3 * lam).astype(np.float32)
    beta = rng.uniform(0, 1, 12).astype(np.float32)
    x_next, stats = K.l1_step(x, p, beta, g, np.float32(0.3), thr, lam, False)
    ref, ref_stats = K.l1_step_numpy(x, p, beta, g, np.float32(0.3), thr, lam, False)
    np.testing.assert_array_equal(x_next, ref)
    assert np.isfinite(stats).all() and (stats[1:3, 1:] > 0).all()
    np.testing.assert_allclose(stats, ref_stats, rtol=1e-12, atol=1e-300)




@pytest.mark.parametrize("dtype, signals, passes", [
    (np.float64, "normal", ["float64"]),
    (np.float32, "normal", ["float32"]),
    (np.float32, "one zero", ["float32", "magnitudes"]),  # exact zeros: exact float32 sums, told by Σ|x⁺| + |z|
    (np.float32, "one tiny", ["float32", "magnitudes", "float64"]),  # ‖x⁺‖² below 2⁻⁶⁰: the sums again in float64
    (np.float32, "one nan", ["float32", "magnitudes", "float64"]),  # NaN sums are never trusted
])
def test_l1_step_sums_again_in_float64_only_where_a_float32_sum_is_unsafe(dtype, signals, passes, rng, monkeypatch):
    x, p, g = rng.standard_normal((3, 16, 300)).astype(dtype)
    if signals == "one zero":
        x[:, 7] = p[:, 7] = g[:, 7] = 0
    elif signals == "one tiny":
        x[:, 7], p[:, 7], g[:, 7] = 1e-25 * x[:, 7], 1e-25 * p[:, 7], 1e-25 * g[:, 7]
    elif signals == "one nan":
        g[3, 7] = np.nan
    seen = []
    step_pass, magnitudes_pass = K._l1_step_folded, K._step_magnitudes_folded

    def spy_step(*args):
        seen.append(np.dtype(args[8].dtype).name)  # the sums' dtype
        return step_pass(*args)

    def spy_magnitudes(*args):
        seen.append("magnitudes")
        magnitudes_pass(*args)
        zero = np.all((args[0] == 0) & (x + beta * (x - p) == 0), axis=0)
        np.testing.assert_array_equal(args[4] == 0, zero)  # 0 exactly where x⁺ = z = 0

    monkeypatch.setattr(K, "_l1_step_folded", spy_step)
    monkeypatch.setattr(K, "_step_magnitudes_folded", spy_magnitudes)
    lam = np.full(16, 0.1)
    beta = rng.uniform(0, 1, 300).astype(dtype)
    x_next, stats = K.l1_step(x, p, beta, g, dtype(0.3), (0.3 * lam).astype(dtype), lam, False)
    assert seen == passes
    ref, ref_stats = K.l1_step_numpy(x, p, beta, g, dtype(0.3), (0.3 * lam).astype(dtype), lam, False)
    np.testing.assert_array_equal(x_next, ref)
    assert_sums_close(stats, ref_stats, x_next, x + beta * (x - p), x, np.float64 if "float64" in passes else dtype)


def test_float32_sums_are_trusted_only_inside_the_safe_range():
    low, high = K._SAFE_SCALE

    def trusted(stats):
        mask = np.empty(stats.shape[1], np.bool_)
        every = K._trusted_sums(stats, low, high, mask)
        assert every == mask.all()
        return every, mask

    stats = np.ones((5, 3))
    assert trusted(stats)[0]
    for row, value in [(1, 2 * high), (2, 2 * high), (3, -2 * high), (1, np.nan), (2, np.nan), (3, np.nan)]:
        unsafe = stats.copy()
        unsafe[row, 1] = value
        every, mask = trusted(unsafe)
        assert not every and mask.tolist() == [True, False, True], (row, value)
    small = np.zeros((5, 3))
    small[1] = small[2] = low  # the ends themselves are inside; max(‖x⁺‖², ‖z‖²) below low is not
    assert trusted(small)[0]
    small[1, 2] = small[2, 2] = low / 2
    every, mask = trusted(small)
    assert not every and mask.tolist() == [True, True, False]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("rows", [1, 7, 8])
def test_fused_admm_l1_update_matches_numpy(dtype, nonneg, rows, rng):
    kx, z_old, w_old = rng.standard_normal((3, rows, 30)).astype(dtype)
    lam = rng.uniform(0, 1, rows).astype(dtype)
    lam[0] = 0.0
    inv_rho = rng.uniform(0.2, 2, 30).astype(dtype)
    fast = K.admm_l1_update(kx, z_old, w_old, lam, inv_rho, 1.8, nonneg)
    twin = K.admm_l1_update_numpy(kx, z_old, w_old, lam, inv_rho, 1.8, nonneg)
    for a, b in zip(fast[:3], twin[:3]):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(fast[3], twin[3], rtol=1e-12, atol=1e-300)
    z, w, diff, stats = fast
    lean = K.admm_l1_update(kx, z_old, w_old, lam, inv_rho, 1.8, nonneg, want_diff=False)
    assert lean[2] is None and K.admm_l1_update_numpy(kx, z_old, w_old, lam, inv_rho, 1.8, nonneg, False)[2] is None
    np.testing.assert_array_equal(lean[0], z)
    np.testing.assert_array_equal(lean[3], stats)
    np.testing.assert_allclose(stats[4], ((z - z_old).astype(np.float64) ** 2).sum(0), rtol=1e-5)
    np.testing.assert_allclose(stats[5], (w.astype(np.float64) ** 2).sum(0), rtol=1e-5)
    # z is the prox of v = 1.8·kx − 0.8·z_old + w_old at λ_r/ρ_c, w = v − z, diff = z − w
    v = (dtype(1.8) * kx + dtype(1 - 1.8) * z_old + w_old).astype(np.float64)
    thr = lam[:, None].astype(np.float64) * inv_rho[None, :]
    expected = np.maximum(v - thr, 0) if nonneg else np.sign(v) * np.maximum(np.abs(v) - thr, 0)
    np.testing.assert_allclose(z, expected, atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(w + z, v, atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(diff, z - w)
    np.testing.assert_allclose(stats[3], (lam[:, None] * np.abs(z)).astype(np.float64).sum(0), rtol=1e-5)

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1024, 1), (96, 3), (6, 2), (513, 1), (0, 4), (5, 0)])
@pytest.mark.parametrize("weights", ["one", "blocks", "rows"])
def test_per_signal_kernels_fold_rows_into_few_columns(dtype, shape, weights, rng):
    # with few signals the passes run on (R/W, W·C) views (K._fold); per-signal results equal the twins'
    R, C = shape
    if weights == "one":  # one value for every row
        lam = np.array([0.3])
    elif weights == "blocks":  # constant over blocks of 32 rows (a weight per filter): folds
        lam = np.repeat(rng.uniform(0.1, 0.5, -(-R // 32)), 32)[:R]
    else:  # a weight per row: no fold
        lam = rng.uniform(0.1, 0.5, R)
    rows = np.broadcast_to(lam, (R,))
    z, g, p, w = rng.standard_normal((4, R, C)).astype(dtype)
    beta, inv_rho = rng.uniform(0, 1, C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    thr = (0.4 * lam).astype(dtype)
    if R and C:
        assert (K._fold(R, C, thr, lam) > 1) == (R % 2 == 0 and weights != "rows")
    x, stats = K.l1_step(z, p, beta, g, dtype(0.4), thr, lam, False)
    rx, rstats = K.l1_step_numpy(z, p, beta, g, dtype(0.4), (0.4 * rows).astype(dtype), rows, False)
    np.testing.assert_array_equal(x, rx)
    if R and C:
        assert_sums_close(stats, rstats, x, z + beta * (z - p), z, dtype)
    assert stats.shape == (5, C)
    stats = K.step_sums(x, z, p)
    np.testing.assert_allclose(stats, K.step_sums_numpy(x, z, p), rtol=1e-10, atol=1e-300)
    z_next, distance = K.extrapolate(x, p, beta, offset=z)
    rz, rdistance = K.extrapolate_numpy(x, p, beta, z)
    np.testing.assert_array_equal(z_next, rz)
    np.testing.assert_allclose(distance, rdistance, rtol=1e-10, atol=1e-300)
    fast = K.admm_l1_update(z, g, w, lam.astype(dtype), inv_rho, 1.8, False)
    twin = K.admm_l1_update_numpy(z, g, w, rows.astype(dtype), inv_rho, 1.8, False)
    for a, b in zip(fast[:3], twin[:3]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(fast[3], twin[3], rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_write_into_the_buffers_they_are_given(dtype, rng):
    z, g, p = rng.standard_normal((3, 6, 9)).astype(dtype)
    lam, beta = rng.uniform(0, 1, 6), rng.uniform(0, 1, 9).astype(dtype)
    thr = (0.5 * lam).astype(dtype)
    x_ref, stats_ref = K.l1_step(z, p, beta, g, dtype(0.5), thr, lam, False)
    x_out = np.full_like(z, np.nan)
    x, stats = K.l1_step(z, p, beta, g, dtype(0.5), thr, lam, False, x_out)
    assert x is x_out
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(stats, stats_ref)
    out = np.full_like(z, np.nan)
    assert K.extrapolate(x, p, beta, out)[0] is out
    np.testing.assert_array_equal(out, K.extrapolate_numpy(x, p, beta)[0])
    for bad in (np.empty((6, 8), dtype), np.empty((6, 9), np.float16), np.empty((9, 6), dtype).T):
        with pytest.raises(ValueError, match="out must be a writeable C-contiguous"):
            K.extrapolate(x, p, beta, bad)


def test_kernel_signatures_stay_bounded(rng):
    # callers normalise inputs, so each kernel compiles for float32 and float64 only
    import proxcore as pc

    for dtype in (np.float32, np.float64):
        base = rng.standard_normal((6, 8)).astype(dtype)
        for v in (base, np.asfortranarray(base), base[:, ::2], np.array(base)):
            v.setflags(write=False)
            pc.L1(0.1).prox(v, 1.0)
            pc.L0(0.1).prox(v, 1.0)
    for kernel in (K._soft, K._hard):  # (plain functions, without signatures, under NUMBA_DISABLE_JIT=1)
        assert len(getattr(kernel, "signatures", ())) <= 2, kernel.signatures
    # the fused ℓ1 step, from fista with a scalar and with a per-row λ (which L1 keeps read-only): never a
    # read-only specialization
    D = rng.standard_normal((6, 8))
    for dtype in (np.float32, np.float64):
        for lam in (0.1, np.full(8, 0.1)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pc.ConvergenceWarning)
                pc.solve(pc.chain(base[:, :3].astype(dtype), [(D.astype(dtype), pc.L1(lam))]), method="fista",
                         max_iter=3)
    for signature in getattr(K._l1_step_folded, "signatures", ()):
        assert not any("readonly" in str(arg) for arg in signature), signature


def _run(code, **env):
    env.setdefault("PYTHONWARNINGS", "ignore")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=300,
    )


def test_same_results_with_jit_disabled():
    code = """
        import numpy as np, proxcore as pc
        rng = np.random.default_rng(0)
        v = rng.standard_normal((6, 4)).astype(np.float32)
        out = [pc.L1(0.3).prox(v, 0.5), pc.L1(0.3, nonneg=True).prox(v, 0.5),
               pc.L0(0.3).prox(v, 0.5), pc.L0Ball(2).prox(v, 1.0)]
        D = rng.standard_normal((6, 9)).astype(np.float32)
        res = pc.solve(pc.chain(v, [(D, pc.L1(0.1))]), method="fista", max_iter=30, tol=0)
        print(np.stack(out).dtype, np.stack(out).tobytes().hex(), res.x.dtype, res.x.tobytes().hex())
    """
    jit = _run(code)
    nojit = _run(code, NUMBA_DISABLE_JIT="1")
    assert jit.returncode == 0, jit.stderr
    assert nojit.returncode == 0, nojit.stderr
    assert jit.stdout == nojit.stdout


def test_import_is_light():
    # numba compiles nothing at import; networkx, scipy.sparse and scipy.fft (half of the import time
    # once were) load on first use
    heavy = ["numba", "proxcore._kernels", "networkx", "scipy.sparse", "scipy.fft"]
    out = _run(f"""
        import sys, proxcore
        print(*[m in sys.modules for m in {heavy!r}])
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"] * len(heavy), dict(zip(heavy, out.stdout.split()))


def test_sparse_matrices_work_without_proxcore_importing_scipy_sparse():
    out = _run("""
        import numpy as np, proxcore as pc
        import scipy.sparse as sp
        D = pc.Matrix(sp.random(6, 8, density=0.5, random_state=0, format="csc"))
        print(D.is_sparse, np.allclose(D @ np.ones(8), D.array @ np.ones(8)))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
