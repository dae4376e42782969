"""The pytest11 entry point of proxcore: the door to :mod:`proxcore.testing.pytest_plugin`.

This module is deliberately outside the ``proxcore`` package and imports
nothing but pytest at import time: pytest imports every installed ``pytest11``
plugin at start-up, before coverage measurement begins, in every project of
the environment. Importing proxcore (and with it NumPy, SciPy, networkx;
numba at first use) here would slow every pytest session and hide proxcore's
module-level lines from coverage. hypothesis's ``_hypothesis_pytestplugin``
follows the same rule. Every fixture body imports what it needs.
"""

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("proxcore")
    group.addoption(
        "--proxcore-conformance",
        action="store_true",
        default=False,
        help="run proxcore's conformance suite over every registered operator, dictionary, "
        "regularizer and pursuit (built-ins and installed plugins).",
    )


def pytest_report_header(config):
    try:
        from importlib.metadata import version

        return f"proxcore: {version('proxcore')}"
    except Exception:  # metadata unavailable: say nothing rather than fail the session
        return None


def pytest_collection_modifyitems(session, config, items):
    if not config.getoption("--proxcore-conformance", default=False):
        return
    module = _ConformanceModule.from_parent(session, name="proxcore-conformance", path=session.path)
    items.extend(module.collect_cases())


class _ConformanceModule(pytest.Collector):
    """A virtual collector holding one item per conformance case."""

    def collect(self):
        return self.collect_cases()

    def collect_cases(self):
        from proxcore.testing.pytest_plugin import conformance_items

        ids, cases = conformance_items()
        return [_ConformanceItem.from_parent(self, name=i, case=c) for i, c in zip(ids, cases)]


class _ConformanceItem(pytest.Item):
    def __init__(self, *, case, **kwargs):
        super().__init__(**kwargs)
        self.case = case

    def runtest(self):
        self.case()

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, AssertionError):
            return f"{self.name}\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"proxcore conformance: {self.name}"


@pytest.fixture
def proxcore_registry():
    """A fresh plugin registry (essential names only), active for the test."""
    from proxcore.testing.pytest_plugin import fresh_registry

    with fresh_registry() as registry:
        yield registry


@pytest.fixture
def proxcore_readonly():
    """``proxcore_readonly(a, ...)``: read-only copies, so writes into inputs raise."""
    from proxcore.testing.pytest_plugin import readonly

    return readonly
