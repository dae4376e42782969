"""Problems as graphs: what to solve, kept apart from how.

A :class:`Problem` wraps a :class:`networkx.DiGraph` whose nodes are
variables and whose edges are operators:

- the *data* node carries the loss (``loss=pc.LeastSquares(y)``);
- each *code* node carries its regularizer (``regularizer=...``);
- an edge ``u -> v`` carries ``operator=D``, the map from the deeper code
  ``u`` to the layer ``v`` above it.

``pc.chain(y, [(D1, g1), ..., (DL, gL)])`` builds the common case, the chain
``y ≈ D1 γ1``, ``γ_{i−1} = D_i γ_i``. The problem validates itself on
construction and compiles the chain into ``problem.layers``, the list the
engines read (engines never touch networkx).
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np

from ._validation import InvalidParameterError
from .losses import LeastSquares
from .operators import LinearOperator, Matrix, result_dtype
from .regularizers import Regularizer, Zero

__all__ = ["Problem", "Layer", "chain", "GraphError"]

DATA = "y"


class GraphError(ValueError):
    """The problem graph is malformed (a cycle, a missing attribute, shapes that disagree)."""


@dataclasses.dataclass(frozen=True)
class Layer:
    """One compiled layer of a chain: ``operator`` maps this code to the layer above."""

    name: str
    operator: LinearOperator
    regularizer: Regularizer


class Problem:
    """A sparse-coding objective, declared as a graph, validated on construction.

    For a chain of ``L`` layers with least-squares data term the objective,
    a function of the deepest code ``x = γ_L``, is::

        F(x) = ½‖y − D_(1,L) x‖² + Σ_{i<L} g_i(D_(i+1,L) x) + g_L(x)

    with ``D_(i,L) = D_i ⋯ D_L``.

    Parameters
    ----------
    graph : networkx.DiGraph
        Nodes are variables, edges ``deeper -> above`` carry ``operator``.
        Exactly one node has a ``loss``; every other node is a code and may
        carry a ``regularizer`` (default :class:`proxcore.Zero`).

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
        if not isinstance(graph, nx.DiGraph):
            raise InvalidParameterError(
                f"Problem expects a networkx.DiGraph; got {type(graph).__name__}. "
                "Use pc.chain(y, layers) for a chain of layers."
            )
        self.graph = graph
        self.data_node, self.loss = _validate(graph)
        self.layers = _compile_chain(graph, self.data_node)
        y = self.loss.y
        k = len(self.layers[0].operator.out_shape)
        self.batch_shape = y.shape[k:]
        self.dtype = result_dtype(y.dtype, *(layer.operator for layer in self.layers))
        if self.dtype.kind != "f":
            self.dtype = np.dtype(np.float64)

    @property
    def y(self):
        """The data."""
        return self.loss.y

    @property
    def in_shape(self) -> tuple:
        """The shape of one deepest code."""
        return tuple(self.layers[-1].operator.in_shape)

    def codes(self, x) -> list:
        """Every layer's code ``[γ_1, …, γ_L]`` from the deepest code ``x = γ_L``."""
        codes = [np.asarray(x)]
        for layer in reversed(self.layers[1:]):
            codes.append(layer.operator.apply(codes[-1]))
        return codes[::-1]

    def objective(self, x) -> float:
        """``F(x)`` at the deepest code ``x``, summed over the batch."""
        x = np.asarray(x)
        expected = self.in_shape + self.batch_shape
        if x.shape != expected:
            raise InvalidParameterError(f"objective expects x of shape {expected}; got {x.shape}.")
        codes = self.codes(x)
        total = self.loss.value(self.layers[0].operator.apply(codes[0]))
        for layer, code in zip(self.layers, codes):
            total += layer.regularizer.value(code)
        return float(total)

    def __repr__(self):
        parts = " <- ".join([self.data_node] + [layer.name for layer in self.layers])
        return f"<Problem {parts}, batch {self.batch_shape}>"


def _validate(graph):
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
    if len(data) != 1:
        raise GraphError(f"the problem graph needs exactly one data node (with a 'loss'); found {data or 'none'}.")
    data_node = data[0]
    loss = graph.nodes[data_node]["loss"]
    if not isinstance(loss, LeastSquares):
        raise GraphError(f"the loss of node {data_node!r} must be a pc.LeastSquares; got {type(loss).__name__}.")
    for node, attrs in graph.nodes(data=True):
        reg = attrs.get("regularizer")
        if node != data_node and reg is not None and not isinstance(reg, Regularizer):
            raise GraphError(f"the regularizer of node {node!r} must be a pc.Regularizer; got {type(reg).__name__}.")
    for u, v, attrs in graph.edges(data=True):
        op = attrs.get("operator")
        if not isinstance(op, LinearOperator):
            raise GraphError(f"edge {u!r} -> {v!r} must carry operator=<pc.LinearOperator>; got {op!r}.")
    # shapes: every edge into a node produces that node's shape
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
    data_shape = shapes.get(data_node, (None,))[0]
    if data_shape is None:
        raise GraphError(f"no operator maps a code to the data node {data_node!r}.")
    if loss.y.shape[: len(data_shape)] != data_shape:
        raise GraphError(
            f"the data y has shape {loss.y.shape} but the operator into {data_node!r} produces signals "
            f"of shape {data_shape} (y's leading axes must be one signal, trailing axes a batch)."
        )
    return data_node, loss


def _compile_chain(graph, data_node):
    """The chain ``data <- γ1 <- γ2 <- ...`` as a list of layers; other shapes are refused for now."""
    layers = []
    node = data_node
    while True:
        preds = list(graph.predecessors(node))
        if not preds:
            break
        if len(preds) > 1 or graph.out_degree(preds[0]) != 1:
            raise GraphError(
                f"node {node!r} is fed by {len(preds)} codes; only chains (each variable fed by one "
                "deeper code) are supported by the engines so far."
            )
        (child,) = preds
        op = graph.edges[child, node]["operator"]
        reg = graph.nodes[child].get("regularizer") or Zero()
        layers.append(Layer(str(child), op, reg.for_signal(tuple(op.in_shape))))
        node = child
    return layers


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
        The objective ``½‖y − D_(1,L) γ_L‖² + Σ_{i<L} g_i(D_(i+1,L) γ_L) + g_L(γ_L)``.

    Examples
    --------
    >>> import numpy as np, proxcore as pc
    >>> D = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    >>> problem = pc.chain(np.array([2.0, 2.0]), [(D, pc.L1(0.5))])
    >>> problem.objective(np.array([0.0, 0.0, 2.0]))
    1.0
    """
    if isinstance(layers, tuple) and len(layers) == 2 and isinstance(layers[1], Regularizer):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise InvalidParameterError("chain needs at least one (operator, regularizer) layer.")
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
