"""The one iteration loop every engine runs in.

An engine supplies ``init(x0) -> state`` and ``step(state) -> state``; its
states are NamedTuples with at least ``iteration``, ``x``, ``objective``
(the batch total) and ``error`` (the engine's convergence measure per
signal: converged when ``error <= tol``). The loop owns everything else:
``max_iter``, ``tol``, ``target``, the callback, the history, divergence
detection, and the stopping message.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from .._validation import ConvergenceWarning, InvalidParameterError, check_array, check_positive_int, check_scalar
from ..result import Result, Status

__all__ = ["check_loop_options", "initial_point", "run"]


def check_loop_options(owner, max_iter, tol, target, callback):
    max_iter = check_positive_int(max_iter, "max_iter", owner)
    tol = check_scalar(tol, "tol", owner, low=0.0)
    if target is not None:
        target = check_scalar(target, "target", owner)
    if callback is not None and not callable(callback):
        raise TypeError(f"The 'callback' parameter of {owner} must be callable; got {callback!r}.")
    return max_iter, tol, target, callback


def initial_point(x0, problem, method):
    """The starting deepest code: zeros, or a validated copy of ``x0`` in the problem's dtype."""
    shape = tuple(problem.in_shape) + tuple(problem.batch_shape)
    if x0 is None:
        return np.zeros(shape, dtype=problem.dtype)
    x0 = check_array(x0, "x0")
    if x0.shape != shape:
        raise InvalidParameterError(f"The 'x0' parameter of {method} must have shape {shape}; got {x0.shape}.")
    return x0.astype(problem.dtype)  # a copy: the caller's array is never touched


def inner_nonneg_violations(problem, codes):
    """The inner codes that break their non-negativity constraint, as ``(node, count, lowest, relative)``.

    ``codes`` are the problem's codes, shallowest first (``problem.code_nodes``).
    An inner code node (not the deepest code, whose prox enforces its
    constraint exactly) with ``pc.L1(λ, nonneg=True)`` is reported when some
    entry of its code ``γ = M_v x`` is negative: ``count`` such entries,
    ``lowest`` the most negative one, ``relative`` the largest over signals of
    ``‖min(γ, 0)‖ / max(‖γ‖, ‖M_v‖‖y‖/sqrt(L_f))``, the violation relative
    to the code, or to the size of a code that explains the data when the
    code is near zero (``L_f = Σ_d ‖A_d‖²``, as in the ``primal-dual``
    stopping criterion).
    """
    from ..regularizers import L1

    found = []
    maps = {term.node: term.operator for term in problem.terms}
    for node, code in zip(problem.code_nodes, codes):
        reg = problem.regularizers[node]
        if node == problem.source or not (isinstance(reg, L1) and reg.nonneg):
            continue
        code = np.asarray(code)
        negative = np.minimum(code, 0)
        count = int(np.count_nonzero(negative))
        if not count:
            continue
        axes = tuple(range(len(problem.shapes[node])))
        data = 0.0
        for term in problem.data_terms:
            y = np.asarray(term.function.y, dtype=np.float64)
            data = data + np.sqrt((y * y).sum(axis=tuple(range(len(problem.shapes[term.node])))))
        lipschitz = sum(term.operator.norm() ** 2 for term in problem.data_terms)
        reference = maps[node].norm() * data / np.sqrt(lipschitz) if lipschitz > 0 else data
        size = np.maximum(np.sqrt((code.astype(np.float64) ** 2).sum(axis=axes)), reference)
        relative = np.sqrt((negative.astype(np.float64) ** 2).sum(axis=axes)) / np.where(size > 0, size, 1)
        found.append((node, count, float(negative.min()), float(np.max(relative))))
    return found


def _violation_note(violations):
    parts = [f"{node!r} has {count} negative entries (lowest {lowest:.3g}, relative size {relative:.2g})"
             for node, count, lowest, relative in violations]
    return (
        f" The returned point violates the non-negativity of inner code(s): {'; '.join(parts)}. "
        "res.objective counts their ℓ1 penalty only; problem.objective(res.x) is inf."
    )


def run(engine, x0, *, max_iter, tol, target, callback, criterion, finish, problem=None):
    """Iterate ``engine.step`` from ``engine.init(x0)`` and return a :class:`Result`.

    ``criterion`` names the convergence measure for messages; ``finish(state)``
    returns the fields the engine adds to the result (``codes``, ``gap``, ``step``).
    With ``problem``, the returned codes are checked against the non-negativity
    of inner codes (:func:`inner_nonneg_violations`): any violation is added to
    the message, and one larger than ``tol`` (relative) is also warned about.
    """
    start = time.perf_counter()
    state = engine.init(x0)
    objective0 = state.objective
    objectives, times, gaps = [], [], []
    status = Status.MAX_ITER
    for _ in range(max_iter):
        state = engine.step(state)
        objectives.append(state.objective)
        times.append(time.perf_counter() - start)
        gap = getattr(state, "gap", None)
        if gap is not None:
            gaps.append(float(np.sum(gap)))
        if not math.isfinite(state.objective) or state.objective > 1e10 * max(abs(objective0), 1e-300):
            status = Status.DIVERGED
            break
        if callback is not None:
            try:
                stop = callback(state)
            except Exception as exc:
                exc.add_note(f"raised by the callback at iteration {state.iteration}")
                raise
            if stop is True:
                status = Status.CALLBACK_STOP
                break
        if target is not None and state.objective <= target:
            status = Status.TARGET_REACHED
            break
        if np.all(state.error <= tol):
            status = Status.CONVERGED
            break

    signal_converged = np.asarray(state.error <= tol)
    worst = float(np.max(state.error)) if np.size(state.error) else 0.0
    n = state.iteration
    if status is Status.CONVERGED:
        message = f"Converged: {criterion} {worst:.3g} <= tol {tol:.3g} for every signal after {n} iterations."
    elif status is Status.TARGET_REACHED:
        message = f"Target reached: objective {state.objective:.10g} <= target {target:.10g} at iteration {n}."
    elif status is Status.CALLBACK_STOP:
        message = f"Stopped by the callback at iteration {n}."
    elif status is Status.DIVERGED:
        message = (
            f"Diverged: the objective became {state.objective:.3g} at iteration {n} "
            f"(it started at {objective0:.3g}); the step may exceed the stability bound."
        )
    else:
        missed = int(np.size(signal_converged) - np.count_nonzero(signal_converged))
        message = (
            f"Maximum number of iterations ({max_iter}) reached: {criterion} {worst:.3g} > tol {tol:.3g} "
            f"for {missed} of {max(np.size(signal_converged), 1)} signal(s)."
        )
    if status in (Status.MAX_ITER, Status.DIVERGED):
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    history = {"objective": np.array(objectives), "time": np.array(times)}
    if gaps:
        history["gap"] = np.array(gaps)
    extra = finish(state)
    violations = inner_nonneg_violations(problem, extra["codes"]) if problem is not None else []
    if violations:
        note = _violation_note(violations)
        message += note
        if max(v[3] for v in violations) > max(tol, 1e-12):
            warnings.warn(note.lstrip(), ConvergenceWarning, stacklevel=3)
    return Result(
        x=state.x,
        objective=float(state.objective),
        n_iter=n,
        converged=status is Status.CONVERGED or (status is not Status.DIVERGED and bool(np.all(signal_converged))),
        status=status,
        message=message,
        history=history,
        signal_converged=signal_converged,
        **extra,
    )
