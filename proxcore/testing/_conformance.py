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

__all__ = ["Case", "ConvergenceCheck", "conformance_cases", "conformance_test", "convergence_plan", "cvxpy_optimum"]


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
    from proxcore.dcp import with_tolerances

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
    h = rng.standard_normal((3, 5))
    C = pc.Convolution(h / np.linalg.norm(h, axis=1, keepdims=True), 24)  # 3 filters, signals of length 24
    codes = np.zeros((3, 24, 2))
    codes[rng.integers(0, 3, 6), rng.integers(0, 24, 6), [0, 0, 0, 1, 1, 1]] = 1.0
    S = C @ codes + 0.01 * rng.standard_normal((24, 2))
    return [
        ("lasso", pc.chain(Y, [(D, pc.L1(0.1))])),
        ("nonneg lasso", pc.chain(np.abs(Y), [(D, pc.L1(0.1, nonneg=True))])),
        ("lasso float32", pc.chain(Y.astype(np.float32), [(D.astype(np.float32), pc.L1(0.1))])),
        ("l0-ball", pc.chain(Y, [(D, pc.L0Ball(3))])),
        ("convolutional lasso", pc.chain(S, [(C, pc.L1(0.1))])),
        ("two-layer lasso", pc.chain(Y2, [(D, pc.L1(0.05)), (D2, pc.L1(0.05))])),
        # the deep coding problem: the same chain with per-layer tolerances ‖γ_{i−1} − D_iγ_i‖² ≤ ε_{i−1}
        ("two-layer with tolerances", with_tolerances(pc.chain(Y2, [(D, pc.L1(0.05)), (D2, pc.L1(0.05))]),
                                                      [0.05, 0.05])),
    ]


def _refused(exc):
    from .._validation import InvalidParameterError

    return isinstance(exc, (InvalidParameterError, NotImplementedError))


def _accepted(name, pursuit):
    """The standard problems ``pursuit`` accepts, each checked by :func:`check_pursuit` on the way.

    A problem refused with an :class:`InvalidParameterError` (or
    ``NotImplementedError``) is left out; a broken result contract, or any
    other exception, is an :class:`AssertionError` naming the problem.
    """
    from . import check_pursuit

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
    return accepted


@dataclasses.dataclass(frozen=True)
class ConvergenceCheck:
    """One ``check_convergence`` run of the suite: the problem, the rate and where ``F*`` comes from."""

    label: str
    problem: object
    rate: str
    options: dict
    reference: str  # "none" (monotone), "kit" (proxcore.testing.optimum) or "cvxpy"


def _self_referenced(pursuit, problem):
    """True when :func:`proxcore.testing.optimum` would compute ``F*`` with ``pursuit`` itself.

    The kit certifies one-layer ℓ1 problems on its own; every other problem
    gets its optimum from the engine ``primal-dual``, which cannot be judged
    against itself.
    """
    from ..engines import ENGINES
    from ..regularizers import L1

    layers = problem.layers
    if len(layers) == 1 and isinstance(layers[0].regularizer, L1):
        return False
    return pursuit is ENGINES.get("primal-dual")


def convergence_plan(name, pursuit, accepted):
    """The convergence checks the suite runs for ``name`` on the ``accepted`` problems, and those it skips.

    Returns
    -------
    checks : list of ConvergenceCheck
    skipped : list of (label, reason)
    """
    from . import RATES

    rate = RATES.get(name)
    if rate is None:
        return [], [(label, f"no promised rate for {name!r} in proxcore.testing.RATES") for label, _ in accepted]
    checks, skipped = [], []
    for label, problem in accepted:
        if rate in ("1/k", "1/k^2") and len(problem.layers) != 1:
            skipped.append((label, f"the {rate} rate is promised for one layer"))
            continue
        convex = all(getattr(layer.regularizer, "convex", True) for layer in problem.layers)
        if rate != "monotone" and not convex:
            skipped.append((label, "rates other than monotone are promised for convex problems only"))
            continue
        options = {"restart": False} if name == "fista" else {}
        reference = "none" if rate == "monotone" else "kit"
        if reference == "kit" and _self_referenced(pursuit, problem):
            if _cvxpy_available():
                reference = "cvxpy"
            else:  # judging primal-dual by primal-dual's own optimum would prove nothing
                skipped.append((label, "F* would come from primal-dual itself, and cvxpy is not installed"))
                continue
        checks.append(ConvergenceCheck(label, problem, rate, options, reference))
    return checks, skipped


