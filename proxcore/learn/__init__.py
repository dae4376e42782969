"""Learned unrolled pursuits: LISTA and multi-layer (ML-ISTA / ML-FISTA) networks, NumPy only.

``K`` iterations of a pursuit with learned dictionaries, biases and steps
form a recurrent network; ``K = 1`` is the feed-forward network, with the
same parameters (DESIGN §1, "Unrolling"). Gradients are exact, computed in
reverse mode through the iterations: each operator contributes its adjoint
(and, for its matrix, a sum of outer products), each prox its
vector-Jacobian product through :meth:`proxcore.Regularizer.prox_vjp` (the
ReLU mask, the soft-threshold mask), so a user's regularizer that defines
``prox_vjp`` can be unrolled too.

The estimators follow scikit-learn's conventions — **rows are samples** —
unlike proxcore's solvers, which take signals as columns.

>>> from proxcore.learn import LISTA, UnrolledClassifier
>>> UnrolledClassifier((16, 8), method="ml-fista", n_unroll=3)
UnrolledClassifier(layer_sizes=(16, 8), method='ml-fista', n_unroll=3, ...)
"""

from ._estimators import LISTA, UnrolledClassifier
from ._train import NotFittedError

__all__ = ["LISTA", "UnrolledClassifier", "NotFittedError"]
