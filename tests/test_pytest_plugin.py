"""proxcore's pytest plugin: light to load, useful fixtures, the conformance suite for plugin authors."""

import importlib.metadata
import subprocess
import sys
import textwrap

import pytest

import proxcore as pc

needs_registry = pytest.mark.skipif(not hasattr(pc, "plugins"), reason="needs the plugin registry")


def run_pytest(tmp_path, source, *args):
    (tmp_path / "test_user.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )


def test_the_plugin_is_registered_under_pytest11():
    eps = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "proxcore"]
    assert [ep.value for ep in eps] == ["_proxcore_pytestplugin"]


def test_loading_the_plugin_imports_neither_proxcore_nor_numba_nor_numpy():
    # STYLE lesson 13: pytest imports pytest11 modules before coverage starts, in every project
    code = (
        "import sys, _proxcore_pytestplugin\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'proxcore', 'numba', 'numpy', 'scipy'})\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@needs_registry
def test_fixtures_in_a_users_suite(tmp_path):
    result = run_pytest(tmp_path, """
        import numpy as np
        import proxcore as pc

        def test_fresh_registry(proxcore_registry):
            class Plugin:
                @pc.hookimpl
                def proxcore_regularizers(self):
                    return {"my-l1": pc.L1}
            pc.plugins.register(Plugin(), name="mine")
            assert "my-l1" in proxcore_registry.names("regularizers")

        def test_the_global_registry_is_untouched():
            assert "my-l1" not in pc.plugins.names("regularizers")

        def test_readonly(proxcore_readonly):
            a, b = proxcore_readonly(np.ones(3), np.zeros(2))
            assert not a.flags.writeable and not b.flags.writeable
    """)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


@needs_registry
def test_a_plugin_author_runs_the_conformance_suite_in_one_line(tmp_path):
    result = run_pytest(tmp_path, """
        import numpy as np
        import proxcore as pc
        from proxcore.testing import conformance_test


        class ShiftedL1(pc.L1):
            \"\"\"A plugin regularizer whose prox forgets the step: wrong for step != 1.\"\"\"
            def prox(self, v, step):
                return super().prox(v, 1.0)


        class Diff(pc.LinearOperator):
            in_shape, out_shape = (5,), (4,)
            def apply(self, x):
                return x[1:] - x[:-1]
            def adjoint(self, y):
                z = np.pad(y, [(1, 1)] + [(0, 0)] * (y.ndim - 1))
                return z[:-1] - z[1:]


        def good_l1(lam=0.5):
            return pc.L1(lam)
        good_l1.proxcore_examples = [{"lam": 0.5}]


        class MyPlugin:
            @pc.hookimpl
            def proxcore_regularizers(self):
                return {"shifted-l1": ShiftedL1, "good-l1": good_l1}

            @pc.hookimpl
            def proxcore_operators(self):
                return {"diff": Diff}


        test_conformance = conformance_test(MyPlugin())
        test_known_bugs = conformance_test(MyPlugin(), expected_failures={"regularizers:shifted-l1": "step ignored"})
    """, "-rA")
    out = result.stdout
    assert "PASSED" in out and "good-l1" in out and "operators:diff" in out
    assert "FAILED test_user.py::test_conformance[regularizers:shifted-l1" in out
    assert "XFAIL test_user.py::test_known_bugs[regularizers:shifted-l1" in out
    assert "not the minimizer" in out or "not a subgradient" in out
    assert result.returncode == 1


@needs_registry
def test_the_command_line_option_runs_the_suite_over_everything_installed(tmp_path):
    import re

    from proxcore.testing import conformance_cases

    result = run_pytest(tmp_path, "def test_nothing():\n    pass\n", "--proxcore-conformance", "-rA",
                        "-k", "l1 or fista or matrix")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # the cases -k selects, from this process's registry (pytest's -k: case-insensitive substrings)
    expected = {c.id for c in conformance_cases() if any(k in c.id.lower() for k in ("l1", "fista", "matrix"))}
    assert {"regularizers:l1(lam=0.3)", "regularizers:analysis-l1(omega=<float64 8x6>, lam=0.3)", "pursuits:fista",
            "pursuits:ml-fista", "dictionaries:matrix(array=<float64 6x10>)"} <= expected
    assert sum(c.startswith("operators:matrix(") for c in expected) == 3
    passed = set(re.findall(r"^PASSED \S*proxcore-conformance::(.+)$", out, flags=re.M))
    assert passed == expected, out
    summary = out.strip().splitlines()[-1]
    assert re.search(rf"\b{len(expected)} passed\b", summary) and "failed" not in summary, summary
