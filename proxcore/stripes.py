"""The stripe norm ℓ0,∞ of convolutional codes, and the constraint ``‖γ‖₀,∞ ≤ s``.

In the convolutional model ``s = Σ_k d_k ⊛ γ_k`` (filters of shape
``fshape``), a window of the signal of size ``fshape`` is explained only by
the codes whose atoms overlap it: at each position ``j`` with
``|j − p| ≤ f − 1`` (circularly, along every axis), for every filter. These
``K·Π(2f − 1)`` entries form the *stripe* of window ``p``, and

    ‖γ‖₀,∞ = max_p ‖stripe_p(γ)‖₀

is the largest number of non-zeros in any stripe (Papyan, Sulam & Elad,
*Working locally thinking globally*, 2017). It is small when the code is
locally sparse, even if the whole code has many non-zeros.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._validation import InvalidParameterError, check_positive_int, check_scalar
from .regularizers import Regularizer

__all__ = ["L0Inf"]


def _positive_shape(shape, name):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise InvalidParameterError(f"The {name!r} parameter of L0Inf must be an int or a tuple of ints; got {shape!r}.") from None
    for n in shape:
        check_positive_int(n, name, "L0Inf")
    return tuple(int(n) for n in shape)


@dataclasses.dataclass(frozen=True, eq=False)
class L0Inf(Regularizer):
    """The indicator of ``{γ : ‖γ‖₀,∞ ≤ s}`` for each convolutional code (non-convex).

    Parameters
    ----------
    s : int
        Largest number of non-zeros allowed in any stripe, ``s ≥ 1``.
    filter_shape : int or tuple of int
        Shape of the filters (1-D: an int or a 1-tuple; 2-D: a pair). The
        stripe of a window spans ``2f − 1`` positions along each axis.
    signal_shape : tuple, optional
        Shape of one code, ``(K, *spatial)``: ``K`` code maps (one per filter)
        of the signal's size. Set by the problem the regularizer is composed
        in (from :class:`proxcore.Convolution`'s ``in_shape``). On its own,
        without it, the array's leading ``len(filter_shape)`` axes are the
        code map of one filter (``K = 1``) and trailing axes a batch: for 1-D
        filters, a 1-D array is one signal and a 2-D array a batch of columns.

    Notes
    -----
    Boundaries are circular, as in :class:`proxcore.Convolution`. The
    stripe of window ``p`` holds the entries ``γ_k[j]`` with circular
    distance ``|j − p| ≤ f − 1`` along every axis, and

    ``‖γ‖₀,∞ = max_p Σ_k Σ_{j ∈ stripe(p)} [γ_k[j] ≠ 0]``

    (:meth:`norm`). ``value`` is the constraint's indicator: 0 when every
    signal satisfies ``‖γ‖₀,∞ ≤ s``, else ``inf``.

    ``prox`` (independent of ``step``) is a **greedy** projection, not the
    exact one: it visits the entries by decreasing magnitude (ties: lowest
    flat index first) and keeps an entry when every stripe containing it
    still has fewer than ``s`` kept entries; the others are zeroed. The
    result is feasible, each entry is kept or zeroed, and a feasible input
    is returned unchanged; but the exact projection (the feasible
    keep-or-zero pattern of largest energy, an NP-hard packing problem in
    general) can keep more energy. When one stripe covers the whole signal
    the greedy rule is exact (it keeps the ``s`` largest entries).

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> g = pc.L0Inf(1, filter_shape=2)          # 1-D, one filter; stripes of 3 positions
    >>> x = np.array([3.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0])
    >>> g.norm(x)
    2
    >>> g.value(x)
    inf
    >>> g.prox(x, step=1.0)                      # 3 and 2 are far apart; 1 shares a stripe with 3
    array([3., 0., 0., 0., 2., 0., 0., 0.])
    >>> two = np.array([[1.0, 0, 0, 0], [0, 0, 1, 1]])   # K = 2 filters; window 3 sees positions 2, 3, 0
    >>> pc.L0Inf(2, filter_shape=2, signal_shape=(2, 4)).norm(two)
    3
    """

    # examples for the conformance suite: one stripe covers the whole code, where greedy is exact
    proxcore_examples = (
        {"s": 3, "filter_shape": 3, "signal_shape": (2, 5)},
        {"s": 2, "filter_shape": (2, 2), "signal_shape": (1, 3, 3)},
    )

    s: int = 1
    filter_shape: tuple | int = 1
    signal_shape: tuple | None = None
    convex = False

    def __post_init__(self):
        object.__setattr__(self, "s", check_positive_int(self.s, "s", "L0Inf"))
        fshape = _positive_shape(self.filter_shape, "filter_shape")
        if len(fshape) not in (1, 2):
            raise InvalidParameterError(
                f"The 'filter_shape' parameter of L0Inf must have 1 or 2 axes (1-D or 2-D codes); got {fshape}."
            )
        object.__setattr__(self, "filter_shape", fshape)
        if self.signal_shape is not None:
            shape = _positive_shape(self.signal_shape, "signal_shape")
            if len(shape) != len(fshape) + 1:
                raise InvalidParameterError(
                    f"The 'signal_shape' parameter of L0Inf must be (K, *spatial) with {len(fshape)} spatial "
                    f"axes for filter_shape {fshape}; got {shape}."
                )
            object.__setattr__(self, "signal_shape", shape)

    def for_signal(self, shape) -> L0Inf:
        return dataclasses.replace(self, signal_shape=tuple(shape))

    # ------------------------------------------------------------------ layout
    def _codes(self, x):
        """``x`` as a C-contiguous ``(K, N1, N2, B)`` array (``N1 = 1`` for 1-D), and the batch shape."""
        x = np.asarray(x)
        if x.dtype.kind != "f" or x.dtype == np.float16:
            x = x.astype(np.float32 if x.dtype == np.float16 else np.float64)
        d = len(self.filter_shape)
        if self.signal_shape is not None:
            shape = self.signal_shape
            if x.shape[: len(shape)] != shape:
                raise InvalidParameterError(
                    f"L0Inf expects codes with leading axes {shape} (K, *spatial); got shape {x.shape}."
                )
        else:
            if x.ndim < d:
                raise InvalidParameterError(
                    f"L0Inf with {d}-D filters needs codes with at least {d} axes; got shape {x.shape}. "
                    "Pass signal_shape=(K, *spatial) for codes of several filters."
                )
            shape = (1,) + x.shape[:d]
        batch = x.shape[len(shape) - (0 if self.signal_shape is not None else 1) :]
        spatial = shape[1:]
        if d == 1:
            spatial = (1,) + spatial
        v = np.ascontiguousarray(x).reshape((shape[0],) + spatial + (-1,))
        return v, batch

    def _f(self):
        return (1,) + self.filter_shape if len(self.filter_shape) == 1 else self.filter_shape

    # ------------------------------------------------------------------ the norm
    def norm(self, x):
        """``‖γ‖₀,∞`` of each signal: an int for one signal, an int array of the batch shape otherwise."""
        from ._stripe_kernels import stripe_counts

        v, batch = self._codes(x)
        if v.shape[-1] == 0:
            return np.zeros(batch, dtype=np.int64)
        counts = stripe_counts(v, *self._f())
        norms = counts.reshape(-1, counts.shape[-1]).max(axis=0).reshape(batch)
        return int(norms) if not batch else norms

    def value(self, x) -> float:
        return 0.0 if np.all(np.asarray(self.norm(x)) <= self.s) else math.inf

    def prox(self, v, step):
        from ._stripe_kernels import stripe_project

        check_scalar(step, "step", "L0Inf.prox", low=0.0, low_open=True, high=math.inf, high_open=True)
        arr = np.asarray(v)
        codes, _ = self._codes(arr)
        out_dtype = codes.dtype
        return stripe_project(codes, self.s, *self._f()).reshape(arr.shape).astype(out_dtype, copy=False)
