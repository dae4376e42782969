"""pc.L0Inf: the stripe norm and the greedy projection against brute force on small signals;
numba/NumPy parity in float32 and float64; layouts, purity, bad input; use inside a problem."""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import proxcore as pc
from proxcore import _stripe_kernels as sk
from proxcore.testing import check_prox
from tests.conftest import frozen


# ----------------------------------------------------------------------------- brute force
def stripe_members(spatial, fshape):
    """{window p: set of positions j with circular distance |j − p| ≤ f − 1 on every axis}, by enumeration."""
    def near(j, p, f, n):
        return min((j - p) % n, (p - j) % n) <= f - 1

    positions = list(itertools.product(*(range(n) for n in spatial)))
    return {p: [j for j in positions if all(near(a, b, f, n) for a, b, f, n in zip(j, p, fshape, spatial))]
            for p in positions}


def brute_norm(code, fshape):
    """max over windows of the number of non-zeros of all filters at the stripe's positions."""
    members = stripe_members(code.shape[1:], fshape)
    return max(sum(int(code[(k,) + j] != 0) for j in js for k in range(code.shape[0])) for js in members.values())


def brute_projection(v, s, fshape):
    """The exact projection: the feasible keep-or-zero pattern of largest kept energy (enumeration)."""
    flat = v.ravel()
    nz = np.flatnonzero(flat)
    best, best_energy = np.zeros_like(v), 0.0
    for r in range(len(nz) + 1):
        for keep in itertools.combinations(nz, r):
            p = np.zeros_like(flat)
            p[list(keep)] = flat[list(keep)]
            p = p.reshape(v.shape)
            energy = float(np.sum(p.astype(np.float64) ** 2))
            if energy > best_energy and brute_norm(p, fshape) <= s:
                best, best_energy = p, energy
    return best, best_energy


def sparse_code(rng, shape, density=0.5, dtype=np.float64):
    v = rng.standard_normal(shape) * (rng.random(shape) < density)
    return v.astype(dtype)


# ----------------------------------------------------------------------------- the norm
@pytest.mark.parametrize("shape,fshape", [((2, 7), (2,)), ((3, 5), (3,)), ((1, 9), (4,)), ((2, 4), (5,)),
                                          ((2, 4, 5), (2, 2)), ((1, 3, 6), (2, 3)), ((3, 1, 1), (1, 1))])
def test_norm_equals_brute_force(rng, shape, fshape):
    reg = pc.L0Inf(2, fshape, signal_shape=shape)
    for _ in range(10):
        v = sparse_code(rng, shape, density=rng.uniform(0.1, 0.9))
        assert reg.norm(v) == brute_norm(v, fshape)
    assert reg.norm(np.zeros(shape)) == 0


def test_norm_and_value_of_a_batch(rng):
    reg = pc.L0Inf(3, (2, 2), signal_shape=(2, 4, 4))
    V = sparse_code(rng, (2, 4, 4, 3, 2))
    norms = reg.norm(V)
    assert norms.shape == (3, 2)
    for i, j in itertools.product(range(3), range(2)):
        assert norms[i, j] == brute_norm(V[..., i, j], (2, 2))
    assert reg.value(V) == (0.0 if norms.max() <= 3 else np.inf)
    assert reg.value(np.zeros((2, 4, 4, 3))) == 0.0


def test_value_is_the_indicator():
    reg = pc.L0Inf(1, 2, signal_shape=(1, 6))
    assert reg.value(np.array([[1.0, 0, 0, 2.0, 0, 0]])) == 0.0  # positions 0 and 3: distance 3 > 1
    assert reg.value(np.array([[1.0, 0, 2.0, 0, 0, 0]])) == np.inf  # distance 2: window 1 sees both
    assert reg.value(np.array([[1.0, 0, 0, 0, 0, 2.0]])) == np.inf  # circular: 5 and 0 are neighbours


def test_stripe_is_the_whole_signal_when_filters_are_long(rng):
    """2f − 1 ≥ N: every window sees every position, so the norm is the total count."""
    reg = pc.L0Inf(2, 3, signal_shape=(2, 5))
    v = sparse_code(rng, (2, 5))
    assert reg.norm(v) == np.count_nonzero(v)


