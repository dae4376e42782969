"""The conformance suite: every check over every registered operator, dictionary, regularizer and pursuit.

The suite reads the live plugin registry (``pc.plugins``), so a plugin that
registers a new name is checked without new test code, as scikit-learn's
``parametrize_with_checks`` and optax's ``contrib`` tests do. A registered
factory needs parameters to build an instance; the suite takes them from

1. the factory's attribute ``proxcore_examples``: a list of keyword
   dictionaries (``[{"lam": 0.3}, {"lam": 0.3, "nonneg": True}]``), or a
   callable returning such a list;
2. a table for proxcore's own names;
3. the factory's defaults (``factory()``), then ``factory(n=8, m=16)`` for
   dictionaries and operators.

A name for which none of these works fails with a message asking for
``proxcore_examples``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Case", "conformance_cases", "conformance_test"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One conformance check: ``run()`` raises AssertionError when the property fails."""

    id: str
    kind: str
    name: str
    run: object

    def __call__(self):
        self.run()

    def __repr__(self):
        return self.id


def _builtin_examples(kind, name):
    rng = np.random.default_rng(0)
    if (kind, name) == ("regularizers", "l1"):
        return [{"lam": 0.3}, {"lam": 0.5, "nonneg": True}, {"lam": np.array([0.0, 0.1, 0.3, 1.0, 2.0, 5.0])}]
    if (kind, name) == ("regularizers", "l0"):
        return [{"lam": 0.5}, {"lam": np.array([0.01, 0.1, 0.5, 1.0, 2.0, 5.0])}]
    if (kind, name) == ("regularizers", "l0-ball"):
        return [{"s": 2}, {"s": 3, "signal_shape": (2, 3)}]
    if (kind, name) == ("regularizers", "analysis-l1"):
        return [{"omega": rng.standard_normal((8, 6)), "lam": 0.3}]
    if (kind, name) == ("dictionaries", "matrix"):
        return [{"array": rng.standard_normal((6, 10))}]
    if (kind, name) == ("operators", "matrix"):
        import scipy.sparse as sp

        A = rng.standard_normal((7, 11))
        return [{"array": A}, {"array": A.astype(np.float32)}, {"array": sp.random(9, 5, density=0.4, random_state=1)}]
    if (kind, name) == ("operators", "identity"):
        return [{"shape": 5}, {"shape": (2, 3)}]
    return None


_SINGULAR = {"dictionaries": "dictionary", "operators": "operator", "regularizers": "regularizer",
             "pursuits": "pursuit"}

_GENERIC = {
    "dictionaries": [{}, {"n": 8, "m": 16}, {"n": 8}],
    "operators": [{}, {"n": 8, "m": 16}, {"shape": 6}],
    "regularizers": [{}, {"lam": 0.5}],
}


def _examples(entry):
    """``[(label, instance)]`` for a registered factory, or a string saying why there is none."""
    factory = entry.factory
    declared = getattr(factory, "proxcore_examples", None)
    if callable(declared):
        declared = declared()
    params = declared if declared is not None else _builtin_examples(entry.kind, entry.name)
    tried = []
    if params is None:
        out = []
        for p in _GENERIC.get(entry.kind, []):
            try:
                out.append((_label(p), factory(**p)))
                break
            except Exception as exc:  # the factory's signature is unknown: try the next guess
                tried.append(f"{entry.name}({_label(p)}): {type(exc).__name__}: {exc}")
        if out:
            return out
        return (
            f"cannot build an example of {_SINGULAR.get(entry.kind, entry.kind)} {entry.name!r} from {entry.provider}; tried "
            + "; ".join(tried)
            + ". Give the factory an attribute proxcore_examples = [{...keyword arguments...}]."
        )
    return [(_label(p), factory(**p)) for p in params]


