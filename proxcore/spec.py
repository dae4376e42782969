"""Declarative problems: plain data (or a TOML file) -> :class:`proxcore.Problem`.

A chain is a list of ``[[layer]]`` tables, from the data side to the
deepest code::

    [[layer]]
    dictionary = { name = "matrix", path = "D1.npy" }
    regularizer = { name = "l1", lam = 0.1 }

    [[layer]]
    dictionary = { name = "matrix", path = "D2.npy" }
    regularizer = { name = "l1", lam = 0.05, nonneg = true }

    [solver]                      # optional defaults for `proxcore solve`
    method = "ml-fista"
    max_iter = 500

A layer may also give ``tolerance = ε``: the bound ``‖γ_{i−1} − D_iγ_i‖² ≤ ε``
on its squared residual (``γ_0 = y``), per signal. Either every layer has one
or none does; with budgets (``l0-ball``, ``l0inf``) that is the deep coding
problem (:class:`proxcore.dcp.DCP`), with ``l1`` the ε-constrained layered
basis pursuit (``method = "layered-bp-eps"``). The problem carries the
tolerances (:func:`proxcore.dcp.layer_tolerances`); the layered pursuits read
them, and ``proxcore solve`` prints whether the codes meet them::

    [[layer]]
    dictionary = { name = "matrix", path = "D1.npy" }
    regularizer = { name = "l0-ball", s = 4 }
    tolerance = 0.01              # ‖y − D1 γ1‖² ≤ 0.01

A general graph (a code shared by two data terms, a tree) is a ``[graph]``
table instead, with the data node names, code nodes and edges::

    [graph]
    data = ["y1", "y2"]           # one or more data nodes; y= gives {name: array}
    [[graph.node]]
    name = "gamma"
    regularizer = { name = "l1", lam = 0.1 }
    [[graph.edge]]
    from = "gamma"
    to = "y1"
    dictionary = { name = "matrix", path = "A.npy" }

Dictionaries: ``matrix`` (``path`` to a ``.npy`` file, relative to the spec
file, or ``array``, a list of rows) and any name registered with the plugin
registry (``pc.dictionary(name, **params)``: ``identity``, ``gaussian``,
``dct``, ...). Regularizers: ``l1`` (``lam``, ``nonneg``), ``l0`` (``lam``),
``l0-ball`` (``s``), ``analysis-l1`` (``omega``, a dictionary table, and
``lam``), ``zero``, and any other registered name (``l0inf``, ...), whose
keys are checked against its factory's parameters. The schema is strict: an unknown name or key is an error that
names it and suggests the closest valid one; a missing required key, a
wrong type (``lam = "0.1"``, a string) and a spec with no layers are errors.
"""

from __future__ import annotations

import difflib
import numbers
import os

import numpy as np

from ._validation import InvalidParameterError, check_array
from .losses import LeastSquares
from .operators import Matrix
from .regularizers import L0, L1, L0Ball, Zero

__all__ = ["load_problem", "problem_from_spec", "solver_options"]


# ----------------------------------------------------------------- value checks
def _number(value, where):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(f"{where} must be a number; got {value!r} ({type(value).__name__}).")
    return value


def _weights(value, where):
    if isinstance(value, (list, tuple)):
        for item in value:
            _number(item, f"every entry of {where}")
        return check_array(value, where)
    return _number(value, where)


def _int(value, where):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(f"{where} must be an int; got {value!r} ({type(value).__name__}).")
    return int(value)


def _bool(value, where):
    if not isinstance(value, bool):
        raise InvalidParameterError(f"{where} must be true or false; got {value!r} ({type(value).__name__}).")
    return value


def _str(value, where):
    if not isinstance(value, str):
        raise InvalidParameterError(f"{where} must be a string; got {value!r} ({type(value).__name__}).")
    return value


def _table(value, where):
    if not isinstance(value, dict):
        raise InvalidParameterError(f"{where} must be a table (mapping); got {value!r} ({type(value).__name__}).")
    return value


def _suggest(word, options):
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_keys(table, where, allowed, required=(), what=""):
    label = f"{where} ({what})" if what else where
    for key in table:
        if key not in allowed:
            raise InvalidParameterError(
                f"Unknown key {key!r} in {label}.{_suggest(key, allowed)} Valid keys: {', '.join(sorted(allowed))}."
            )
    for key in required:
        if key not in table:
            raise InvalidParameterError(f"Missing key {key!r} in {label}.")


