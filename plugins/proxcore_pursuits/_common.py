"""Helpers shared by the built-in pursuits: problem checks, flattening, results."""

from __future__ import annotations

import contextlib
import math
import sys

import numpy as np

from proxcore import Problem, Result, Status
from proxcore._validation import InvalidParameterError

__all__ = ["one_layer", "as_columns", "result", "dense_matrix", "serial_blas"]


def check_problem(problem, method):
    if not isinstance(problem, Problem):
        raise InvalidParameterError(
            f"The 'problem' parameter of {method} must be a pc.Problem (see pc.chain); got {type(problem).__name__}."
        )
    return problem


def one_layer(problem, method):
    """``(D, regularizer)`` of a one-layer problem, or a clear refusal."""
    check_problem(problem, method)
    if len(problem.layers) != 1:
        raise InvalidParameterError(
            f"{method} solves one-layer problems; this problem has {len(problem.layers)} layers: use "
            "method='layered-thresholding', 'layered-bp', 'ml-fista' or 'primal-dual'."
        )
    (layer,) = problem.layers
    return layer.operator, layer.regularizer


def as_columns(problem):
    """The data as a C-contiguous ``(n, N)`` array in the problem's dtype (a copy only if needed)."""
    y = np.asarray(problem.y, dtype=problem.dtype)
    n = math.prod(problem.layers[0].operator.out_shape)
    return np.ascontiguousarray(y.reshape(n, -1))


def dense_matrix(D, dtype):
    """The dense ``n×m`` matrix of an operator over flattened signals and codes (``pc.Matrix`` or any operator)."""
    array = getattr(D, "array", None)
    if array is not None:
        A = array.toarray() if hasattr(array, "toarray") else array
        return np.asarray(A, dtype=dtype)
    n, m = math.prod(D.out_shape), math.prod(D.in_shape)
    if n * m > 50_000_000:
        raise InvalidParameterError(f"the operator {D!r} is too large to form as a dense matrix ({n}x{m}).")
    eye = np.eye(m, dtype=dtype).reshape(tuple(D.in_shape) + (m,))
    return np.asarray(D.apply(eye), dtype=dtype).reshape(n, m)


_blas = None  # threadpoolctl's controller and len(sys.modules) when it scanned the loaded libraries


@contextlib.contextmanager
def serial_blas(jit=True):
    """A context around a numba-parallel kernel and its products: BLAS on the calling thread only.

    Idle threads of either runtime keep spinning on their cores before they
    sleep: OpenBLAS's workers for about 0.1 s after each multithreaded call
    (``OPENBLAS_THREAD_TIMEOUT``, 2²⁸ cycles by default), the OpenMP workers
    of a numba-parallel region for milliseconds after it. Whatever runs on
    those cores meanwhile gets a share of them: on two cores, ``cd``'s
    kernel took 68 ms right after a product and 37 ms after a pause (70 ms
    on one thread), and the objective's ``D X`` took 14 ms right after the
    kernel and 1.6 ms after a pause. The products before and after such a
    kernel (Gram, ``YᵀD``; ``lars``' objective and gap) are small next to
    it, so they run on one BLAS thread, which leaves no spinning worker and
    needs no second core. Without ``jit`` or with one numba thread nothing
    is changed.
    """
    import numba

    if not jit or numba.get_num_threads() < 2:
        yield
        return
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, scanned again after any import.

    A scan costs about 2 ms. An import may load a BLAS of its own (``scipy.linalg``
    brings one besides NumPy's), which a controller made before it would not limit.
    """
    global _blas
    if _blas is None or _blas[1] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _blas = (ThreadpoolController(), len(sys.modules))
    return _blas[0]


def result(problem, x, *, n_iter, signal_converged, status, message, history=None, codes=None, objective=None):
    """A :class:`proxcore.Result` for a pursuit that computed ``x`` (shape ``in_shape + batch``).

    ``objective``: ``problem.objective(x)`` when the pursuit can compute it more cheaply (from its sparse
    codes, or in its kernel); computed here otherwise."""
    objective = problem.objective(x) if objective is None else float(objective)
    if history is None:
        history = {"objective": np.array([objective])}
    signal_converged = np.asarray(signal_converged, dtype=bool).reshape(problem.batch_shape)
    return Result(
        x=x,
        codes=tuple(problem.codes(x)) if codes is None else tuple(codes),
        objective=objective,
        n_iter=int(n_iter),
        converged=bool(np.all(signal_converged)) and status is Status.CONVERGED,
        status=status,
        message=message,
        history=history,
        signal_converged=signal_converged,
    )