def _cvxpy_available():
    import importlib.util

    return importlib.util.find_spec("cvxpy") is not None


def cvxpy_optimum(problem):
    """The optimum of a chain ``½‖y − D₁⋯D_L x‖² + Σ λ_i‖D_{i+1}⋯D_L x‖₁`` (ℓ1 or zero terms) from cvxpy.

    An :class:`~proxcore.testing.Optimum` independent of proxcore's engines,
    for the problems the kit does not certify itself (multi-layer ℓ1).
    ``slack`` is ``10⁻⁵·max(1, |F*|)``, above the solver's accuracy; a
    :class:`ValueError` (whose message starts "no reference optimum") for a
    problem outside that family.
    """
    import cvxpy as cp

    from ..losses import LeastSquares
    from ..regularizers import L1, Zero
    from . import Optimum, _operator_matrix

    layers = problem.layers
    if type(problem.loss) is not LeastSquares:
        raise ValueError(f"no reference optimum for {problem!r} from cvxpy: the loss is not pc.LeastSquares.")
    Y = np.asarray(problem.y, dtype=np.float64)
    batch = problem.batch_shape
    Y = Y.reshape(Y.shape[: Y.ndim - len(batch)] + (-1,)).reshape(-1, int(np.prod(batch, dtype=int)))
    X = cp.Variable((int(np.prod(problem.in_shape)), Y.shape[1]))
    # P_i = D_{i+1} ⋯ D_L maps the deepest code to layer i; P_L = I
    below = [None] * len(layers)
    P = np.eye(X.shape[0])
    for i in range(len(layers) - 1, -1, -1):
        below[i] = P
        P = _operator_matrix(layers[i].operator) @ P
    terms = [0.5 * cp.sum_squares(Y - P @ X)]
    constraints = []
    for layer, Pi in zip(layers, below):
        reg = layer.regularizer
        if type(reg) is Zero:
            continue
        if type(reg) is not L1:
            raise ValueError(f"no reference optimum for {problem!r} from cvxpy: {reg!r} is not pc.L1 or pc.Zero.")
        lam = np.broadcast_to(np.asarray(reg.lam, dtype=np.float64).reshape(-1, 1) if np.ndim(reg.lam)
                              else float(reg.lam), (Pi.shape[0], 1))
        terms.append(cp.sum(cp.multiply(lam, cp.abs(Pi @ X))))
        if reg.nonneg:
            constraints.append(Pi @ X >= 0)
    cp.Problem(cp.Minimize(cp.sum(terms)), constraints).solve()
    if X.value is None:
        raise ValueError(f"no reference optimum for {problem!r}: cvxpy found none.")
    x = X.value.reshape(tuple(problem.in_shape) + tuple(batch))
    if getattr(layers[-1].regularizer, "nonneg", False):
        x = np.maximum(x, 0.0)  # the solver's −1e-12 would make the indicator infinite
    value = float(problem.objective(x))
    if not np.isfinite(value):
        raise ValueError(f"no reference optimum for {problem!r}: cvxpy's solution is infeasible by rounding.")
    return Optimum(x, value, 1e-5 * max(1.0, abs(value)), "cvxpy")


def _pursuit_run(name, pursuit):
    def run():
        from . import check_convergence

        accepted = _accepted(name, pursuit)
        if not accepted:
            raise AssertionError(
                f"pursuit {name!r} accepts none of the standard problems ({', '.join(p[0] for p in _problems())})."
            )
        checks, _ = convergence_plan(name, pursuit, accepted)
        for check in checks:
            optimum = cvxpy_optimum(check.problem) if check.reference == "cvxpy" else None
            try:
                check_convergence(check.problem, pursuit, check.rate, optimum=optimum, **check.options)
            except ValueError as exc:
                if "no reference optimum" in str(exc):
                    continue
                raise
            except AssertionError as exc:
                raise AssertionError(f"pursuit {name!r} on the {check.label} problem: {exc}") from None
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