# ----------------------------------------------------------------- dictionaries
def _matrix(params, where, base_dir):
    if ("path" in params) == ("array" in params):
        raise InvalidParameterError(f"{where} (matrix) needs exactly one of 'path' (a .npy file) or 'array'.")
    if "array" in params:
        rows = params["array"]
        if not isinstance(rows, (list, tuple)) or not all(isinstance(r, (list, tuple)) for r in rows):
            raise InvalidParameterError(f"{where}.array must be a list of rows (lists of numbers); got {rows!r}.")
        for row in rows:
            for item in row:
                _number(item, f"every entry of {where}.array")
        return Matrix(np.array(rows, dtype=float))
    path = _str(params["path"], f"{where}.path")
    full = path if os.path.isabs(path) or base_dir is None else os.path.join(base_dir, path)
    try:
        array = np.load(full, allow_pickle=False)
    except FileNotFoundError:
        raise InvalidParameterError(f"{where}.path: no such file {full!r}.") from None
    except (OSError, ValueError) as exc:
        raise InvalidParameterError(f"{where}.path: cannot read {full!r} as a .npy array ({exc}).") from None
    try:
        return Matrix(array)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"{where}.path {full!r}: {exc}") from None


_DICTIONARIES = {"matrix": ({"path", "array"}, (), _matrix)}


def _registry():
    """The default plugin manager, or None when the registry cannot be loaded."""
    try:
        from . import plugins

        return plugins.get_manager()
    except ImportError:  # pragma: no cover - the registry ships with the core
        return None


def _registry_names(kind):
    manager = _registry()
    return set(manager.names(kind)) if manager is not None else set()


def _factory_keys(manager, kind, name):
    """The keyword names a registered factory accepts (None if it takes ``**kwargs``)."""
    import inspect

    try:
        sig = inspect.signature(manager.entry(kind, name).factory)
    except (TypeError, ValueError):
        return None
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    allowed = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return allowed, required


def _from_registry(kind, noun, name, params, where, local):
    """Build ``name`` through the plugin registry, with the spec's strict key checks."""
    manager = _registry()
    registered = set(manager.names(kind)) if manager is not None else set()
    if name not in registered:
        known = set(local) | registered
        raise InvalidParameterError(
            f"Unknown {noun} {name!r} in {where}.name.{_suggest(name, known)} Available: {', '.join(sorted(known))}."
        )
    keys = _factory_keys(manager, kind, name)
    if keys is not None:
        _check_keys(params, where, keys[0], keys[1], what=name)
    for key, value in params.items():
        if isinstance(value, str) and key not in ("path", "name", "kind", "mode", "boundary"):
            try:
                float(value)
            except ValueError:
                continue
            raise InvalidParameterError(f"{where}.{key} must be a number; got {value!r} (str).")
    build = manager.dictionary if kind == "dictionaries" else manager.regularizer
    try:
        return build(name, **params)
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidParameterError(f"{where} ({name}): {exc}") from None


def _dictionary(value, where, base_dir):
    table = _table(value, where)
    if "name" not in table:
        raise InvalidParameterError(f"Missing key 'name' in {where} (the dictionary's registered name).")
    name = _str(table["name"], f"{where}.name")
    params = {k: v for k, v in table.items() if k != "name"}
    if name in _DICTIONARIES:
        allowed, required, build = _DICTIONARIES[name]
        _check_keys(params, where, allowed, required, what=name)
        return build(params, where, base_dir)
    return _from_registry("dictionaries", "dictionary", name, params, where, _DICTIONARIES)


# ----------------------------------------------------------------- regularizers
def _analysis(params, where, base_dir):
    from .analysis import AnalysisL1

    omega = _dictionary(params["omega"], f"{where}.omega", base_dir)
    return AnalysisL1(omega, _weights(params.get("lam", 1.0), f"{where}.lam"))


_REGULARIZERS = {
    "l1": ({"lam", "nonneg"}, (), lambda p, w, b: L1(_weights(p.get("lam", 1.0), f"{w}.lam"),
                                                       nonneg=_bool(p.get("nonneg", False), f"{w}.nonneg"))),
    "l0": ({"lam"}, (), lambda p, w, b: L0(_weights(p.get("lam", 1.0), f"{w}.lam"))),
    "l0-ball": ({"s"}, ("s",), lambda p, w, b: L0Ball(_int(p["s"], f"{w}.s"))),
    "analysis-l1": ({"omega", "lam"}, ("omega",), _analysis),
    "zero": (set(), (), lambda p, w, b: Zero()),
}