def _label(params):
    parts = []
    for k, v in params.items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k}=<{v.dtype} {'x'.join(map(str, v.shape))}>")
        elif hasattr(v, "nnz"):
            parts.append(f"{k}=<sparse {v.shape[0]}x{v.shape[1]}>")
        else:
            parts.append(f"{k}={v!r}")
    return ", ".join(parts)


def _problems():
    """Small standard problems a pursuit may accept: ``[(label, problem, rate_applies)]``."""
    import proxcore as pc

    rng = np.random.default_rng(3)
    D = rng.standard_normal((16, 32))
    D /= np.linalg.norm(D, axis=0)
    X = np.zeros((32, 3))
    for j in range(3):
        X[rng.choice(32, 3, replace=False), j] = rng.standard_normal(3) + np.sign(rng.standard_normal(3))
    Y = D @ X + 0.01 * rng.standard_normal((16, 3))
    D2 = rng.standard_normal((32, 24))
    D2 /= np.linalg.norm(D2, axis=0)
    Y2 = D @ (D2 @ np.abs(X[:24])) + 0.01 * rng.standard_normal((16, 3))
    return [
        ("lasso", pc.chain(Y, [(D, pc.L1(0.1))])),
        ("nonneg lasso", pc.chain(np.abs(Y), [(D, pc.L1(0.1, nonneg=True))])),
        ("lasso float32", pc.chain(Y.astype(np.float32), [(D.astype(np.float32), pc.L1(0.1))])),
        ("l0-ball", pc.chain(Y, [(D, pc.L0Ball(3))])),
        ("two-layer lasso", pc.chain(Y2, [(D, pc.L1(0.05)), (D2, pc.L1(0.05))])),
    ]


def _refused(exc):
    from .._validation import InvalidParameterError

    return isinstance(exc, (InvalidParameterError, NotImplementedError))


def _pursuit_run(name, pursuit):
    def run():
        from . import RATES, check_convergence, check_pursuit

        accepted = []
        for label, problem in _problems():
            try:
                check_pursuit(pursuit, problem)
            except AssertionError as exc:
                raise AssertionError(f"pursuit {name!r} on the {label} problem: {exc}") from None
            except Exception as exc:
                if _refused(exc):
                    continue
                raise AssertionError(
                    f"pursuit {name!r} raised {type(exc).__name__} on the {label} problem instead of solving it "
                    f"or refusing it with an InvalidParameterError: {exc}"
                ) from exc
            accepted.append((label, problem))
        if not accepted:
            raise AssertionError(
                f"pursuit {name!r} accepts none of the standard problems ({', '.join(p[0] for p in _problems())})."
            )
        rate = RATES.get(name)
        if rate is None:
            return
        for label, problem in accepted:
            if rate in ("1/k", "1/k^2") and len(problem.layers) != 1:
                continue
            convex = all(getattr(layer.regularizer, "convex", True) for layer in problem.layers)
            if rate != "monotone" and not convex:
                continue  # rates are promised for convex problems only
            options = {"restart": False} if name == "fista" else {}
            try:
                check_convergence(problem, pursuit, rate, **options)
            except ValueError as exc:
                if "no reference optimum" in str(exc):
                    continue
                raise
    return run


def _registry(manager):
    import proxcore as pc

    plugins = getattr(pc, "plugins", None)
    if plugins is not None and hasattr(plugins, "get_manager"):
        manager = manager or plugins.get_manager()
        return list(manager.entries())
    # before a plugin registry exists: the core's own names
    from ..engines import ENGINES

    Entry = dataclasses.make_dataclass("Entry", ["kind", "name", "factory", "plugin", "provider"])
    builtins = [("regularizers", "zero", pc.Zero), ("regularizers", "l1", pc.L1), ("regularizers", "l0", pc.L0),
                ("regularizers", "l0-ball", pc.L0Ball), ("operators", "matrix", pc.Matrix),
                ("operators", "identity", pc.Identity)]
    entries = [Entry(k, n, f, "proxcore", "proxcore") for k, n, f in builtins]
    entries += [Entry("pursuits", n, f, "proxcore", "proxcore") for n, f in ENGINES.items()]
    return entries


