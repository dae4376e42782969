"""The deep coding problem (DCP) of the multi-layer sparse model, and its feasibility report.

The talk's pursuit for ``y = D₁γ₁ + w``, ``γ_{i−1} = D_iγ_i`` (Papyan,
Romano & Elad 2017)::

    find {γ_i}  s.t.  ‖y − D₁γ₁‖² ≤ ε₀,              ‖γ₁‖₀,∞ ≤ s₁
                      ‖γ_{i−1} − D_iγ_i‖² ≤ ε_{i−1},  ‖γ_i‖₀,∞ ≤ s_i   (i = 2 … L)

A :class:`DCP` is a chain built by :func:`proxcore.chain` (or a spec) whose
regularizers are the budgets — :class:`proxcore.L0Ball` (``‖γ_i‖₀ ≤ s_i``,
dense layers) or :class:`proxcore.L0Inf` (``‖γ_i‖₀,∞ ≤ s_i``, convolutional
layers) — plus one tolerance ``ε_{i−1}`` per layer (squared ℓ2 norms, as on
the slide). :meth:`DCP.feasibility` says whether a set of codes solves it
and by how much each constraint is met or missed. Pursuits that return
every layer's code (``res.codes``) are ``layered-thresholding`` (the forward
pass), ``layered-omp`` (plugin ``models``: OMP per layer, stopped at the
layer's tolerance; dense budgets only) and ``layered-bp-eps`` (plugin
``models``: ``min ‖γ_i‖₁ s.t. ‖γ_{i−1} − D_iγ_i‖² ≤ ε_{i−1}`` per layer, any
operator); :meth:`DCP.solve` runs one and reports.

Where the tolerances live. The problem carries them: each edge
``γ_i → γ_{i−1}`` of the chain's graph has the attribute ``tolerance``
(``ε_{i−1}``), set by :func:`with_tolerances` or by a spec whose ``[[layer]]``
tables have a ``tolerance`` key (``pc.Problem.from_spec``,
``pc.load_problem``, ``proxcore solve``), and read by
:func:`layer_tolerances`. So one declaration serves every path: ``DCP(problem)``,
the layered pursuits (their ``tolerances=`` default) and the command line,
which prints the feasibility report for such a spec.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os

import numpy as np

from ._validation import InvalidParameterError, check_scalar
from .regularizers import L0Ball

__all__ = ["DCP", "Feasibility", "load_dcp", "layer_tolerances", "with_tolerances", "layer_residuals"]


def _chain_edges(problem, owner):
    """The chain's edges ``(γ_i, above)`` from the data side down (node objects, not names)."""
    from .problem import Problem

    if not isinstance(problem, Problem):
        raise InvalidParameterError(f"The 'problem' parameter of {owner} must be a pc.Problem (see pc.chain); "
                                    f"got {type(problem).__name__}.")
    layers = problem.layers  # refuses a non-chain with a clear message
    edges, above = [], problem.data_node
    for _ in layers:
        (child,) = problem.graph.predecessors(above)
        edges.append((child, above))
        above = child
    return edges


def _check_tolerances(tolerances, n_layers, owner):
    if isinstance(tolerances, (str, bytes)) or not hasattr(tolerances, "__len__"):
        raise InvalidParameterError(f"The 'tolerances' parameter of {owner} must be a sequence of {n_layers} "
                                    f"floats (one per layer); got {tolerances!r}.")
    if len(tolerances) != n_layers:
        raise InvalidParameterError(f"The 'tolerances' parameter of {owner} must have one entry per layer "
                                    f"({n_layers}); got {len(tolerances)}.")
    return tuple(check_scalar(t, "tolerances", owner, low=0.0, high=math.inf, high_open=True) for t in tolerances)


