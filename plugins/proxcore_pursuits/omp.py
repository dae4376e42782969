"""Greedy pursuits on the Gram matrix, batched over signals: Batch-OMP and order-recursive MP."""

from __future__ import annotations

import warnings

import numpy as np

from proxcore import L0Ball, Status, Zero
from proxcore._validation import InvalidParameterError, check_scalar

from . import _omp_kernels as kernels
from . import _ormp_kernels
from ._common import as_columns, dense_matrix, one_layer, result

__all__ = ["omp", "ormp"]


def omp(problem, *, tol=None, jit=True):
    """Orthogonal matching pursuit for ``min ‖y − Dx‖²  s.t.  ‖x‖₀ ≤ s``, every signal of a batch.

    Batch-OMP (Rubinstein, Zibulevsky & Elad 2008): the Gram ``DᵀD`` and the
    correlations ``DᵀY`` are computed once, with two matrix products, and
    each signal then needs only its Cholesky factor, grown by one row per
    selected atom. Atoms are normalised internally (the selection uses
    ``|d_iᵀr|/‖d_i‖``) and the coefficients rescaled back.

    Parameters
    ----------
    problem : pc.Problem
        One layer, ``pc.chain(y, [(D, pc.L0Ball(s))])``: at most ``s`` atoms
        per signal (capped at ``min(n, m)``). With ``pc.Zero()`` as the
        regularizer, ``tol`` must be given and alone stops the pursuit.
        Any operator works (a convolution, say); it is formed as a dense
        matrix over the flattened signal and code.
    tol : float, optional
        Also stop a signal once its residual norm ``‖y − Dx‖ ≤ tol``
        (scikit-learn's ``orthogonal_mp_gram(tol=...)`` bounds the squared
        norm: its ``tol`` is this ``tol**2``).
    jit : bool, default True
        Use the numba kernel (compiled on first call, cached on disk);
        ``False`` uses its NumPy twin (same steps and results).

    Returns
    -------
    Result
        ``x`` (``m`` coefficients per signal), ``n_iter`` the largest number
        of atoms selected, ``history["objective"]`` the total residual energy
        ``½Σ‖r‖²`` after each step (non-increasing). A signal whose next
        atom depends linearly on the chosen ones stops early, with a
        ``RuntimeWarning`` and ``signal_converged`` False.

    Notes
    -----
    After each step the residual is orthogonal to the chosen atoms,
    ``D_Iᵀ r = 0``. Below the mutual-coherence bound ``s < (1 + 1/μ)/2`` OMP
    recovers the support of an exact ``s``-sparse representation (Tropp
    2004). Ties in the selection go to the lowest index.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = pc.dictionary("dct", n=16, m=32)
    >>> x = np.zeros(32); x[[3, 20]] = [1.0, -2.0]
    >>> res = pc.solve(pc.chain(D @ x, [(D, pc.L0Ball(2))]), method="omp")
    >>> np.flatnonzero(res.x), np.round(res.x[[3, 20]], 10)
    (array([ 3, 20]), array([ 1., -2.]))
    """
    return _greedy(problem, "omp", kernels.batch_omp if jit else kernels.batch_omp_numpy, tol, jit)


def ormp(problem, *, tol=None, jit=True):
    """Order-recursive matching pursuit for ``min ‖y − Dx‖²  s.t.  ‖x‖₀ ≤ s``, every signal of a batch.

    ORMP (also *orthogonal least squares*, *forward selection*: Chen,
    Billings & Luo 1989; Cotter et al. 1999) adds at each step the atom
    whose inclusion lowers the residual the most, ``argmax_i c_i²/q_i`` with
    ``c_i = d_iᵀr`` and ``q_i = ‖P⊥d_i‖²`` the energy of atom ``i`` outside
    the span of the chosen ones; OMP maximises ``|c_i|`` alone. Every step
    is at least as good as OMP's next step, so its residuals are usually
    smaller; each step costs about the same (one row of Gram–Schmidt
    coefficients against all atoms, from the Gram ``DᵀD``). This is the
    greedy pursuit SPAMS ships as ``omp``.

    Parameters
    ----------
    problem : pc.Problem
        One layer, ``pc.chain(y, [(D, pc.L0Ball(s))])`` (or ``pc.Zero()``
        with ``tol``), as for :func:`omp`.
    tol : float, optional
        Also stop a signal once ``‖y − Dx‖ ≤ tol``.
    jit : bool, default True
        The numba kernel (compiled on first call, cached on disk); ``False``
        runs the very same source in Python (slow; the reference).

    Returns
    -------
    Result
        As :func:`omp`: ``x``, ``n_iter`` the most atoms selected,
        ``history["objective"]`` the total residual energy ``½Σ‖r‖²`` after
        each step (non-increasing).

    Examples
    --------
    Where the two differ: both first take ``d₀ = e₁``; OMP then takes ``d₁``,
    the atom most correlated with the residual ``0.2·e₃``, ORMP takes ``d₂``,
    which is nearly parallel to ``d₀`` but whose remaining part is the
    residual, and fits ``y`` exactly.

    >>> import numpy as np, proxcore as pc
    >>> D = np.array([[1.0, 0.0, 0.9], [0.0, 0.6, 0.0], [0.0, 0.8, np.sqrt(0.19)]])
    >>> problem = pc.chain(np.array([1.0, 0.0, 0.2]), [(D, pc.L0Ball(2))])
    >>> for method in ("omp", "ormp"):
    ...     res = pc.solve(problem, method=method)
    ...     print(method, np.flatnonzero(res.x), round(float(np.linalg.norm(problem.y - D @ res.x)), 6))
    omp [0 1] 0.12
    ormp [0 2] 0.0
    """
    return _greedy(problem, "ormp", _ormp_kernels.batch_ormp if jit else _ormp_kernels.batch_ormp_numpy, tol, jit)


