"""Smooth data-fidelity losses."""

from __future__ import annotations

import dataclasses

import numpy as np

from ._validation import check_array
from .distributed import check_dask_array, is_dask_array

__all__ = ["LeastSquares"]


@dataclasses.dataclass(frozen=True, eq=False)
class LeastSquares:
    """The least-squares loss ``f(z) = ½‖z − y‖²``, summed over the batch.

    ``y`` holds one signal per column (or trailing batch axes). Composed with
    an operator ``D`` it gives the data term ``½‖y − Dγ‖²`` of a pursuit.

    Notes
    -----
    ``∇f(z) = z − y`` and ``f`` is 1-smooth, so ``f∘D`` is ``‖D‖²``-smooth.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> loss = pc.LeastSquares(np.array([1.0, 2.0]))
    >>> loss.value(np.array([0.0, 0.0]))
    2.5
    >>> loss.grad(np.array([0.0, 0.0]))
    array([-1., -2.])
    """

    y: np.ndarray
    lipschitz = 1.0

    def __post_init__(self):
        if is_dask_array(self.y):  # kept lazy: checked chunk by chunk on the workers (proxcore.distributed)
            object.__setattr__(self, "y", check_dask_array(self.y, "y", min_ndim=1))
            return
        y = check_array(self.y, "y", min_ndim=1)
        y = y.view()
        y.setflags(write=False)  # the loss never writes into the caller's data
        object.__setattr__(self, "y", y)

    def value(self, z) -> float:
        r = np.asarray(z) - self.y
        return 0.5 * float(np.vdot(r, r))

    def grad(self, z):
        return np.asarray(z) - self.y