def layer_tolerances(problem):
    """The tolerances ``(ε_0, …, ε_{L−1})`` a chain carries, or None when it carries none.

    ``ε_{i−1}`` bounds the squared residual of layer ``i``,
    ``‖γ_{i−1} − D_iγ_i‖² ≤ ε_{i−1}`` (``γ_0 = y``); it is the ``tolerance``
    attribute of the graph's edge ``γ_i → γ_{i−1}`` (set by
    :func:`with_tolerances` or by a spec's ``tolerance`` keys).

    Raises
    ------
    InvalidParameterError
        When only some layers carry one, or one is not a number ``≥ 0``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.dcp import layer_tolerances, with_tolerances
    >>> problem = pc.chain(np.ones(2), [(np.eye(2), pc.L0Ball(1))])
    >>> layer_tolerances(problem) is None, layer_tolerances(with_tolerances(problem, [0.5]))
    (True, (0.5,))
    """
    edges = _chain_edges(problem, "layer_tolerances")
    values = [problem.graph.edges[e].get("tolerance") for e in edges]
    if all(v is None for v in values):
        return None
    missing = [i for i, v in enumerate(values, start=1) if v is None]
    if missing:
        raise InvalidParameterError(f"layer(s) {missing} of the problem carry no tolerance but others do; a "
                                    "deep coding problem needs ε_(i−1) for every layer.")
    return _check_tolerances(values, len(values), "layer_tolerances")


def with_tolerances(problem, tolerances):
    """A copy of the chain ``problem`` that carries the per-layer tolerances ``ε_{i−1}``.

    The constraints are ``‖γ_{i−1} − D_iγ_i‖² ≤ ε_{i−1}`` (``γ_0 = y``,
    squared ℓ2 norms per signal); the objective is unchanged. The input
    problem is not modified.

    Parameters
    ----------
    problem : pc.Problem
        A chain.
    tolerances : sequence of float
        ``[ε_0, …, ε_{L−1}]``, each ``≥ 0``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.dcp import with_tolerances, DCP
    >>> problem = with_tolerances(pc.chain(np.array([2.0, 0.2]), [(np.eye(2), pc.L0Ball(1))]), [0.1])
    >>> DCP(problem).feasibility([np.array([2.0, 0.0])]).feasible      # ‖y − γ₁‖² = 0.04 <= 0.1
    True
    """
    from .problem import Problem

    edges = _chain_edges(problem, "with_tolerances")
    tolerances = _check_tolerances(tolerances, len(edges), "with_tolerances")
    graph = problem.graph.copy()
    for edge, tol in zip(edges, tolerances):
        graph.edges[edge]["tolerance"] = tol
    return Problem(graph)


def layer_residuals(problem, codes):
    """``‖γ_{i−1} − D_iγ_i‖²`` per layer and signal (``γ_0 = y``), for codes ``[γ_1, …, γ_L]``.

    Parameters
    ----------
    problem : pc.Problem
        A chain.
    codes : sequence of array_like, or a Result
        One code per layer, shallowest first, each ``in_shape_i + batch``.

    Returns
    -------
    tuple of ndarray
        One array of the batch shape per layer.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.dcp import layer_residuals
    >>> problem = pc.chain(np.array([1.0, 2.0]), [(np.eye(2), pc.L1(0.1))])
    >>> [float(r) for r in layer_residuals(problem, [np.array([1.0, 1.5])])]
    [0.25]
    """
    from ._validation import check_array

    _chain_edges(problem, "layer_residuals")
    layers = problem.layers
    codes = getattr(codes, "codes", codes)
    try:
        codes = list(codes)
    except TypeError:
        raise InvalidParameterError(f"The 'codes' parameter must be a list of {len(layers)} arrays; "
                                    f"got {codes!r}.") from None
    if len(codes) != len(layers):
        raise InvalidParameterError(f"The 'codes' parameter must hold one code per layer ({len(layers)}); "
                                    f"got {len(codes)}.")
    batch = problem.batch_shape
    above = np.asarray(problem.y)
    residuals = []
    for i, (layer, code) in enumerate(zip(layers, codes), start=1):
        code = check_array(code, f"codes[{i - 1}]")
        expected = tuple(layer.operator.in_shape) + batch
        if code.shape != expected:
            raise InvalidParameterError(f"The 'codes' parameter: layer {i}'s code must have shape {expected}; "
                                        f"got {code.shape}.")
        r = np.asarray(above, dtype=np.float64) - np.asarray(layer.operator.apply(code), dtype=np.float64)
        k = len(layer.operator.out_shape)
        residuals.append(np.sum(r ** 2, axis=tuple(range(k))).reshape(batch))
        above = code
    return tuple(residuals)