def _regularizer(value, where, base_dir):
    table = _table(value, where)
    if "name" not in table:
        raise InvalidParameterError(f"Missing key 'name' in {where} (the regularizer's registered name).")
    name = _str(table["name"], f"{where}.name")
    params = {k: v for k, v in table.items() if k != "name"}
    if name not in _REGULARIZERS:
        return _from_registry("regularizers", "regularizer", name, params, where, _REGULARIZERS)
    allowed, required, build = _REGULARIZERS[name]
    _check_keys(params, where, allowed, required, what=name)
    try:
        return build(params, where, base_dir)
    except InvalidParameterError as exc:
        if where in str(exc):
            raise
        raise InvalidParameterError(f"{where} ({name}): {exc}") from None


# ----------------------------------------------------------------- problems
_TOP = {"layer", "graph", "solver"}
_SOLVER = {"method", "max_iter", "tol"}


def problem_from_spec(spec, *, y, base_dir=None):
    """Build a :class:`proxcore.Problem` from a spec mapping; see the module docstring for the schema.

    Parameters
    ----------
    spec : mapping
        Plain data: a ``layer`` list (a chain) or a ``graph`` table, and an
        optional ``solver`` table.
    y : array_like or mapping
        The data; for a graph with several data nodes, ``{node name: array}``.
    base_dir : str, optional
        Directory that relative ``path`` entries are read from (default: the
        working directory; :func:`load_problem` passes the spec file's).
    """
    from .problem import Problem, chain

    spec = _table(spec, "spec")
    _check_keys(spec, "spec", _TOP)
    solver_options(spec)  # validate it even when the caller does not use it
    if "layer" in spec and "graph" in spec:
        raise InvalidParameterError("spec has both 'layer' and 'graph'; give a chain ([[layer]]) or a [graph], not both.")
    if "graph" in spec:
        return Problem(_graph(spec["graph"], y, base_dir))
    if "layer" not in spec:
        raise InvalidParameterError(
            "spec has no layers: give at least one [[layer]] table (dictionary and regularizer), or a [graph] table."
        )
    layers = spec["layer"]
    if not isinstance(layers, (list, tuple)):
        raise InvalidParameterError(f"spec.layer must be a list of tables ([[layer]] in TOML); got {layers!r}.")
    if not layers:
        raise InvalidParameterError("spec.layer is empty: a spec needs at least one [[layer]] table.")
    pairs, tolerances = [], []
    for i, layer in enumerate(layers):
        where = f"spec.layer[{i}]"
        layer = _table(layer, where)
        _check_keys(layer, where, {"dictionary", "regularizer", "tolerance"}, ("dictionary",))
        op = _dictionary(layer["dictionary"], f"{where}.dictionary", base_dir)
        reg = _regularizer(layer["regularizer"], f"{where}.regularizer", base_dir) if "regularizer" in layer else Zero()
        pairs.append((op, reg))
        tolerances.append(_tolerance(layer["tolerance"], f"{where}.tolerance") if "tolerance" in layer else None)
    given = [i for i, t in enumerate(tolerances) if t is not None]
    if given and len(given) != len(tolerances):
        i = next(i for i, t in enumerate(tolerances) if t is None)
        raise InvalidParameterError(
            f"Missing key 'tolerance' in spec.layer[{i}]: spec.layer[{given[0]}] gives one, and per-layer "
            "tolerances (the deep coding problem's ε) are needed for every layer or none."
        )
    if isinstance(y, dict):
        raise InvalidParameterError("The 'y' parameter must be an array for a chain spec; got a mapping.")
    problem = chain(y, pairs)
    if given:
        from .dcp import with_tolerances

        problem = with_tolerances(problem, tolerances)
    return problem


def _tolerance(value, where):
    value = float(_number(value, where))
    if not (value >= 0 and np.isfinite(value)):
        raise InvalidParameterError(f"{where} must be a finite number >= 0 (a squared residual norm); got {value!r}.")
    return value


