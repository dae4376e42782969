"""The plugin registry: entry points, the essential plugin, and every failure mode of issue 4.

Each test builds its own manager (``make_manager()``), or swaps the default
one with ``pc.plugins.use``; nothing here changes the registry other tests see.
The example third-party package ``tests/plugins/proxcore_example`` is built
and installed by pip, once per session, into a directory of its own
(``example_site``); a test that uses it puts that directory on ``sys.path``
for its own duration only (``example``).
"""

import contextlib
import doctest
import importlib
import importlib.metadata
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tomllib

import numpy as np
import pytest

import proxcore as pc
import proxcore_operators
import proxcore_regularizers
from proxcore.engines import ENGINES
from proxcore.plugins import PluginConflictError, PluginError, ProxcorePluginWarning

from .plugins import fakes

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = pathlib.Path(__file__).parent / "plugins" / "proxcore_example"
DESIGN_PURSUITS = ["ista", "fista", "ml-ista", "ml-fista", "primal-dual", "layered-thresholding",
                   "layered-bp", "thresholding", "omp", "iht"]
CORE_REGULARIZERS = {"zero": pc.Zero, "l1": pc.L1, "l0": pc.L0, "l0-ball": pc.L0Ball, "l0inf": pc.L0Inf,
                     "analysis-l1": pc.AnalysisL1}
CORE_OPERATORS = {"matrix": pc.Matrix, "identity": pc.Identity}


@pytest.fixture
def manager():
    """A fresh manager with the essential plugin only."""
    return pc.plugins.make_manager().load(autoload=False)


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("PROXCORE_DISABLE_PLUGIN_AUTOLOAD", "PROXCORE_DISABLE_PLUGINS", "PROXCORE_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _bdist_wheel_without_isolation():
    """Whether this environment's setuptools can build a wheel without pip's isolated build environment.

    setuptools' ``bdist_wheel`` is built in from 70.1; before that it comes from the ``wheel`` package. A
    fresh Python 3.11 venv has setuptools 65.5 and no ``wheel``.
    """
    if importlib.util.find_spec("setuptools") is None:
        return False
    if importlib.util.find_spec("wheel") is not None:
        return True
    version = tuple(int(p) for p in importlib.metadata.version("setuptools").split(".")[:2] if p.isdigit())
    return version >= (70, 1)


@pytest.fixture(scope="session")
def example_site(tmp_path_factory):
    """tests/plugins/proxcore_example, built from its pyproject.toml and installed by pip into a directory.

    ``pip install --no-deps --no-build-isolation --target SITE`` when the environment's setuptools can
    build wheels by itself; otherwise (setuptools without ``bdist_wheel``, as in a fresh venv) pip builds it
    in an isolated environment with the ``setuptools>=68`` the example declares, from the configured index.
    The sources are copied first: pip builds in the source tree (``build/``, ``*.egg-info``).
    """
    root = tmp_path_factory.mktemp("proxcore_example")
    src, site = root / "src", root / "site"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-input",
            "--disable-pip-version-check", "--target", str(site)]
    attempts = ([["--no-build-isolation"]] if _bdist_wheel_without_isolation() else []) + [[]]
    errors = []
    for extra in attempts:
        run = subprocess.run(base + extra + [str(src)], capture_output=True, text=True, timeout=600)
        if run.returncode == 0:
            break
        shutil.rmtree(site, ignore_errors=True)
        errors.append(f"{' '.join(extra) or 'isolated build'}: {run.stderr[-2000:]}")
    else:
        pytest.fail("pip could not install tests/plugins/proxcore_example:\n" + "\n".join(errors))
    return site


@contextlib.contextmanager
def on_path(site):
    """``site`` on ``sys.path`` (hence on importlib.metadata's search path) inside the block only.

    Afterwards the path is restored and the example's modules are dropped from ``sys.modules``, so no
    later test sees the package or its entry point.
    """
    saved = list(sys.path)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield site
    finally:
        sys.path[:] = saved
        for name in [m for m in sys.modules if m == "proxcore_example" or m.startswith("proxcore_example.")]:
            del sys.modules[name]
        importlib.invalidate_caches()


