"""Convolutional dictionaries: a sum of circular convolutions, computed with real FFTs.

The convolutional model writes a signal as ``s = Σ_k d_k ⊛ x_k``: ``K``
small filters ``d_k``, each convolved (circularly) with its own code map
``x_k`` of the signal's size. As a matrix this is a union of ``K``
circulant blocks, ``D = [C(d_1) ⋯ C(d_K)]``, and in the Fourier domain it is
block diagonal: at each frequency ``ω`` it is the ``1×K`` row
``(d̂_1(ω), …, d̂_K(ω))``. Everything below follows from that:

- ``D x`` and ``Dᵀ y`` cost a few real FFTs (:mod:`scipy.fft`, ``workers``);
- the adjoint is the sum of circular *correlations*, ``(Dᵀ y)_k = d_k ⋆ y``,
  i.e. multiplication by ``conj(d̂_k)``;
- the spectral norm is exact: ``‖D‖₂ = max_ω ‖(d̂_1(ω), …, d̂_K(ω))‖₂``;
- the Gram ``DᵀD`` is applied in the Fourier domain without leaving it.

The multichannel form (filters ``(K, C, *fshape)``) maps ``K`` code maps to
``C`` channels, ``s_c = Σ_k d_{k,c} ⊛ x_k``; it is the operator ``D_i`` of
the deeper layers of a multi-layer convolutional model (ML-CSC), where
``γ_{i−1}`` has one channel per filter of layer ``i − 1``. Composing two
convolutions with ``@`` gives again a :class:`Convolution`, whose filters
are the convolutions of the filters (so ``D_1 @ D_2`` keeps an exact norm).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._validation import InvalidParameterError, check_array
from .linalg import gram, spectral_norm
from .operators import LinearOperator, _shape_tuple

__all__ = ["Convolution", "ConvolutionGram"]

_EIG_CHUNK = 1024  # frequencies per batched eigvalsh call in the multichannel norm (bounded memory)


def _fft():
    """scipy.fft, imported on first use rather than with proxcore (it brings scipy.special: 0.1 s)."""
    import scipy.fft

    return scipy.fft


def _fold(filters, signal_shape):
    """Wrap filters longer than the signal onto it (circular convolution only sees ``h`` modulo ``N``)."""
    d = len(signal_shape)
    for axis, n in zip(range(filters.ndim - d, filters.ndim), signal_shape):
        f = filters.shape[axis]
        if f <= n:
            continue
        reps = -(-f // n)
        pad = [(0, 0)] * filters.ndim
        pad[axis] = (0, reps * n - f)
        padded = np.pad(filters, pad)
        shape = filters.shape[:axis] + (reps, n) + filters.shape[axis + 1 :]
        filters = padded.reshape(shape).sum(axis=axis)
    return filters


def _complex(dtype):
    return np.complex64 if np.dtype(dtype) == np.float32 else np.complex128


class Convolution(LinearOperator):
    """Sum of circular convolutions ``s = Σ_k d_k ⊛ x_k`` (1-D, 2-D, or multichannel), via FFT.

    Parameters
    ----------
    filters : array_like of shape ``(K, *fshape)`` or ``(K, C, *fshape)``
        ``K`` real filters. With ``len(fshape) == len(signal_shape)`` the
        operator maps codes ``(K, *signal_shape)`` to one signal of
        ``signal_shape``; with the extra axis ``C`` (multichannel form) to a
        signal of ``(C, *signal_shape)``. Filters may be longer than the
        signal (they wrap around). float32 filters stay float32.
    signal_shape : int or tuple of int
        Shape of one signal (without the channel axis), e.g. ``256`` or
        ``(256, 256)``.
    workers : int, optional
        Passed to :mod:`scipy.fft` (``-1``: all cores). Default: scipy's (1).

    Notes
    -----
    With circular indices (modulo ``N`` along each axis)::

        (D x)_c[n]  = Σ_k Σ_m d_{k,c}[m] x_k[n − m]        (convolution)
        (Dᵀ y)_k[n] = Σ_c Σ_m d_{k,c}[m] y_c[n + m]        (correlation)

    In the Fourier domain ``(D x)^_c(ω) = Σ_k d̂_{k,c}(ω) x̂_k(ω)``, so
    ``‖D‖₂ = max_ω σ_max(A(ω))`` with ``A(ω)_{c,k} = d̂_{k,c}(ω)``; for one
    channel ``σ_max(A(ω)) = (Σ_k |d̂_k(ω)|²)^{1/2}``. This is what
    ``op.norm()`` returns (rounded up by a few ulps).
    :class:`ConvolutionGram` applies ``DᵀD`` at each frequency as
    ``A(ω)ᴴ A(ω)``; :func:`proxcore.linalg.gram` returns it when it is
    the cheaper route (fewer filters than twice the channels, the rule of
    :class:`proxcore.Matrix`), else None. Filters are placed at the origin, as in SPORCO, so
    ``x_k = δ`` reproduces ``d_k`` in the first samples.

    Arrays have the operator convention: leading axes one signal, trailing
    axes a batch.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = pc.Convolution(np.array([[1.0, -1.0]]), 4)       # one filter: a first difference
    >>> D.in_shape, D.out_shape
    ((1, 4), (4,))
    >>> D @ np.array([[0.0, 1.0, 0.0, 0.0]])
    array([ 0.,  1., -1.,  0.])
    >>> D.T @ np.array([0.0, 1.0, 0.0, 0.0])                 # correlation
    array([[-1.,  1.,  0.,  0.]])
    >>> round(D.norm(), 12)                                    # max |1 − e^{−iω}| = 2
    2.0
    """

    def __init__(self, filters, signal_shape, *, workers=None):
        signal_shape = _shape_tuple(signal_shape, "signal_shape")
        filters = check_array(filters, "filters")
        d = len(signal_shape)
        if filters.ndim not in (d + 1, d + 2):
            raise InvalidParameterError(
                f"The 'filters' parameter of Convolution must have shape (K, *fshape) or (K, C, *fshape) "
                f"with {d} filter axes for signal_shape {signal_shape}; got shape {filters.shape}."
            )
        if 0 in filters.shape:
            raise InvalidParameterError(
                f"The 'filters' parameter of Convolution has an empty axis; got shape {filters.shape}."
            )
        bad_workers = not isinstance(workers, numbers.Integral) or isinstance(workers, bool) or workers == 0
        if workers is not None and bad_workers:
            raise InvalidParameterError(
                f"The 'workers' parameter of Convolution must be None or a non-zero int; got {workers!r}."
            )
        if filters.flags.writeable:
            filters = filters.copy()  # own the data: later edits by the caller must not change the operator
            filters.setflags(write=False)
        self.filters = filters
        self.signal_shape = signal_shape
        self.multichannel = filters.ndim == d + 2
        self.n_filters = filters.shape[0]
        self.n_channels = filters.shape[1] if self.multichannel else 1
        self.filter_shape = filters.shape[-d:]
        self.workers = workers
        self.dtype = filters.dtype
        self.in_shape = (self.n_filters,) + signal_shape
        self.out_shape = ((self.n_channels,) if self.multichannel else ()) + signal_shape
        self._axes = tuple(range(1, d + 1))  # the spatial axes of codes (and of multichannel signals)
        canonical = filters if self.multichannel else filters[:, None]
        folded = _fold(canonical, signal_shape)
        # frequency response, (K, C, *freq), in the filters' precision
        self._H = _fft().rfftn(folded, s=signal_shape, axes=tuple(range(2, 2 + d)), workers=workers)
        self._Hc = np.conj(self._H)
        self._H.setflags(write=False)
        self._Hc.setflags(write=False)

    # ------------------------------------------------------------------ FFT helpers
    def _rfft(self, a, first):
        axes = tuple(range(first, first + len(self.signal_shape)))
        return _fft().rfftn(a, axes=axes, workers=self.workers)

    def _irfft(self, a, first, dtype):
        axes = tuple(range(first, first + len(self.signal_shape)))
        out = _fft().irfftn(a, s=self.signal_shape, axes=axes, workers=self.workers)
        return out if out.dtype == dtype else out.astype(dtype)

    def _response(self, conj, like):
        H = self._Hc if conj else self._H
        # (K, C, *freq) -> (K, C, *freq, 1, …) to broadcast over batch axes
        return H.reshape(H.shape + (1,) * (like.ndim - 1 - len(self.signal_shape)))

    @staticmethod
    def _float(a):
        a = np.asarray(a)
        if a.dtype.kind != "f" or a.dtype == np.float16:
            a = a.astype(np.float32 if a.dtype == np.float16 else np.float64)
        return a

    # ------------------------------------------------------------------ the operator
    def apply(self, x):
        x = self._float(x)
        dtype = np.result_type(x.dtype, self.dtype)
        X = self._rfft(x, 1)  # (K, *freq, *batch)
        H = self._response(False, X)  # (K, C, *freq, *1)
        if self.multichannel:
            S = _contract(H, X)  # (C, *freq, *batch)
            return self._irfft(S, 1, dtype)
        S = _contract_single(H[:, 0], X)  # (*freq, *batch)
        return self._irfft(S, 0, dtype)

    def adjoint(self, y):
        y = self._float(y)
        dtype = np.result_type(y.dtype, self.dtype)
        Hc = self._response(True, y if self.multichannel else y[None])
        if self.multichannel:
            Y = self._rfft(y, 1)  # (C, *freq, *batch)
            X = _expand(Hc, Y)
        else:
            Y = self._rfft(y, 0)  # (*freq, *batch)
            X = Hc[:, 0] * Y[None]
        return self._irfft(X, 1, dtype)

    def __matmul__(self, other):
        if isinstance(other, Convolution) and _composable(self, other):
            return _compose(self, other)
        return super().__matmul__(other)

    def __repr__(self):
        kind = f"{self.n_filters}×{self.n_channels} filters" if self.multichannel else f"{self.n_filters} filters"
        return (
            f"<Convolution ({kind} of shape {self.filter_shape}, {self.dtype}): "
            f"{self.in_shape} -> {self.out_shape}>"
        )

    # ------------------------------------------------------------------ spectra
    def response(self):
        """The frequency response ``d̂_{k,c}(ω)``, shape ``(K, C, *freq)`` (``C = 1`` for one channel), read-only.

        ``freq`` is the real FFT's half spectrum of ``signal_shape``
        (:func:`scipy.fft.rfftn`); in the filters' precision.

        Examples
        --------
        >>> import numpy as np, proxcore as pc
        >>> pc.Convolution(np.array([[1.0, -1.0]]), 4).response().round(12)[0, 0]   # 1 − e^{−iω}
        array([0.+0.j, 1.+1.j, 2.+0.j])
        """
        return self._H

    def _response64(self):
        canonical = self.filters if self.multichannel else self.filters[:, None]
        folded = _fold(np.asarray(canonical, dtype=np.float64), self.signal_shape)
        d = len(self.signal_shape)
        return _fft().rfftn(folded, s=self.signal_shape, axes=tuple(range(2, 2 + d)))

    def singular_values_max(self):
        """``σ_max(A(ω))`` at every frequency of the real FFT (float64, shape ``freq``)."""
        H = self._response64()  # (K, C, *freq)
        K, C = H.shape[:2]
        freq = H.shape[2:]
        if C == 1 or K == 1:
            return np.sqrt(np.sum(H.real**2 + H.imag**2, axis=(0, 1)))
        A = np.moveaxis(H.reshape(K, C, -1), -1, 0)  # (F, K, C): A(ω)ᵀ
        out = np.empty(A.shape[0])
        for start in range(0, A.shape[0], _EIG_CHUNK):
            a = A[start : start + _EIG_CHUNK]
            G = a.conj().transpose(0, 2, 1) @ a if C <= K else a @ a.conj().transpose(0, 2, 1)
            out[start : start + _EIG_CHUNK] = np.sqrt(np.maximum(np.linalg.eigvalsh(G)[:, -1], 0.0))
        return out.reshape(freq)


def _contract_single(H, X):
    """``Σ_k H[k] X[k]`` over the filter axis (a fused multiply-add, no (K, …) temporary)."""
    out = H[0] * X[0]
    for k in range(1, X.shape[0]):
        out += H[k] * X[k]
    return out


def _contract(H, X):
    """``S[c] = Σ_k H[k, c] X[k]`` (multichannel apply)."""
    C = H.shape[1]
    return np.stack([_contract_single(H[:, c], X) for c in range(C)])


def _expand(Hc, Y):
    """``X[k] = Σ_c conj(H[k, c]) Y[c]`` (multichannel adjoint)."""
    K = Hc.shape[0]
    return np.stack([_contract_single(Hc[k], Y) for k in range(K)])


# ---------------------------------------------------------------------- composition
def _composable(outer, inner):
    return (
        inner.multichannel
        and outer.signal_shape == inner.signal_shape
        and tuple(inner.out_shape) == tuple(outer.in_shape)
    )


def _compose(outer, inner):
    """``D_1 @ D_2`` as one Convolution: filters ``e_{k2,c} = Σ_{k1} d2_{k2,k1} * d1_{k1,c}`` (full convolution)."""
    d = len(outer.signal_shape)
    f1 = outer.filters if outer.multichannel else outer.filters[:, None]  # (K1, C, *f1)
    f2 = inner.filters  # (K2, K1, *f2)
    full = tuple(a + b - 1 for a, b in zip(f1.shape[2:], f2.shape[2:]))
    axes = tuple(range(2, 2 + d))
    F1 = _fft().rfftn(np.asarray(f1, np.float64), s=full, axes=axes)
    F2 = _fft().rfftn(np.asarray(f2, np.float64), s=full, axes=axes)
    E = np.einsum("ab...,bc...->ac...", F2, F1)
    e = _fft().irfftn(E, s=full, axes=axes).astype(np.result_type(outer.dtype, inner.dtype))
    if not outer.multichannel:
        e = e[:, 0]
    return Convolution(e, outer.signal_shape, workers=outer.workers if outer.workers is not None else inner.workers)


# ---------------------------------------------------------------------- Gram
class ConvolutionGram(LinearOperator):
    """``DᵀD`` of a :class:`Convolution`, applied at each frequency as ``A(ω)ᴴ A(ω)`` (never leaves Fourier).

    Maps codes ``(K, *signal_shape)`` to codes: one real FFT of the ``K``
    code maps, ``X̂_k ← Σ_c conj(d̂_{k,c}) Σ_j d̂_{j,c} X̂_j`` at each
    frequency, one inverse FFT. Self-adjoint; its norm is ``‖D‖²``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.convolution import ConvolutionGram
    >>> D = pc.Convolution(np.array([[1.0, -1.0]]), 4)
    >>> (ConvolutionGram(D) @ np.array([[1.0, 0.0, 0.0, 0.0]])).round(12) + 0.0   # -δ₋₁ + 2δ₀ - δ₁
    array([[ 2., -1.,  0., -1.]])
    """

    def __init__(self, conv):
        self.conv = conv
        self.in_shape = self.out_shape = tuple(conv.in_shape)
        self.dtype = conv.dtype

    def _apply(self, x):
        conv = self.conv
        x = conv._float(x)
        dtype = np.result_type(x.dtype, conv.dtype)
        X = conv._rfft(x, 1)
        H = conv._response(False, X)
        Hc = conv._response(True, X)
        if conv.multichannel:
            out = _expand(Hc, _contract(H, X))
        else:
            out = Hc[:, 0] * _contract_single(H[:, 0], X)[None]
        return conv._irfft(out, 1, dtype)

    def apply(self, x):
        return self._apply(x)

    def adjoint(self, y):
        return self._apply(y)  # self-adjoint

    def __repr__(self):
        return f"gram({self.conv!r})"


def _round_up(value, conv):
    eps = np.finfo(np.float64).eps
    n = max(math.prod(conv.signal_shape), 2)
    m = conv.n_filters + conv.n_channels
    # FFT error ~ log2(n)·eps·‖h_{k,c}‖₁ per entry of A(ω), so ‖E(ω)‖₂ ≤ ‖E(ω)‖_F ≤ that times
    # sqrt(Σ ‖h_{k,c}‖₁²); eigvalsh adds ~ m·eps·λ_max
    d = len(conv.signal_shape)
    spatial = tuple(range(conv.filters.ndim - d, conv.filters.ndim))
    l1 = float(np.sqrt(np.sum(np.abs(np.asarray(conv.filters, np.float64)).sum(axis=spatial) ** 2)))
    return value * (1 + 4 * m * eps) + 4 * (math.log2(n) + 1) * eps * l1


@spectral_norm.register
def _(op: Convolution, **options) -> float:
    return float(_round_up(float(op.singular_values_max().max()), op))


@spectral_norm.register
def _(op: ConvolutionGram, **options) -> float:
    return op.conv.norm() ** 2


@gram.register
def _(op: Convolution):
    # The rule of pc.Matrix (Gram when m < 2n), per frequency: the Gram is a K×K matrix against
    # the C×K matrix applied twice, and the engines then carry K code maps instead of C signal
    # channels. For one-channel dictionaries (K ≥ 2 filters) the two products are cheaper
    # end to end (measured: FISTA on 256×256, K = 32, 200 against 270 ms per iteration).
    return ConvolutionGram(op) if op.n_filters < 2 * op.n_channels else None