def _graph(value, y, base_dir):
    where = "spec.graph"
    table = _table(value, where)
    _check_keys(table, where, {"data", "node", "edge"}, ("data", "edge"))
    data = table["data"]
    data = [data] if isinstance(data, str) else data
    if not isinstance(data, (list, tuple)) or not data:
        raise InvalidParameterError(f"{where}.data must be a node name or a non-empty list of names; got {data!r}.")
    data = [_str(d, f"{where}.data") for d in data]
    if isinstance(y, dict):
        for name in y:
            if name not in data:
                raise InvalidParameterError(
                    f"The 'y' parameter has data for {name!r}, which is not a data node.{_suggest(name, data)}"
                )
        missing = [d for d in data if d not in y]
        if missing:
            raise InvalidParameterError(f"The 'y' parameter has no data for node(s) {missing}.")
        ys = dict(y)
    elif len(data) == 1:
        ys = {data[0]: y}
    else:
        raise InvalidParameterError(f"The 'y' parameter must map each data node {data} to its array.")
    import networkx as nx  # on first use, as in proxcore.problem

    graph = nx.DiGraph()
    for d in data:
        graph.add_node(d, loss=LeastSquares(ys[d]))
    nodes = table.get("node", [])
    if not isinstance(nodes, (list, tuple)):
        raise InvalidParameterError(f"{where}.node must be a list of tables ([[graph.node]]); got {nodes!r}.")
    for i, node in enumerate(nodes):
        w = f"{where}.node[{i}]"
        node = _table(node, w)
        _check_keys(node, w, {"name", "regularizer"}, ("name",))
        name = _str(node["name"], f"{w}.name")
        if name in graph:
            raise InvalidParameterError(f"{w}.name: node {name!r} is declared twice (or is a data node).")
        reg = _regularizer(node["regularizer"], f"{w}.regularizer", base_dir) if "regularizer" in node else None
        graph.add_node(name, regularizer=reg)
    edges = table["edge"]
    if not isinstance(edges, (list, tuple)) or not edges:
        raise InvalidParameterError(f"{where}.edge must be a non-empty list of tables ([[graph.edge]]).")
    for i, edge in enumerate(edges):
        w = f"{where}.edge[{i}]"
        edge = _table(edge, w)
        _check_keys(edge, w, {"from", "to", "dictionary"}, ("from", "to", "dictionary"))
        u, v = _str(edge["from"], f"{w}.from"), _str(edge["to"], f"{w}.to")
        for end, key in ((u, "from"), (v, "to")):
            if end not in graph:
                raise InvalidParameterError(
                    f"{w}.{key}: unknown node {end!r}.{_suggest(end, list(graph.nodes))} "
                    "Declare codes as [[graph.node]] tables and data nodes in graph.data."
                )
        graph.add_edge(u, v, operator=_dictionary(edge["dictionary"], f"{w}.dictionary", base_dir))
    return graph


def solver_options(spec) -> dict:
    """The validated ``[solver]`` table of a spec as keyword options (``method``, ``max_iter``, ``tol``)."""
    table = spec.get("solver", {})
    table = _table(table, "spec.solver")
    _check_keys(table, "spec.solver", _SOLVER)
    out = {}
    if "method" in table:
        from .engines import pursuit

        method = _str(table["method"], "spec.solver.method")
        try:
            pursuit(method)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"spec.solver.method: {exc}") from None
        out["method"] = method
    if "max_iter" in table:
        out["max_iter"] = _int(table["max_iter"], "spec.solver.max_iter")
        if out["max_iter"] < 1:
            raise InvalidParameterError(f"spec.solver.max_iter must be an int >= 1; got {out['max_iter']}.")
    if "tol" in table:
        out["tol"] = float(_number(table["tol"], "spec.solver.tol"))
        if not out["tol"] >= 0:
            raise InvalidParameterError(f"spec.solver.tol must be a number >= 0; got {out['tol']}.")
    return out


def read_spec(path) -> dict:
    """The TOML file at ``path`` as plain data; errors name the file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
        import tomli as tomllib
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise InvalidParameterError(f"The 'path' parameter of load_problem: no such file {path!r}.") from None
    except IsADirectoryError:
        raise InvalidParameterError(f"The 'path' parameter of load_problem: {path!r} is a directory.") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameterError(f"spec file {path!r} is not valid TOML: {exc}.") from None


def load_problem(path, *, y):
    """Read a problem spec from a TOML file; the same schema as :meth:`proxcore.Problem.from_spec`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.toml`` file; ``matrix`` paths in it are relative to its directory.
    y : array_like, mapping, or str
        The data (an array, ``{data node: array}`` for a graph, or the path of a ``.npy`` file).

    Returns
    -------
    Problem

    Examples
    --------
    >>> import os, tempfile, numpy as np, proxcore as pc
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "D.npy"), np.eye(2))
    >>> with open(os.path.join(folder, "model.toml"), "w") as f:
    ...     _ = f.write('[[layer]]\\ndictionary = { name = "matrix", path = "D.npy" }\\n'
    ...                 'regularizer = { name = "l1", lam = 0.5 }\\n')
    >>> problem = pc.load_problem(os.path.join(folder, "model.toml"), y=np.array([2.0, 0.0]))
    >>> problem.objective(np.array([1.5, 0.0]))
    0.875
    """
    spec = read_spec(path)
    if isinstance(y, (str, os.PathLike)):
        try:
            y = np.load(y, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidParameterError(f"The 'y' parameter of load_problem: cannot read {os.fspath(y)!r} ({exc}).") from None
    return problem_from_spec(spec, y=y, base_dir=os.path.dirname(os.path.abspath(os.fspath(path))))
