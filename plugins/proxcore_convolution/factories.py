"""Factories of the convolution plugin: plain keyword arguments in, proxcore objects out."""

from __future__ import annotations

import numbers

import numpy as np

from proxcore import Convolution
from proxcore._validation import InvalidParameterError, check_positive_int

__all__ = ["convolution"]


def _shape(value, name):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        value = tuple(value)
    except TypeError:
        raise InvalidParameterError(
            f"The {name!r} parameter of convolution must be an int or a sequence of ints; got {value!r}."
        ) from None
    return tuple(check_positive_int(v, name, "convolution") for v in value)


def convolution(filters=None, signal_shape=None, *, n_filters=None, filter_shape=None, channels=None,
                seed=0, dtype="float64", workers=None):
    """A convolutional dictionary: given filters, or random Gaussian filters of unit norm.

    Parameters
    ----------
    filters : array_like of shape ``(K, *fshape)`` or ``(K, C, *fshape)``, optional
        The filters; if omitted, ``n_filters`` and ``filter_shape`` draw them.
    signal_shape : int or sequence of int
        Shape of one signal (without the channel axis).
    n_filters : int, optional
        Number ``K`` of random filters.
    filter_shape : int or sequence of int, optional
        Shape of each random filter (same number of axes as ``signal_shape``).
    channels : int, optional
        Draw multichannel filters ``(K, C, *fshape)`` (a deeper ML-CSC layer).
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng` for random filters.
    dtype : {"float64", "float32"}, default "float64"
    workers : int, optional
        Passed to :mod:`scipy.fft`.

    Returns
    -------
    proxcore.Convolution

    Notes
    -----
    Random filters are i.i.d. normal, then each filter (over its channels
    and samples) is scaled to unit Euclidean norm, so every atom of the
    dictionary has norm 1.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = pc.dictionary("convolution", filters=[[1.0, 0.5]], signal_shape=5)
    >>> (D @ np.array([[1.0, 0.0, 0.0, 0.0, 0.0]])).round(12) + 0.0    # the filter, at the origin
    array([1. , 0.5, 0. , 0. , 0. ])
    """
    if signal_shape is None:
        raise InvalidParameterError("The 'signal_shape' parameter of convolution is required.")
    signal_shape = _shape(signal_shape, "signal_shape")
    if filters is None:
        if n_filters is None or filter_shape is None:
            raise InvalidParameterError(
                "convolution needs either 'filters' or both 'n_filters' and 'filter_shape'."
            )
        k = check_positive_int(n_filters, "n_filters", "convolution")
        fshape = _shape(filter_shape, "filter_shape")
        if len(fshape) != len(signal_shape):
            raise InvalidParameterError(
                f"The 'filter_shape' parameter of convolution must have as many axes as signal_shape "
                f"{signal_shape}; got {fshape}."
            )
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise InvalidParameterError(f"The 'dtype' parameter of convolution must be float32 or float64; got {dtype!r}.")
        extra = () if channels is None else (check_positive_int(channels, "channels", "convolution"),)
        rng = np.random.default_rng(seed)
        filters = rng.standard_normal((k,) + extra + fshape)
        norms = np.sqrt((filters**2).reshape(k, -1).sum(axis=1))
        filters = (filters / norms.reshape((k,) + (1,) * (filters.ndim - 1))).astype(dt)
    elif n_filters is not None or filter_shape is not None or channels is not None:
        raise InvalidParameterError(
            "convolution takes either 'filters' or 'n_filters'/'filter_shape'/'channels', not both."
        )
    return Convolution(filters, signal_shape, workers=workers)


convolution.proxcore_examples = lambda: [
    {"n_filters": 3, "filter_shape": 4, "signal_shape": 9, "seed": 1},
    {"n_filters": 2, "filter_shape": (2, 3), "signal_shape": (5, 4), "seed": 2, "dtype": "float32"},
    {"n_filters": 3, "filter_shape": (2, 2), "signal_shape": (4, 5), "channels": 2, "seed": 3},
]