@pytest.fixture
def example(example_site):
    """The pip-installed example package, importable and visible as an entry point for one test."""
    with on_path(example_site):
        yield example_site


def example_env(site):
    """The environment of a subprocess that sees the installed example (and autoloads plugins)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    env.pop("PROXCORE_DISABLE_PLUGIN_AUTOLOAD", None)
    return env


# ------------------------------------------------------------------ discovery
def test_builtins_are_entry_points_of_proxcore():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="proxcore")}
    assert {"dictionaries", "pursuits", "regularizers", "operators"} <= set(eps)
    for name, module in (("dictionaries", "proxcore_dictionaries"), ("pursuits", "proxcore_pursuits"),
                         ("regularizers", "proxcore_regularizers"), ("operators", "proxcore_operators")):
        assert eps[name].value == module
        assert eps[name].dist.metadata["Name"] == "proxcore"


def test_every_package_in_plugins_is_declared_as_an_entry_point():
    packages = {p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file()}
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["proxcore"]
    assert packages == set(declared.values())
    installed = {ep.value for ep in importlib.metadata.entry_points(group="proxcore")
                 if ep.dist.metadata["Name"] == "proxcore"}
    assert installed == packages  # the editable install is up to date with pyproject.toml


def test_only_the_core_engines_are_essential(manager):
    # issue 4: "Only the core engines may be registered directly"
    assert manager.names() == {"dictionaries": [], "operators": [], "regularizers": [],
                               "pursuits": sorted(ENGINES)}
    assert {e.plugin for e in manager.entries()} == {"essential"}


def test_core_regularizers_and_operators_arrive_through_their_entry_points(clean_env):
    m = pc.plugins.make_manager().load()
    for name, cls in CORE_REGULARIZERS.items():
        entry = m.entry("regularizers", name)
        assert entry.factory is cls
        assert (entry.plugin, entry.distribution, entry.version) == ("regularizers", "proxcore", pc.__version__)
    for name, cls in CORE_OPERATORS.items():
        entry = m.entry("operators", name)
        assert entry.factory is cls and entry.plugin == "operators"
    stripes = m.regularizer("l0inf", s=1, filter_shape=2)  # stripes of 3 positions, circular
    assert stripes.value(np.array([1.0, 0, 0, 0, 1.0, 0, 0, 0])) == 0.0
    assert stripes.value(np.array([1.0, 0, 0, 0, 0, 0, 0, 1.0])) == np.inf  # positions 7 and 0 share a stripe
    assert isinstance(m.operator("matrix", array=np.eye(2)), pc.Matrix)


def test_autoload_registers_builtins_with_their_distribution(clean_env):
    m = pc.plugins.make_manager().load()
    assert set(DESIGN_PURSUITS) <= set(m.names("pursuits"))
    assert {"matrix", "identity", "gaussian", "dct"} <= set(m.names("dictionaries"))
    omp = m.entry("pursuits", "omp")
    assert (omp.plugin, omp.distribution, omp.version) == ("pursuits", "proxcore", pc.__version__)
    assert m.entry("pursuits", "fista").plugin == "essential"  # the core engines: the essential plugin


def test_default_registry_is_the_autoloaded_one():
    assert set(DESIGN_PURSUITS) <= set(pc.plugins.names("pursuits"))
    assert pc.dictionary("dct", n=4).in_shape == (4,)


def test_autoload_switch(clean_env):
    clean_env.setenv("PROXCORE_DISABLE_PLUGIN_AUTOLOAD", "1")
    m = pc.plugins.make_manager().load()
    assert "omp" not in m.names("pursuits") and m.names("dictionaries") == []
    assert m.names("regularizers") == [] and m.names("operators") == []
    assert "fista" in m.names("pursuits")  # the essential plugin always loads
    # a test that disables autoloading and needs the built-in names registers the plugin modules itself
    m.register(proxcore_regularizers, name="regularizers")
    m.register(proxcore_operators, name="operators")
    assert m.names("regularizers") == sorted(CORE_REGULARIZERS) and m.names("operators") == sorted(CORE_OPERATORS)


def test_block_by_name_but_not_the_essential_plugin(clean_env):
    clean_env.setenv("PROXCORE_DISABLE_PLUGINS", "pursuits, essential")
    m = pc.plugins.make_manager().load()
    assert "omp" not in m.names("pursuits") and "fista" in m.names("pursuits")
    assert "dct" in m.names("dictionaries")
    status = {r.name: r.status for r in m.report()}
    assert status["pursuits"] == "blocked" and status["essential"] == "loaded"


def test_block_the_builtin_regularizers(clean_env):
    clean_env.setenv("PROXCORE_DISABLE_PLUGINS", "regularizers")
    m = pc.plugins.make_manager().load()
    assert m.names("regularizers") == [] and "matrix" in m.names("operators")
    with pytest.raises(pc.InvalidParameterError, match="Unknown regularizer 'l1'"):
        m.regularizer("l1", lam=0.1)
    assert pc.L1(0.1).lam == 0.1  # the classes stay usable; only their names are gone


def test_import_is_light():
    code = ("import sys, proxcore; print('numba' in sys.modules, 'sklearn' in sys.modules, "
            "'proxcore_pursuits' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
    # loading the registry imports the built-in plugins but compiles nothing: numba waits for the first solve
    code = "import sys, proxcore as pc; pc.plugins.names(); print('proxcore_pursuits' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


@pytest.mark.parametrize("first", ["proxcore_pursuits", "proxcore_regularizers", "proxcore_example"])
def test_plugin_imported_before_proxcore_still_registers(first, example_site):
    # importing a plugin package first must not catch it half-initialised when the registry loads
    code = f"import {first}, proxcore as pc; print('omp' in pc.plugins.names('pursuits'), " \
           "'example-zero' in pc.plugins.names('pursuits'), 'l1' in pc.plugins.names('regularizers'))"
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                         env=example_env(example_site))
    assert out.stdout.split() == ["True", "True", "True"], out.stderr


def test_the_example_is_really_installed_by_pip_and_does_not_leak(example_site):
    info = example_site / "proxcore_example-0.1.0.dist-info"
    assert (info / "INSTALLER").read_text().strip() == "pip" and (info / "RECORD").is_file()
    assert "example = proxcore_example" in (info / "entry_points.txt").read_text()
    assert (example_site / "proxcore_example" / "__init__.py").is_file()
    assert not (EXAMPLE / "build").exists() and not list(EXAMPLE.glob("*.egg-info"))  # the tree stays clean
    with on_path(example_site):
        import proxcore_example

        assert pathlib.Path(proxcore_example.__file__).is_relative_to(example_site)
        dist = importlib.metadata.distribution("proxcore-example")
        assert dist.version == "0.1.0" and any(ep.name == "example" for ep in dist.entry_points)
    assert "proxcore_example" not in sys.modules
    assert str(example_site) not in sys.path
    assert "example" not in {ep.name for ep in importlib.metadata.entry_points(group="proxcore")}


# ------------------------------------------------------------------ run time register / lookup
def test_register_and_lookup_each_kind(manager):
    # autoload is off in this manager: the built-in regularizers and operators are registered explicitly
    manager.register(proxcore_regularizers, name="regularizers")
    manager.register(proxcore_operators, name="operators")
    assert manager.register(fakes.Good(), name="good") == "good"
    D = manager.dictionary("ones", n=4, m=2)
    assert isinstance(D, pc.LinearOperator) and D.out_shape == (4,)
    assert manager.pursuit("echo")("p", a=1) == ("echo", "p", {"a": 1})
    assert manager.regularizer("l1", lam=0.5).lam == 0.5
    assert isinstance(manager.operator("identity", shape=3), pc.Identity)


def test_solve_is_exactly_pursuit(manager):
    manager.register(fakes.Good(), name="good")
    with pc.plugins.use(manager):
        assert pc.solve("problem", method="echo", tol=1e-3) == ("echo", "problem", {"tol": 1e-3})
        assert pc.pursuit("echo") is manager.pursuit("echo")
    assert "echo" not in pc.plugins.names("pursuits")  # the default registry is back


def test_builtin_pursuits_solve_equals_pursuit():
    D = pc.dictionary("dct", n=8, m=16)
    y = np.random.default_rng(0).standard_normal((8, 3))
    for method, reg in (("omp", pc.L0Ball(2)), ("iht", pc.L0Ball(2)), ("thresholding", pc.L1(0.1))):
        problem = pc.chain(y, [(D, reg)])
        np.testing.assert_array_equal(pc.solve(problem, method=method).x, pc.pursuit(method)(problem).x)


def test_duplicate_name_names_both_plugins_and_registry_stays_usable(manager):
    manager.register(fakes.Good(), name="alpha")
    before = manager.names()
    with pytest.raises(PluginConflictError) as err:
        manager.register(fakes.ClaimsOnes(), name="beta")
    message = str(err.value)
    assert "'ones'" in message and "'alpha'" in message and "'beta'" in message
    assert manager.names() == before  # all or nothing: 'twos' was not registered either
    assert not manager.pm.has_plugin("beta")
    manager.unregister("alpha")
    manager.register(fakes.ClaimsOnes(), name="beta")  # usable: the name is free again
    assert manager.entry("dictionaries", "ones").plugin == "beta"


def test_duplicate_plugin_name_refused(manager):
    manager.register(fakes.Good(), name="same")
    with pytest.raises(PluginConflictError, match="'same'"):
        manager.register(fakes.ClaimsDct(), name="same")


def test_third_party_cannot_shadow_a_builtin(clean_env, tmp_path):
    fakes.make_distribution(tmp_path, "shadow-plug", "2.1", {"shadow": "shadow_plug_mod"}, {
        "shadow_plug_mod": """
            import proxcore as pc

            @pc.hookimpl
            def proxcore_dictionaries():
                return {"dct": lambda **params: pc.Identity(2)}
        """})
    clean_env.syspath_prepend(str(tmp_path))
    with pytest.warns(ProxcorePluginWarning) as record:
        m = pc.plugins.make_manager().load()
    message = str(record[0].message)
    assert "'dct'" in message and "shadow-plug 2.1" in message and "'dictionaries' (proxcore" in message
    assert isinstance(m.dictionary("dct", n=4), pc.Matrix)  # the built-in, not the shadow
    assert {r.name: r.status for r in m.report()}["shadow"] == "failed"
    with pytest.raises(PluginConflictError, match="shadow"):
        pc.plugins.make_manager().load(strict=True)


def test_unknown_name_suggests_close_matches(manager):
    with pytest.raises(pc.InvalidParameterError, match=r"Unknown pursuit 'fsta'\. Did you mean 'fista'"):
        manager.pursuit("fsta")
    with pytest.raises(ValueError, match="Unknown dictionary 'dtc'.*Available dictionaries"):
        manager.dictionary("dtc")
    with pytest.raises(pc.InvalidParameterError, match="Unknown pursuit 'omq'.*'omp'"):
        pc.solve(pc.chain(np.ones(2), [(np.eye(2), pc.L0Ball(1))]), method="omq")
    with pytest.raises(pc.InvalidParameterError, match="must be a str"):
        manager.pursuit(3)
    with pytest.raises(pc.InvalidParameterError, match="Unknown kind"):
        manager.names("solvers")


def test_hook_that_raises_is_attributed(manager):
    before = manager.names()
    with pytest.raises(PluginError, match="plugin 'buggy'.*proxcore_pursuits.*RuntimeError: plugin bug") as err:
        manager.register(fakes.Raising(), name="buggy")
    assert isinstance(err.value.__cause__, RuntimeError)
    assert manager.names() == before and not manager.pm.has_plugin("buggy")


def test_broken_plugins_are_isolated_at_autoload(clean_env, tmp_path):
    fakes.make_distribution(tmp_path, "broken-plug", "1.0", {"broken": "broken_plug_mod", "fine": "fine_plug_mod",
                                                             "raiser": "raiser_plug_mod"}, {
        "broken_plug_mod": "raise ImportError('missing dependency foo')\n",
        "raiser_plug_mod": """
            import proxcore as pc

            @pc.hookimpl
            def proxcore_pursuits():
                raise RuntimeError("plugin bug")
        """,
        "fine_plug_mod": """
            import proxcore as pc

            @pc.hookimpl
            def proxcore_dictionaries():
                return {"fine-eye": lambda n=2: pc.Identity(n)}
        """})
    clean_env.syspath_prepend(str(tmp_path))
    with pytest.warns(ProxcorePluginWarning) as record:
        m = pc.plugins.make_manager().load()
    messages = " | ".join(str(w.message) for w in record)
    assert "plugin 'broken' (broken-plug 1.0) failed to import" in messages and "missing dependency foo" in messages
    assert "plugin 'raiser' (broken-plug 1.0) failed in hook proxcore_pursuits" in messages
    assert "fine-eye" in m.names("dictionaries") and "omp" in m.names("pursuits")  # the others loaded
    status = {r.name: r.status for r in m.report()}
    assert status["broken"] == status["raiser"] == "failed" and status["fine"] == "loaded"


def test_misspelled_hook_is_caught(manager):
    with pytest.raises(PluginError, match="unknown hook 'proxcore_dictionary'.*Did you mean 'proxcore_dictionaries'"):
        manager.register(fakes.Misspelled(), name="typo")
    assert not manager.pm.has_plugin("typo")
    manager.check_pending()  # nothing pending is left behind


def test_misspelled_hook_is_caught_at_autoload(clean_env, tmp_path):
    fakes.make_distribution(tmp_path, "typo-plug", "0.3", {"typo": "typo_plug_mod", "typo-bare": "typo_bare_mod",
                                                          "typo-fine": "typo_fine_mod"}, {
        "typo_plug_mod": """
            import proxcore as pc

            @pc.hookimpl
            def proxcore_pursuit():          # should be proxcore_pursuits
                return {"typo-zero": lambda problem, **options: None}

            @pc.hookimpl
            def proxcore_dictionaries():     # right, but the plugin is refused as a whole
                return {"typo-eye": lambda n=2: pc.Identity(n)}
        """,
        "typo_bare_mod": """
            import proxcore as pc

            def proxcore_regularizer():      # misspelt and unmarked: pluggy alone would ignore it
                return {"typo-l1": pc.L1}
        """,
        "typo_fine_mod": """
            import proxcore as pc

            @pc.hookimpl
            def proxcore_dictionaries():
                return {"typo-fine-eye": lambda n=2: pc.Identity(n)}
        """})
    clean_env.syspath_prepend(str(tmp_path))
    with pytest.warns(ProxcorePluginWarning) as record:
        m = pc.plugins.make_manager().load()
    messages = [str(w.message) for w in record]
    typo = [msg for msg in messages if "plugin 'typo' (typo-plug 0.3)" in msg]
    assert len(typo) == 1 and "unknown hook 'proxcore_pursuit'" in typo[0]
    assert "Did you mean 'proxcore_pursuits'" in typo[0]
    bare = [msg for msg in messages if "plugin 'typo-bare' (typo-plug 0.3)" in msg]
    assert len(bare) == 1 and "proxcore_regularizer(), which is not a proxcore hook" in bare[0]
    assert "'proxcore_regularizers'" in bare[0]
    names = m.names()
    assert "typo-zero" not in names["pursuits"] and "typo-eye" not in names["dictionaries"]
    assert "typo-l1" not in names["regularizers"]
    # the others still load: the built-ins and the correct plugin of the same distribution
    assert "typo-fine-eye" in names["dictionaries"] and "omp" in names["pursuits"] and "l1" in names["regularizers"]
    status = {r.name: r.status for r in m.report()}
    assert status["typo"] == status["typo-bare"] == "failed" and status["typo-fine"] == "loaded"
    m.check_pending()  # nothing of the refused plugins is left behind
    with pytest.raises(PluginError, match="plugin 'typo' .*unknown hook 'proxcore_pursuit'"):
        pc.plugins.make_manager().load(strict=True)


def test_hook_without_marker_is_caught(manager):
    with pytest.raises(PluginError, match="without the @pc.hookimpl marker"):
        manager.register(fakes.Unmarked(), name="unmarked")


def test_bad_hook_results(manager):
    with pytest.raises(PluginError, match="must return a mapping"):
        manager.register(fakes.ReturnsList(), name="listy")
    manager.register(fakes.NotAnOperator(), name="arrays")
    with pytest.raises(PluginError, match="dictionary 'array' from plugin 'arrays' returned ndarray"):
        manager.dictionary("array")


def test_api_version_gate(manager):
    with pytest.raises(PluginError, match=r"requires the proxcore plugin API \(1, 99\).*provides \(1, 0\)"):
        manager.register(fakes.FutureApi(), name="future")


def test_essential_plugin_cannot_be_unregistered(manager):
    with pytest.raises(pc.InvalidParameterError, match="cannot be unregistered"):
        manager.unregister("essential")
    with pytest.raises(pc.InvalidParameterError, match="Unknown plugin 'esential'"):
        manager.unregister("esential")


def test_hooks_are_called_per_plugin_not_lifo(manager):
    # pluggy runs hookimpls LIFO and stops at the first exception; proxcore calls each plugin's own
    manager.register(fakes.Good(), name="good")
    with pytest.raises(PluginError):
        manager.register(fakes.Raising(), name="buggy")
    assert manager.pursuit("echo") is not None


# ------------------------------------------------------------------ the example package
def test_example_package_through_entry_points(clean_env, example):
    m = pc.plugins.make_manager().load()
    entry = m.entry("dictionaries", "example-haar")
    assert (entry.plugin, entry.distribution, entry.version) == ("example", "proxcore-example", "0.1.0")
    H = m.dictionary("example-haar", n=8)
    np.testing.assert_allclose(H.array.T @ H.array, np.eye(8), atol=1e-12)
    Diff = m.operator("example-diff", n=5)
    x, y = np.arange(5.0), np.arange(4.0) ** 2
    assert np.isclose(np.vdot(Diff @ x, y), np.vdot(x, Diff.T @ y))
    problem = pc.chain(np.array([3.0, -0.2, 0.5]), [(np.eye(3), m.regularizer("example-box", bound=1.0))])
    with pc.plugins.use(m):
        np.testing.assert_allclose(pc.solve(problem, method="fista", tol=1e-12).x, [1.0, -0.2, 0.5])
        assert pc.solve(problem, method="example-zero").objective == problem.objective(np.zeros(3))


def test_example_package_through_spec_loader(clean_env, example, tmp_path):
    spec = tmp_path / "model.toml"
    spec.write_text('[[layer]]\ndictionary = { name = "example-haar", n = 4 }\nregularizer = { name = "l1", lam = 0.1 }\n')
    with pc.plugins.use(pc.plugins.make_manager().load()):
        problem = pc.load_problem(spec, y=np.ones(4))
        res = pc.solve(problem, method="fista", tol=1e-12)
    H = np.asarray(problem.layers[0].operator.array)
    coef = H.T @ np.ones(4)
    np.testing.assert_allclose(res.x, np.sign(coef) * np.maximum(np.abs(coef) - 0.1, 0), atol=1e-9)
    spec.write_text('[[layer]]\ndictionary = { name = "example-haar", n = 4 }\n'
                    'regularizer = { name = "example-box", bound = 0.5 }\n')
    with pc.plugins.use(pc.plugins.make_manager().load()):
        boxed = pc.solve(pc.load_problem(spec, y=np.ones(4)), method="fista", tol=1e-12)
    np.testing.assert_allclose(boxed.x, np.clip(coef, -0.5, 0.5), atol=1e-9)  # orthonormal H: clip Hᵀy


def test_cli_lists_every_name_with_distribution(example_site):
    out = subprocess.run([sys.executable, "-m", "proxcore.cli", "plugins"], capture_output=True, text=True,
                         env=example_env(example_site), check=True).stdout
    sections, kind = {}, None
    for line in out.splitlines():
        if not line.startswith(" "):
            kind = line.split()[0]
            continue
        name, *rest = line.split()
        sections.setdefault(kind, {})[name] = " ".join(rest)
    proxcore = f"proxcore {pc.__version__}"
    for kind, name, dist, plugin in (("dictionaries", "example-haar", "proxcore-example 0.1.0", "example"),
                                     ("operators", "example-diff", "proxcore-example 0.1.0", "example"),
                                     ("regularizers", "example-box", "proxcore-example 0.1.0", "example"),
                                     ("pursuits", "example-zero", "proxcore-example 0.1.0", "example"),
                                     ("pursuits", "omp", proxcore, "pursuits"),
                                     ("pursuits", "fista", proxcore, "essential"),
                                     ("regularizers", "l1", proxcore, "regularizers"),
                                     ("regularizers", "l0inf", proxcore, "regularizers"),
                                     ("operators", "matrix", proxcore, "operators"),
                                     ("dictionaries", "matrix", proxcore, "dictionaries")):
        row = sections.get(kind, {}).get(name)
        assert row is not None and row.startswith(dist) and row.endswith(f"plugin {plugin}"), (kind, name, out)


def test_cli_plugins_in_process(capsys):
    from proxcore import cli

    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in DESIGN_PURSUITS + ["dct", "gaussian"] + sorted(CORE_REGULARIZERS):
        assert name in out


# ------------------------------------------------------------------ documentation
def test_every_hook_and_name_is_documented(clean_env):
    doc = (ROOT / "docs" / "plugins.md").read_text()
    m = pc.plugins.make_manager().load()
    hooks = [h for h in dir(m.pm.hook) if h.startswith("proxcore_")]
    assert len(hooks) == 4
    for hook in hooks:
        assert f"`{hook}`" in doc, hook
    for kind, names in m.names().items():
        for name in names:
            assert f"`{name}`" in doc, (kind, name)
    for var in ("PROXCORE_DISABLE_PLUGIN_AUTOLOAD", "PROXCORE_DISABLE_PLUGINS", "PROXCORE_STRICT_PLUGINS",
                "PROXCORE_PLUGIN_API"):
        assert var in doc


def test_the_plugin_tutorial_runs(tmp_path):
    script = ROOT / "tutorials" / "plot_write_your_own_plugin.py"
    env = {k: v for k, v in os.environ.items() if k != "PROXCORE_DISABLE_PLUGIN_AUTOLOAD"}
    env.update(PROXCORE_TUTORIAL_OUT=str(tmp_path), MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "found through the entry points: dictionary 'haar' from plugin 'haar' (haar-plugin 1.0)" in out.stdout
    assert "haar-plugin 1.0" in out.stdout.split("5.")[1] and "6. model.toml" in out.stdout
    # the figure: the plugin's atoms by name, and OMP with them denoises the signals
    assert (tmp_path / "write_your_own_plugin.png").is_file()
    line = next(line for line in out.stdout.splitlines() if line.startswith("7. relative error"))
    noisy, omp = float(line.split("noisy ")[1].split(",")[0]), float(line.rsplit(" ", 1)[1])
    assert omp < 0.5 * noisy


def test_two_distributions_with_one_entry_point_name(clean_env, tmp_path):
    # pluggy would silently skip the second; proxcore warns naming both distributions
    for dist, module in (("first-plug", "first_plug_mod"), ("second-plug", "second_plug_mod")):
        fakes.make_distribution(tmp_path / dist, dist, "1.0", {"same": module}, {module: f"""
            import proxcore as pc

            @pc.hookimpl
            def proxcore_dictionaries():
                return {{"{dist}-eye": lambda n=2: pc.Identity(n)}}
        """})
        clean_env.syspath_prepend(str(tmp_path / dist))
    with pytest.warns(ProxcorePluginWarning, match="'same' is claimed by two entry points.*first-plug 1.0.*second-plug 1.0"):
        m = pc.plugins.make_manager().load()
    assert "first-plug-eye" in m.names("dictionaries") and "second-plug-eye" not in m.names("dictionaries")


def test_cli_reports_plugins_that_did_not_load(clean_env, tmp_path, capsys):
    fakes.make_distribution(tmp_path, "broken-cli", "3.0", {"broken-cli": "broken_cli_mod"},
                            {"broken_cli_mod": "raise ImportError('no such thing')\n"})
    clean_env.syspath_prepend(str(tmp_path))
    clean_env.setenv("PROXCORE_DISABLE_PLUGINS", "convolution")
    with pytest.warns(ProxcorePluginWarning):
        m = pc.plugins.make_manager().load()
    from proxcore import cli

    with pc.plugins.use(m):
        assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out.split("not loaded")[1]
    assert "broken-cli (broken-cli 3.0): failed" in out and "no such thing" in out
    assert "convolution (proxcore" in out and "blocked" in out


def test_strict_environment_variable(clean_env, tmp_path):
    fakes.make_distribution(tmp_path, "broken-strict", "1.0", {"broken-strict": "broken_strict_mod"},
                            {"broken_strict_mod": "raise ImportError('strictly broken')\n"})
    clean_env.syspath_prepend(str(tmp_path))
    clean_env.setenv("PROXCORE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="plugin 'broken-strict' \\(broken-strict 1.0\\) failed to import.*strictly"):
        pc.plugins.make_manager().load()


def test_runtime_register_on_the_default_registry_loads_it_first():
    fresh = pc.plugins.PluginManager()  # not loaded: register must load the essentials and entry points first
    with pc.plugins.use(fresh):
        pc.plugins.register(fakes.Good(), name="good")
        assert "omp" in pc.plugins.names("pursuits") or os.environ.get("PROXCORE_DISABLE_PLUGIN_AUTOLOAD")
        assert "fista" in pc.plugins.names("pursuits") and "ones" in pc.plugins.names("dictionaries")
        pc.plugins.unregister("good")
        assert "ones" not in pc.plugins.names("dictionaries")


def test_factory_errors_keep_their_type_and_name_the_plugin(manager):
    manager.register(fakes.Good(), name="good")
    with pytest.raises(TypeError) as err:
        manager.dictionary("ones", frequency=3)
    assert "raised by dictionary 'ones' from plugin 'good'" in "".join(getattr(err.value, "__notes__", []))


def test_example_package_through_the_solve_command(example, tmp_path):
    env = example_env(example)
    codes = np.zeros((8, 3))
    codes[[1, 6], 0], codes[3, 1], codes[[0, 2], 2] = [1.0, -2.0], 0.5, [3.0, 1.0]
    import proxcore_example  # the installed copy; dropped from sys.modules after the test

    np.save(tmp_path / "Y.npy", proxcore_example.haar(8).array @ codes)
    spec = tmp_path / "model.toml"
    spec.write_text('[[layer]]\ndictionary = { name = "example-haar", n = 8 }\n'
                    'regularizer = { name = "l0-ball", s = 2 }\n\n[solver]\nmethod = "omp"\n')
    for method, expected in ((None, codes), ("example-zero", np.zeros_like(codes))):
        out = tmp_path / f"result-{method}.npz"
        argv = ["solve", str(spec), "--data", str(tmp_path / "Y.npy"), "--out", str(out)]
        argv += ["--method", method] if method else []
        run = subprocess.run([sys.executable, "-m", "proxcore.cli", *argv], capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr
        np.testing.assert_allclose(np.load(out)["x"], expected, atol=1e-12)


# ------------------------------------------------------------------ the built-in plugin packages, documented
@pytest.mark.parametrize("module", [proxcore_regularizers, proxcore_operators])
def test_builtin_plugin_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("name", ["operator", "regularizer", "names", "unregister", "report"])
def test_module_level_functions_have_numpydoc_and_a_running_example(name):
    function = getattr(pc.plugins, name)
    doc = function.__doc__ or ""
    for section in ("Returns", "Examples"):
        assert f"\n    {section}\n    {'-' * len(section)}\n" in doc, (name, section)
    if name != "report":
        assert "\n    Parameters\n    ----------\n" in doc, name
    (test,) = doctest.DocTestFinder().find(function, name, globs={})
    assert len(test.examples) >= 2, name
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0, name


def test_the_registry_page_names_the_plugin_of_each_builtin(clean_env):
    spec = importlib.util.spec_from_file_location("_registry_ext", ROOT / "docs" / "sphinxext" / "proxcore_registry.py")
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    with pc.plugins.use(pc.plugins.make_manager().load()):
        fragments = extension.fragments()
    for kind, plugin, classes in (("regularizers", "regularizers", CORE_REGULARIZERS),
                                  ("operators", "operators", CORE_OPERATORS)):
        text = fragments[kind]
        for name, cls in classes.items():
            title = f"``{name}``"
            block = text.split(f"{title}\n{'~' * len(title)}\n", 1)[1].split("~~~", 1)[0]
            assert f"Plugin ``{plugin}``." in block and f":class:`proxcore.{cls.__name__}`" in block, (kind, name)
    assert "Plugin ``essential``." in fragments["pursuits"] and "essential" not in fragments["regularizers"]
