"""proxcore's built-in regularizers, as a plugin: ``zero``, ``l1``, ``l0``, ``l0-ball``, ``l0inf``, ``analysis-l1``.

The classes live in the core (:class:`proxcore.L1`, :class:`proxcore.L0`,
:class:`proxcore.L0Ball`, :class:`proxcore.L0Inf`,
:class:`proxcore.AnalysisL1`, :class:`proxcore.Zero`); this package only
gives them their registry names. It is declared in proxcore's
``pyproject.toml`` under ``[project.entry-points.proxcore]`` (entry point
``regularizers``) and loaded through the entry points exactly as a
third-party plugin is, so ``PROXCORE_DISABLE_PLUGINS=regularizers`` blocks
these names (the classes stay usable directly).

>>> import proxcore as pc
>>> pc.plugins.regularizer("l1", lam=0.5)
L1(lam=0.5, nonneg=False)
>>> "l0inf" in pc.plugins.names("regularizers")
True
"""

from proxcore import L0, L1, AnalysisL1, L0Ball, L0Inf, Zero
from proxcore.plugins import hookimpl

PROXCORE_PLUGIN_API = (1, 0)

__all__ = ["REGULARIZERS"]

#: The registry names of the core regularizers.
REGULARIZERS = {
    "zero": Zero,
    "l1": L1,
    "l0": L0,
    "l0-ball": L0Ball,
    "l0inf": L0Inf,
    "analysis-l1": AnalysisL1,
}


@hookimpl
def proxcore_regularizers():
    return dict(REGULARIZERS)
