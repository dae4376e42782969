"""Shared test configuration: hypothesis profiles and small fixtures."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

# The suite's matrices are small: BLAS threads only contend (on a busy 2-core machine a
# threaded 64x256 product ran 90x slower than a single-threaded one).
threadpool_limits(1, user_api="blas")

# CI: no deadline (the first example of a numba-backed property compiles), print reproduction blobs.
# CI is derandomized: a submission must not pass or fail by the draw of the day. Explore with "dev".
settings.register_profile(
    "ci", deadline=None, print_blob=True, max_examples=60, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=60, print_blob=True)
settings.register_profile("nightly", deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def frozen(*arrays):
    """Read-only copies: any in-place write by the code under test raises."""
    out = []
    for a in arrays:
        a = np.array(a, copy=True)
        a.setflags(write=False)
        out.append(a)
    return out if len(out) > 1 else out[0]


def unit_norm_dictionary(rng, n, m, dtype=np.float64):
    D = rng.standard_normal((n, m))
    D /= np.linalg.norm(D, axis=0)
    return D.astype(dtype)


def sparse_signals(rng, D, n_signals, s, noise=0.0):
    m = D.shape[1]
    X = np.zeros((m, n_signals))
    for j in range(n_signals):
        X[rng.choice(m, s, replace=False), j] = rng.standard_normal(s)
    return X, D @ X + noise * rng.standard_normal((D.shape[0], n_signals))


TUTORIALS = pathlib.Path(__file__).resolve().parents[1] / "tutorials"


def cvxpy_lasso_optimum(D, y, lam, nonneg=False):
    """F* and x* of one signal's Lasso by cvxpy's interior point (Clarabel, tight tolerances), any ``λ_i ≥ 0``."""
    cp = pytest.importorskip("cvxpy")
    x = cp.Variable(D.shape[1], nonneg=nonneg)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(y - D @ x) + cp.sum(cp.multiply(lam, cp.abs(x)))))
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return problem.value, x.value


def run_tutorial(name, out_dir, timeout=300):
    """Run ``tutorials/<name>`` in its fast mode in a subprocess; its stdout (a failure fails the test).

    Figures go to ``out_dir`` (``PROXCORE_TUTORIAL_OUT``), BLAS runs on one thread, matplotlib off screen.
    """
    pytest.importorskip("matplotlib")
    env = {**os.environ, "PROXCORE_TUTORIAL_FAST": "1", "PROXCORE_TUTORIAL_OUT": str(out_dir), "MPLBACKEND": "Agg",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(TUTORIALS / name)], cwd=out_dir, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout
