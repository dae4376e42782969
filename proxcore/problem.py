"""Problems as graphs: what to solve, kept apart from how.

A :class:`Problem` wraps a :class:`networkx.DiGraph` whose nodes are
variables and whose edges are operators:

- a *data* node carries the loss (``loss=pc.LeastSquares(y)``);
- each *code* node carries its regularizer (``regularizer=...``; none means
  :class:`proxcore.Zero`);
- an edge ``u -> v`` carries ``operator=D``, the map from the deeper code
  ``u`` to the variable ``v`` above it.

A node's value is the sum of its incoming edges' images, and everything is a
linear function of the one *deepest code* ``x`` (the only node no edge
enters). ``pc.chain(y, [(D1, g1), ..., (DL, gL)])`` builds the common case,
the chain ``y ≈ D1 γ1``, ``γ_{i−1} = D_i γ_i``. Other shapes are expressible:
a code shared by two data terms (two data nodes fed by one code: their
losses add up), a code feeding two branches that meet again (a tree or a
diamond). The problem validates itself on construction; chains are compiled
into ``problem.layers``, the list the layer-wise engines read (engines never
touch networkx), and every problem into ``problem.data_terms`` and
``problem.terms``, the form ``Σ_d ½‖y_d − A_d x‖² + Σ_v g_v(M_v x)`` the
exact ``primal-dual`` engine reads.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._validation import InvalidParameterError
from .losses import LeastSquares
from .operators import LinearOperator, Matrix, result_dtype
from .regularizers import Regularizer, Zero

__all__ = ["Problem", "Layer", "Term", "chain", "GraphError"]

DATA = "y"


class GraphError(InvalidParameterError):
    """The problem graph is malformed (a cycle, a missing attribute, shapes that disagree).

    A :class:`ValueError` (and, as every :class:`proxcore.InvalidParameterError`,
    a :class:`TypeError`); the message names the node or edge at fault.
    """


@dataclasses.dataclass(frozen=True)
class Layer:
    """One compiled layer of a chain: ``operator`` maps this code to the layer above."""

    name: str
    operator: LinearOperator
    regularizer: Regularizer


@dataclasses.dataclass(frozen=True)
class Term:
    """One term ``f(A x)`` of a compiled problem: ``node``'s value is ``operator @ x``.

    ``operator`` is None when the node is the deepest code itself (``A = I``);
    ``function`` is the node's loss or regularizer.
    """

    node: object
    operator: LinearOperator | None
    function: object


class Problem:
    """A sparse-coding objective, declared as a graph, validated on construction.

    For a chain of ``L`` layers with least-squares data term the objective,
    a function of the deepest code ``x = γ_L``, is::

        F(x) = ½‖y − D_(1,L) x‖² + Σ_{i<L} g_i(D_(i+1,L) x) + g_L(x)

    with ``D_(i,L) = D_i ⋯ D_L``. In general, with ``M_v`` the linear map from
    ``x`` to node ``v`` (the sum over the graph's paths of the products of
    the edges' operators)::

        F(x) = Σ_{data d} ½‖y_d − M_d x‖² + Σ_{codes v} g_v(M_v x)

    Parameters
    ----------
    graph : networkx.DiGraph
        Nodes are variables, edges ``deeper -> above`` carry ``operator``.
        Data nodes carry a ``loss`` (:class:`proxcore.LeastSquares`); every
        other node is a code and may carry a ``regularizer``. Exactly one
        code, the deepest, has no incoming edge.

    Raises
    ------
    GraphError
        On a cycle (the message shows the path), a disconnected graph, no
        data node, no or several deepest codes, a missing or wrong
        attribute, or shapes that disagree along an edge; the message names
        the node or edge at fault.

    Examples
    --------
    >>> import networkx as nx, numpy as np, proxcore as pc
    >>> D = pc.Matrix(np.eye(2))
    >>> g = nx.DiGraph()
    >>> g.add_node("y", loss=pc.LeastSquares(np.array([1.0, -3.0])))
    >>> g.add_node("gamma1", regularizer=pc.L1(1.0))
    >>> g.add_edge("gamma1", "y", operator=D)
    >>> problem = pc.Problem(g)
    >>> problem.objective(np.array([0.0, -2.0]))
    3.0
    """

    def __init__(self, graph):
        import networkx as nx  # on first use: networkx is a fifth of proxcore's import time

        if not isinstance(graph, nx.DiGraph):
            raise InvalidParameterError(
                f"The 'graph' parameter of Problem must be a networkx.DiGraph; got {type(graph).__name__}. "
                "Use pc.chain(y, layers) for a chain of layers."
            )
        self.graph = graph
        self.data_nodes, self.source, self.shapes = _validate(graph)
        self.data_node = self.data_nodes[0]
        self.loss = graph.nodes[self.data_node]["loss"]
        # topological order from the deepest code up (deterministic for a given insertion order)
        self.order = list(nx.topological_sort(graph))
        self.code_nodes = [n for n in reversed(self.order) if n not in self.data_nodes]  # shallowest first
        self._plan = [  # (node, [(predecessor, operator), ...]) from the deepest code up
            (n, [(p, graph.edges[p, n]["operator"]) for p in graph.predecessors(n)])
            for n in self.order if n != self.source
        ]
        # the codes need only the nodes they depend on: not the data nodes' images (a product with D_1 saved)
        needed = set(self.code_nodes).union(*(nx.ancestors(graph, n) for n in self.code_nodes))
        self._code_plan = [(n, incoming) for n, incoming in self._plan if n in needed]
        self.regularizers = {
            n: (graph.nodes[n].get("regularizer") or Zero()).for_signal(self.shapes[n]) for n in self.code_nodes
        }
        losses = [graph.nodes[d]["loss"] for d in self.data_nodes]
        k = len(self.shapes[self.data_node])
        self.batch_shape = losses[0].y.shape[k:]
        for d, loss in zip(self.data_nodes, losses):
            if loss.y.shape[len(self.shapes[d]):] != self.batch_shape:
                raise GraphError(
                    f"the data of node {d!r} has batch shape {loss.y.shape[len(self.shapes[d]):]} but the data "
                    f"of node {self.data_node!r} has {self.batch_shape}; every data node needs the same batch."
                )
        ops = [attrs["operator"] for _, _, attrs in graph.edges(data=True)]
        self.dtype = result_dtype(*(loss.y.dtype for loss in losses), *ops)
        if self.dtype is None or self.dtype.kind != "f":
            self.dtype = np.dtype(np.float64)
        self._layers, self._not_chain = _compile_chain(graph, self.data_nodes, self.regularizers)
        maps = _compile_maps(graph, self.order, self.source)
        self.data_terms = tuple(Term(d, maps[d], loss) for d, loss in zip(self.data_nodes, losses))
        self.terms = tuple(
            Term(n, maps[n], self.regularizers[n])
            for n in reversed(self.code_nodes)  # deepest first
            if not isinstance(self.regularizers[n], Zero)
        )

    @classmethod
    def from_spec(cls, spec, *, y, base_dir=None) -> Problem:
        """Build a problem from plain data (as read from TOML or JSON); see :mod:`proxcore.spec`.

        Examples
        --------
        >>> import numpy as np, proxcore as pc
        >>> spec = {"layer": [{"dictionary": {"name": "matrix", "array": [[1.0, 0.0], [0.0, 1.0]]},
        ...                    "regularizer": {"name": "l1", "lam": 0.5}}]}
        >>> pc.Problem.from_spec(spec, y=np.array([2.0, 0.0])).objective(np.array([1.5, 0.0]))
        0.875
        """
        from .spec import problem_from_spec

        return problem_from_spec(spec, y=y, base_dir=base_dir)

    # ------------------------------------------------------------------ structure
    @property
    def is_chain(self) -> bool:
        """True when the graph is a chain ``y <- γ1 <- ... <- γL`` (the layer-wise engines need it)."""
        return self._not_chain is None

    @property
    def layers(self) -> list:
        """The chain's layers from the data side to the deepest code.

        Raises :class:`InvalidParameterError` for a graph that is not a chain,
        saying why; the ``primal-dual`` engine solves those.
        """
        if self._not_chain is not None:
            raise InvalidParameterError(
                f"this problem is not a chain ({self._not_chain}); the layer-wise engines (ista, fista, "
                "ml-ista, ml-fista) need one. Use method='primal-dual', which solves any problem the "
                "composer builds."
            )
        return self._layers

    @property
    def y(self):
        """The data (of the first data node)."""
        return self.loss.y

    @property
    def in_shape(self) -> tuple:
        """The shape of one deepest code."""
        return tuple(self.shapes[self.source])

    # ------------------------------------------------------------------ evaluation
    def forward(self, x) -> dict:
        """Every node's value from the deepest code ``x``: ``{node: M_node x}`` (one sweep, no copies of ``x``)."""
        return self._sweep(x, self._plan)

    def _sweep(self, x, plan):
        values = {self.source: x}
        for node, incoming in plan:
            total = None
            for pred, op in incoming:
                image = op.apply(values[pred])
                total = image if total is None else total + image
            values[node] = total
        return values

    def backward(self, cotangents: dict):
        """``Σ_v M_vᵀ c_v`` for cotangents ``{node: c_v}``: the adjoint of :meth:`forward`."""
        acc = dict(cotangents)
        for node, incoming in reversed(self._plan):
            if node not in acc:
                continue
            c = acc.pop(node)
            for pred, op in incoming:
                back = op.adjoint(c)
                acc[pred] = back if pred not in acc else acc[pred] + back
        if self.source in acc:
            return acc[self.source]
        return np.zeros(self.in_shape + self.batch_shape, dtype=self.dtype)

    def codes(self, x) -> list:
        """Every code ``[γ_1, …, γ_L]`` (shallowest first) from the deepest code ``x = γ_L``."""
        values = self._sweep(np.asarray(x), self._code_plan)
        return [values[n] for n in self.code_nodes]

    def check_x(self, x, name="x", owner="objective"):
        """``x`` as an array of shape ``in_shape + batch_shape``, or an error naming ``name``."""
        x = np.asarray(x)
        expected = self.in_shape + self.batch_shape
        if x.shape != expected:
            raise InvalidParameterError(f"The {name!r} parameter of {owner} must have shape {expected}; got {x.shape}.")
        return x

    def objective(self, x) -> float:
        """``F(x)`` at the deepest code ``x``, summed over the batch."""
        values = self.forward(self.check_x(x))
        total = 0.0
        for d in self.data_nodes:
            total += self.graph.nodes[d]["loss"].value(values[d])
        for node in self.code_nodes:
            total += self.regularizers[node].value(values[node])
        return float(total)

    def __repr__(self):
        if self._not_chain is None:
            parts = " <- ".join([str(self.data_node)] + [layer.name for layer in self._layers])
        else:
            parts = f"graph of {self.graph.number_of_nodes()} nodes, deepest code {self.source!r}"
        return f"<Problem {parts}, batch {self.batch_shape}>"


def _validate(graph):
    import networkx as nx

    if graph.number_of_nodes() == 0:
        raise GraphError("the problem graph is empty.")
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"
        raise GraphError(f"the problem graph has a cycle: {path}.")
    if not nx.is_weakly_connected(graph):
        parts = [sorted(map(str, c)) for c in nx.weakly_connected_components(graph)]
        raise GraphError(f"the problem graph is not connected; its parts are {parts}.")
    data = [n for n, attrs in graph.nodes(data=True) if "loss" in attrs]
    if not data:
        raise GraphError("the problem graph needs a data node (a node with loss=pc.LeastSquares(y)); found none.")
    for node in data:
        attrs = graph.nodes[node]
        if not isinstance(attrs["loss"], LeastSquares):
            raise GraphError(
                f"the loss of node {node!r} must be a pc.LeastSquares; got {type(attrs['loss']).__name__}."
            )
        if attrs.get("regularizer") is not None:
            raise GraphError(f"data node {node!r} carries both a loss and a regularizer; give it only the loss.")
        if graph.out_degree(node):
            above = sorted(map(str, graph.successors(node)))
            raise GraphError(f"data node {node!r} has edges to {above}; edges go from a code to the data above it.")
        if not graph.in_degree(node):
            raise GraphError(f"no operator maps a code to the data node {node!r}.")
    for node, attrs in graph.nodes(data=True):
        reg = attrs.get("regularizer")
        if node not in data and reg is not None and not isinstance(reg, Regularizer):
            raise GraphError(f"the regularizer of node {node!r} must be a pc.Regularizer; got {type(reg).__name__}.")
    for u, v, attrs in graph.edges(data=True):
        op = attrs.get("operator")
        if not isinstance(op, LinearOperator):
            raise GraphError(f"edge {u!r} -> {v!r} must carry operator=<pc.LinearOperator>; got {op!r}.")
    sources = [n for n in graph.nodes if graph.in_degree(n) == 0]
    if len(sources) != 1:
        raise GraphError(
            f"the problem graph needs exactly one deepest code (a node no edge enters); found {len(sources)}: "
            f"{sorted(map(str, sources))}. Stack independent codes into one code with a block operator."
        )
    # shapes: every edge into a node produces that node's shape, every edge out of it reads it
    shapes = {}
    for u, v, attrs in graph.edges(data=True):
        op = attrs["operator"]
        for node, shape, role in ((v, tuple(op.out_shape), "out_shape"), (u, tuple(op.in_shape), "in_shape")):
            if shapes.setdefault(node, (shape, (u, v, role)))[0] != shape:
                other = shapes[node][1]
                raise GraphError(
                    f"shapes disagree at node {node!r}: edge {u!r} -> {v!r} gives {shape} ({role}) but edge "
                    f"{other[0]!r} -> {other[1]!r} gives {shapes[node][0]} ({other[2]})."
                )
    shapes = {node: value[0] for node, value in shapes.items()}
    for node in data:
        y = graph.nodes[node]["loss"].y
        if y.shape[: len(shapes[node])] != shapes[node]:
            raise GraphError(
                f"the data y of node {node!r} has shape {y.shape} but the operator into it produces signals "
                f"of shape {shapes[node]} (y's leading axes must be one signal, trailing axes a batch)."
            )
    return data, sources[0], shapes


def _compile_chain(graph, data_nodes, regularizers):
    """The chain ``data <- γ1 <- γ2 <- ...`` as a list of layers, or None and the reason it is not a chain."""
    if len(data_nodes) > 1:
        return None, f"it has {len(data_nodes)} data nodes {sorted(map(str, data_nodes))}"
    layers = []
    node = data_nodes[0]
    while True:
        preds = list(graph.predecessors(node))
        if not preds:
            break
        if len(preds) > 1:
            return None, f"node {node!r} is fed by {len(preds)} codes {sorted(map(str, preds))}"
        (child,) = preds
        if graph.out_degree(child) != 1:
            return None, f"code {child!r} feeds {graph.out_degree(child)} nodes"
        op = graph.edges[child, node]["operator"]
        layers.append(Layer(str(child), op, regularizers[child]))
        node = child
    return layers, None


def _compile_maps(graph, order, source):
    """``{node: M_node}``, the operator from the deepest code to each node (None for the code itself)."""
    maps = {source: None}
    for node in order:
        if node == source:
            continue
        total = None
        for pred in graph.predecessors(node):
            op = graph.edges[pred, node]["operator"]
            path = op if maps[pred] is None else op @ maps[pred]
            total = path if total is None else total + path
        maps[node] = total
    return maps


def chain(y, layers) -> Problem:
    """Build the chain ``y ≈ D1 γ1``, ``γ_{i−1} = D_i γ_i`` with regularizers ``g_i`` on ``γ_i``.

    Parameters
    ----------
    y : array_like
        The data: one signal's shape (``D1.out_shape``) then optional batch axes;
        a dictionary batch is ``(n, N)``, signals as columns.
    layers : sequence of (operator, regularizer)
        From the data side to the deepest layer. Arrays and scipy.sparse
        matrices are wrapped in :class:`proxcore.Matrix`.

    Returns
    -------
    Problem
        The multi-layer basis pursuit objective
        ``½‖y − D_(1,L) γ_L‖² + Σ_{i<L} g_i(D_(i+1,L) γ_L) + g_L(γ_L)``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    >>> problem = pc.chain(np.array([2.0, 2.0]), [(D, pc.L1(0.5))])
    >>> problem.objective(np.array([0.0, 0.0, 2.0]))
    1.0
    >>> two = pc.chain(np.array([2.0, 2.0]), [(D, pc.L1(0.5)), (np.ones((3, 1)), pc.L1(1.0))])
    >>> two.objective(np.array([1.0]))      # γ1 = (1,1,1), D γ1 = y: 0 + 0.5·3 + 1·1
    2.5
    """
    if isinstance(layers, tuple) and len(layers) == 2 and isinstance(layers[1], Regularizer):
        layers = [layers]
    try:
        layers = list(layers)
    except TypeError:
        raise InvalidParameterError(
            f"The 'layers' parameter of chain must be a list of (operator, regularizer) pairs; got {layers!r}."
        ) from None
    if not layers:
        raise InvalidParameterError("The 'layers' parameter of chain needs at least one (operator, regularizer) pair.")
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_node(DATA, loss=LeastSquares(y))
    above = DATA
    for i, item in enumerate(layers, start=1):
        try:
            op, reg = item
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"layer {i} of chain must be a pair (operator, regularizer); got {item!r}."
            ) from None
        if not isinstance(op, LinearOperator):
            op = Matrix(op)
        if not isinstance(reg, Regularizer):
            raise InvalidParameterError(
                f"layer {i} of chain needs a pc.Regularizer (pc.Zero() for none); got {type(reg).__name__}."
            )
        name = f"gamma{i}"
        graph.add_node(name, regularizer=reg)
        graph.add_edge(name, above, operator=op)
        above = name
    return Problem(graph)
