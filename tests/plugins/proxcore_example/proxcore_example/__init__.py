"""A third-party proxcore plugin, written only against the public API (``import proxcore as pc``).

It provides one name of each kind:

- dictionary ``example-haar``: the orthonormal Haar basis of ``n = 2^k`` samples;
- operator ``example-diff``: first differences ``(Dx)_i = x_{i+1} − x_i``;
- regularizer ``example-box``: the indicator of ``[-bound, bound]^n``;
- pursuit ``example-zero``: returns ``x = 0`` (a baseline).
"""

import numpy as np

import proxcore as pc

PROXCORE_PLUGIN_API = (1, 0)


def haar(n):
    """The orthonormal Haar basis of R^n (columns), ``n`` a power of two."""
    if n < 1 or n & (n - 1):
        raise pc.InvalidParameterError(f"The 'n' parameter of example-haar must be a power of two; got {n!r}.")
    H = np.array([[1.0]])
    while H.shape[0] < n:
        H = np.hstack([np.kron(H, [[1.0], [1.0]]), np.kron(np.eye(H.shape[0]), [[1.0], [-1.0]])])
    return pc.Matrix(H / np.linalg.norm(H, axis=0))


class Diff(pc.LinearOperator):
    """First differences: ``R^n -> R^(n-1)``."""

    def __init__(self, n):
        self.in_shape, self.out_shape = (n,), (n - 1,)

    def apply(self, x):
        return x[1:] - x[:-1]

    def adjoint(self, y):
        z = np.pad(y, [(1, 1)] + [(0, 0)] * (y.ndim - 1))
        return z[:-1] - z[1:]


class Box(pc.Regularizer):
    """The indicator of ``[-bound, bound]^n``; its prox is clipping."""

    def __init__(self, bound=1.0):
        self.bound = float(bound)

    def value(self, x):
        return 0.0 if np.all(np.abs(x) <= self.bound) else np.inf

    def prox(self, v, step):
        return np.clip(v, -self.bound, self.bound)


def zero_pursuit(problem, **options):
    """``x = 0``: the trivial pursuit (a baseline for comparisons)."""
    x = np.zeros(problem.in_shape + problem.batch_shape, dtype=problem.dtype)
    return pc.Result(x=x, codes=(x,), objective=problem.objective(x), n_iter=0, converged=True,
                     status=pc.Status.CONVERGED, message="x = 0.", history={"objective": np.array([])},
                     signal_converged=np.ones(problem.batch_shape, dtype=bool))


@pc.hookimpl
def proxcore_dictionaries():
    return {"example-haar": haar}


@pc.hookimpl
def proxcore_operators():
    return {"example-diff": Diff}


@pc.hookimpl
def proxcore_regularizers():
    return {"example-box": Box}


@pc.hookimpl
def proxcore_pursuits():
    return {"example-zero": zero_pursuit}
