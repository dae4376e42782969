"""The built-in dictionaries. Each factory returns a :class:`proxcore.LinearOperator`."""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from proxcore import Identity, Matrix
from proxcore._validation import InvalidParameterError, check_positive_int

__all__ = ["matrix", "identity", "gaussian", "dct"]


def _dtype(dtype, owner):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InvalidParameterError(f"The 'dtype' parameter of {owner} must be float32 or float64; got {dtype!r}.")
    return dt


def matrix(array):
    """A dictionary given as an array, a scipy.sparse matrix, or the path of a ``.npy`` file.

    Parameters
    ----------
    array : array_like of shape (n, m), scipy.sparse matrix, str or os.PathLike
        The atoms as columns, or the path of a ``.npy`` file holding them
        (loaded without pickles).

    Returns
    -------
    proxcore.Matrix

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> pc.dictionary("matrix", array=np.eye(3)[:, :2]).in_shape
    (2,)
    """
    if isinstance(array, (str, os.PathLike)):
        path = os.fspath(array)
        if not path.endswith(".npy"):
            raise InvalidParameterError(f"The 'array' parameter of matrix must be an array or a .npy path; got {path!r}.")
        if not os.path.isfile(path):
            raise InvalidParameterError(f"The 'array' parameter of matrix names a file that does not exist: {path!r}.")
        array = np.load(path, allow_pickle=False)
    return Matrix(array)


def identity(n):
    """The identity on signals of ``n`` samples (the trivial dictionary; ``n`` may be a shape).

    Examples
    --------
    >>> import proxcore as pc
    >>> pc.dictionary("identity", n=4).in_shape
    (4,)
    """
    if isinstance(n, numbers.Integral):
        n = check_positive_int(n, "n", "identity")
    return Identity(n)


def gaussian(n, m, seed=0, dtype=np.float64):
    """A random Gaussian dictionary with unit-norm columns, reproducible from ``seed``.

    Parameters
    ----------
    n, m : int
        Signal length and number of atoms.
    seed : int or numpy.random.Generator, default 0
    dtype : float32 or float64, default float64

    Returns
    -------
    proxcore.Matrix
        ``D[:, j] = g_j/‖g_j‖`` with ``g_j ~ N(0, I_n)`` drawn by
        ``numpy.random.default_rng(seed)``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = pc.dictionary("gaussian", n=8, m=20, seed=1)
    >>> np.allclose(np.linalg.norm(D.array, axis=0), 1)
    True
    """
    n = check_positive_int(n, "n", "gaussian")
    m = check_positive_int(m, "m", "gaussian")
    dt = _dtype(dtype, "gaussian")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.random.Generator)):
        raise InvalidParameterError(f"The 'seed' parameter of gaussian must be an int or a numpy Generator; got {seed!r}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    D = rng.standard_normal((n, m))
    D /= np.linalg.norm(D, axis=0)
    return Matrix(D.astype(dt))


def _dct_1d(n, m, dt):
    """``n×m`` with columns ``cos(π k (2t+1)/(2m))``, ``t < n``, each scaled to unit norm."""
    t = np.arange(n)[:, None]
    k = np.arange(m)[None, :]
    D = np.cos(np.pi * k * (2 * t + 1) / (2 * m))
    D /= np.linalg.norm(D, axis=0)
    return D.astype(dt)


def dct(n, m=None, ndim=1, dtype=np.float64):
    """The (overcomplete) DCT dictionary, 1-D or separable 2-D for square image patches.

    Parameters
    ----------
    n : int
        Signal length; for ``ndim=2``, the number of pixels of a square
        patch (``n = p²``, e.g. 64 for 8×8 patches, vectorised row by row).
    m : int, optional
        Number of atoms, ``m ≥ n`` (default ``n``, the orthonormal DCT-II
        basis); for ``ndim=2``, a square ``q²``.
    ndim : {1, 2}, default 1
    dtype : float32 or float64, default float64

    Returns
    -------
    proxcore.Matrix
        ``n×m``.

    Notes
    -----
    1-D atoms are ``d_k[t] = c_k cos(π k (2t+1)/(2m))``, ``t = 0..n−1``,
    ``k = 0..m−1``, with ``c_k`` making each unit-norm. For ``m = n`` this is
    the orthonormal DCT-II: ``Dᵀy = scipy.fft.dct(y, norm="ortho")``; for
    ``m > n``, ``Dᵀy`` is the DCT of ``y`` zero-padded to ``m`` samples (each
    entry rescaled), the frequencies sampled ``m/n`` times more finely. The
    2-D dictionary is ``D₁ ⊗ D₁`` with ``D₁`` the ``p×q`` 1-D dictionary, so
    an atom is the outer product of two 1-D atoms; for ``m = n`` it is
    ``scipy.fft.dctn(P, norm="ortho")`` on a ``p×p`` patch ``P``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from scipy.fft import dct as scipy_dct
    >>> y = np.arange(8.0)
    >>> np.allclose(pc.dictionary("dct", n=8).T @ y, scipy_dct(y, norm="ortho"))
    True
    >>> pc.dictionary("dct", n=64, m=256, ndim=2).array.shape
    (64, 256)
    """
    n = check_positive_int(n, "n", "dct")
    m = n if m is None else check_positive_int(m, "m", "dct")
    if isinstance(ndim, (bool, np.bool_)) or ndim not in (1, 2):
        raise InvalidParameterError(f"The 'ndim' parameter of dct must be 1 or 2; got {ndim!r}.")
    if m < n:
        raise InvalidParameterError(f"The 'm' parameter of dct must be at least n = {n} (an overcomplete or square "
                                    f"dictionary); got {m}.")
    dt = _dtype(dtype, "dct")
    if ndim == 1:
        return Matrix(_dct_1d(n, m, dt))
    p, q = math.isqrt(n), math.isqrt(m)
    for name, value, root in (("n", n, p), ("m", m, q)):
        if root * root != value:
            raise InvalidParameterError(f"The {name!r} parameter of dct with ndim=2 must be a perfect square "
                                        f"(pixels of a square patch); got {value}.")
    D1 = _dct_1d(p, q, np.float64)
    return Matrix(np.kron(D1, D1).astype(dt))
