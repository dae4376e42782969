"""Every example in a proxcore docstring runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import proxcore

MODULES = sorted(m.name for m in pkgutil.walk_packages(proxcore.__path__, "proxcore."))


@pytest.mark.parametrize("name", ["proxcore", *MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
