"""proxcore's built-in dictionaries, as a plugin: ``matrix``, ``identity``, ``gaussian``, ``dct``.

Declared in proxcore's ``pyproject.toml`` under ``[project.entry-points.proxcore]``
and loaded through the entry points exactly as a third-party plugin is.

>>> import proxcore as pc
>>> pc.dictionary("gaussian", n=16, m=32, seed=0).out_shape
(16,)
"""

from proxcore.plugins import hookimpl

from .builtin import dct, gaussian, identity, matrix

PROXCORE_PLUGIN_API = (1, 0)

__all__ = ["matrix", "identity", "gaussian", "dct"]


@hookimpl
def proxcore_dictionaries():
    return {"matrix": matrix, "identity": identity, "gaussian": gaussian, "dct": dct}
