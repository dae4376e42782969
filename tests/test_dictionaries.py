"""The built-in dictionaries, against independent references (scipy.fft for the DCT)."""

import doctest

import numpy as np
import pytest
import scipy.fft

import proxcore as pc
import proxcore_dictionaries
from proxcore_dictionaries import builtin

from .conftest import frozen


def dot_test(D, rng, batch=3):
    x = rng.standard_normal(D.in_shape + (batch,))
    y = rng.standard_normal(D.out_shape + (batch,))
    lhs, rhs = np.vdot(D @ x, y), np.vdot(x, D.T @ y)
    assert abs(lhs - rhs) <= 1e-12 * np.linalg.norm(D @ x) * np.linalg.norm(y) + 1e-12


@pytest.mark.parametrize("n", [1, 7, 8, 16])
def test_dct_square_is_the_orthonormal_dct_ii(n, rng):
    D = pc.dictionary("dct", n=n)
    y = rng.standard_normal((n, 4))
    np.testing.assert_allclose(D.T @ y, scipy.fft.dct(y, norm="ortho", axis=0), atol=1e-12)
    np.testing.assert_allclose(D @ y, scipy.fft.idct(y, norm="ortho", axis=0), atol=1e-12)
    np.testing.assert_allclose(D.array.T @ D.array, np.eye(n), atol=1e-12)


@pytest.mark.parametrize("n, m", [(8, 16), (16, 40), (5, 11)])
def test_overcomplete_dct_is_the_dct_of_the_zero_padded_signal(n, m, rng):
    D = pc.dictionary("dct", n=n, m=m)
    assert (D.out_shape, D.in_shape) == ((n,), (m,))
    np.testing.assert_allclose(np.linalg.norm(D.array, axis=0), 1, rtol=1e-13)
    y = rng.standard_normal(n)
    padded = scipy.fft.dct(y, n=m)  # type II, unnormalised: 2 Σ_t y_t cos(π k (2t+1)/(2m))
    scale = np.linalg.norm(np.cos(np.pi * np.arange(m)[None, :] * (2 * np.arange(n)[:, None] + 1) / (2 * m)), axis=0)
    np.testing.assert_allclose(D.T @ y, padded / (2 * scale), atol=1e-12)
    dot_test(D, rng)


def test_dct_2d_is_separable_and_matches_dctn(rng):
    D = pc.dictionary("dct", n=64, ndim=2)
    P = rng.standard_normal((8, 8))
    np.testing.assert_allclose(D.T @ P.ravel(), scipy.fft.dctn(P, norm="ortho").ravel(), atol=1e-12)
    D2 = pc.dictionary("dct", n=64, m=256, ndim=2)
    D1 = pc.dictionary("dct", n=8, m=16).array
    atom = D2.array[:, 16 * 3 + 5].reshape(8, 8)  # atom (3, 5): outer product of 1-D atoms 3 and 5
    np.testing.assert_allclose(atom, np.outer(D1[:, 3], D1[:, 5]), atol=1e-14)
    dot_test(D2, rng)


def test_dtype_is_kept():
    for name, params in (("dct", dict(n=8, m=16)), ("gaussian", dict(n=8, m=16))):
        assert pc.dictionary(name, **params, dtype=np.float32).dtype == np.float32
        assert pc.dictionary(name, **params).dtype == np.float64


def test_gaussian_is_seeded_with_unit_norm_columns():
    A = pc.dictionary("gaussian", n=10, m=30, seed=3).array
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1, rtol=1e-13)
    np.testing.assert_array_equal(A, pc.dictionary("gaussian", n=10, m=30, seed=3).array)
    assert not np.allclose(A, pc.dictionary("gaussian", n=10, m=30, seed=4).array)
    g = np.random.default_rng(3).standard_normal((10, 30))
    np.testing.assert_allclose(A, g / np.linalg.norm(g, axis=0))


def test_matrix_from_array_and_npy_path(tmp_path, rng):
    A = frozen(rng.standard_normal((5, 7)))
    np.save(tmp_path / "D.npy", A)
    for source in (A, tmp_path / "D.npy", str(tmp_path / "D.npy")):
        D = pc.dictionary("matrix", array=source)
        assert isinstance(D, pc.Matrix)
        np.testing.assert_array_equal(D.array, A)
    with pytest.raises(pc.InvalidParameterError, match="'array'.*does not exist"):
        pc.dictionary("matrix", array=tmp_path / "missing.npy")
    with pytest.raises(pc.InvalidParameterError, match="'array'.*\\.npy"):
        pc.dictionary("matrix", array="D.txt")


def test_identity():
    I = pc.dictionary("identity", n=5)
    assert isinstance(I, pc.LinearOperator) and I.in_shape == I.out_shape == (5,)


@pytest.mark.parametrize("name, params, argument", [
    ("dct", dict(n=8, m=4), "'m'"),
    ("dct", dict(n=0), "'n'"),
    ("dct", dict(n=8, ndim=3), "'ndim'"),
    ("dct", dict(n=60, ndim=2), "'n'"),
    ("dct", dict(n=64, m=200, ndim=2), "'m'"),
    ("dct", dict(n=8, dtype=np.int64), "'dtype'"),
    ("gaussian", dict(n=8, m=2.5), "'m'"),
    ("gaussian", dict(n=8, m=4, seed="a"), "'seed'"),
    ("identity", dict(n=-1), "'n'"),
])
def test_bad_parameters_name_the_argument(name, params, argument):
    with pytest.raises(pc.InvalidParameterError, match=argument):
        pc.dictionary(name, **params)


def test_unknown_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="frequency"):
        pc.dictionary("dct", n=8, frequency=2)


@pytest.mark.parametrize("module", [proxcore_dictionaries, builtin])
def test_docstring_examples(module):
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
