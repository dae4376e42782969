"""The essential plugin: the core engines under their registry names, and nothing else.

Registered first by every :class:`proxcore.plugins.PluginManager` and
impossible to block, as pytest's essential plugins are. Everything else with
a registry name (the regularizers and operators, the dictionaries, the greedy
and layered pursuits) lives in ``plugins/`` and arrives through the
``proxcore`` entry points, exactly as a third-party plugin does.

The pursuits are read from :data:`proxcore.engines.ENGINES` when the hook is
called, so an engine added there is registered without touching this file.
"""

from __future__ import annotations

from ..plugins import hookimpl


@hookimpl
def proxcore_pursuits():
    from . import ENGINES

    return dict(ENGINES)
