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
pass) and ``layered-omp`` (plugin ``models``: OMP per layer, stopped at the
layer's tolerance); :meth:`DCP.solve` runs one and reports.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os

import numpy as np

from ._validation import InvalidParameterError, check_scalar
from .regularizers import L0Ball

__all__ = ["DCP", "Feasibility", "load_dcp"]


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
    tolerances : sequence of float
        ``[ε_0, …, ε_{L−1}]``, bounds on the squared residuals
        ``‖γ_{i−1} − D_iγ_i‖²`` (``γ_0 = y``), each ``≥ 0``.

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

    def __init__(self, problem, tolerances):
        from .problem import Problem
        from .stripes import L0Inf

        if not isinstance(problem, Problem):
            raise InvalidParameterError(f"The 'problem' parameter of DCP must be a pc.Problem (see pc.chain); "
                                        f"got {type(problem).__name__}.")
        layers = problem.layers  # refuses a non-chain with a clear message
        for i, layer in enumerate(layers, start=1):
            if not isinstance(layer.regularizer, (L0Ball, L0Inf)):
                raise InvalidParameterError(
                    f"layer {i} of a DCP needs a sparsity budget, pc.L0Ball(s) or pc.L0Inf(s, ...); "
                    f"got {layer.regularizer!r}."
                )
        if isinstance(tolerances, (str, bytes)) or not hasattr(tolerances, "__len__"):
            raise InvalidParameterError(f"The 'tolerances' parameter of DCP must be a sequence of {len(layers)} "
                                        f"floats; got {tolerances!r}.")
        if len(tolerances) != len(layers):
            raise InvalidParameterError(f"The 'tolerances' parameter of DCP must have one entry per layer "
                                        f"({len(layers)}); got {len(tolerances)}.")
        self.problem = problem
        self.tolerances = tuple(
            check_scalar(t, "tolerances", "DCP", low=0.0, high=math.inf, high_open=True) for t in tolerances)

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
        """``DCP`` from a chain spec whose ``[[layer]]`` tables also carry ``tolerance`` (``ε_{i−1}``).

        The rest of the schema is :func:`proxcore.Problem.from_spec`'s; the
        budgets are the regularizers ``l0-ball`` (``s``) or ``l0inf``.

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
        layers = spec.get("layer")
        if not isinstance(layers, (list, tuple)) or not layers:
            raise InvalidParameterError("a DCP spec needs at least one [[layer]] table (dictionary, regularizer, "
                                        "tolerance).")
        stripped, tolerances = [], []
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict):
                raise InvalidParameterError(f"spec.layer[{i}] must be a table; got {layer!r}.")
            if "tolerance" not in layer:
                raise InvalidParameterError(f"Missing key 'tolerance' in spec.layer[{i}] (the DCP's ε_{i}).")
            tol = layer["tolerance"]
            if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
                raise InvalidParameterError(f"spec.layer[{i}].tolerance must be a number; got {tol!r}.")
            tolerances.append(tol)
            stripped.append({k: v for k, v in layer.items() if k != "tolerance"})
        problem = problem_from_spec({**spec, "layer": stripped}, y=y, base_dir=base_dir)
        return cls(problem, tolerances)

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
        from ._validation import check_array

        codes = getattr(codes, "codes", codes)
        layers = self.layers
        try:
            codes = list(codes)
        except TypeError:
            raise InvalidParameterError(f"The 'codes' parameter must be a list of {len(layers)} arrays; "
                                        f"got {codes!r}.") from None
        if len(codes) != len(layers):
            raise InvalidParameterError(f"The 'codes' parameter must hold one code per layer ({len(layers)}); "
                                        f"got {len(codes)}.")
        batch = self.problem.batch_shape
        above = np.asarray(self.problem.y)
        residuals, sparsities = [], []
        for i, (layer, code) in enumerate(zip(layers, codes), start=1):
            code = check_array(code, f"codes[{i - 1}]")
            expected = tuple(layer.operator.in_shape) + batch
            if code.shape != expected:
                raise InvalidParameterError(f"The 'codes' parameter: layer {i}'s code must have shape {expected}; "
                                            f"got {code.shape}.")
            r = above - np.asarray(layer.operator.apply(code))
            k = len(layer.operator.out_shape)
            residuals.append(np.sum(np.asarray(r, dtype=np.float64) ** 2, axis=tuple(range(k))).reshape(batch))
            sparsities.append(self._sparsity(layer.regularizer, code, batch))
            above = code
        ok = np.ones(batch, dtype=bool)
        for r, t, k, s in zip(residuals, self.tolerances, sparsities, self.budgets):
            ok &= (r <= t) & (k <= s)
        return Feasibility(bool(np.all(ok)), ok, tuple(residuals), self.tolerances, tuple(sparsities), self.budgets)

    def solve(self, method="layered-thresholding", **options):
        """Run a layered pursuit on the DCP's chain; return ``(result, feasibility)``.

        ``layered-omp`` receives the tolerances (``tolerances=``) unless given.

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

        if method == "layered-omp":
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
