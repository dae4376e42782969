"""The essential plugin: the core engines, regularizers and operators under their registry names.

Registered first by every :class:`proxcore.plugins.PluginManager` and
impossible to block, as pytest's essential plugins are. Everything else with
a registry name (the dictionaries, the greedy and layered pursuits) lives in
``plugins/`` and arrives through the ``proxcore`` entry points.

The pursuits are read from :data:`proxcore.engines.ENGINES` when the hook is
called, so an engine added there is registered without touching this file.
"""

from __future__ import annotations

from ..plugins import hookimpl


@hookimpl
def proxcore_pursuits():
    from . import ENGINES

    return dict(ENGINES)


@hookimpl
def proxcore_regularizers():
    import proxcore  # the public classes, wherever in the core they live

    names = {"zero": "Zero", "l1": "L1", "l0": "L0", "l0-ball": "L0Ball", "l0inf": "L0Inf",
             "analysis-l1": "AnalysisL1"}
    return {name: getattr(proxcore, cls) for name, cls in names.items() if hasattr(proxcore, cls)}


@hookimpl
def proxcore_operators():
    from .. import operators as o

    return {"matrix": o.Matrix, "identity": o.Identity}