@dataclasses.dataclass(frozen=True)
class Feasibility:
    """How a set of codes meets the deep coding problem, layer by layer and signal by signal.

    Attributes
    ----------
    feasible : bool
        Every constraint of every signal is met.
    signal_feasible : ndarray of bool
        Per signal (the batch shape).
    residuals : tuple of ndarray
        ``‖γ_{i−1} − D_iγ_i‖²`` per signal, layer ``i = 1 … L`` (``γ₀ = y``).
    tolerances : tuple of float
        ``ε_{i−1}``.
    sparsities : tuple of ndarray
        ``‖γ_i‖₀`` (dense layers) or ``‖γ_i‖₀,∞`` (convolutional layers) per signal.
    budgets : tuple of int
        ``s_i``.

    Examples
    --------
    >>> import numpy as np
    >>> from proxcore.dcp import DCP
    >>> dcp = DCP.chain(np.array([1.0, 1.1, 0.0]), [(np.eye(3), 2, 0.05), (np.array([[1.0], [1.0], [0.0]]), 1, 0.05)])
    >>> report = dcp.feasibility([np.array([1.0, 1.0, 0.1]), np.array([1.0])])   # γ₁ has 3 non-zeros, s₁ = 2
    >>> report.feasible, [round(float(m), 12) for m in report.residual_margins], [int(m) for m in report.sparsity_margins]
    (False, [0.03, 0.04], [-1, 0])
    >>> print(report)
    DCP: NOT feasible (0 of 1 signal(s))
      layer 1: residual 0.02 <= 0.05? yes (max over signals); sparsity 3 <= 2? no
      layer 2: residual 0.01 <= 0.05? yes (max over signals); sparsity 1 <= 1? yes
    """

    feasible: bool
    signal_feasible: np.ndarray
    residuals: tuple
    tolerances: tuple
    sparsities: tuple
    budgets: tuple

    @property
    def residual_margins(self):
        """``ε_{i−1} − ‖γ_{i−1} − D_iγ_i‖²`` per layer and signal: ``≥ 0`` where met, the shortfall where missed."""
        return tuple(t - r for t, r in zip(self.tolerances, self.residuals))

    @property
    def sparsity_margins(self):
        """``s_i − ‖γ_i‖`` per layer and signal: ``≥ 0`` where met."""
        return tuple(s - k for s, k in zip(self.budgets, self.sparsities))

    def __str__(self):
        lines = [f"DCP: {'feasible' if self.feasible else 'NOT feasible'} "
                 f"({int(np.sum(self.signal_feasible))} of {self.signal_feasible.size} signal(s))"]
        for i, (r, t, k, s) in enumerate(zip(self.residuals, self.tolerances, self.sparsities, self.budgets), 1):
            worst_r = float(np.max(r)) if r.size else 0.0
            worst_k = int(np.max(k)) if k.size else 0
            lines.append(f"  layer {i}: residual {worst_r:.4g} <= {t:.4g}? {'yes' if worst_r <= t else 'no'}"
                         f" (max over signals); sparsity {worst_k} <= {s}? {'yes' if worst_k <= s else 'no'}")
        return "\n".join(lines)


