"""Small helpers of the models plugin: dense matrices, batches as columns, results."""

from __future__ import annotations

import math

import numpy as np

from proxcore import Problem, Result, Status
from proxcore._validation import InvalidParameterError

__all__ = ["check_problem", "dense", "columns", "make_result"]


def check_problem(problem, method):
    if not isinstance(problem, Problem):
        raise InvalidParameterError(
            f"The 'problem' parameter of {method} must be a pc.Problem (see pc.chain); got {type(problem).__name__}."
        )
    return problem


def dense(op, dtype, name="operator"):
    """The ``n×m`` matrix of an operator over flattened signals and codes."""
    array = getattr(op, "array", None)
    if array is not None:
        A = array.toarray() if hasattr(array, "toarray") else array
        return np.asarray(A, dtype=dtype)
    n, m = math.prod(op.out_shape), math.prod(op.in_shape)
    if n * m > 25_000_000:
        raise InvalidParameterError(f"the {name} {op!r} is too large to form as a dense matrix ({n}x{m}).")
    eye = np.eye(m, dtype=dtype).reshape(tuple(op.in_shape) + (m,))
    return np.asarray(op.apply(eye), dtype=dtype).reshape(n, m)


def columns(y, n, dtype):
    """``y`` (one signal's shape + batch) as an ``(n, N)`` float array."""
    return np.asarray(y, dtype=dtype).reshape(n, -1)


def make_result(problem, x, *, n_iter, message, history=None, codes=None, signal_converged=None):
    objective = problem.objective(x)
    if history is None:
        history = {"objective": np.full(max(int(n_iter), 0), objective)}
    if signal_converged is None:
        signal_converged = np.ones(problem.batch_shape, bool)
    signal_converged = np.asarray(signal_converged, dtype=bool).reshape(problem.batch_shape)
    return Result(
        x=x,
        codes=tuple(problem.codes(x)) if codes is None else tuple(codes),
        objective=objective,
        n_iter=int(n_iter),
        converged=bool(np.all(signal_converged)),
        status=Status.CONVERGED if np.all(signal_converged) else Status.MAX_ITER,
        message=message,
        history=history,
        signal_converged=signal_converged,
    )
