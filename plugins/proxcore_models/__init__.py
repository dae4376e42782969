"""The talk's other models, as a proxcore plugin: cosparse analysis and the deep coding problem.

Registers, through the ``proxcore`` entry-point group like any third-party
package, the pursuits ``gap`` (greedy analysis pursuit for
``min ‖y − Mx‖² s.t. ‖Ωx‖₀ ≤ p − ℓ``, :func:`proxcore_models.cosparse.gap`)
``layered-omp`` (the deep coding problem, one OMP per layer with its
tolerance, :func:`proxcore_models.layered.layered_omp`) and ``layered-bp-eps``
(one ``min ‖γ_i‖₁ s.t. ‖γ_{i−1} − D_iγ_i‖² ≤ ε_{i−1}`` per layer,
:func:`proxcore_models.layered.layered_bp_eps`), and offers the
constraint :class:`Cosparse` (``‖Ωx‖₀ ≤ p − ℓ``) that ``gap`` solves.

>>> import proxcore as pc
>>> callable(pc.pursuit("gap"))
True
"""

from proxcore.plugins import hookimpl

from .cosparse import Cosparse, gap
from .layered import layered_bp_eps, layered_omp

PROXCORE_PLUGIN_API = (1, 0)

__all__ = ["Cosparse", "gap", "layered_omp", "layered_bp_eps"]


@hookimpl
def proxcore_pursuits():
    return {"gap": gap, "layered-omp": layered_omp, "layered-bp-eps": layered_bp_eps}
