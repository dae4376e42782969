"""Property checks for operators, regularizers and pursuits: the testing kit.

Each ``check_*`` function passes silently when the property holds and raises
:class:`AssertionError` with a readable reason otherwise: which input (dtype,
step, trial and seed), which inequality, both sides and by how much. They
never modify their arguments. Tolerances come from the dtype's machine
epsilon and are scaled by norms (:func:`tolerance`), never by the value
being compared, so a float32 operator is not failed for rounding and a wrong
adjoint off by 1% is caught in either precision.

- :func:`check_adjoint` — the dot test ``⟨Ax, y⟩ = ⟨x, Aᵀy⟩`` and the
  shape, dtype, batch and purity contract of a linear operator;
- :func:`check_operator` — :func:`check_adjoint` plus "``op.norm()`` is an
  upper bound on ``‖A‖₂``" (the step sizes rely on it);
- :func:`check_prox` — the prox is the argmin of ``step·g(u) + ½‖u − v‖²``
  (against coordinate-wise, random and brute-force alternatives), the
  subgradient inequality and firm non-expansiveness for convex ``g``;
- :func:`check_convergence` — a pursuit's objective obeys its promised
  rate at every iteration, against a certified optimum;
- :func:`check_pursuit` — the result contract of any pursuit;
- :func:`check_loss` — a smooth loss's gradient, Lipschitz constant and
  convexity.

Hypothesis strategies live in :mod:`proxcore.testing.strategies` (which
needs the ``hypothesis`` package); the pytest plugin
(:mod:`proxcore.testing.pytest_plugin`) adds fixtures and the conformance
suite for plugin authors.

Examples
--------
>>> import numpy as np, proxcore as pc
>>> from proxcore.testing import check_adjoint, check_prox, check_convergence
>>> D = pc.Matrix(np.random.default_rng(0).standard_normal((8, 12)))
>>> check_adjoint(D)                       # silent: the adjoint is right
>>> check_prox(pc.L0(0.5))                 # silent: hard threshold at sqrt(2·step·λ)
>>> y = D @ np.r_[1.0, -2.0, np.zeros(10)]
>>> check_convergence(pc.chain(y, [(D, pc.L1(0.5))]), "ista", "1/k")
"""

from __future__ import annotations

import contextlib
import itertools
import math
import warnings
from typing import NamedTuple

import numpy as np

__all__ = [
    "check_adjoint",
    "check_operator",
    "check_prox",
    "check_convergence",
    "check_pursuit",
    "check_loss",
    "optimum",
    "Optimum",
    "tolerance",
    "RATES",
    "conformance_cases",
    "conformance_test",
]

#: The rate each built-in method promises (what the conformance suite checks).
RATES = {
    "ista": "1/k",
    "fista": "1/k^2",
    "ml-ista": "near-optimum",
    "ml-fista": "near-optimum",
    "primal-dual": "near-optimum",
    "iht": "monotone",
    "omp": "monotone",
    "ormp": "monotone",
    # each coordinate step minimizes F exactly along its coordinate, so no sweep can raise F
    "cd": "monotone",
    # the homotopy ends at the exact Lasso solution (up to rounding), not merely near it
    "lars": "optimum",
    # ADMM with an exact x-update: its iterates converge to a minimizer (not monotonically)
    "conv-admm": "near-optimum",
}

from ._conformance import conformance_cases, conformance_test  # noqa: E402  (needs RATES above)

_RATE_NAMES = ("monotone", "1/k", "1/k^2", "near-optimum", "optimum")


# --------------------------------------------------------------------------- tolerances
def tolerance(dtype, scale=1.0, k=None) -> float:
    """A rounding tolerance for results of ``dtype`` whose size is ``scale``.

    ``k·eps·scale`` with ``eps = np.finfo(dtype).eps`` and a safety factor
    ``k`` of 100 for float64 and 30 for float32 (rounding errors of sums
    grow like ``sqrt(n)·eps``). Scale by the norms of the operands, not by
    the value compared, which may cancel to zero.

    Examples
    --------
    >>> from proxcore.testing import tolerance
    >>> tolerance("float64", scale=2.0) < 1e-13 < tolerance("float32")
    True
    """
    eps = float(np.finfo(np.dtype(dtype)).eps)
    if k is None:
        k = 100 if eps < 1e-10 else 30
    scale = np.asarray(scale, dtype=np.float64)
    return k * eps * (float(scale) if scale.ndim == 0 else scale)


def _worst_eps_dtype(*dtypes):
    """The dtype with the largest epsilon among ``dtypes`` (float32 wins over float64)."""
    floats = [np.dtype(d) for d in dtypes if np.dtype(d).kind == "f"]
    if not floats:
        return np.dtype(np.float64)
    return max(floats, key=lambda d: np.finfo(d).eps)


def _norm(a) -> float:
    """The 2-norm in float64, scaled so that tiny or huge entries neither underflow nor overflow."""
    a = np.asarray(a, dtype=np.float64)
    m = float(np.max(np.abs(a), initial=0.0))
    if m == 0.0 or not math.isfinite(m):
        return m
    b = a / m
    return m * float(np.sqrt(np.vdot(b, b)))


