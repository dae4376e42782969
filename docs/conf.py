"""Sphinx configuration for the proxcore documentation.

Build it with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``pip install -e ".[docs]"`` first). The tutorials in ``tutorials/`` become the
gallery; they run in their fast mode so the whole build takes well under a minute.
"""

import os
import pathlib
import sys
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # proxcore itself, when it is not installed
sys.path.insert(0, str(ROOT / "docs" / "sphinxext"))

# The gallery runs every tutorial in its small version; figures they save land
# here and are picked up by the scraper below.
os.environ["PROXCORE_TUTORIAL_FAST"] = "1"
TUTORIAL_OUT = ROOT / "docs" / "_build" / "tutorial_figures"
TUTORIAL_OUT.mkdir(parents=True, exist_ok=True)
os.environ["PROXCORE_TUTORIAL_OUT"] = str(TUTORIAL_OUT)
os.environ.setdefault("MPLBACKEND", "Agg")

import proxcore  # noqa: E402
from proxcore_gallery import SavedFigures  # noqa: E402

project = "proxcore"
author = "the proxcore developers"
copyright = "2026, the proxcore developers"
release = proxcore.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "proxcore_registry",  # docs/sphinxext: the page of registered names
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_tutorials/*.ipynb",
                    "auto_tutorials/*.py", "auto_tutorials/*.zip", "**.codeobj.json"]

# -- MyST: the Markdown guides ------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False  # members are listed by the autosummary templates
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- intersphinx ----------------------------------------------------------------
# Off by default so the build needs no network; PROXCORE_DOCS_INTERSPHINX=1 turns it on.
intersphinx_mapping = {}
if os.environ.get("PROXCORE_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "networkx": ("https://networkx.org/documentation/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
    }


# -- sphinx-gallery -------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "tutorials"),
    "gallery_dirs": "auto_tutorials",
    # every tutorial is a plot_*.py script that saves a figure; all of them run (seconds each in fast mode)
    "filename_pattern": r"/plot_",
    "image_scrapers": (SavedFigures(),),  # the figures the tutorials save, once each
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 1,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}

warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

# -- HTML -----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"proxcore {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"getting_started": [], "mathematics": [], "performance": []}
html_static_path = []
