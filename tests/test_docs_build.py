"""The documentation site: every public name is in the API reference, and the site builds with warnings as errors.

The build (Sphinx + numpydoc + sphinx-gallery + MyST, tutorials in their fast
mode) takes well under a minute; it is skipped when the ``docs`` extra is not
installed.
"""

import importlib
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MODULES = ["proxcore", "proxcore.plugins", "proxcore.testing", "proxcore.learn", "proxcore.diagnostics"]


def _documented():
    """Fully qualified names the API page documents (autosummary entries and ``.. data::``)."""
    names, module = set(), None
    for line in (DOCS / "api.rst").read_text(encoding="utf-8").splitlines():
        if m := re.match(r"\.\. (?:currentmodule|automodule):: ([\w.]+)", line):
            module = m.group(1) if line.startswith(".. currentmodule") else module
            names.add(m.group(1))
        elif m := re.match(r"\.\. data:: (\w+)", line):
            names.add(f"{module}.{m.group(1)}")
        elif m := re.match(r" {3}(\w+)$", line):
            names.add(f"{module}.{m.group(1)}")
    return names


@pytest.mark.parametrize("module", MODULES)
def test_api_reference_lists_every_public_name(module):
    documented = _documented()
    missing = [name for name in importlib.import_module(module).__all__
               if f"{module}.{name}" not in documented and f"proxcore.{name}" not in documented]
    assert not missing, f"docs/api.rst does not list {module}: {', '.join(missing)}"


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