_TITLES = {"omp": "Orthogonal matching pursuit", "ormp": "Order-recursive matching pursuit"}
_BLOCK = 512  # signals a kernel call takes: their correlations (1 MB in float64 at m = 256) stay in cache


def _greedy(problem, name, run, tol, jit):
    """What OMP and ORMP share: validation, the normalised Gram, the kernel ``run``, the result."""
    D, reg = one_layer(problem, name)
    if tol is not None:
        tol = check_scalar(tol, "tol", name, low=0.0)
    if not isinstance(jit, (bool, np.bool_)):
        raise InvalidParameterError(f"The 'jit' parameter of {name} must be a bool; got {jit!r}.")
    dtype = problem.dtype
    A = dense_matrix(D, dtype)
    n, m = A.shape
    if isinstance(reg, L0Ball):
        s = min(reg.s, n, m)
    elif isinstance(reg, Zero) and tol is not None:
        s = min(n, m)
    else:
        raise InvalidParameterError(
            f"{name} solves problems with the regularizer pc.L0Ball(s) (or pc.Zero() with tol=); got {reg!r}."
        )
    norms = np.linalg.norm(A, axis=0)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InvalidParameterError(
            f"atom {zero[0]} of the dictionary has zero norm; {name} cannot select it."
        )
    An = A / norms
    Y = as_columns(problem)
    G = An.T @ An
    yy = np.einsum("ij,ij->j", Y, Y)
    eps = np.finfo(dtype).eps
    tol2 = -1.0 if tol is None else tol * tol
    N = Y.shape[1]
    # the correlations DᵀY a block of signals at a time, one signal per row, into one buffer that the kernel reads
    # while it is in cache: all of them at once are an array as large as the codes, whose first writing alone
    # (page faults) cost a tenth of the pursuit
    A0 = np.empty((min(N, _BLOCK), m), dtype)
    parts = []
    for start in range(0, max(N, 1), _BLOCK):  # one call for an empty batch too: its outputs' shapes
        block = slice(start, start + _BLOCK)
        correlations = np.matmul(Y[:, block].T, An, out=A0[:min(_BLOCK, N - start)])
        parts.append(run(G, correlations, yy[block], s, tol2, eps, 64 * eps))
    idx, coef, count, energy, flag = (np.concatenate(arrays) for arrays in zip(*parts))

    X = np.zeros((m, N), dtype=dtype)
    used = np.arange(s)[None, :] < count[:, None]
    cols = np.broadcast_to(np.arange(N)[:, None], used.shape)[used]
    atoms = idx[used]
    values = coef[used] / norms[atoms].astype(dtype)
    X[atoms, cols] = values
    x = X.reshape(tuple(D.in_shape) + problem.batch_shape)
    # F(x) = ½‖Y − A X‖² through the codes' few non-zeros (X as the rows of a sparse Xᵀ, one signal each):
    # a dense A X costs m/s times more; L0Ball holds by construction (at most s atoms), so it adds 0
    import scipy.sparse

    codes = scipy.sparse.csr_matrix((values, atoms, np.concatenate([[0], np.cumsum(count)])), shape=(N, m))
    residual = codes @ A.T  # A X − Y, signals as rows: subtracted in place (a new Yᵀ − A X took twice as long)
    residual -= Y.T
    objective = 0.5 * float(np.einsum("ij,ij->", residual, residual, dtype=np.float64))

    n_iter = int(count.max()) if N else 0
    steps = np.arange(max(n_iter, 1))
    last = np.minimum(steps[None, :], np.maximum(count[:, None] - 1, 0))
    per_step = np.where(count[:, None] > 0, np.take_along_axis(energy, last, axis=1), yy[:, None])
    history = {"objective": 0.5 * np.maximum(per_step, 0).sum(axis=0)[:n_iter]}

    dependent = int(np.count_nonzero(flag == kernels.DEPENDENT))
    n_tol = int(np.count_nonzero(flag == kernels.TOLERANCE))
    n_exact = int(np.count_nonzero(flag == kernels.ZERO_RESIDUAL))
    parts = [f"{N - dependent - n_tol - n_exact} of {N} signal(s) reached s = {s} atoms"]
    if tol is not None:
        parts.append(f"{n_tol} met the residual tolerance ‖r‖ <= {tol:.3g}")
    if n_exact:
        parts.append(f"{n_exact} were fitted exactly (zero residual) with fewer atoms")
    message = f"{name.upper()}: " + ", ".join(parts)
    if dependent:
        message += (f", {dependent} stopped early: the next atom depends linearly on the chosen ones "
                    "(the requested sparsity or precision might not have been met)")
        warnings.warn(
            f"{_TITLES[name]} ended prematurely for {dependent} of {N} signal(s) due to linear "
            "dependence in the dictionary; the requested precision might not have been met.",
            RuntimeWarning, stacklevel=2,
        )
    return result(problem, x, n_iter=n_iter, signal_converged=flag != kernels.DEPENDENT,
                  status=Status.CONVERGED if not dependent else Status.MAX_ITER,
                  message=message + ".", history=history, objective=objective)
