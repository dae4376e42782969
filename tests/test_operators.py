"""Linear operators: adjoint dot test, algebra against dense matrices, norms, Gram, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import proxcore as pc
from proxcore.linalg import gram, spectral_norm
from tests.conftest import frozen


def dot_test(op, rng, dtype=np.float64, batch=(3,)):
    """⟨Ax, y⟩ = ⟨x, Aᵀy⟩ with a tolerance scaled by the norms (RELIABILITY A1)."""
    x = rng.standard_normal(tuple(op.in_shape) + batch).astype(dtype)
    y = rng.standard_normal(tuple(op.out_shape) + batch).astype(dtype)
    Ax, ATy = op @ x, op.T @ y
    lhs = np.vdot(Ax.astype(np.float64), y.astype(np.float64))
    rhs = np.vdot(x.astype(np.float64), ATy.astype(np.float64))
    scale = np.linalg.norm(Ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(ATy)
    assert abs(lhs - rhs) <= 100 * np.finfo(dtype).eps * scale, (lhs, rhs)


def dense_of(op):
    """The matrix of an operator on 1-D signals, column by column."""
    return np.column_stack([op @ e for e in np.eye(op.in_shape[0])])


@pytest.fixture
def mats(rng):
    A = rng.standard_normal((5, 7))
    B = rng.standard_normal((7, 4))
    C = rng.standard_normal((5, 7))
    return A, B, C


def test_matrix_applies_like_numpy(mats, rng):
    A, _, _ = mats
    op = pc.Matrix(A)
    x = rng.standard_normal(7)
    X = rng.standard_normal((7, 6))
    np.testing.assert_allclose(op @ x, A @ x, rtol=1e-14)
    np.testing.assert_allclose(op @ X, A @ X, rtol=1e-14)
    Y = rng.standard_normal((5, 2))
    np.testing.assert_allclose(op.T @ Y, A.T @ Y, rtol=1e-14)
    # several batch axes, (n, 1) stays (n, 1)
    X3 = rng.standard_normal((7, 2, 3))
    np.testing.assert_allclose(op @ X3, np.einsum("ij,jab->iab", A, X3), rtol=1e-13)
    assert (op @ rng.standard_normal((7, 1))).shape == (5, 1)


def test_algebra_matches_dense(mats, rng):
    A, B, C = mats
    a, b, c = pc.Matrix(A), pc.Matrix(B), pc.Matrix(C)
    cases = {
        "compose": (a @ b, A @ B),
        "adjoint": (a.T, A.T),
        "adjoint of composition": ((a @ b).T, (A @ B).T),
        "sum": (a + c, A + C),
        "difference": (a - c, A - C),
        "scaled": (2.5 * a, 2.5 * A),
        "scaled right": (a * -3, -3 * A),
        "divided": (a / 4, A / 4),
        "negated": (-a, -A),
        "double adjoint": (a.T.T, A),
        "gram": (a.T @ a, A.T @ A),
        "mixed": ((2 * a - c).T @ (a + c), (2 * A - C).T @ (A + C)),
    }
    for name, (op, M) in cases.items():
        np.testing.assert_allclose(dense_of(op), M, rtol=1e-12, atol=1e-12, err_msg=name)
        dot_test(op, rng)
    assert a.T.T is a


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_matrix_matches_dense(fmt, rng):
    A = sp.random(30, 50, density=0.1, random_state=1, format=fmt)
    op = pc.Matrix(A)
    X = rng.standard_normal((50, 4))
    np.testing.assert_allclose(op @ X, A.toarray() @ X, rtol=1e-13)
    assert isinstance(op @ X, np.ndarray)
    dot_test(op, rng)
    np.testing.assert_allclose(op.norm(), np.linalg.norm(A.toarray(), 2), rtol=1e-5)
    assert op.norm() >= np.linalg.norm(A.toarray(), 2) * (1 - 1e-12)


def test_identity(rng):
    I = pc.Identity(4)
    x = rng.standard_normal((4, 2))
    np.testing.assert_array_equal(I @ x, x)
    assert I.norm() == 1.0
    assert pc.Identity((2, 3)).in_shape == (2, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype, rng):
    A = rng.standard_normal((6, 9)).astype(dtype)
    op = pc.Matrix(A)
    x = rng.standard_normal((9, 3)).astype(dtype)
    for composite in (op, op.T @ op, 2 * op, op + op):
        out = composite @ (x if composite.in_shape == (9,) else x[:6])
        assert out.dtype == dtype
    dot_test(op, rng, dtype=dtype)
    dot_test(op.T @ op, rng, dtype=dtype)


def test_integer_matrix_becomes_float64():
    op = pc.Matrix(np.array([[1, 2], [3, 4]]))
    assert op.dtype == np.float64


def test_norm_is_upper_bound_and_tight(rng):
    for trial in range(5):
        A = rng.standard_normal((20, 30))
        true = np.linalg.norm(A, 2)
        op = pc.Matrix(A)
        assert true <= op.norm() <= true * (1 + 1e-10)
        # the generic power iteration (through a composition with the identity)
        generic = spectral_norm(op @ pc.Identity(30))
        assert true <= generic <= true * (1 + 1e-5)


def test_power_iteration_upper_bound_with_clustered_top(rng):
    # two top singular values 1e-6 apart: the power iteration cannot separate them,
    # its Rayleigh quotient is below the top, and the bound must still be above it.
    U, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    V, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    s = np.linspace(0.1, 1.0, 40)
    s[-2] = 1.0 - 1e-6
    A = (U * s) @ V.T
    bound = spectral_norm(pc.Matrix(A) @ pc.Identity(40), max_iter=50)
    assert bound >= np.linalg.norm(A, 2)


def test_norm_is_cached(rng):
    calls = []

    class Counting(pc.LinearOperator):
        in_shape, out_shape = (3,), (3,)

        def apply(self, x):
            calls.append(1)
            return 2 * x

        def adjoint(self, y):
            return 2 * y

    op = Counting()
    assert abs(op.norm() - 2.0) < 1e-6 and op.norm() >= 2.0
    n = len(calls)
    op.norm()
    assert len(calls) == n


def test_subclass_without_init(rng):
    class Diff(pc.LinearOperator):
        in_shape, out_shape = (5,), (4,)

        def apply(self, x):
            return x[1:] - x[:-1]

        def adjoint(self, y):
            z = np.pad(y, [(1, 1)] + [(0, 0)] * (y.ndim - 1))
            return z[:-1] - z[1:]

    D = Diff()
    dot_test(D, rng)
    dot_test(D.T @ D + 0.5 * pc.Identity(5), rng)
    M = dense_of(D)
    assert D.norm() >= np.linalg.norm(M, 2)


def test_gram_shortcut(rng):
    tall = rng.standard_normal((10, 4))
    G = gram(pc.Matrix(tall))
    np.testing.assert_allclose(G.array, tall.T @ tall, rtol=1e-13)
    assert gram(pc.Matrix(rng.standard_normal((4, 10)))) is None  # m >= 2n: two products are cheaper
    G2 = gram(3 * pc.Matrix(tall))
    np.testing.assert_allclose(G2 @ np.eye(4), 9 * tall.T @ tall, rtol=1e-13)
    assert gram(pc.Identity(3)).in_shape == (3,)


@given(n=st.integers(1, 6), m=st.integers(1, 6), k=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_composition_dot_test_property(n, m, k, seed):
    rng = np.random.default_rng(seed)
    A, B = pc.Matrix(rng.standard_normal((n, m))), pc.Matrix(rng.standard_normal((m, k)))
    for op in (A @ B, (A @ B).T, B.T @ A.T + (A @ B).T, 0.5 * A.T @ A):
        dot_test(op, rng)
    assert (A @ B).norm() >= np.linalg.norm(A.array @ B.array, 2) * (1 - 1e-12)


# ----------------------------------------------------------------- bad input
def test_bad_input():
    A = pc.Matrix(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"leading axes \(4,\).*got shape \(3,\)"):
        A @ np.ones(3)
    with pytest.raises(ValueError, match="out_shape"):
        A @ A
    with pytest.raises(ValueError, match="shapes differ"):
        A + A.T
    with pytest.raises(TypeError, match="real scalar"):
        A * A
    with pytest.raises(TypeError, match="real scalar"):
        A * np.ones(3)
    with pytest.raises(TypeError, match="apply operators on the left"):
        np.ones(3) @ A
    with pytest.raises(ValueError, match="2-D"):
        pc.Matrix(np.ones(3))
    with pytest.raises(ValueError, match="Complex"):
        pc.Matrix(np.ones((2, 2), dtype=complex))
    with pytest.raises(ValueError, match="Complex"):
        A @ np.ones(4, dtype=complex)
    with pytest.raises(ValueError, match="NaN"):
        pc.Matrix(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="infinity"):
        pc.Matrix(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="NaN"):
        pc.Matrix(sp.csr_matrix(np.array([[1.0, np.nan]])))
    with pytest.raises(ValueError, match="masked"):
        pc.Matrix(np.ma.masked_array(np.ones((2, 2)), mask=[[0, 1], [0, 0]]))
    with pytest.raises(ValueError, match="at least one"):
        pc.Matrix(np.ones((3, 0)))
    with pytest.raises(ValueError, match="positive ints"):
        pc.Identity(0)


def test_caller_arrays_untouched(rng):
    A = frozen(rng.standard_normal((4, 6)))
    op = pc.Matrix(A)
    x = frozen(rng.standard_normal((6, 2)))
    op @ x
    op.T @ frozen(rng.standard_normal((4, 2)))
    # the operator owns its data: later edits by the caller do not leak in
    B = rng.standard_normal((4, 6))
    opB = pc.Matrix(B)
    before = opB @ np.ones(6)
    B[:] = 0
    np.testing.assert_array_equal(opB @ np.ones(6), before)


def test_products_into_buffers(mats, rng):
    """``apply_into``/``adjoint_into`` give ``apply``/``adjoint``; a dense Matrix writes into ``out``."""
    A, B, _ = mats
    a, b = pc.Matrix(A), pc.Matrix(B)
    X, Y = frozen(rng.standard_normal((7, 3, 2))), frozen(rng.standard_normal((5, 3, 2)))
    cases = [  # operator, input, direction, written into out
        (a, X, "apply", True), (a, Y, "adjoint", True), (a.T, Y, "apply", True), (a.T, X, "adjoint", True),
        (-2.0 * a, X, "apply", True), (a @ b, rng.standard_normal((4, 3, 2)), "apply", False),
        (3.0 * pc.Identity(7), X, "apply", False),
    ]
    for op, x, kind, in_place in cases:
        shape = tuple(op.out_shape if kind == "apply" else op.in_shape) + (3, 2)
        out = np.full(shape, np.nan)
        result = getattr(op, kind + "_into")(x, out)
        np.testing.assert_allclose(result, getattr(op, kind)(x), rtol=1e-14)
        assert (result is out) == in_place, (op, kind)
    # an unsuitable buffer (dtype, layout, shape) is left alone and a new array returned
    for bad in (np.full((5, 3, 2), 7.0, np.float32), np.full((2, 3, 5), 7.0).T, np.full((5, 6), 7.0)):
        result = a.apply_into(X, bad)
        assert result is not bad and result.shape == (5, 3, 2)
        assert (bad == 7).all()
    # the identity returns its input; scaling it never writes into the caller's array (frozen)
    x = frozen(rng.standard_normal((7, 2)))
    assert pc.Identity(7).apply_into(x, np.empty((7, 2))) is x
    np.testing.assert_array_equal((2.0 * pc.Identity(7)).apply_into(x, np.empty((7, 2))), 2 * x)
