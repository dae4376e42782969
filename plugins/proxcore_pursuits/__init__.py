"""proxcore's built-in pursuits, as a plugin.

``thresholding``, ``layered-thresholding``, ``layered-bp``, ``omp``,
``ormp``, ``iht``, ``cd`` and ``lars``; declared in proxcore's ``pyproject.toml`` under
``[project.entry-points.proxcore]`` and loaded through the entry points
exactly as a third-party plugin is. Importing this package compiles
nothing: the numba kernels compile on first use.

>>> import proxcore as pc
>>> callable(pc.pursuit("omp"))
True
"""

from proxcore.plugins import hookimpl

from .iht import iht
from .lasso import cd, lars
from .layered import layered_bp, layered_thresholding, thresholding
from .omp import omp, ormp

PROXCORE_PLUGIN_API = (1, 0)

__all__ = ["thresholding", "layered_thresholding", "layered_bp", "omp", "ormp", "iht", "cd", "lars"]


@hookimpl
def proxcore_pursuits():
    return {
        "thresholding": thresholding,
        "layered-thresholding": layered_thresholding,
        "layered-bp": layered_bp,
        "omp": omp,
        "ormp": ormp,
        "iht": iht,
        "cd": cd,
        "lars": lars,
    }
