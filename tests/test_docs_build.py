"""The documentation site: every public name is in the API reference, and the site builds with warnings as errors.

The build (Sphinx + numpydoc + sphinx-gallery + MyST, tutorials in their fast
mode) takes well under a minute; it is skipped when the ``docs`` extra is not
installed.
"""

import functools
import importlib
import pathlib
import pkgutil
import re
import subprocess
import sys

import pytest

import proxcore

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# the built-in plugin packages (plugins/*), loaded through the entry points like a third party's
PLUGIN_PACKAGES = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py"))


def _public_modules():
    """Every public module: proxcore's and the built-in plugins', no part of the dotted name private."""
    names = ["proxcore"]
    names += [m.name for m in pkgutil.walk_packages(proxcore.__path__, "proxcore.")]
    for package in PLUGIN_PACKAGES:
        module = importlib.import_module(package)
        names += [package] + [m.name for m in pkgutil.walk_packages(module.__path__, f"{package}.")]
    return sorted(n for n in names if not any(part.startswith("_") for part in n.split(".")))


MODULES = _public_modules()


def _public_names(module):
    """``__all__``, or else the public names the module defines itself."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, obj in vars(module).items()
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__]


def _resolve(dotted):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            return functools.reduce(getattr, parts[i:], obj)
        except AttributeError:
            return None
    return None


def _api_entries():
    """Fully qualified names the API page documents (autosummary entries, ``.. data::``, ``automodule :members:``)."""
    names, module, lines = set(), None, (DOCS / "api.rst").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if m := re.match(r"\.\. (?:currentmodule|automodule):: ([\w.]+)", line):
            module = m.group(1) if line.startswith(".. currentmodule") else module
            names.add(m.group(1))
            if line.startswith(".. automodule") and i + 1 < len(lines) and lines[i + 1].strip() == ":members:":
                names.update(f"{m.group(1)}.{name}" for name in importlib.import_module(m.group(1)).__all__)
        elif m := re.match(r"\.\. data:: (\w+)", line):
            names.add(f"{module}.{m.group(1)}")
        elif m := re.match(r" {3}(\w+)$", line):
            names.add(f"{module}.{m.group(1)}")
    return names


def _registry_entries():
    """The functions and classes the page of registered names documents (``docs/sphinxext/proxcore_registry.py``)."""
    sys.path.insert(0, str(DOCS / "sphinxext"))
    try:
        import proxcore_registry
    finally:
        sys.path.remove(str(DOCS / "sphinxext"))
    text = "\n".join(proxcore_registry.fragments().values())
    return set(re.findall(r"^\.\. auto(?:function|class):: ([\w.]+)", text, flags=re.M))


@functools.lru_cache(maxsize=1)
def _documented():
    """``(names, ids)``: the documented qualified names and the ids of the objects they name."""
    names = _api_entries() | _registry_entries()
    objects = [_resolve(name) for name in names]
    return names, {id(obj) for obj in objects if obj is not None}


def test_the_public_modules_are_found():
    for module in ["proxcore", "proxcore.dcp", "proxcore.oracle", "proxcore.distributed", "proxcore.testing.strategies",
                   "proxcore_models", "proxcore_pursuits"]:
        assert module in MODULES, module
    assert not [m for m in MODULES if "._" in m]


@pytest.mark.parametrize("module", MODULES)
def test_api_reference_lists_every_public_name(module):
    """Each public name is documented under its own name or as the object it re-exports."""
    names, ids = _documented()
    mod = importlib.import_module(module)
    missing = [name for name in _public_names(mod)
               if f"{module}.{name}" not in names and id(getattr(mod, name)) not in ids]
    assert not missing, f"docs/api.rst does not list {module}: {', '.join(missing)}"


def test_every_registered_pursuit_is_in_the_choosing_table():
    text = (DOCS / "choosing_a_pursuit.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in text.splitlines() if line.startswith("|"))
    missing = [name for name in proxcore.plugins.names("pursuits") if f"`{name}`" not in table]
    assert not missing, f"docs/choosing_a_pursuit.md's tables do not name: {', '.join(missing)}"


def test_tutorials_are_gallery_scripts_with_a_figure():
    # sphinx-gallery's convention (docs/conf.py runs plot_*.py): every tutorial is plot_*.py and saves a figure
    for script in sorted((ROOT / "tutorials").glob("*.py")):
        assert script.name.startswith("plot_"), f"{script.name}: name tutorials plot_*.py"
        assert "savefig(OUT" in script.read_text(encoding="utf-8"), (
            f"{script.name}: save a figure to PROXCORE_TUTORIAL_OUT (fig.savefig(OUT / ...)) for the gallery")


def test_gallery_tutorials_have_a_title():
    # sphinx-gallery reads the first line of the docstring as the page title;
    # without a reST underline the page has none and the -W build fails
    for script in sorted((ROOT / "tutorials").glob("*.py")):
        lines = script.read_text(encoding="utf-8").splitlines()
        assert lines[0] == '"""' and set(lines[2]) == {"="} and len(lines[2]) >= len(lines[1]), (
            f"{script.name}: start the docstring with a title line underlined by '=' "
            '(\'"""\', the title, \'=====\'), as sphinx-gallery expects')


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    for module in ["sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme", "myst_parser", "matplotlib"]:
        pytest.importorskip(module)
    out = tmp_path / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
               "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"the docs build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    for page in ["index", "mathematics", "api", "auto_tutorials/index", "generated/proxcore.solve"]:
        assert (out / f"{page}.html").is_file(), page
