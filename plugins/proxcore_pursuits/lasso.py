"""Fast Lasso pursuits on the Gram matrix: coordinate descent (``cd``) and the LARS–Lasso homotopy (``lars``)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from proxcore import L1, Status
from proxcore.certificates import l1_gap, lasso_duality_gap
from proxcore._validation import ConvergenceWarning, InvalidParameterError, check_array, check_positive_int, check_scalar

from . import _cd_kernels as kernels
from . import _lars_kernels
from ._common import as_columns, dense_matrix, one_layer, result, serial_blas

__all__ = ["cd", "lars"]


def cd(problem, *, max_iter=1000, tol=1e-6, x0=None, jit=True):
    """Cyclic coordinate descent for the Lasso ``½‖y − Dx‖² + Σ λ_i|x_i|`` (optionally ``x ≥ 0``), per signal.

    Each signal runs its own sweeps on the Gram ``DᵀD`` with covariance
    updates (Friedman, Hastie & Tibshirani 2010), over a working set: the
    non-zero atoms and the zero atoms closest to entering, doubled until
    the whole problem is solved (Massias, Gramfort & Salmon 2018), so a
    change costs the size of the working set, not ``m``. Once a sweep
    leaves the support and the signs unchanged, the exact solution on them
    (one small Cholesky solve) is taken if it lowers the objective. The
    duality gap of the whole problem, a certificate (``F(x) − F* ≤ gap``),
    decides when a signal stops: ``gap ≤ tol·‖y‖²`` (scikit-learn's rule).
    Signals run in parallel, one chunk per numba thread. A few signals on a
    wide ``D`` (fewer than ``m/128``) do not pay for the whole Gram: the
    kernel runs on growing sets of atoms, the whole problem's duality gap
    deciding which atoms join (500×2000, one signal: 4.5 ms, where the
    Gram alone takes 45 ms). Unpenalised atoms (``λ_i = 0``) are solved
    out first: with ``P = D_0⁺``, the penalised atoms' problem on
    ``(I − D_0P)D_1`` and ``(I − D_0P)y`` has the same minimum, and
    ``x_0 = P(y − D_1x_1)`` (its gap certifies the whole problem's; with
    ``nonneg=True`` they are refused: use ``fista``). With a small ``λ``
    on an overcomplete ``D`` (near basis pursuit) the iterates can hold more
    atoms than ``D`` has rows, where the exact solve does not apply, and
    coordinate descent needs hundreds to thousands of sweeps (as
    scikit-learn's does); ``lars`` is exact there in a few dozen steps.

    Parameters
    ----------
    problem : pc.Problem
        One layer (any operator, formed densely), ``pc.chain(y, [(D, pc.L1(lam, nonneg=...))])``;
        ``lam`` a scalar or per-atom weights.
    max_iter : int, default 1000
        Sweeps (over the working set) at most; stopping there gives
        ``converged=False`` and a :class:`proxcore.ConvergenceWarning`.
    tol : float, default 1e-6
        Relative duality gap: converged when ``gap ≤ tol·‖y‖²`` per signal.
    x0 : array, optional
        Starting point (default zeros); never modified.
    jit : bool, default True
        The numba kernel (compiled on first call, cached); ``False`` runs
        the same source in Python (slow; the reference for the compiled one).

    Returns
    -------
    Result
        ``x``, ``gap`` per signal, ``n_iter`` the largest number of sweeps
        (on sets of atoms: the rounds' sweeps one after another),
        ``history["objective"]`` the total objective after each sweep.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> res = pc.solve(pc.chain(np.array([3.0, 1.0]), [(D, pc.L1(1.0))]), method="cd", tol=1e-12)
    >>> res.x, res.converged                 # soft(3, 1) and soft(2, 1)/4
    (array([2.  , 0.25]), True)
    """
    D, reg = one_layer(problem, "cd")
    if not isinstance(reg, L1):
        raise InvalidParameterError(f"cd solves the Lasso: the regularizer must be a pc.L1; got {reg!r}.")
    max_iter = check_positive_int(max_iter, "max_iter", "cd")
    tol = check_scalar(tol, "tol", "cd", low=0.0)
    if not isinstance(jit, (bool, np.bool_)):
        raise InvalidParameterError(f"The 'jit' parameter of cd must be a bool; got {jit!r}.")
    dtype = problem.dtype
    A = dense_matrix(D, dtype)
    m = A.shape[1]
    Y = as_columns(problem)
    N = Y.shape[1]
    weights = np.broadcast_to(np.asarray(reg.lam, dtype=np.float64).reshape(-1), (m,)).copy()
    lam = weights.astype(dtype)
    if x0 is None:
        X = np.zeros((m, N), dtype=dtype)
    else:
        x0 = check_array(x0, "x0")
        expected = tuple(D.in_shape) + problem.batch_shape
        if x0.shape != expected:
            raise InvalidParameterError(f"The 'x0' parameter of cd must have shape {expected}; got {x0.shape}.")
        if reg.nonneg and (x0 < 0).any():
            raise InvalidParameterError("The 'x0' parameter of cd must be non-negative for pc.L1(..., nonneg=True).")
        X = x0.reshape(m, N).astype(dtype, order="C")  # a copy: the caller's array is never touched
    yy = np.einsum("ij,ij->j", Y, Y)
    free = weights == 0
    if free.any() and reg.nonneg:
        raise InvalidParameterError(
            "cd needs positive 'lam' weights with nonneg=True (unpenalised non-negative atoms cannot be solved out); "
            f"got {int(np.count_nonzero(free))} zero weight(s): use method='fista'."
        )
    run = kernels.lasso_cd if jit else kernels.lasso_cd_numpy
    with serial_blas(jit):
        if free.any():  # min over x_0 in closed form: the Lasso of the penalised atoms off the span of D_0
            A0, A1 = A[:, free].astype(np.float64), A[:, ~free]
            P = np.linalg.pinv(A0)
            A1_off, Y_off = (A1 - A0 @ (P @ A1)).astype(dtype), (Y - A0 @ (P @ Y)).astype(dtype)
            X1 = X[~free]
            yy_off = np.einsum("ij,ij->j", Y_off, Y_off)
            gap, objective, history = _penalised(run, A1_off, Y_off, yy_off, lam[~free], weights[~free], False,
                                                 max_iter, tol, X1)
            X[~free] = X1
            X[free] = P @ (Y - A1 @ X1)
        else:
            gap, objective, history = _penalised(run, A, Y, yy, lam, weights, reg.nonneg, max_iter, tol, X)
    x = X.reshape(tuple(D.in_shape) + problem.batch_shape)
    ok = gap <= tol * yy
    n_iter = len(history)
    worst = float(np.max(gap / np.where(yy > 0, yy, 1))) if N else 0.0
    if ok.all():
        status = Status.CONVERGED
        message = f"Converged: duality gap / ‖y‖² {worst:.3g} <= tol {tol:.3g} for every signal after {n_iter} sweeps."
    else:
        status = Status.MAX_ITER
        message = (f"Maximum number of sweeps ({max_iter}) reached: duality gap / ‖y‖² {worst:.3g} > tol {tol:.3g} "
                   f"for {int(np.count_nonzero(~ok))} of {N} signal(s).")
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    out = result(problem, x, n_iter=n_iter, signal_converged=ok, status=status, message=message,
                 history={"objective": history}, objective=objective.sum())  # from the residuals (the kernel)
    return dataclasses.replace(out, gap=gap.astype(dtype).reshape(problem.batch_shape))


def _penalised(run, A, Y, yy, lam, weights, nonneg, max_iter, tol, X):
    """``cd`` on ``(A, Y)`` (``yy``: ``‖y‖²`` per signal) from ``X`` (in place), every ``λ_i > 0``:
    ``(gap, objective, history)`` per signal.

    Under :func:`serial_blas`. A few signals on a wide ``A`` run on sets of atoms, the rest on the whole Gram.
    """
    m, N = X.shape
    if m == 0:  # every atom was unpenalised: the least-squares solution is exact
        return np.zeros(N), 0.5 * yy, np.zeros(0)
    if 0 < 4 * _FIRST_ATOMS * N <= m:  # the Gram of every atom would cost more than the few signals' sweeps
        return _on_atom_sets(run, A, Y, yy, lam, weights, nonneg, max_iter, tol, X)
    G, B = A.T @ A, Y.T @ A  # C-contiguous, as the kernel's wrapper makes every input
    _, gap, objective, history = run(G, B, A.T, Y, yy, lam, weights, nonneg, max_iter, tol, X)
    return gap, objective, history


_FIRST_ATOMS = 32  # atoms per signal in cd's first set of atoms, when it does not form the whole Gram


def _on_atom_sets(run, A, Y, yy, lam, weights, nonneg, max_iter, tol, X):
    """``cd`` for a few signals on a wide ``A``: the kernel on growing sets of atoms, never the whole Gram.

    The Gram of every atom costs ``n·m²``; a few signals' sweeps touch a
    small part of it. So the kernel runs on ``A_S``, ``S`` the atoms of the
    starting point's support and each signal's ``_FIRST_ATOMS`` atoms of
    largest ``|c_i|/λ_i`` (``c = Aᵀ(y − Ax)``), for ``n·|S|²``. Then the duality gap of the whole problem, from
    ``c`` on every atom: a signal whose gap is above ``tol·‖y‖²`` has atoms
    outside ``S`` with ``|c_i| > λ_i`` (were there none, its gap would be the
    restricted problem's, which the kernel brought below the tolerance),
    and its largest ones join ``S``, up to ``|S|`` of them per signal, before
    the kernel runs again on those signals from where they are (Massias,
    Gramfort & Salmon 2018, one level up from the kernel's own working
    sets). ``X`` (``m×N``) is updated in place. Returns the whole problem's
    ``gap``, the objectives and the history: the total objective after each
    sweep, the rounds one after another. Every ``λ_i > 0``.
    """
    m, N = X.shape

    def largest(signals, count, above):
        # per signal, the `count` atoms outside S of largest |c_i|/λ_i (c_i/λ_i when nonneg), those above `above`
        c = np.maximum(C[:, signals], 0) if nonneg else np.abs(C[:, signals])
        score = c / lam[:, None]
        score[inside] = -np.inf
        count = min(count, m)
        top = np.argpartition(-score, count - 1, axis=0)[:count]
        return top[np.take_along_axis(score, top, axis=0) > above]

    C = A.T @ (Y - A @ X)
    inside = (X != 0).any(axis=1)
    inside[largest(np.arange(N), _FIRST_ATOMS, -np.inf)] = True
    signals = np.arange(N)
    objective, gap = np.zeros(N), np.zeros(N)
    history, sweeps = [], 0  # the rounds' sweeps one after another: max_iter bounds their sum
    while True:
        S = np.flatnonzero(inside)
        AS, YS, XS = A[:, S], Y[:, signals], X[np.ix_(S, signals)]
        G, B = AS.T @ AS, YS.T @ AS
        _, _, objective[signals], hist = run(G, B, AS.T, YS, yy[signals], lam[S], weights[S], nonneg,
                                             max_iter - sweeps, tol, XS)
        X[np.ix_(S, signals)] = XS
        sweeps += hist.size
        history.append(hist + (objective.sum() - objective[signals].sum()))  # + the signals that stopped before
        R = YS - AS @ XS
        C[:, signals] = A.T @ R
        gap[signals] = l1_gap(X[:, signals], C[:, signals], np.einsum("ij,ij->j", R, R),
                              np.einsum("ij,ij->j", R, YS), lam, nonneg, 1)
        signals = signals[gap[signals] > tol * yy[signals]]
        if not signals.size or sweeps >= max_iter or inside.all():
            break
        new = largest(signals, S.size, 1)
        if not new.size:  # the gap is the restricted problem's, which the kernel could not lower further
            break
        inside[new] = True
        if 2 * np.count_nonzero(inside) > m:
            inside[:] = True
    return gap, objective, np.concatenate(history)


def lars(problem, *, max_iter=None, jit=True):
    """The Lasso by the LARS homotopy: the exact solution path from ``λ = ‖Dᵀy‖∞`` down to the target, per signal.

    Solves ``½‖y − Dx‖² + Σ λ_i|x_i|`` (optionally ``x ≥ 0``) exactly, up to
    rounding, in as many steps as the path has kinks (atoms joining or, with
    the Lasso modification, leaving the active set); each step solves one
    small system with the Gram of the active atoms. Per-atom weights must be
    positive (they are folded into the atoms: ``u_i = λ_i x_i``).

    Parameters
    ----------
    problem : pc.Problem
        One layer (any operator, formed densely), ``pc.chain(y, [(D, pc.L1(lam, nonneg=...))])``.
    max_iter : int, optional
        Steps at most per signal (default ``10·m``); stopping there gives
        ``converged=False`` and a :class:`proxcore.ConvergenceWarning`.
    jit : bool, default True
        The numba-compiled path; ``False`` runs the same source in Python.

    Returns
    -------
    Result
        ``x``, ``gap`` per signal (recomputed from scratch; zero up to
        rounding), ``n_iter`` the most steps of any signal,
        ``history["objective"]`` the total objective after each step.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> res = pc.solve(pc.chain(np.array([3.0, 1.0]), [(D, pc.L1(1.0))]), method="lars")
    >>> np.round(res.x, 12), res.n_iter
    (array([2.  , 0.25]), 2)
    """
    D, reg = one_layer(problem, "lars")
    if not isinstance(reg, L1):
        raise InvalidParameterError(f"lars solves the Lasso: the regularizer must be a pc.L1; got {reg!r}.")
    if not isinstance(jit, (bool, np.bool_)):
        raise InvalidParameterError(f"The 'jit' parameter of lars must be a bool; got {jit!r}.")
    dtype = problem.dtype
    A = dense_matrix(D, dtype)
    m = A.shape[1]
    max_iter = 10 * m if max_iter is None else check_positive_int(max_iter, "max_iter", "lars")
    weights = np.broadcast_to(np.asarray(reg.lam, dtype=np.float64).reshape(-1), (m,))
    if not np.all(weights > 0):
        raise InvalidParameterError(
            f"The 'lam' weights of the L1 regularizer must be positive for lars; got a minimum of {weights.min()!r} "
            "(use method='cd' for unpenalised atoms, or 'fista' with nonneg=True)."
        )
    Y = as_columns(problem)
    N = Y.shape[1]
    scaled = A.astype(np.float64) / weights  # u_i = λ_i x_i: the target weight becomes 1
    yy = np.einsum("ij,ij->j", Y, Y, dtype=np.float64)
    run = _lars_kernels.lars if jit else _lars_kernels.lars_numpy
    with serial_blas(jit):  # the products before and after the parallel kernel: see there
        G, B = scaled.T @ scaled, Y.T.astype(np.float64) @ scaled  # products: C-contiguous
        U, steps, status, final, hist = run(G, B, yy, reg.nonneg, max_iter)
        x = np.ascontiguousarray((U / weights).T.astype(dtype)).reshape(tuple(D.in_shape) + problem.batch_shape)
        objective = problem.objective(x)
        gap = lasso_duality_gap(D, np.asarray(problem.y, dtype=dtype), x, reg.lam, nonneg=reg.nonneg)
    history = kernels._history(steps, final, hist)
    ok = status == 0
    n_iter = int(steps.max()) if N else 0
    if ok.all():
        status_, message = Status.CONVERGED, f"LARS reached the target weight on every signal in at most {n_iter} steps."
    else:
        status_ = Status.MAX_ITER
        message = (f"Maximum number of steps ({max_iter}) reached before the target weight for "
                   f"{int(np.count_nonzero(~ok))} of {N} signal(s).")
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    out = result(problem, x, n_iter=n_iter, signal_converged=ok, status=status_, message=message,
                 history={"objective": history}, objective=objective)
    return dataclasses.replace(out, gap=np.asarray(gap, dtype=dtype).reshape(problem.batch_shape))
