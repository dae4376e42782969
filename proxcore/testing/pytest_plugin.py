"""proxcore's pytest plugin: fixtures for users' test suites, and the conformance suite in one line.

Installed with proxcore, pytest loads it through the ``pytest11`` entry
point, whose target is the top-level module ``_proxcore_pytestplugin``: it
lives outside the ``proxcore`` package so that loading it imports neither
proxcore nor numba nor NumPy (importing a package module would run
``proxcore/__init__`` before coverage measurement starts, and cost every
pytest session in the environment; hypothesis's ``_hypothesis_pytestplugin``
is built the same way). Its fixtures call the functions below on first use.

Fixtures
--------
``proxcore_registry``
    A fresh plugin registry holding only proxcore's essential names
    (entry points not autoloaded), active for the duration of the test:
    ``pc.plugins.register(...)``, ``pc.solve`` and ``pc.dictionary`` use it,
    and the global registry is untouched.
``proxcore_readonly``
    ``proxcore_readonly(a, b, ...)`` returns read-only copies, so any write
    into an input by the code under test raises.

The conformance suite
---------------------
A plugin author runs every check of :mod:`proxcore.testing` over every name
their plugin registers with one line in a test module::

    from proxcore.testing import conformance_test
    test_conformance = conformance_test(my_package.plugin)   # or the plugin's registered name

or, for everything installed, ``pytest --proxcore-conformance``.

Examples
--------
>>> from proxcore.testing.pytest_plugin import fresh_registry
>>> with fresh_registry() as registry:
...     "fista" in registry.names("pursuits")
True
"""

from __future__ import annotations

import contextlib

__all__ = ["fresh_registry", "readonly", "conformance_items"]


@contextlib.contextmanager
def fresh_registry():
    """A new registry with proxcore's essential names only, made the active one inside the block."""
    import proxcore as pc

    plugins = getattr(pc, "plugins", None)
    if plugins is None or not hasattr(plugins, "make_manager"):
        import pytest

        pytest.skip("this proxcore has no plugin registry")
    manager = plugins.make_manager().load(autoload=False)
    with plugins.use(manager):
        yield manager


def readonly(*arrays):
    """Read-only copies of ``arrays`` (one array for one argument)."""
    import numpy as np

    out = []
    for a in arrays:
        a = np.array(a, copy=True)
        a.setflags(write=False)
        out.append(a)
    return out[0] if len(out) == 1 else out


def conformance_items():
    """``(ids, cases)`` of the conformance suite over the active registry (``--proxcore-conformance``)."""
    from . import conformance_cases

    cases = conformance_cases()
    return [c.id for c in cases], cases
