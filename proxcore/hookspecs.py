"""The plugin hooks of proxcore (pluggy project ``"proxcore"``).

Every hook takes no argument and returns a mapping from registry names to
factories; proxcore merges the mappings of all plugins into one registry per
kind and refuses a name claimed twice. A plugin implements any subset of the
hooks with the marker :data:`proxcore.hookimpl`::

    import proxcore as pc

    @pc.hookimpl
    def proxcore_dictionaries():
        return {"haar": make_haar}          # pc.dictionary("haar", n=64)

and declares itself in its ``pyproject.toml``::

    [project.entry-points.proxcore]
    haar = "my_package.plugin"

The built-in dictionaries and pursuits in ``plugins/`` arrive through exactly
this door. See ``docs/plugins.md`` for the contract of each kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pluggy

__all__ = [
    "hookspec",
    "proxcore_dictionaries",
    "proxcore_operators",
    "proxcore_regularizers",
    "proxcore_pursuits",
]

hookspec = pluggy.HookspecMarker("proxcore")


@hookspec
def proxcore_dictionaries() -> Mapping[str, Callable[..., object]]:
    """Dictionaries: ``{name: factory}``, ``factory(**params) -> pc.LinearOperator``.

    ``pc.dictionary(name, **params)`` calls the factory; the result must be a
    :class:`proxcore.LinearOperator` whose columns are the atoms.
    """


@hookspec
def proxcore_operators() -> Mapping[str, Callable[..., object]]:
    """Operators: ``{name: factory}``, ``factory(**params) -> pc.LinearOperator``.

    Used by spec files to build the operator on an edge from plain data.
    """


@hookspec
def proxcore_regularizers() -> Mapping[str, Callable[..., object]]:
    """Regularizers: ``{name: factory}``, ``factory(**params) -> pc.Regularizer``."""


@hookspec
def proxcore_pursuits() -> Mapping[str, Callable[..., object]]:
    """Pursuits: ``{name: pursuit}``, ``pursuit(problem, **options) -> pc.Result``.

    ``pc.pursuit(name)`` returns the callable itself, and
    ``pc.solve(problem, method=name, **options)`` calls it.
    """
