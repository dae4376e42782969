"""Linear operators: a tiny abstract class, and the algebra derived from it.

A subclass defines four things: ``in_shape``, ``out_shape``, ``apply(x)`` and
``adjoint(y)``. Everything else comes from the base class:

- ``op @ x`` applies ``op`` to an array whose leading axes are ``in_shape``
  (one signal) and whose trailing axes, if any, are a batch;
- ``op1 @ op2`` is the composition (apply ``op2`` first);
- ``op.T`` is the adjoint operator, ``c * op`` a scalar multiple,
  ``op1 + op2`` and ``op1 - op2`` sums;
- ``op.norm()`` is the spectral norm (an upper bound, cached; see
  :func:`proxcore.linalg.spectral_norm`).
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import sys

import numpy as np

from ._validation import InvalidParameterError, check_array

__all__ = ["LinearOperator", "Matrix", "Identity"]


def issparse(a):
    """``scipy.sparse.issparse(a)``, without importing scipy.sparse (0.15 s) unless the caller already has."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(a)


def _shape_tuple(shape, name):
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise InvalidParameterError(f"{name} must be a non-empty tuple of positive ints; got {shape}.")
    return shape


class LinearOperator(ABC):
    """Abstract linear operator ``A : R^in_shape -> R^out_shape``.

    Subclasses define ``in_shape`` and ``out_shape`` (tuples) and the methods
    ``apply(x)`` and ``adjoint(y)``; both receive arrays whose leading axes
    are one signal and whose trailing axes are a batch, and must keep the
    batch axes. No ``super().__init__()`` call is needed. An optional
    ``dtype`` attribute refines the dtype of results.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> class Diff(pc.LinearOperator):
    ...     in_shape, out_shape = (4,), (3,)
    ...     def apply(self, x):
    ...         return x[1:] - x[:-1]
    ...     def adjoint(self, y):
    ...         pad = [(1, 1)] + [(0, 0)] * (y.ndim - 1)
    ...         z = np.pad(y, pad)
    ...         return z[:-1] - z[1:]
    >>> D = Diff()
    >>> D @ np.array([1.0, 2.0, 4.0, 7.0])
    array([1., 2., 3.])
    >>> (D.T @ D).in_shape
    (4,)
    """

    __array_ufunc__ = None  # make ``array @ op`` defer to __rmatmul__ instead of broadcasting

    in_shape: tuple
    out_shape: tuple

    @abstractmethod
    def apply(self, x):
        """Return ``A x`` for ``x`` of shape ``in_shape + batch``."""

    @abstractmethod
    def adjoint(self, y):
        """Return ``Aᵀ y`` for ``y`` of shape ``out_shape + batch``."""

    def apply_into(self, x, out):
        """``A x``, written into ``out`` (shape ``out_shape + batch``) where the operator can.

        Returns the result: ``out`` itself, or a new array for operators that
        cannot write in place (the default returns ``self.apply(x)``; a dense
        :class:`Matrix` writes with one BLAS call). Engines use it to reuse
        their buffers from one iteration to the next, and must use the
        returned array, never assume it is ``out``.
        """
        return self.apply(x)

    def adjoint_into(self, y, out):
        """``Aᵀ y`` written into ``out`` where the operator can; see :meth:`apply_into`."""
        return self.adjoint(y)

    # ------------------------------------------------------------------ algebra
    @property
    def T(self) -> LinearOperator:
        """The adjoint operator ``Aᵀ``."""
        return _Adjoint(self)

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):
            return _Composed(self, other)
        x = np.asarray(other)
        _check_input(x, tuple(self.in_shape), self, "x")
        return self.apply(x)

    def __rmatmul__(self, other):
        raise TypeError(
            f"cannot compute array @ {type(self).__name__}: apply operators on the left, "
            "as op @ x, or use op.T @ y for the adjoint."
        )

    def __mul__(self, scalar):
        if not isinstance(scalar, numbers.Real) or isinstance(scalar, bool):
            raise TypeError(
                f"a LinearOperator can be multiplied only by a real scalar; got "
                f"{type(scalar).__name__}. Use @ to compose operators or to apply one to an array."
            )
        return _Scaled(float(scalar), self)

    __rmul__ = __mul__

    def __truediv__(self, scalar):
        if not isinstance(scalar, numbers.Real) or isinstance(scalar, bool):
            return NotImplemented
        return self * (1.0 / scalar)

    def __neg__(self):
        return _Scaled(-1.0, self)

    def __add__(self, other):
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return _Sum(self, other)

    def __sub__(self, other):
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return _Sum(self, -other)

    # ------------------------------------------------------------------ norms
    def norm(self) -> float:
        """Spectral norm ``‖A‖₂`` (largest singular value), an upper bound, cached.

        See :func:`proxcore.linalg.spectral_norm` for how it is computed.
        """
        cache = getattr(self, "__dict__", None)
        if cache is not None and "_spectral_norm" in cache:
            return cache["_spectral_norm"]
        from .linalg import spectral_norm

        value = spectral_norm(self)
        if cache is not None:
            cache["_spectral_norm"] = value
        return value

    @property
    def in_size(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_size(self) -> int:
        return math.prod(self.out_shape)

    def __repr__(self):
        return f"<{type(self).__name__}: {tuple(self.in_shape)} -> {tuple(self.out_shape)}>"


def _check_input(x, expected, op, name):
    k = len(expected)
    if x.shape[:k] != expected:
        raise InvalidParameterError(
            f"{type(op).__name__} expects {name} with leading axes {expected} "
            f"(one signal, then optional batch axes); got shape {x.shape}."
        )
    if x.dtype.kind == "c":
        raise InvalidParameterError(f"Complex data not supported: {name} has dtype {x.dtype}.")


def result_dtype(*items):
    """``np.result_type`` of operators (their optional ``dtype``) and dtypes; None if none is known."""
    parts = [getattr(i, "dtype", None) if isinstance(i, LinearOperator) else i for i in items]
    parts = [d for d in parts if d is not None]
    return np.result_type(*parts) if parts else None


class Matrix(LinearOperator):
    """A dense or scipy.sparse matrix ``A ∈ R^{n×m}`` as a linear operator.

    ``A @ X`` for ``X`` of shape ``(m,)`` or ``(m, N)`` (signals as columns,
    as in ``Y = D Γ``), or ``(m, *batch)``. float32 matrices stay float32.

    Parameters
    ----------
    array : array_like of shape (n, m) or scipy.sparse matrix/array
        Real, finite entries.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = pc.Matrix(np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]))
    >>> D.in_shape, D.out_shape
    ((2,), (3,))
    >>> D @ np.array([1.0, 1.0])
    array([1., 2., 0.])
    >>> round(D.norm(), 12)          # an upper bound, tight to round-off
    2.0
    """

    def __init__(self, array):
        if issparse(array):
            if array.ndim != 2:
                raise InvalidParameterError(f"Matrix expects a 2-D sparse matrix; got ndim={array.ndim}.")
            if array.dtype.kind == "c":
                raise InvalidParameterError(
                    f"Complex data not supported: the matrix has dtype {array.dtype}."
                )
            A = sys.modules["scipy.sparse"].csr_array(array)
            if A.dtype.kind != "f" or A.dtype == np.float16:
                A = A.astype(np.float32 if A.dtype == np.float16 else np.float64)
            check_array(A.data, "array")
            A.sum_duplicates()
        else:
            A = check_array(array, "array")
            if A.ndim != 2:
                raise InvalidParameterError(
                    f"Matrix expects a 2-D array (n, m); got a {A.ndim}-D array with shape {A.shape}. "
                    "Reshape a single atom with a.reshape(-1, 1)."
                )
            if A.flags.writeable:
                A = A.copy()  # own the data: the caller's later edits must not change the operator
                A.setflags(write=False)
        if 0 in A.shape:
            raise InvalidParameterError(f"Matrix needs at least one row and one column; got shape {A.shape}.")
        self.array = A
        self.dtype = A.dtype
        self.out_shape, self.in_shape = (A.shape[0],), (A.shape[1],)

    @property
    def is_sparse(self) -> bool:
        return issparse(self.array)

    def apply(self, x):
        return _matmul(self.array, x)

    def adjoint(self, y):
        return _matmul(self.array.T, y)

    def apply_into(self, x, out):
        return _matmul(self.array, x, out)

    def adjoint_into(self, y, out):
        return _matmul(self.array.T, y, out)

    def __repr__(self):
        kind = "sparse" if self.is_sparse else "dense"
        return f"<Matrix ({kind}, {self.dtype}): {self.in_shape} -> {self.out_shape}>"


def _matmul(A, x, out=None):
    """``A @ x`` over the leading axis of ``x``; into ``out`` when it is a dense product's C-contiguous result."""
    if (out is not None and isinstance(A, np.ndarray) and out.flags.c_contiguous and out.flags.writeable
            and out.shape == (A.shape[0],) + x.shape[1:]
            and (out.dtype == A.dtype == x.dtype or out.dtype == np.result_type(A, x))):
        np.matmul(A, x.reshape(x.shape[0], -1), out=out.reshape(A.shape[0], -1))
        return out
    if x.ndim <= 2:
        out = A @ x
    else:  # several batch axes: flatten them for one BLAS call
        out = (A @ x.reshape(x.shape[0], -1)).reshape((A.shape[0],) + x.shape[1:])
    return np.asarray(out)


class Identity(LinearOperator):
    """The identity on signals of shape ``shape``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> I = pc.Identity(3)
    >>> I @ np.ones(3)
    array([1., 1., 1.])
    """

    def __init__(self, shape):
        self.in_shape = self.out_shape = _shape_tuple(shape, "shape")

    def apply(self, x):
        return x

    def adjoint(self, y):
        return y


# ---------------------------------------------------------------------- algebra
class _Adjoint(LinearOperator):
    """``Aᵀ``; its own adjoint is ``A`` again."""

    def __init__(self, base):
        self.base = base
        self.in_shape, self.out_shape = tuple(base.out_shape), tuple(base.in_shape)
        self.dtype = getattr(base, "dtype", None)

    def apply(self, x):
        return self.base.adjoint(x)

    def adjoint(self, y):
        return self.base.apply(y)

    def apply_into(self, x, out):
        return self.base.adjoint_into(x, out)

    def adjoint_into(self, y, out):
        return self.base.apply_into(y, out)

    @property
    def T(self):
        return self.base

    def __repr__(self):
        return f"{self.base!r}.T"


class _Composed(LinearOperator):
    """``A @ B``: apply ``B`` then ``A``; ``(AB)ᵀ = BᵀAᵀ``."""

    def __init__(self, outer, inner):
        if tuple(inner.out_shape) != tuple(outer.in_shape):
            raise InvalidParameterError(
                f"cannot compose {outer!r} @ {inner!r}: the inner operator's out_shape "
                f"{tuple(inner.out_shape)} differs from the outer operator's in_shape {tuple(outer.in_shape)}."
            )
        self.outer, self.inner = outer, inner
        self.in_shape, self.out_shape = tuple(inner.in_shape), tuple(outer.out_shape)
        self.dtype = result_dtype(outer, inner)

    def apply(self, x):
        return self.outer.apply(self.inner.apply(x))

    def adjoint(self, y):
        return self.inner.adjoint(self.outer.adjoint(y))

    def __repr__(self):
        return f"({self.outer!r} @ {self.inner!r})"


class _Sum(LinearOperator):
    """``A + B`` for operators with equal shapes."""

    def __init__(self, left, right):
        if (tuple(left.in_shape), tuple(left.out_shape)) != (tuple(right.in_shape), tuple(right.out_shape)):
            raise InvalidParameterError(
                f"cannot add {left!r} and {right!r}: shapes differ."
            )
        self.left, self.right = left, right
        self.in_shape, self.out_shape = tuple(left.in_shape), tuple(left.out_shape)
        self.dtype = result_dtype(left, right)

    def apply(self, x):
        return self.left.apply(x) + self.right.apply(x)

    def adjoint(self, y):
        return self.left.adjoint(y) + self.right.adjoint(y)

    def __repr__(self):
        return f"({self.left!r} + {self.right!r})"


class _Scaled(LinearOperator):
    """``c A`` for a real scalar ``c``; the scalar never changes the dtype."""

    def __init__(self, scale, base):
        self.scale, self.base = scale, base
        self.in_shape, self.out_shape = tuple(base.in_shape), tuple(base.out_shape)
        self.dtype = getattr(base, "dtype", None)

    def apply(self, x):
        out = self.base.apply(x)
        return out * out.dtype.type(self.scale)

    def adjoint(self, y):
        out = self.base.adjoint(y)
        return out * out.dtype.type(self.scale)

    def apply_into(self, x, out):
        return self._scale(self.base.apply_into(x, out), out)

    def adjoint_into(self, y, out):
        return self._scale(self.base.adjoint_into(y, out), out)

    def _scale(self, result, out):
        if result is out:  # ours to scale in place; anything else may be the caller's input (Identity)
            result *= result.dtype.type(self.scale)
            return result
        return result * result.dtype.type(self.scale)

    def __repr__(self):
        return f"{self.scale!r} * {self.base!r}"