# ----------------------------------------------------------------------------- the projection
@pytest.mark.parametrize("shape,fshape,s", [((2, 6), (2,), 1), ((2, 6), (3,), 2), ((1, 12), (3,), 2),
                                            ((3, 4), (2,), 2), ((1, 3, 4), (2, 2), 2), ((2, 2, 3), (1, 2), 1)])
def test_projection_against_brute_force(rng, shape, fshape, s):
    """Feasible, keep-or-zero, idempotent, never better than the exact projection (RELIABILITY R8).

    The greedy rule is a heuristic; on these ≤ 12-entry instances it is sometimes strictly worse
    than the enumerated optimum, which the docstring says."""
    reg = pc.L0Inf(s, fshape, signal_shape=shape)
    worse = 0
    for _ in range(8):
        v = sparse_code(rng, shape, density=0.7)
        p = reg.prox(v, step=1.0)
        assert brute_norm(p, fshape) <= s  # feasible
        assert np.all((p == 0) | (p == v))  # each entry kept or zeroed
        np.testing.assert_array_equal(reg.prox(p, step=0.3), p)  # idempotent
        # maximal: no zeroed entry can be added back without breaking a stripe
        for i in np.flatnonzero((p == 0) & (v != 0)):
            q = p.copy()
            q.flat[i] = v.flat[i]
            assert brute_norm(q, fshape) > s
        _, energy = brute_projection(v, s, fshape)
        kept = float(np.sum(p**2))
        assert kept <= energy * (1 + 1e-12)
        worse += kept < energy * (1 - 1e-12)
    assert worse < 8


def test_greedy_is_strictly_worse_on_a_known_instance():
    """Why the projection is documented as greedy: a large entry blocks two medium ones that, together,
    keep more energy (stripes of 3 positions, s = 1)."""
    reg = pc.L0Inf(1, 2, signal_shape=(1, 7))
    v = np.array([[0.0, 2.5, 3.0, 0.0, 2.5, 0.0, 0.0]])
    p = reg.prox(v, step=1.0)
    np.testing.assert_array_equal(p, [[0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0]])  # energy 9
    exact, energy = brute_projection(v, 1, (2,))
    np.testing.assert_array_equal(exact, [[0.0, 2.5, 0.0, 0.0, 2.5, 0.0, 0.0]])  # energy 12.5
    assert energy == 12.5


def test_projection_is_exact_when_one_stripe_covers_the_signal(rng):
    """2f − 1 ≥ N: the constraint is ‖γ‖₀ ≤ s and greedy keeps the s largest (= pc.L0Ball)."""
    reg = pc.L0Inf(3, 4, signal_shape=(2, 6))
    for _ in range(10):
        v = rng.standard_normal((2, 6))
        np.testing.assert_array_equal(reg.prox(v, 1.0), pc.L0Ball(3).prox(v.ravel(), 1.0).reshape(2, 6))
    check_prox(reg)  # the kit's brute-force argmin check holds here


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numba_and_numpy_twins_agree(rng, dtype):
    for shape, f in [((3, 1, 17, 4), (1, 3)), ((2, 5, 6, 3), (2, 2)), ((4, 1, 3, 2), (1, 5))]:
        v = sparse_code(rng, shape, density=0.6, dtype=dtype)
        v[0, 0, 0, 0] = v[1, 0, 1, 0] = 1.5  # ties go to the lowest flat index in both
        for s in (1, 2, 4):
            a, b = sk.stripe_project(v, s, *f), sk.stripe_project_numpy(v, s, *f)
            assert a.dtype == b.dtype == dtype
            np.testing.assert_array_equal(a, b)


def test_bounded_specializations():
    """RELIABILITY N2: read-only, strided and F-ordered inputs do not compile new versions."""
    reg = pc.L0Inf(2, 3, signal_shape=(2, 8))
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        v = rng.standard_normal((2, 8, 6)).astype(dtype)
        ref = reg.prox(v, 1.0)
        np.testing.assert_array_equal(reg.prox(frozen(v), 1.0), ref)
        np.testing.assert_array_equal(reg.prox(np.asfortranarray(v), 1.0), ref)
        np.testing.assert_array_equal(reg.prox(v[..., ::2], 1.0), ref[..., ::2])
    assert len(getattr(sk._project, "signatures", ())) <= 2  # (a plain function under NUMBA_DISABLE_JIT=1)