def _dot(a, b) -> float:
    return float(np.vdot(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


def _frozen(a):
    """A read-only copy: a callee that writes into its input raises instead of corrupting it."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _name(obj) -> str:
    text = repr(obj)
    return text if len(text) <= 120 else text[:117] + "..."


def _call(what, fn, *args):
    """Call ``fn(*args)``; a write into a read-only input becomes a readable AssertionError."""
    try:
        return fn(*args)
    except ValueError as exc:
        if "read-only" in str(exc):
            raise AssertionError(
                f"{what} writes into its input (which was passed read-only): {exc}. "
                "Inputs must never be modified; work on a copy."
            ) from exc
        raise


# --------------------------------------------------------------------------- operators
def _operator_dtypes(op, dtype):
    if dtype is not None:
        return [np.dtype(d) for d in np.atleast_1d(dtype)]
    declared = getattr(op, "dtype", None)
    if declared is not None and np.dtype(declared).kind == "f":
        return [np.dtype(declared)]
    return [np.dtype(np.float64), np.dtype(np.float32)]


def check_adjoint(op, *, dtype=None, batch=3, trials=3, seed=0):
    """Check that ``op.adjoint`` is the adjoint of ``op.apply`` (the dot test), and the operator contract.

    For random ``x`` (shape ``in_shape + (batch,)``) and ``y`` (shape
    ``out_shape + (batch,)``) it checks, for every column ``j``::

        |⟨A x_j, y_j⟩ − ⟨x_j, Aᵀ y_j⟩| ≤ tol · (‖A x_j‖‖y_j‖ + ‖x_j‖‖Aᵀ y_j‖)

    with ``tol = k·eps(dtype)`` (:func:`tolerance`) and the inner products
    accumulated in float64. It also checks output shapes (one signal and a
    batch), dtype preservation (float32 in, float32 out unless the operator
    declares a wider ``dtype``), finiteness, linearity, that each batch
    column equals the single-signal result, that Fortran-ordered and strided
    inputs give the same result, and that neither method writes into its
    input (inputs are passed read-only).

    Parameters
    ----------
    op : proxcore.LinearOperator
        Anything with ``in_shape``, ``out_shape``, ``apply`` and ``adjoint``.
    dtype : dtype or sequence of dtypes, optional
        The dtypes to test in; default the operator's ``dtype`` if it
        declares one, else both float64 and float32.
    batch : int, default 3
        Number of signals in the batched calls.
    trials : int, default 3
        Random draws per dtype.
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`; quoted in failure messages.

    Raises
    ------
    AssertionError
        With the failing inequality, both sides, the tolerance and the seed.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.testing import check_adjoint
    >>> check_adjoint(pc.Matrix(np.arange(6.0).reshape(2, 3)))
    >>> class Wrong(pc.LinearOperator):
    ...     in_shape, out_shape = (3,), (2,)
    ...     A = np.arange(6.0).reshape(2, 3)
    ...     def apply(self, x): return np.tensordot(self.A, x, 1)
    ...     def adjoint(self, y): return 1.01 * np.tensordot(self.A.T, y, 1)
    >>> try:
    ...     check_adjoint(Wrong())
    ... except AssertionError as e:
    ...     print(str(e).splitlines()[0])
    check_adjoint(<Wrong: (3,) -> (2,)>) failed: the dot test <Ax, y> = <x, Aᵀy> does not hold.
    """
    in_shape, out_shape = tuple(op.in_shape), tuple(op.out_shape)
    head = f"check_adjoint({_name(op)}) failed"
    declared = getattr(op, "dtype", None)
    for dt in _operator_dtypes(op, dtype):
        rng = np.random.default_rng(seed)
        where = f"(dtype {dt}, seed {seed}"
        for trial in range(trials):
            x = _frozen(rng.standard_normal(in_shape + (batch,)).astype(dt))
            y = _frozen(rng.standard_normal(out_shape + (batch,)).astype(dt))
            ctx = f"{where}, trial {trial})"
            Ax = np.asarray(_call(f"{_name(op)}.apply", op.apply, x))
            ATy = np.asarray(_call(f"{_name(op)}.adjoint", op.adjoint, y))
            for label, arr, shape in (("apply", Ax, out_shape), ("adjoint", ATy, in_shape)):
                if arr.shape != shape + (batch,):
                    raise AssertionError(
                        f"{head}: {label} of a batch of {batch} signals returned shape {arr.shape}, expected "
                        f"{shape + (batch,)} (the signal's shape, then the batch axes, kept) {ctx}."
                    )
                if not np.all(np.isfinite(arr)):
                    raise AssertionError(f"{head}: {label} returned non-finite values for finite input {ctx}.")
                expected_dtype = np.result_type(dt, declared) if declared is not None else dt
                if arr.dtype != expected_dtype:
                    raise AssertionError(
                        f"{head}: {label} turned {dt} input into {arr.dtype}; expected {expected_dtype} "
                        f"({'the operator declares dtype ' + str(declared) if declared is not None else 'the operator declares no dtype'}; "
                        f"float32 in, float32 out) {ctx}."
                    )
            tol_dt = _worst_eps_dtype(dt, Ax.dtype)
            size = math.prod(in_shape) + math.prod(out_shape)
            # the dot test, column by column
            worst = None
            for j in range(batch):
                a = _dot(Ax[..., j], y[..., j])
                b = _dot(x[..., j], ATy[..., j])
                scale = _norm(Ax[..., j]) * _norm(y[..., j]) + _norm(x[..., j]) * _norm(ATy[..., j])
                tol = _op_tol(tol_dt, scale, size)
                if abs(a - b) > tol and (worst is None or abs(a - b) / tol > worst[0]):
                    worst = (abs(a - b) / tol, j, a, b, tol, scale)
            if worst is not None:
                ratio, j, a, b, tol, scale = worst
                raise AssertionError(
                    f"{head}: the dot test <Ax, y> = <x, Aᵀy> does not hold.\n"
                    f"  <Ax, y> = {a:.17g}\n  <x, Aᵀy> = {b:.17g}\n"
                    f"  |difference| = {abs(a - b):.3g} > tolerance {tol:.3g} = k·eps·(‖Ax‖‖y‖ + ‖x‖‖Aᵀy‖) "
                    f"(by a factor {ratio:.3g}; relative to ‖Ax‖‖y‖ + ‖x‖‖Aᵀy‖ = {scale:.3g} the error is "
                    f"{abs(a - b) / max(scale, 1e-300):.3g})\n"
                    f"  for batch column {j} of x ~ N(0, 1) {in_shape}, y ~ N(0, 1) {out_shape} {ctx}.\n"
                    f"  Reproduce: rng = np.random.default_rng({seed}); draw x, y as above {trial + 1} time(s)."
                )
            # one signal (no batch axes) and batch consistency
            for label, fn, src, full, norm_src in (
                ("apply", op.apply, x, Ax, _norm(x)),
                ("adjoint", op.adjoint, y, ATy, _norm(y)),
            ):
                single = np.asarray(_call(f"{_name(op)}.{label}", fn, src[..., 0]))
                if single.shape != full.shape[:-1]:
                    raise AssertionError(
                        f"{head}: {label} of one signal (shape {src.shape[:-1]}) returned shape {single.shape}, "
                        f"expected {full.shape[:-1]} (no batch axes in, none out) {ctx}."
                    )
                gain = max(_norm(Ax) / max(_norm(x), 1e-300), _norm(ATy) / max(_norm(y), 1e-300))
                scale = _norm(full[..., 0]) + gain * _norm(src[..., 0])
                err = _norm(np.asarray(single, np.float64) - np.asarray(full[..., 0], np.float64))
                if err > _op_tol(tol_dt, scale, size):
                    raise AssertionError(
                        f"{head}: {label} of column 0 alone differs from column 0 of the batched {label} by "
                        f"{err:.3g} > tolerance {_op_tol(tol_dt, scale, size):.3g} (batch axes must not mix signals) {ctx}."
                    )
            # memory layouts: Fortran-ordered and strided (non-contiguous) inputs give the same result
            if trial == 0:
                for layout, variant in _layouts(x):
                    out = np.asarray(_call(f"{_name(op)}.apply", op.apply, variant))
                    err = _norm(np.asarray(out, np.float64) - Ax) if out.shape == Ax.shape else math.inf
                    scale = _norm(Ax) + gain * _norm(x)
                    if err > _op_tol(tol_dt, scale, size):
                        raise AssertionError(
                            f"{head}: apply of a {layout} copy of x differs from apply of x by {err:.3g} "
                            f"(shape {out.shape}; tolerance {_op_tol(tol_dt, scale, size):.3g}) {ctx}."
                        )
            # linearity: A(2 x_0 − 3 x_1) = 2 A x_0 − 3 A x_1
            if batch >= 2:
                combo = _frozen((2 * x[..., 0].astype(np.float64) - 3 * x[..., 1]).astype(dt))
                lhs = np.asarray(_call(f"{_name(op)}.apply", op.apply, combo), np.float64)
                rhs = 2 * Ax[..., 0].astype(np.float64) - 3 * Ax[..., 1]
                scale = 2 * _norm(Ax[..., 0]) + 3 * _norm(Ax[..., 1]) + gain * _norm(combo)
                err = _norm(lhs - rhs)
                if err > _op_tol(tol_dt, scale, size):
                    raise AssertionError(
                        f"{head}: apply is not linear: ‖A(2x₀ − 3x₁) − (2Ax₀ − 3Ax₁)‖ = {err:.3g} > tolerance "
                        f"{_op_tol(tol_dt, scale, size):.3g} {ctx}."
                    )


def _layouts(a):
    """Read-only copies of ``a`` in Fortran order and as a strided view, with their names."""
    fortran = np.asfortranarray(a)
    fortran.setflags(write=False)
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    big[..., ::2] = a
    strided = big[..., ::2]
    strided.setflags(write=False)
    return [("Fortran-ordered", fortran), ("strided (non-contiguous)", strided)]


def _op_tol(dtype, scale, n_terms):
    # relative rounding, plus an absolute floor for products that underflow below the normal range
    return tolerance(dtype, scale) + 100 * n_terms * float(np.finfo(dtype).tiny)


def check_operator(op, *, dtype=None, batch=3, trials=3, seed=0):
    """Check an operator: :func:`check_adjoint`, and that ``op.norm()`` bounds ``‖A‖₂`` from above.

    The step sizes of the engines are ``1/‖A‖²``; an estimate from below
    (5 power iterations can be 8% low) breaks their guarantees. The check
    runs 200 power iterations in float64, each giving a certified lower bound
    ``‖A v‖/‖v‖ ≤ ‖A‖₂``, and requires ``op.norm()`` to be at least that
    (up to rounding).

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.testing import check_operator
    >>> A = pc.Matrix(np.random.default_rng(1).standard_normal((5, 7)))
    >>> check_operator(A @ A.T + 2.0 * pc.Identity(5))
    """
    check_adjoint(op, dtype=dtype, batch=batch, trials=trials, seed=seed)
    if not hasattr(op, "norm"):
        return
    reported = float(op.norm())
    lower = _norm_lower_bound(op, seed)
    if not reported >= lower * (1 - tolerance(np.float32, 10.0)):
        raise AssertionError(
            f"check_operator({_name(op)}) failed: op.norm() = {reported:.17g} is below a certified lower bound "
            f"‖Av‖/‖v‖ = {lower:.17g} of the spectral norm (by {(lower - reported) / lower:.3g} relative). "
            "norm() must be an upper bound: step sizes 1/‖A‖² rely on it."
        )


def _norm_lower_bound(op, seed, iterations=200):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(tuple(op.in_shape))
    best = 0.0
    for _ in range(iterations):
        v = v / _norm(v)
        Av = np.asarray(op.apply(v), dtype=np.float64)
        best = max(best, _norm(Av))
        w = np.asarray(op.adjoint(Av), dtype=np.float64)
        if _norm(w) == 0:
            break
        v = w
    return best


# --------------------------------------------------------------------------- regularizers
def _signal_shape(reg, shape):
    if shape is not None:
        return (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    for attr in ("signal_shape", "shape"):
        value = getattr(reg, attr, None)
        if isinstance(value, tuple) and value:
            return value
    lam = getattr(reg, "lam", None)
    if isinstance(lam, np.ndarray) and lam.ndim:
        return lam.shape
    return (6,)


def _typical_scale(reg, step):
    lam = getattr(reg, "lam", None)
    try:
        lam = float(np.mean(lam))
    except (TypeError, ValueError):
        return 1.0
    return math.sqrt(step * lam) if lam > 0 else 1.0


def _draw(rng, shape, dtype, center):
    """Entries of random sign whose magnitudes span three decades around ``center``."""
    mags = center * 10.0 ** rng.uniform(-1.5, 1.5, size=shape)
    out = rng.choice([-1.0, 1.0], size=shape) * mags
    if rng.random() < 0.2 and out.size > 1:  # some exact zeros
        out.flat[rng.choice(out.size, size=max(1, out.size // 3), replace=False)] = 0.0
    return out.astype(dtype)


def check_prox(reg, *, shape=None, steps=(0.3, 1.0, 2.5), trials=20, dtype=("float64", "float32"),
               convex=None, prox_tol=None, exact=None, closed_form=None, conjugate=None, seed=0):
    """Check that ``reg.prox(v, step)`` is the argmin of ``step·g(u) + ½‖u − v‖²``.

    With ``Φ(u) = step·g(u) + ½‖u − v‖²``, ``g = reg.value`` and
    ``p = reg.prox(v, step)``, the check requires, on random ``v`` whose
    entries span three decades around the threshold scale:

    - ``Φ(p) ≤ Φ(q) + tol`` for alternatives ``q``: ``0``, ``v``, ``p``
      with one coordinate replaced by ``0``, by ``v_i`` or moved by small
      steps, scaled copies of ``p``, random perturbations and, for
      non-convex ``g`` on signals of at most 10 entries, every "keep ``v``
      on a support, zero elsewhere" point (brute force). This is the check
      that catches an ℓ0 prox thresholding at ``step·λ`` instead of
      ``sqrt(2·step·λ)``;
    - for convex ``g``: the subgradient inequality
      ``step·g(u) ≥ step·g(p) + ⟨v − p, u − p⟩`` (i.e.
      ``(v − p)/step ∈ ∂g(p)``) at several ``u``, and firm
      non-expansiveness ``‖p₁ − p₂‖² ≤ ⟨p₁ − p₂, v₁ − v₂⟩``;
    - ``g(p)`` is finite (the prox lands in the domain), the output has
      ``v``'s shape and dtype (float32 stays float32, unless the regularizer
      declares a wider ``dtype`` attribute, as operators may), the prox of a batch is
      the prox of each signal (also for Fortran-ordered and strided
      batches), two calls agree, and ``v`` is not modified.

    ``tol`` is ``k·eps(dtype)`` times the size of the terms
    (``‖v‖² + step·|g|``), see :func:`tolerance`.

    Parameters
    ----------
    reg : proxcore.Regularizer
        Anything with ``value(x)`` and ``prox(v, step)``.
    shape : tuple, optional
        Shape of one signal; default the regularizer's ``signal_shape`` or
        per-atom weights' shape, else ``(6,)``.
    steps : sequence of float
        Step sizes to try (cycled over the trials).
    trials : int, default 20
        Random inputs per dtype.
    dtype : dtype or sequence of dtypes, default both float64 and float32
    convex : bool, optional
        Whether ``g`` is convex; default ``reg.convex`` (True if absent).
        Firm non-expansiveness and the subgradient inequality are checked
        only for convex ``g``; the brute force only for non-convex ``g``.
    prox_tol : float, optional
        For a prox computed by an inner iterative solver: the promise
        ``Φ(p) − min Φ ≤ ε`` with ``ε = prox_tol·½‖v‖²``. Default
        ``reg.prox_tol`` if the regularizer has one, else 0 (exact); a
        positive value is raised to ``10·eps(dtype)``. With
        ``ε > 0`` the comparisons allow ``ε``, the subgradient inequality
        becomes the one every ``ε``-minimizer satisfies,
        ``step·g(u) ≥ step·g(p) + ⟨v − p, u − p⟩ − ½‖u − p‖² − ε``, and firm
        non-expansiveness allows the distance ``sqrt(2ε)`` to the exact prox.
    exact : bool, optional
        Whether ``prox`` claims the exact minimizer; default
        ``reg.prox_exact`` (True if absent). A documented heuristic (such as
        a greedy projection onto a non-convex set) sets ``prox_exact =
        False``: the brute force over supports is skipped, and the prox must
        still be locally optimal (no coordinate-wise change, scaling or small
        move improves ``Φ``).
    closed_form : callable, optional
        ``closed_form(v, step)``, the formula the prox should equal; checked
        entry by entry within ``4·spacing(max(|v|, |p|))`` (a few ulps). Ties
        (``|v_i|`` exactly at a hard threshold) are not drawn.
    conjugate : callable, optional
        ``conjugate(w, sigma)``, an independent prox of ``σ·g*``; checks
        Moreau's decomposition ``v = prox_{tg}(v) + t·prox_{g*/t}(v/t)``
        within a few ulps. Only meaningful when it is not itself derived
        from ``prox`` by Moreau (then it is a tautology).
    seed : int, default 0

    Raises
    ------
    AssertionError
        Naming the input, the alternative that beats the prox, both values
        of ``Φ`` and the tolerance.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.testing import check_prox
    >>> check_prox(pc.L1(0.3, nonneg=True))
    >>> class BadL0(pc.L0):                  # the classic bug: threshold at step·λ
    ...     def prox(self, v, step):
    ...         return np.where(np.abs(v) > step * self.lam, v, 0.0).astype(v.dtype)
    >>> try:
    ...     check_prox(BadL0(1.0))
    ... except AssertionError as e:
    ...     print(str(e).splitlines()[0])
    check_prox(BadL0(lam=1.0)) failed: the prox is not the minimizer of Φ(u) = step·g(u) + ½‖u − v‖².
    """
    convex = bool(getattr(reg, "convex", True)) if convex is None else bool(convex)
    prox_tol = float(getattr(reg, "prox_tol", 0.0) or 0.0) if prox_tol is None else float(prox_tol)
    exact = bool(getattr(reg, "prox_exact", True)) if exact is None else bool(exact)
    sig = _signal_shape(reg, shape)
    head = f"check_prox({_name(reg)}) failed"
    steps = [float(s) for s in np.atleast_1d(steps)]
    base_tol = prox_tol
    for dt in [np.dtype(d) for d in np.atleast_1d(dtype)]:
        # an inner solver cannot be asked for better than a few eps of its dtype
        prox_tol = max(base_tol, 10 * float(np.finfo(dt).eps)) if base_tol > 0 else 0.0
        rng = np.random.default_rng(seed)
        pairs = []
        for trial in range(trials):
            step = steps[trial % len(steps)]
            ctx = f"dtype {dt}, step {step:g}, trial {trial}, seed {seed}"
            v = _frozen(_draw(rng, sig, dt, _typical_scale(reg, step)))
            p = _prox_checked(reg, v, step, head, ctx)
            _check_argmin(reg, v, p, step, rng, convex, head, ctx, prox_tol, exact)
            if closed_form is not None or conjugate is not None:
                _check_formulas(v, p, step, closed_form, conjugate, head, ctx)
            if convex:
                _check_subgradient(reg, v, p, step, rng, head, ctx, prox_tol)
                pairs.append((step, v, p))
        if convex:
            _check_firm(reg, pairs, rng, head, dt, seed, prox_tol)
        _check_batch(reg, sig, dt, rng, steps[0], head, seed, prox_tol)


def _check_formulas(v, p, step, closed_form, conjugate, head, ctx):
    ulps = 4 * np.spacing(np.maximum(np.abs(v), np.abs(p)).astype(v.dtype)).astype(np.float64)
    if closed_form is not None:
        q = np.asarray(closed_form(v, step), dtype=np.float64)
        bad = np.abs(q - p) > ulps
        if np.any(bad):
            i = tuple(int(j) for j in np.argwhere(bad)[0])
            raise AssertionError(
                f"{head}: the prox differs from its closed form at entry {i}: prox = {p[i]!r}, closed form = "
                f"{q[i]!r}, v = {v[i]!r} ({int(bad.sum())} of {bad.size} entries beyond 4 ulps; {ctx})."
            )
    if conjugate is not None:
        dual = np.asarray(conjugate(v / v.dtype.type(step), 1.0 / step), dtype=np.float64)
        recon = p.astype(np.float64) + step * dual
        bad = np.abs(recon - v) > ulps + 4 * np.spacing(np.abs(v).astype(v.dtype)).astype(np.float64)
        if np.any(bad):
            i = tuple(int(j) for j in np.argwhere(bad)[0])
            raise AssertionError(
                f"{head}: Moreau's decomposition v = prox_(tg)(v) + t·prox_(g*/t)(v/t) fails at entry {i}: "
                f"v = {v[i]!r}, prox = {p[i]!r}, t·prox of the conjugate = {step * dual[i]!r} "
                f"(sum {recon[i]!r}; {ctx})."
            )


def _prox_checked(reg, v, step, head, ctx):
    p = _call(f"{_name(reg)}.prox", reg.prox, v, step)
    p = np.asarray(p)
    if p.shape != v.shape:
        raise AssertionError(f"{head}: prox returned shape {p.shape} for input of shape {v.shape} ({ctx}).")
    declared = getattr(reg, "dtype", None)
    expected = np.result_type(v.dtype, declared) if declared is not None else v.dtype
    if p.dtype != expected:
        raise AssertionError(
            f"{head}: prox turned {v.dtype} input into {p.dtype} ({ctx}); float32 in, float32 out "
            f"(expected {expected}: {'the regularizer declares dtype ' + str(declared) if declared is not None else 'the regularizer declares no dtype'})."
        )
    if not np.all(np.isfinite(p)):
        raise AssertionError(f"{head}: prox returned non-finite values for finite input ({ctx}).\n  v = {v!r}")
    value = float(reg.value(p))
    if not math.isfinite(value):
        raise AssertionError(
            f"{head}: g(prox(v)) = {value} is not finite: the prox left the domain of g ({ctx}).\n"
            f"  v = {v!r}\n  prox(v) = {p!r}"
        )
    again = np.asarray(reg.prox(v, step))
    if not np.array_equal(again, p):
        raise AssertionError(f"{head}: two calls of prox on the same input disagree (hidden state?) ({ctx}).")
    return p


def _phi(reg, u, v64, step):
    value = float(reg.value(u))
    d = np.asarray(u, np.float64) - v64
    return step * value + 0.5 * float(np.vdot(d, d)), value


def _alternatives(v64, p64, rng, local_only):
    """Named competitors of the prox: coordinate-wise moves, scalings, random moves, and brute force
    over supports unless ``local_only`` (convex g, where local is global, or a declared heuristic)."""
    yield "0", np.zeros_like(v64)
    yield "v", v64.copy()
    size = p64.size
    flat_p, flat_v = p64.ravel(), v64.ravel()
    for i in range(size):
        idx = tuple(int(j) for j in np.unravel_index(i, p64.shape))
        base = max(abs(flat_p[i]), abs(flat_v[i]), 1e-12)
        for label, value in (
            ("0", 0.0),
            ("v_i", flat_v[i]),
            ("(p_i + v_i)/2", 0.5 * (flat_p[i] + flat_v[i])),
            ("p_i/2", 0.5 * flat_p[i]),
        ):
            q = p64.copy()
            q[idx] = value
            yield f"p with coordinate {idx} set to {label}", q
        for h in (1e-1, 1e-2, 1e-4):
            for sgn in (1.0, -1.0):
                q = p64.copy()
                q[idx] += sgn * h * base
                yield f"p with coordinate {idx} moved by {sgn * h * base:+.3g}", q
    scale = _norm(v64) / math.sqrt(max(size, 1)) + 1e-12
    for c in (0.5, 0.9, 0.99, 1.01, 1.1):
        yield f"{c}·p", c * p64
    for h in (1e-1, 1e-2, 1e-3):
        for _ in range(3):
            yield f"p + random move of size {h:g}·rms(v)", p64 + h * scale * rng.standard_normal(p64.shape)
    if not local_only:
        if size <= 10:
            for k in range(size + 1):
                for support in itertools.combinations(range(size), k):
                    q = np.zeros(size)
                    q[list(support)] = flat_v[list(support)]
                    yield f"v kept on support {support}, 0 elsewhere", q.reshape(p64.shape)
        else:
            for _ in range(64):
                keep = rng.random(size) < 0.5
                yield "v kept on a random support", np.where(keep, flat_v, 0.0).reshape(p64.shape)


def _check_argmin(reg, v, p, step, rng, convex, head, ctx, prox_tol=0.0, exact=True):
    v64, p64 = v.astype(np.float64), p.astype(np.float64)
    phi_p, g_p = _phi(reg, p, v64, step)
    worst = None
    for label, q in _alternatives(v64, p64, rng, convex or not exact):
        q_cast = q.astype(v.dtype)  # competitors live in the same precision as the prox
        phi_q, g_q = _phi(reg, q_cast, v64, step)
        if not math.isfinite(phi_q):
            continue
        tol = tolerance(v.dtype, _dot(v64, v64) + step * (abs(g_p) + abs(g_q)) + 1e-300)
        tol += prox_tol * 0.5 * _dot(v64, v64)
        excess = phi_p - phi_q
        if excess > tol and (worst is None or excess - tol > worst[0] - worst[1]):
            worst = (excess, tol, label, q_cast, phi_q)
    if worst is not None:
        excess, tol, label, q, phi_q = worst
        raise AssertionError(
            f"{head}: the prox is not the minimizer of Φ(u) = step·g(u) + ½‖u − v‖².\n"
            f"  the alternative q = {label} does better: Φ(q) = {phi_q:.17g} < Φ(prox(v)) = {phi_p:.17g}\n"
            f"  by {excess:.3g} (tolerance {tol:.3g}) ({ctx}).\n"
            f"  v       = {np.array2string(v, precision=6)}\n"
            f"  prox(v) = {np.array2string(p, precision=6)}\n"
            f"  q       = {np.array2string(q, precision=6)}"
        )


def _check_subgradient(reg, v, p, step, rng, head, ctx, prox_tol=0.0):
    v64, p64 = v.astype(np.float64), p.astype(np.float64)
    g_p = float(reg.value(p))
    candidates = [("0", np.zeros_like(v64)), ("v", v64), ("2·p", 2 * p64), ("-p", -p64)]
    scale = _norm(v64) / math.sqrt(max(v64.size, 1)) + 1e-12
    for _ in range(4):
        candidates.append(("a random point", p64 + scale * rng.standard_normal(p64.shape)))
    for label, u in candidates:
        u = u.astype(v.dtype)
        g_u = float(reg.value(u))
        if not math.isfinite(g_u):
            continue
        u64 = u.astype(np.float64)
        lhs = step * g_u
        rhs = step * g_p + _dot(v64 - p64, u64 - p64)
        size = step * (abs(g_u) + abs(g_p)) + _norm(v64) * (_norm(u64 - p64) + _norm(v64 - p64)) + 1e-300
        tol = tolerance(v.dtype, size)
        if prox_tol > 0:  # what an ε-minimizer of Φ satisfies
            tol += 0.5 * _dot(u64 - p64, u64 - p64) + prox_tol * 0.5 * _dot(v64, v64)
        if lhs < rhs - tol:
            raise AssertionError(
                f"{head}: (v − prox(v))/step is not a subgradient of g at prox(v): the subgradient inequality\n"
                f"  step·g(u) ≥ step·g(p) + ⟨v − p, u − p⟩  fails at u = {label}:\n"
                f"  {lhs:.17g} < {rhs:.17g} by {rhs - lhs:.3g} (tolerance {tol:.3g}) ({ctx}).\n"
                f"  v       = {np.array2string(v, precision=6)}\n"
                f"  prox(v) = {np.array2string(p, precision=6)}\n"
                "  (Pass convex=False, or set the class attribute convex = False, if g is not convex.)"
            )


def _check_firm(reg, pairs, rng, head, dt, seed, prox_tol=0.0):
    cases = list(zip(pairs, pairs[1:]))
    for step, v, p in pairs:  # also nearby pairs: small moves probe the local slope
        w = _frozen((v.astype(np.float64) + 1e-2 * (np.abs(v) + 1e-3) * rng.standard_normal(v.shape)).astype(dt))
        cases.append(((step, v, p), (step, w, np.asarray(reg.prox(w, step)))))
    for (s1, v1, p1), (s2, v2, p2) in cases:
        if s1 != s2:
            continue
        dp = p1.astype(np.float64) - p2
        dv = v1.astype(np.float64) - v2
        lhs, rhs = _dot(dp, dp), _dot(dp, dv)
        tol = tolerance(dt, (_norm(v1) + _norm(v2)) ** 2)
        if prox_tol > 0:  # each p is within sqrt(2ε) of the exact prox
            delta = math.sqrt(prox_tol) * (_norm(v1) + _norm(v2))
            tol += 3 * delta * _norm(dv) + delta * delta
        if lhs > rhs + tol:
            raise AssertionError(
                f"{head}: the prox of a convex g must be firmly non-expansive, ‖p₁ − p₂‖² ≤ ⟨p₁ − p₂, v₁ − v₂⟩, "
                f"but {lhs:.17g} > {rhs:.17g} by {lhs - rhs:.3g} (tolerance {tol:.3g}) "
                f"(dtype {dt}, step {s1:g}, seed {seed}).\n"
                f"  v₁ = {np.array2string(v1, precision=6)}\n  v₂ = {np.array2string(v2, precision=6)}\n"
                f"  p₁ = {np.array2string(p1, precision=6)}\n  p₂ = {np.array2string(p2, precision=6)}\n"
                "  (Pass convex=False, or set the class attribute convex = False, if g is not convex.)"
            )


def _check_batch(reg, sig, dt, rng, step, head, seed, prox_tol=0.0):
    V = _frozen(_draw(rng, sig + (4,), dt, _typical_scale(reg, step)))
    P = np.asarray(_call(f"{_name(reg)}.prox", reg.prox, V, step))
    if P.shape != V.shape:
        raise AssertionError(f"{head}: prox of a batch of shape {V.shape} returned shape {P.shape}.")
    for layout, variant in _layouts(V):
        Q = np.asarray(_call(f"{_name(reg)}.prox", reg.prox, variant, step))
        err = _norm(Q.astype(np.float64) - P) if Q.shape == P.shape else math.inf
        if err > tolerance(dt, _norm(V) + 1e-300) + 2 * math.sqrt(prox_tol) * _norm(V):
            raise AssertionError(
                f"{head}: the prox of a {layout} copy of a batch differs from the prox of the batch by {err:.3g} "
                f"(dtype {dt}, step {step:g}, seed {seed})."
            )
    for j in range(V.shape[-1]):
        single = np.asarray(reg.prox(_frozen(V[..., j]), step))
        err = _norm(single.astype(np.float64) - P[..., j])
        if err > tolerance(dt, _norm(V[..., j]) + 1e-300) + 2 * math.sqrt(prox_tol) * _norm(V):
            raise AssertionError(
                f"{head}: the prox of a batch is not the prox of each signal: column {j} differs by {err:.3g} "
                f"(dtype {dt}, step {step:g}, seed {seed}); the leading axes {sig} are one signal, "
                "trailing axes a batch."
            )
    total = float(reg.value(V))
    parts = sum(float(reg.value(V[..., j])) for j in range(V.shape[-1]))
    if math.isfinite(total) or math.isfinite(parts):
        if not abs(total - parts) <= tolerance(dt, abs(total) + abs(parts) + 1e-300):
            raise AssertionError(
                f"{head}: value of a batch ({total:.17g}) is not the sum over its signals ({parts:.17g}) "
                f"(dtype {dt}, seed {seed})."
            )


# --------------------------------------------------------------------------- losses
def check_loss(loss, *, dtype=("float64", "float32"), trials=5, seed=0):
    """Check a smooth loss: its gradient, its Lipschitz constant, convexity (RELIABILITY F2, F3).

    For random ``z``, ``w`` and direction ``d`` of ``loss.y``'s shape:

    - ``grad`` is the gradient of ``value``: the central difference
      ``(f(z + hd) − f(z − hd))/(2h)`` equals ``⟨∇f(z), d⟩`` within
      ``1e-6`` (float64) or ``1e-2`` (float32) of ``‖∇f(z)‖‖d‖ + |f(z)|/‖z‖``;
    - ``loss.lipschitz`` (default 1) bounds it:
      ``‖∇f(z) − ∇f(w)‖ ≤ L‖z − w‖`` and the descent lemma
      ``f(w) ≤ f(z) + ⟨∇f(z), w − z⟩ + (L/2)‖w − z‖²``;
    - convexity ``f(w) ≥ f(z) + ⟨∇f(z), w − z⟩`` (unless ``loss.convex`` is False);
    - inputs are not modified (passed read-only), float32 gradients stay float32.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.testing import check_loss
    >>> check_loss(pc.LeastSquares(np.array([[1.0, 2.0], [3.0, -1.0]])))
    """
    y = np.asarray(loss.y)
    L = float(getattr(loss, "lipschitz", 1.0))
    convex = bool(getattr(loss, "convex", True))
    head = f"check_loss({_name(loss)}) failed"
    for dt in [np.dtype(d) for d in np.atleast_1d(dtype)]:
        rng = np.random.default_rng(seed)
        for trial in range(trials):
            ctx = f"(dtype {dt}, trial {trial}, seed {seed})"
            scale = 1.0 + float(np.abs(y).max(initial=0.0))
            z = _frozen((y + scale * rng.standard_normal(y.shape)).astype(dt))
            w = _frozen((y + scale * rng.standard_normal(y.shape)).astype(dt))
            d = rng.standard_normal(y.shape)
            d /= max(_norm(d), 1e-300)
            fz, fw = float(loss.value(z)), float(loss.value(w))
            gz = np.asarray(_call(f"{_name(loss)}.grad", loss.grad, z))
            gw = np.asarray(loss.grad(w))
            if gz.shape != z.shape:
                raise AssertionError(f"{head}: grad returned shape {gz.shape} for z of shape {z.shape} {ctx}.")
            if gz.dtype != np.result_type(dt, y.dtype) and gz.dtype != dt:
                raise AssertionError(f"{head}: grad turned {dt} input into {gz.dtype} {ctx}.")
            # the gradient, by a central difference in float64 (exact up to rounding for a quadratic)
            z64 = z.astype(np.float64)
            h = float(np.finfo(np.float64).eps) ** (1 / 3) * max(1.0, _norm(z64))
            fd = (float(loss.value(z64 + h * d)) - float(loss.value(z64 - h * d))) / (2 * h)
            g64 = np.asarray(loss.grad(z64), dtype=np.float64)
            rel = 1e-6 if dt == np.float64 else 1e-2
            size = _norm(g64) + abs(fz) / max(_norm(z64), 1e-300) + 1e-300
            if abs(fd - _dot(g64, d)) > rel * size:
                raise AssertionError(
                    f"{head}: grad is not the gradient of value: the directional derivative by central "
                    f"differences is {fd:.10g} but ⟨grad(z), d⟩ = {_dot(g64, d):.10g} (difference "
                    f"{abs(fd - _dot(g64, d)):.3g} > {rel * size:.3g}) {ctx}."
                )
            dz = _norm(z.astype(np.float64) - w)
            dg = _norm(gz.astype(np.float64) - gw)
            tol = tolerance(dt, _norm(gz) + _norm(gw) + L * (_norm(z) + _norm(w)))
            if dg > L * dz + tol:
                raise AssertionError(
                    f"{head}: ‖∇f(z) − ∇f(w)‖ = {dg:.6g} > L‖z − w‖ = {L * dz:.6g} with L = loss.lipschitz = {L:g} "
                    f"(the engines' steps 1/L rely on it) {ctx}."
                )
            lin = fz + _dot(gz, w.astype(np.float64) - z)
            tol = tolerance(dt, abs(fz) + abs(fw) + _norm(gz) * dz + L * dz * dz)
            if fw > lin + 0.5 * L * dz * dz + tol:
                raise AssertionError(
                    f"{head}: the descent lemma f(w) ≤ f(z) + ⟨∇f(z), w − z⟩ + (L/2)‖w − z‖² fails: "
                    f"{fw:.17g} > {lin + 0.5 * L * dz * dz:.17g} (L = {L:g}) {ctx}."
                )
            if convex and fw < lin - tol:
                raise AssertionError(
                    f"{head}: convexity f(w) ≥ f(z) + ⟨∇f(z), w − z⟩ fails: {fw:.17g} < {lin:.17g} {ctx}."
                )


# --------------------------------------------------------------------------- optimum
class Optimum(NamedTuple):
    """A reference optimum of a problem: ``F(x) = objective``, within ``slack`` of ``F*``.

    ``objective − slack ≤ F* ≤ objective``. ``source`` says how it was
    obtained (``"certified lasso"``: FISTA, support polish and the duality
    gap; or the name of the exact engine).
    """

    x: np.ndarray
    objective: float
    slack: float
    source: str


def optimum(problem, *, max_iter=20000) -> Optimum:
    """A certified reference optimum of ``problem``, computed independently of the engines under test.

    One-layer ℓ1 problems (``pc.L1``, weighted or non-negative, with any
    operator) are solved here: FISTA with restart in float64, then a polish
    on the support (``D_Sᵀ D_S x_S = D_Sᵀ y − λ s_S``), and the duality
    gap of the Lasso computed from scratch certifies ``F(x) − F* ≤ gap``.
    Other convex problems use the exact engine ``primal-dual`` when it is
    registered (to ``tol=1e-10``; stopped at ``max_iter``, the slack is
    estimated from the decrease over the last tenth of its run, and
    ``source`` says so); otherwise a :class:`ValueError` says so.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.testing import optimum
    >>> opt = optimum(pc.chain(np.array([3.0, 0.5]), [(np.eye(2), pc.L1(1.0))]))
    >>> opt.x, opt.objective, opt.slack < 1e-12
    (array([2., 0.]), 2.625, True)
    """
    from ..regularizers import L1

    layers = problem.layers
    if len(layers) == 1 and isinstance(layers[0].regularizer, L1):
        return _lasso_optimum(problem, max_iter=max_iter)
    from ..engines import ENGINES

    if "primal-dual" in ENGINES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = ENGINES["primal-dual"](problem, max_iter=max_iter, tol=1e-10)
            except Exception as exc:
                if isinstance(exc, (ValueError, TypeError, NotImplementedError)):
                    raise ValueError(
                        f"no reference optimum for {problem!r}: the exact engine 'primal-dual' refuses it ({exc}). "
                        "Pass optimum=(F*, x*)."
                    ) from exc
                raise
        history = np.asarray(res.history.get("objective", []), dtype=np.float64)
        if not np.all(np.isfinite(history)) or history.size == 0:
            raise ValueError(f"no reference optimum for {problem!r}: 'primal-dual' returned {res.message}")
        x = np.asarray(res.x)
        value = float(problem.objective(x))
        if res.converged:
            return Optimum(x, value, 0.0, "primal-dual (converged)")
        # not converged: the decrease over the last tenth of the run estimates the remaining error
        tail = history[-max(1, history.size // 10):]
        slack = float(max(tail.max() - tail.min(), 0.0))
        return Optimum(x, value, slack, f"primal-dual (stopped at max_iter; slack estimated {slack:.3g})")
    raise ValueError(
        f"no reference optimum for {problem!r}: only one-layer ℓ1 problems are certified by the kit itself, "
        "and the exact engine 'primal-dual' is not registered. Pass optimum=(F*, x*)."
    )


def _operator_matrix(op):
    """The dense matrix of ``op`` (columns are images of unit vectors), for small operators."""
    n = math.prod(op.in_shape)
    eye = np.eye(n).reshape(tuple(op.in_shape) + (n,))
    return np.asarray(op.apply(eye), dtype=np.float64).reshape(-1, n)


def _lasso_optimum(problem, *, max_iter):
    (layer,) = problem.layers
    reg, op = layer.regularizer, layer.operator
    in_size = math.prod(op.in_shape)
    if in_size > 4000:
        raise ValueError(f"the kit certifies Lasso optima for at most 4000 unknowns; this problem has {in_size}.")
    D = _operator_matrix(op)
    y_full = np.asarray(problem.y, dtype=np.float64)
    Y = y_full.reshape(D.shape[0], -1)
    B = Y.shape[1]
    lam = reg.lam
    w = np.broadcast_to(np.asarray(lam, dtype=np.float64).reshape(-1, 1) if np.ndim(lam) else float(lam),
                        (in_size, 1))
    nonneg = bool(reg.nonneg)
    X = _fista64(D, Y, w, nonneg, max_iter)
    gaps = _gap64(D, Y, X, w, nonneg)
    Xp = X.copy()
    for j in range(B):  # polish each signal on its support
        x = X[:, j]
        S = np.flatnonzero(x)
        if S.size == 0 or S.size > D.shape[0]:
            continue
        DS = D[:, S]
        rhs = DS.T @ Y[:, j] - w[S, 0] * np.sign(x[S])
        xs, *_ = np.linalg.lstsq(DS.T @ DS, rhs, rcond=None)
        if np.all(np.sign(xs) == np.sign(x[S])):
            cand = np.zeros_like(x)
            cand[S] = xs
            g = _gap64(D, Y[:, [j]], cand[:, None], w, nonneg)[0]
            if g <= gaps[j]:
                Xp[:, j], gaps[j] = cand, g
    x_star = Xp.reshape(tuple(op.in_shape) + problem.batch_shape)
    value = _lasso_value(D, Y, Xp, w)
    return Optimum(x_star, value, float(np.sum(np.maximum(gaps, 0.0))), "certified lasso (FISTA + polish + duality gap)")


def _lasso_value(D, Y, X, w):
    R = Y - D @ X
    return 0.5 * float(np.vdot(R, R)) + float(np.sum(w * np.abs(X)))


def _shrink(V, t, nonneg):
    if nonneg:
        return np.maximum(V - t, 0.0)
    return np.sign(V) * np.maximum(np.abs(V) - t, 0.0)


def _gap64(D, Y, X, w, nonneg):
    R = Y - D @ X
    C = D.T @ R
    CC = np.maximum(C, 0.0) if nonneg else np.abs(C)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(CC > 0, w / np.where(CC > 0, CC, 1.0), np.inf)
    s = np.minimum(1.0, ratio.min(axis=0))
    rr = (R * R).sum(axis=0)
    primal = 0.5 * rr + (w * np.abs(X)).sum(axis=0)
    dual = s * (R * Y).sum(axis=0) - 0.5 * s * s * rr
    return primal - dual


def _fista64(D, Y, w, nonneg, max_iter):
    L = float(np.linalg.norm(D, 2)) ** 2 * (1 + 1e-12)
    if L == 0:
        return np.zeros((D.shape[1], Y.shape[1]))
    t = 1.0 / L
    G, DtY = D.T @ D, D.T @ Y
    X = np.zeros((D.shape[1], Y.shape[1]))
    Z, tk = X.copy(), np.ones(Y.shape[1])
    yy = np.maximum((Y * Y).sum(axis=0), 1e-300)
    for it in range(max_iter):
        Xn = _shrink(Z - t * (G @ Z - DtY), t * w, nonneg)
        restart = ((Z - Xn) * (Xn - X)).sum(axis=0) > 0
        tk = np.where(restart, 1.0, tk)
        tn = (1 + np.sqrt(1 + 4 * tk * tk)) / 2
        Z = Xn + ((tk - 1) / tn) * (Xn - X)
        X, tk = Xn, tn
        if it % 50 == 49 and np.all(_gap64(D, Y, X, w, nonneg) <= 1e-15 * yy):
            break
    return X


# --------------------------------------------------------------------------- convergence
def _resolve(method):
    if callable(method):
        return method, getattr(method, "__name__", repr(method))
    from ..engines import pursuit

    return pursuit(method), str(method)


@contextlib.contextmanager
def _quiet():
    from .._validation import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _problem_lipschitz(problem):
    L = 1.0
    for layer in problem.layers:
        L *= float(layer.operator.norm())
    return L * L


def _budget(problem, rate, options, x0, F0, opt, separation=1e-3):
    """Iterations after which the promised bound is below ``separation·(F(x0) − F*)``, in [50, 20000].

    A method that converges to a point worse than ``F* + separation·(F(x0) − F*)``
    then violates the bound before the budget ends.
    """
    if rate == "monotone":
        return 500
    if rate in ("near-optimum", "optimum"):
        return 2000
    step = options.get("step")
    L = 1.0 / float(step) if step else _problem_lipschitz(problem)
    r2 = float(np.sum((np.asarray(x0, np.float64) - np.asarray(opt.x, np.float64)) ** 2))
    gap = max(F0 - opt.objective, 1e-300)
    target = separation * gap
    k = L * r2 / (2 * target) if rate == "1/k" else math.sqrt(2 * L * r2 / target)
    return int(min(max(math.ceil(k), 50), 20000))


def check_convergence(problem, method, rate, *, optimum=None, near_rtol=1e-2, **options):
    """Run a pursuit and check its promised convergence at every iteration.

    The method runs with ``tol=0`` and, unless ``options`` say otherwise, a
    budget that separates the rates: ``max_iter`` is the ``k`` at which the
    promised bound falls below ``10⁻³·(F(x_0) − F*)`` (between 50 and 20000;
    500 for ``"monotone"``, 2000 for ``"near-optimum"`` and ``"optimum"``), so a method
    converging to a point worse than that fails. A callback records
    ``F(x_k)`` recomputed with ``problem.objective`` at every iterate (any
    callback in ``options`` is still called), so a method cannot pass by
    misreporting; ``res.history["objective"]`` must agree with it (a
    pursuit that takes no ``callback``, ``tol`` or ``max_iter``, such as a
    greedy one, runs without them and is judged on its history). With
    ``F*`` and ``x*`` from a certified optimum (:func:`optimum`), ``L`` the
    reciprocal of the step the method reports (``res.step``; else
    ``‖D₁⋯D_L‖²``) and ``k = 1..n_iter``:

    ``"monotone"``
        ``F(x_k) ≤ F(x_{k−1})`` (ISTA; also for non-convex ``g`` at
        ``step ≤ 1/L``). No optimum needed.
    ``"1/k"``
        ``F(x_k) − F* ≤ L‖x_0 − x*‖²/(2k)`` (Beck & Teboulle 2009, Thm 3.1).
    ``"1/k^2"``
        ``F(x_k) − F* ≤ 2L‖x_0 − x*‖²/(k+1)²`` (Thm 4.4). FISTA is not
        monotone and is never required to be.
    ``"near-optimum"``
        ``F(x_n) − F* ≤ near_rtol·|F*|`` at the last iterate only: what the
        revised ML-ISTA/ML-FISTA paper claims (near-fixed points come close
        to the optimum), with no rate.
    ``"optimum"``
        ``F(x_n) − F* ≤`` the rounding tolerance and the certificate's slack
        at the last iterate: an exact method (LARS), whose result is the
        optimum, not near it.

    Every rate also requires finite objectives and a result that did not
    diverge. The comparisons allow ``k·eps·(|F(x_0)| + ½‖y‖² + |F*|)`` for
    rounding, plus the certificate's slack.

    Parameters
    ----------
    problem : proxcore.Problem
    method : str or callable
        A registered method name, or a pursuit ``method(problem, **options)``.
    rate : {"monotone", "1/k", "1/k^2", "near-optimum", "optimum"}
    optimum : Optimum or (float, array), optional
        ``(F*, x*)`` when the kit cannot certify one itself (see
        :func:`optimum`).
    near_rtol : float, default 1e-2
        Relative tolerance of ``"near-optimum"``.
    **options
        Passed to the method (``max_iter``, ``step``, ``x0``, ...).

    Raises
    ------
    AssertionError
        Naming the iteration, the bound, both sides and the ratio.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.testing import check_convergence
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((10, 20)); y = rng.standard_normal(10)
    >>> problem = pc.chain(y, [(D, pc.L1(1.0))])
    >>> check_convergence(problem, "fista", "1/k^2", restart=False)
    >>> check_convergence(problem, "ista", "monotone")
    """
    if rate not in _RATE_NAMES:
        raise ValueError(f"rate must be one of {', '.join(map(repr, _RATE_NAMES))}; got {rate!r}.")
    fn, name = _resolve(method)
    head = f"check_convergence({name!r}, rate {rate!r}) failed"
    options = dict(options)
    given = set(options)
    x0 = options.get("x0")
    x0 = np.zeros(problem.in_shape + problem.batch_shape, dtype=problem.dtype) if x0 is None else np.asarray(x0)
    F0 = float(problem.objective(x0))
    opt = None
    if rate != "monotone":
        nonconvex = [type(layer.regularizer).__name__ for layer in problem.layers
                     if not getattr(layer.regularizer, "convex", True)]
        if nonconvex:
            raise ValueError(
                f"rate {rate!r} is promised for convex problems only; this problem has {', '.join(nonconvex)}. "
                "Use rate='monotone'."
            )
        opt = optimum if optimum is not None else globals()["optimum"](problem)
        if not isinstance(opt, Optimum):
            F_star, x_star = opt
            opt = Optimum(np.asarray(x_star), float(F_star), 0.0, "given")
    options.setdefault("max_iter", _budget(problem, rate, options, x0, F0, opt))
    options.setdefault("tol", 0.0)
    # rounding in F grows with the terms summed: ½‖y‖² (with cancellation in Gram-based forms) and F itself
    fscale = abs(F0) + 0.5 * _dot(problem.y, problem.y)
    recorded = []
    user_callback = options.pop("callback", None)

    def callback(state):
        recorded.append(float(problem.objective(np.asarray(state.x))))
        return user_callback(state) if user_callback is not None else None

    with _quiet(), np.errstate(over="ignore", invalid="ignore"):
        try:
            res = fn(problem, callback=callback, **options)
        except TypeError as exc:
            # a pursuit without callback/tol/max_iter (a greedy one that stops at s atoms): run it as it is,
            # and judge its reported history
            dropped = [k for k in ("callback", "tol", "max_iter") if f"'{k}'" in str(exc)]
            if not dropped or user_callback is not None:
                raise
            for key in ("tol", "max_iter"):
                if key not in given:
                    options.pop(key, None)
            recorded.clear()
            res = fn(problem, **options)
    history = np.asarray(res.history.get("objective", []), dtype=np.float64)
    values = np.asarray(recorded) if len(recorded) == len(history) and len(recorded) else history
    where = f"on {problem!r}"
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise AssertionError(f"{head}: the objective became {values[bad[0]]} at iteration {bad[0] + 1} {where}.")
    status = getattr(res, "status", None)
    if status is not None and getattr(status, "name", "") == "DIVERGED":
        raise AssertionError(f"{head}: the method diverged {where}: {res.message}")
    if values.size == 0:
        raise AssertionError(f"{head}: the method reported no iterations (empty history['objective']) {where}.")
    dtype = np.dtype(problem.dtype)
    if rate == "monotone":
        prev = np.concatenate([[F0], values[:-1]])
        tol = tolerance(dtype, np.abs(prev) + np.abs(values) + fscale)
        rise = values - prev - tol
        if np.any(rise > 0):
            k = int(np.argmax(rise > 0))
            raise AssertionError(
                f"{head}: the objective rose at iteration {k + 1}: F(x_{k + 1}) = {values[k]:.17g} > "
                f"F(x_{k}) = {prev[k]:.17g} by {values[k] - prev[k]:.3g} (tolerance {tol[k]:.3g}) {where}; "
                f"{int(np.sum(rise > 0))} of {values.size} iterations rose."
            )
    else:
        slack = opt.slack + tolerance(dtype, fscale + abs(opt.objective))
        if dtype == np.float32:  # the float32 objective itself carries ~sqrt(n)·eps relative error
            slack += tolerance(dtype, fscale + abs(opt.objective), k=300)
        sub = values - opt.objective
        if rate == "near-optimum":
            bound = near_rtol * abs(opt.objective)
            if sub[-1] > bound + slack:
                raise AssertionError(
                    f"{head}: after {values.size} iterations F(x_n) − F* = {sub[-1]:.6g} > "
                    f"near_rtol·|F*| = {bound:.6g} (relative gap {sub[-1] / max(abs(opt.objective), 1e-300):.3g}; "
                    f"F* = {opt.objective:.17g} from {opt.source}) {where}."
                )
        elif rate == "optimum":
            if sub[-1] > slack:
                raise AssertionError(
                    f"{head}: the result is not the optimum: after {values.size} iterations F(x_n) − F* = "
                    f"{sub[-1]:.6g} > tolerance {slack:.3g} (relative gap "
                    f"{sub[-1] / max(abs(opt.objective), 1e-300):.3g}; F* = {opt.objective:.17g} from {opt.source}) "
                    f"{where}."
                )
        else:
            step = getattr(res, "step", None)
            L = 1.0 / float(step) if step else _problem_lipschitz(problem)
            r2 = float(np.sum((np.asarray(x0, np.float64) - np.asarray(opt.x, np.float64)) ** 2))
            k = np.arange(1, values.size + 1, dtype=np.float64)
            if rate == "1/k":
                bound, formula = L * r2 / (2 * k), "L‖x0 − x*‖²/(2k)"
            else:
                bound, formula = 2 * L * r2 / (k + 1) ** 2, "2L‖x0 − x*‖²/(k+1)²"
            excess = sub - bound - slack
            if np.any(excess > 0):
                first = int(np.argmax(excess > 0))
                ratio = sub / np.maximum(bound, 1e-300)
                worst = int(np.argmax(ratio))
                raise AssertionError(
                    f"{head}: F(x_k) − F* ≤ {formula} is violated at iteration k = {first + 1}: "
                    f"F(x_k) − F* = {sub[first]:.6g} > bound {bound[first]:.6g} (ratio {ratio[first]:.3g}; "
                    f"tolerance {slack:.3g}).\n"
                    f"  {int(np.sum(excess > 0))} of {values.size} iterations violate it; the worst is k = {worst + 1} "
                    f"(ratio {ratio[worst]:.3g}); at the last iterate F(x_n) − F* = {sub[-1]:.6g}.\n"
                    f"  L = {L:.6g} (1/step), ‖x0 − x*‖² = {r2:.6g}, F* = {opt.objective:.17g} from {opt.source}, "
                    f"{where}."
                )
    if len(recorded) == len(history) and len(recorded):
        diff = np.abs(history - np.asarray(recorded))
        tol = tolerance(dtype, np.abs(history) + np.abs(recorded) + fscale, k=300 if dtype == np.float32 else None)
        if np.any(diff > tol):
            k = int(np.argmax(diff > tol))
            raise AssertionError(
                f"{head}: history['objective'][{k}] = {history[k]:.17g} but F(x_{k + 1}) recomputed from the "
                f"iterate the callback received is {recorded[k]:.17g} (difference {diff[k]:.3g}) {where}."
            )


# --------------------------------------------------------------------------- pursuits
def check_pursuit(method, problem, **options):
    """Check the result contract of a pursuit on ``problem``.

    ``res.x`` has the shape of the deepest code plus the batch and the
    problem's dtype, is finite, ``res.objective`` equals
    ``problem.objective(res.x)``, ``res.codes[-1]`` is ``res.x``, the
    history holds ``n_iter`` objectives, and the data ``y`` is not modified.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.testing import check_pursuit
    >>> problem = pc.chain(np.array([3.0, 0.5]), [(np.eye(2), pc.L1(1.0))])
    >>> check_pursuit("fista", problem)
    """
    fn, name = _resolve(method)
    head = f"check_pursuit({name!r}) failed on {problem!r}"
    y_before = np.array(problem.y, copy=True)
    with _quiet():
        res = fn(problem, **options)
    if not np.array_equal(np.asarray(problem.y), y_before):
        raise AssertionError(f"{head}: the data y was modified.")
    x = np.asarray(res.x)
    expected = problem.in_shape + problem.batch_shape
    if x.shape != expected:
        raise AssertionError(f"{head}: res.x has shape {x.shape}, expected {expected}.")
    if x.dtype != problem.dtype:
        raise AssertionError(f"{head}: res.x has dtype {x.dtype} for a {problem.dtype} problem.")
    if not np.all(np.isfinite(x)):
        raise AssertionError(f"{head}: res.x has non-finite entries.")
    value = float(problem.objective(x))
    if not abs(value - res.objective) <= tolerance(x.dtype, abs(value) + abs(res.objective) + 1e-300, k=1000):
        raise AssertionError(
            f"{head}: res.objective = {res.objective:.17g} but problem.objective(res.x) = {value:.17g}."
        )
    codes = getattr(res, "codes", None)
    if codes is not None and (len(codes) != len(problem.layers) or not np.array_equal(codes[-1], x)):
        raise AssertionError(f"{head}: res.codes must hold one code per layer, the last being res.x.")
    hist = res.history.get("objective") if isinstance(getattr(res, "history", None), dict) else None
    if hist is not None and len(hist) != res.n_iter:
        raise AssertionError(f"{head}: history['objective'] has {len(hist)} entries for n_iter = {res.n_iter}.")
