"""proxcore's built-in operators, as a plugin: ``matrix`` and ``identity``.

``pc.plugins.operator("matrix", array=A)`` is :class:`proxcore.Matrix` and
``pc.plugins.operator("identity", shape=n)`` is :class:`proxcore.Identity`
(the dictionaries of the same names, in the ``dictionaries`` plugin, take
``array`` or a ``.npy`` path and ``n``). Declared in proxcore's
``pyproject.toml`` under ``[project.entry-points.proxcore]`` (entry point
``operators``) and loaded through the entry points exactly as a third-party
plugin is.

>>> import proxcore as pc
>>> pc.plugins.operator("identity", shape=(2, 3)).in_shape
(2, 3)
"""

from proxcore import Identity, Matrix
from proxcore.plugins import hookimpl

PROXCORE_PLUGIN_API = (1, 0)

__all__ = ["OPERATORS"]

#: The registry names of the core operators.
OPERATORS = {"matrix": Matrix, "identity": Identity}


@hookimpl
def proxcore_operators():
    return dict(OPERATORS)
