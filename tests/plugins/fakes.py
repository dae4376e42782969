"""Small third-party-style plugins, each with one flaw (or none), for tests/test_plugins.py.

They are objects, registered with ``manager.register(...)``; ``make_distribution``
turns source code into an installed-looking distribution on ``sys.path`` so
that the entry-point path is exercised too.
"""

import textwrap

import numpy as np

import proxcore as pc


class Good:
    """A dictionary ``ones`` and a pursuit ``echo`` (returns its arguments)."""

    @pc.hookimpl
    def proxcore_dictionaries(self):
        return {"ones": lambda n=2, m=3: pc.Matrix(np.ones((n, m)) / np.sqrt(n))}

    @pc.hookimpl
    def proxcore_pursuits(self):
        return {"echo": lambda problem, **options: ("echo", problem, options)}


class ClaimsOnes:
    """Claims the dictionary name ``ones`` too."""

    @pc.hookimpl
    def proxcore_dictionaries(self):
        return {"ones": lambda: pc.Identity(2), "twos": lambda: pc.Identity(2)}


class ClaimsDct:
    """Claims the built-in dictionary name ``dct``."""

    @pc.hookimpl
    def proxcore_dictionaries(self):
        return {"dct": lambda **params: pc.Identity(2)}


class Raising:
    """Its pursuits hook raises."""

    @pc.hookimpl
    def proxcore_pursuits(self):
        raise RuntimeError("plugin bug")


class Misspelled:
    """``proxcore_dictionary`` (no "ies"): not a hook."""

    @pc.hookimpl
    def proxcore_dictionary(self):
        return {"never": lambda: pc.Identity(1)}


class Unmarked:
    """The right hook name, without ``@pc.hookimpl``: pluggy would ignore it silently."""

    def proxcore_regularizers(self):
        return {"never": pc.L1}


class ReturnsList:
    @pc.hookimpl
    def proxcore_regularizers(self):
        return ["l1"]


class NotAnOperator:
    @pc.hookimpl
    def proxcore_dictionaries(self):
        return {"array": lambda: np.eye(2)}


class FutureApi:
    PROXCORE_PLUGIN_API = (1, 99)

    @pc.hookimpl
    def proxcore_dictionaries(self):
        return {"future": lambda: pc.Identity(2)}


def make_distribution(root, name, version, entry_points, modules):
    """Write ``{name}-{version}.dist-info`` and module files under ``root`` (to put on ``sys.path``).

    ``entry_points`` maps entry-point names to module names (group ``proxcore``);
    ``modules`` maps module names to source code.
    """
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[proxcore]"] + [f"{ep} = {module}" for ep, module in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root