def conformance_cases(plugin=None, *, manager=None):
    """The conformance checks of every registered name, or only of those ``plugin`` provides.

    Parameters
    ----------
    plugin : str or object, optional
        A plugin name already registered (or an entry-point name), or a
        plugin object (module or instance with ``@pc.hookimpl`` hooks), which
        is registered in a fresh registry (with the core's names, without
        autoloaded entry points) for the checks.
    manager : proxcore.plugins.PluginManager, optional
        The registry to read; default the active one.

    Returns
    -------
    list of Case
        ``case()`` runs the checks of one (kind, name, example).

    Examples
    --------
    >>> from proxcore.testing import conformance_cases
    >>> cases = conformance_cases()
    >>> any(c.id.startswith("regularizers:l1") for c in cases)
    True
    >>> for case in cases:
    ...     if case.kind == "regularizers" and case.name == "l0":
    ...         case()                    # silent: the ℓ0 prox is right
    """
    import proxcore as pc

    if plugin is not None and not isinstance(plugin, str):
        manager = pc.plugins.make_manager().load(autoload=False)
        plugin = manager.register(plugin)
    entries = _registry(manager)
    if plugin is not None:
        entries = [e for e in entries if e.plugin == plugin]
        if not entries:
            raise ValueError(f"no registered name is provided by plugin {plugin!r}.")
    from . import check_operator, check_prox

    cases = []
    for entry in entries:
        base = f"{entry.kind}:{entry.name}"
        if entry.kind == "pursuits":
            cases.append(Case(base, entry.kind, entry.name, _pursuit_run(entry.name, entry.factory)))
            continue
        check = check_prox if entry.kind == "regularizers" else check_operator
        try:
            examples = _examples(entry)
        except Exception as exc:
            def fail(exc=exc, entry=entry):
                raise AssertionError(
                    f"the proxcore_examples of {_SINGULAR.get(entry.kind, entry.kind)} {entry.name!r} ({entry.provider}) do not build: "
                    f"{type(exc).__name__}: {exc}"
                )
            cases.append(Case(base, entry.kind, entry.name, fail))
            continue
        if isinstance(examples, str):
            def missing(message=examples):
                raise AssertionError(message)
            cases.append(Case(base, entry.kind, entry.name, missing))
            continue
        for label, obj in examples:
            cases.append(Case(f"{base}({label})", entry.kind, entry.name, lambda obj=obj, check=check: check(obj)))
    return cases


def conformance_test(plugin=None, *, manager=None, expected_failures=None):
    """A pytest test function running the conformance suite, one parametrized case per check.

    The one line a plugin author writes in a test module::

        from proxcore.testing import conformance_test
        test_conformance = conformance_test(my_package.plugin)

    ``expected_failures`` maps case ids (or their prefix, such as
    ``"regularizers:my-prox"``) to a reason: those cases are marked
    ``xfail(strict=True)``, so they are reported, and fixing them is noticed
    (as scikit-learn's ``expected_failed_checks``).

    Examples
    --------
    >>> from proxcore.testing import conformance_test
    >>> test_conformance = conformance_test()
    >>> test_conformance.__name__
    'test_conformance'
    """
    import pytest

    cases = conformance_cases(plugin, manager=manager)
    expected = dict(expected_failures or {})
    params = []
    for c in cases:
        reason = next((r for key, r in expected.items() if c.id == key or c.id.startswith(key)), None)
        marks = [pytest.mark.xfail(strict=True, reason=reason, raises=AssertionError)] if reason else []
        params.append(pytest.param(c, id=c.id, marks=marks))

    @pytest.mark.parametrize("case", params)
    def test_conformance(case):
        case()

    return test_conformance