class DCP:
    """The deep coding problem: per-layer tolerances ``ε_{i−1}`` and sparsity budgets ``s_i``.

    Parameters
    ----------
    problem : pc.Problem
        A chain ``pc.chain(y, [(D_1, g_1), …, (D_L, g_L)])`` whose ``g_i`` are
        ``pc.L0Ball(s_i)`` or ``pc.L0Inf(s_i, …)``: the budgets.
    tolerances : sequence of float, optional
        ``[ε_0, …, ε_{L−1}]``, bounds on the squared residuals
        ``‖γ_{i−1} − D_iγ_i‖²`` (``γ_0 = y``), each ``≥ 0``. Default: the
        ones the problem carries (:func:`layer_tolerances`: a spec with
        ``tolerance`` keys, or :func:`with_tolerances`). ``dcp.problem``
        carries them in either case.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> from proxcore.dcp import DCP
    >>> D1, D2 = np.eye(3), np.array([[1.0], [1.0], [0.0]])
    >>> dcp = DCP.chain(np.array([1.0, 1.1, 0.0]), [(D1, 2, 0.05), (D2, 1, 0.01)])
    >>> dcp.budgets, dcp.tolerances
    ((2, 1), (0.05, 0.01))
    >>> report = dcp.feasibility([np.array([1.0, 1.0, 0.0]), np.array([1.0])])
    >>> report.feasible, [round(float(r), 12) for r in report.residuals]   # ‖y − γ₁‖² = 0.01, ‖γ₁ − D₂γ₂‖² = 0
    (True, [0.01, 0.0])
    """

    def __init__(self, problem, tolerances=None):
        from .stripes import L0Inf

        _chain_edges(problem, "DCP")
        layers = problem.layers
        for i, layer in enumerate(layers, start=1):
            if not isinstance(layer.regularizer, (L0Ball, L0Inf)):
                raise InvalidParameterError(
                    f"layer {i} of a DCP needs a sparsity budget, pc.L0Ball(s) or pc.L0Inf(s, ...); "
                    f"got {layer.regularizer!r}."
                )
        if tolerances is None:
            tolerances = layer_tolerances(problem)
            if tolerances is None:
                raise InvalidParameterError(
                    "The 'tolerances' parameter of DCP is required: the problem carries no per-layer tolerances "
                    "(give tolerances=[ε_0, …], a spec with 'tolerance' in every [[layer]], or "
                    "proxcore.dcp.with_tolerances)."
                )
        else:
            tolerances = _check_tolerances(tolerances, len(layers), "DCP")
            if layer_tolerances(problem) != tolerances:
                problem = with_tolerances(problem, tolerances)
        self.problem = problem
        self.tolerances = tuple(tolerances)

    # ------------------------------------------------------------------ construction
    @classmethod
    def chain(cls, y, layers):
        """``DCP`` from ``[(D_i, budget_i, ε_{i−1}), …]``; an int budget ``s`` means ``pc.L0Ball(s)``."""
        from .problem import chain

        pairs, tolerances = [], []
        for i, item in enumerate(layers, start=1):
            try:
                D, budget, eps = item
            except (TypeError, ValueError):
                raise InvalidParameterError(
                    f"layer {i} of DCP.chain must be a triple (operator, budget, tolerance); got {item!r}.") from None
            if isinstance(budget, numbers.Integral) and not isinstance(budget, bool):
                budget = L0Ball(int(budget))
            pairs.append((D, budget))
            tolerances.append(eps)
        return cls(chain(y, pairs), tolerances)

    @classmethod
    def from_spec(cls, spec, *, y, base_dir=None):
        """``DCP`` from a chain spec whose ``[[layer]]`` tables carry ``tolerance`` (``ε_{i−1}``).

        The schema is :func:`proxcore.Problem.from_spec`'s (which reads the
        tolerances too, into the problem); here every layer must have one,
        and the budgets are the regularizers ``l0-ball`` (``s``) or ``l0inf``.

        Examples
        --------
        >>> import numpy as np
        >>> from proxcore.dcp import DCP
        >>> spec = {"layer": [
        ...     {"dictionary": {"name": "matrix", "array": [[1.0, 0.0], [0.0, 1.0]]},
        ...      "regularizer": {"name": "l0-ball", "s": 1}, "tolerance": 0.1}]}
        >>> dcp = DCP.from_spec(spec, y=np.array([2.0, 0.2]))
        >>> dcp.feasibility([np.array([2.0, 0.0])]).feasible                 # residual 0.04 <= 0.1
        True
        """
        from .spec import problem_from_spec

        if not isinstance(spec, dict):
            raise InvalidParameterError(f"spec must be a table (mapping); got {spec!r}.")
        if "graph" in spec:
            raise InvalidParameterError("a DCP spec is a chain of [[layer]] tables (with 'tolerance'); "
                                        "got a [graph].")
        problem = problem_from_spec(spec, y=y, base_dir=base_dir)
        if layer_tolerances(problem) is None:
            raise InvalidParameterError("Missing key 'tolerance' in spec.layer[0] (the DCP's ε_0): a DCP spec "
                                        "gives a tolerance in every [[layer]].")
        return cls(problem)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        return self.problem.layers

    @property
    def budgets(self) -> tuple:
        """``(s_1, …, s_L)``."""
        return tuple(int(layer.regularizer.s) for layer in self.layers)

    def __repr__(self):
        parts = ", ".join(f"(s={s}, eps={t:g})" for s, t in zip(self.budgets, self.tolerances))
        return f"<DCP {len(self.layers)} layer(s) {parts}, batch {self.problem.batch_shape}>"

    # ------------------------------------------------------------------ the report
    def _sparsity(self, reg, code, batch):
        from .stripes import L0Inf

        if isinstance(reg, L0Inf):
            return np.asarray(reg.norm(code)).reshape(batch)
        k = len(reg.signal_shape) if reg.signal_shape is not None else 1
        flat = np.asarray(code).reshape((math.prod(code.shape[:k]), -1))
        return np.count_nonzero(flat, axis=0).reshape(batch)

    def feasibility(self, codes) -> Feasibility:
        """Whether ``codes = [γ_1, …, γ_L]`` (or a :class:`proxcore.Result`) solve the DCP, and by how much.

        Parameters
        ----------
        codes : sequence of array_like, or a Result
            One code per layer, shallowest first, each ``in_shape_i + batch``
            (the problem's batch).

        Returns
        -------
        Feasibility
        """
        codes = getattr(codes, "codes", codes)
        try:
            codes = list(codes)
        except TypeError:
            raise InvalidParameterError(f"The 'codes' parameter must be a list of {len(self.layers)} arrays; "
                                        f"got {codes!r}.") from None
        residuals = layer_residuals(self.problem, codes)
        batch = self.problem.batch_shape
        sparsities = tuple(self._sparsity(layer.regularizer, np.asarray(code), batch)
                           for layer, code in zip(self.layers, codes))
        ok = np.ones(batch, dtype=bool)
        for r, t, k, s in zip(residuals, self.tolerances, sparsities, self.budgets):
            ok &= (r <= t) & (k <= s)
        return Feasibility(bool(np.all(ok)), ok, residuals, self.tolerances, sparsities, self.budgets)

    def solve(self, method="layered-thresholding", **options):
        """Run a layered pursuit on the DCP's chain; return ``(result, feasibility)``.

        ``layered-omp`` and ``layered-bp-eps`` receive the tolerances
        (``tolerances=``) unless given.

        Examples
        --------
        >>> import numpy as np
        >>> from proxcore.dcp import DCP
        >>> dcp = DCP.chain(np.array([3.0, 0.1, 0.0]), [(np.eye(3), 1, 0.05)])
        >>> res, report = dcp.solve("layered-thresholding")                  # keep the largest entry
        >>> res.codes[0], report.feasible
        (array([3., 0., 0.]), True)
        """
        from .engines import pursuit

        if method in ("layered-omp", "layered-bp-eps"):
            options.setdefault("tolerances", self.tolerances)
        res = pursuit(method)(self.problem, **options)
        return res, self.feasibility(res.codes)


def load_dcp(path, *, y):
    """A :class:`DCP` from a TOML file: a chain spec whose ``[[layer]]`` tables carry ``tolerance``.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from proxcore.dcp import load_dcp
    >>> path = os.path.join(tempfile.mkdtemp(), "dcp.toml")
    >>> with open(path, "w") as f:
    ...     _ = f.write('[[layer]]\\ndictionary = { name = "identity", n = 2 }\\n'
    ...                 'regularizer = { name = "l0-ball", s = 1 }\\ntolerance = 0.1\\n')
    >>> load_dcp(path, y=np.array([2.0, 0.2]))
    <DCP 1 layer(s) (s=1, eps=0.1), batch ()>
    """
    from .spec import read_spec

    return DCP.from_spec(read_spec(path), y=y, base_dir=os.path.dirname(os.path.abspath(os.fspath(path))))
