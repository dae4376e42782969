"""Input validation: one message format, every error names the argument.

The wording follows scikit-learn's parameter validation so that users
recognise it ("The 'lam' parameter of L1 must be ...; got ... instead.").
Nothing here modifies or copies its input unless a conversion is needed.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "InvalidParameterError",
    "ConvergenceWarning",
    "check_array",
    "check_scalar",
    "check_weights",
    "check_positive_int",
]


class InvalidParameterError(ValueError, TypeError):
    """Raised when a parameter has the wrong type or value.

    Subclasses both :class:`ValueError` and :class:`TypeError`, as
    scikit-learn's error of the same name does, so either ``except`` clause
    catches it.
    """


class ConvergenceWarning(UserWarning):
    """Warned when a solver stops at ``max_iter`` before meeting its tolerance."""


def _is_real_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def check_scalar(value, name, owner, *, low=None, high=None, low_open=False, high_open=False):
    """Return ``value`` as a float after checking that it lies in an interval.

    NaN fails every interval (the comparisons are written ``not (x >= low)``).
    """
    if not _is_real_number(value):
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be a real number; "
            f"got {value!r} of type {type(value).__name__} instead."
        )
    value = float(value)
    too_low = low is not None and not (value > low if low_open else value >= low)
    too_high = high is not None and not (value < high if high_open else value <= high)
    nan = value != value
    if too_low or too_high or nan:
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else float(low)
        hi = "inf" if high is None else float(high)
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be a float in the range "
            f"{left}{lo}, {hi}{right}; got {value!r} instead."
        )
    return value


def check_positive_int(value, name, owner, *, low=1):
    """Return ``value`` as an int after checking ``value >= low``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be an int >= {low}; "
            f"got {value!r} of type {type(value).__name__} instead."
        )
    if value < low:
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be an int >= {low}; got {value!r} instead."
        )
    return int(value)


def check_array(a, name, *, ndim=None, min_ndim=None, float_only=True):
    """Return ``a`` as a finite real floating-point ndarray, without copying when possible.

    - lists and ``np.matrix`` are converted with :func:`numpy.asarray`;
    - masked arrays are refused (their mask would be silently ignored);
    - complex, object, string and boolean-like unsupported dtypes are refused;
    - integers become float64, float16 becomes float32, float32/float64 are kept;
    - NaN or infinite entries are refused, with the argument's name.
    """
    if isinstance(a, np.ma.MaskedArray):
        raise InvalidParameterError(
            f"Input {name} is a masked array; masks are not supported. "
            "Fill the masked entries or use a masked loss instead."
        )
    if hasattr(a, "toarray") and hasattr(a, "nnz"):
        raise InvalidParameterError(
            f"Input {name} is a sparse matrix; wrap a sparse dictionary in pc.Matrix, "
            "and pass data as a dense array."
        )
    arr = np.asarray(a)
    if type(arr) is not np.ndarray:  # np.matrix and other subclasses
        arr = arr.view(np.ndarray)
    kind = arr.dtype.kind
    if kind == "c":
        raise InvalidParameterError(f"Complex data not supported: input {name} has dtype {arr.dtype}.")
    if kind not in "fiub":
        raise InvalidParameterError(
            f"Input {name} must be numeric; got an array of dtype {arr.dtype}."
        )
    if kind in "iub":
        arr = arr.astype(np.float64)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)  # longdouble: refuse silently-wrong BLAS paths
    if ndim is not None and arr.ndim not in np.atleast_1d(ndim):
        raise InvalidParameterError(
            f"Input {name} must be a {' or '.join(f'{d}-D' for d in np.atleast_1d(ndim))} array; "
            f"got a {arr.ndim}-D array with shape {arr.shape}."
        )
    if min_ndim is not None and arr.ndim < min_ndim:
        raise InvalidParameterError(
            f"Input {name} must have at least {min_ndim} dimension(s); got shape {arr.shape}."
        )
    _check_finite(arr, name)
    return arr


def _check_finite(arr, name):
    # The sum is O(1) memory and almost always finite; only when it is not do
    # we pay for the elementwise test that says which kind of value it was.
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum(dtype=np.float64) if arr.size else 0.0
    if np.isfinite(total):
        return
    if np.isnan(arr).any():
        raise InvalidParameterError(f"Input {name} contains NaN.")
    if np.isinf(arr).any():
        raise InvalidParameterError(f"Input {name} contains infinity.")
    raise InvalidParameterError(
        f"Input {name} contains values too large to sum in float64 "
        f"(max |{name}| = {np.abs(arr).max():.3g})."
    )


def check_weights(lam, name, owner):
    """Return a non-negative finite weight: a Python float, or a read-only float array.

    Arrays are per-atom weights; they apply to the leading (signal) axes of
    the codes and broadcast over trailing batch axes.
    """
    if _is_real_number(lam):
        return check_scalar(lam, name, owner, low=0.0, high=np.inf, high_open=True)
    if isinstance(lam, (bool, np.bool_)) or lam is None or isinstance(lam, str):
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be a non-negative float or array; got {lam!r}."
        )
    arr = check_array(lam, name)
    if arr.ndim == 0:
        return check_scalar(float(arr), name, owner, low=0.0, high=np.inf, high_open=True)
    if (arr < 0).any():
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must have non-negative entries; "
            f"got a minimum of {arr.min()!r}."
        )
    arr = np.array(arr, copy=True)  # own it: later changes by the caller must not leak in
    arr.setflags(write=False)
    return arr