def test_dtype_batch_purity(rng):
    reg = pc.L0Inf(2, (2, 2), signal_shape=(2, 4, 4))
    V = frozen(rng.standard_normal((2, 4, 4, 3)).astype(np.float32))
    P = reg.prox(V, 0.5)
    assert P.dtype == np.float32 and P.shape == V.shape
    for j in range(3):
        np.testing.assert_array_equal(P[..., j], reg.prox(V[..., j], 0.5))
    ints = reg.prox(np.ones((2, 4, 4), dtype=int), 1.0)
    assert ints.dtype == np.float64 and reg.value(ints) == 0.0


def test_on_its_own_leading_axes_are_one_map():
    """Without signal_shape (1-D filters): a 1-D array is one signal, a 2-D array a batch of columns."""
    reg = pc.L0Inf(1, 2)
    x = np.array([3.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0])
    assert reg.norm(x) == 2
    np.testing.assert_array_equal(reg.prox(x, 1.0), [3.0, 0, 0, 0, 2.0, 0, 0, 0])
    X = np.stack([x, x[::-1]], axis=1)
    np.testing.assert_array_equal(reg.norm(X), [2, 2])
    assert reg.for_signal((2, 8)).signal_shape == (2, 8)


@pytest.mark.parametrize("kwargs,name", [({"s": 0, "filter_shape": 2}, "s"), ({"s": 1.5, "filter_shape": 2}, "s"),
                                         ({"s": 1, "filter_shape": 0}, "filter_shape"),
                                         ({"s": 1, "filter_shape": (2, 2, 2)}, "filter_shape"),
                                         ({"s": 1, "filter_shape": "a"}, "filter_shape"),
                                         ({"s": 1, "filter_shape": 2, "signal_shape": (4,)}, "signal_shape")])
def test_bad_parameters_name_the_argument(kwargs, name):
    with pytest.raises(pc.InvalidParameterError, match=name):
        pc.L0Inf(**kwargs)


def test_bad_calls():
    reg = pc.L0Inf(1, 2, signal_shape=(2, 5))
    with pytest.raises(pc.InvalidParameterError, match="step"):
        reg.prox(np.ones((2, 5)), 0.0)
    with pytest.raises(pc.InvalidParameterError, match=r"\(2, 5\)"):
        reg.value(np.ones((3, 5)))


def test_in_a_convolutional_problem(rng):
    """Composed with pc.Convolution, the problem tells L0Inf the code shape; projected gradient
    (ista with the greedy projection) returns a feasible code that fits the data."""
    D = pc.dictionary("convolution", n_filters=2, filter_shape=4, signal_shape=32, seed=3)
    g = np.zeros((2, 32))
    g[0, 3], g[1, 17], g[0, 26] = 1.5, -2.0, 1.0
    y = D @ g
    problem = pc.chain(y, [(D, pc.L0Inf(1, 4))])
    reg = problem.layers[0].regularizer
    assert reg.signal_shape == (2, 32)
    res = pc.solve(problem, method="ista", max_iter=300)
    assert reg.norm(res.x) <= 1
    assert np.linalg.norm(D @ res.x - y) < 0.5 * np.linalg.norm(y)


def test_jit_disabled_parity():
    """RELIABILITY N1: the kernel under NUMBA_DISABLE_JIT=1 gives the same values and dtype."""
    code = (
        "import numpy as np; from proxcore import _stripe_kernels as sk\n"
        "v = np.random.default_rng(5).standard_normal((2, 3, 4, 2)).astype(np.float32)\n"
        "p = sk.stripe_project(v, 2, 2, 2); print(p.dtype, repr(p.tobytes().hex()))\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    v = np.random.default_rng(5).standard_normal((2, 3, 4, 2)).astype(np.float32)
    p = sk.stripe_project(v, 2, 2, 2)
    assert out.strip() == f"{p.dtype} {p.tobytes().hex()!r}"
