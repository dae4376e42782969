"""proxcore: composable proximal operators and batched pursuits for sparse coding.

>>> import numpy as np, proxcore as pc
>>> rng = np.random.default_rng(0)
>>> D = rng.standard_normal((20, 50)); D /= np.linalg.norm(D, axis=0)
>>> Y = D[:, :3] @ rng.standard_normal((3, 100))          # 100 signals as columns
>>> res = pc.solve(pc.chain(Y, [(D, pc.L1(0.1))]), method="fista", tol=1e-8)
>>> res.x.shape, res.converged
((50, 100), True)
"""

from ._validation import ConvergenceWarning, InvalidParameterError
from .analysis import AnalysisL1
from .convolution import Convolution
from .engines import pursuit, solve
from .losses import LeastSquares
from .operators import Identity, LinearOperator, Matrix
from . import plugins
from .plugins import dictionary, hookimpl
from .problem import GraphError, Problem, chain
from .regularizers import L0, L1, L0Ball, Regularizer, Zero
from .result import Result, Status
from .spec import load_problem
from .stripes import L0Inf

__version__ = "0.1.0"

__all__ = [
    "LinearOperator",
    "Matrix",
    "Convolution",
    "Identity",
    "Regularizer",
    "Zero",
    "L1",
    "L0",
    "L0Ball",
    "AnalysisL1",
    "L0Inf",
    "LeastSquares",
    "Problem",
    "chain",
    "load_problem",
    "solve",
    "pursuit",
    "dictionary",
    "plugins",
    "hookimpl",
    "Result",
    "Status",
    "ConvergenceWarning",
    "InvalidParameterError",
    "GraphError",
]
