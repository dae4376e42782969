"""The composer: the objective formula against direct NumPy, and every validation error."""

import networkx as nx
import numpy as np
import pytest

import proxcore as pc
from tests.conftest import frozen


def matrices(seed, dims):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((a, b)) for a, b in zip(dims[:-1], dims[1:])], rng


@pytest.mark.parametrize("dims", [[6, 8], [6, 8, 10], [5, 7, 9, 11]])
def test_objective_is_the_multilayer_bp_formula(dims):
    Ds, rng = matrices(0, dims)
    lams = rng.uniform(0.1, 1.0, len(Ds))
    Y = rng.standard_normal((dims[0], 3))
    X = rng.standard_normal((dims[-1], 3))
    problem = pc.chain(Y, [(D, pc.L1(lam)) for D, lam in zip(Ds, lams)])
    # ½‖Y − D_(1,L)X‖² + Σ_{i<L} λ_i‖D_(i+1,L)X‖₁ + λ_L‖X‖₁, written out
    expected = 0.0
    code = X
    for i in reversed(range(len(Ds))):
        expected += lams[i] * np.abs(code).sum()
        code = Ds[i] @ code
    expected += 0.5 * np.sum((Y - code) ** 2)
    assert problem.objective(X) == pytest.approx(expected, rel=1e-12)
    codes = problem.codes(X)
    assert len(codes) == len(Ds)
    np.testing.assert_array_equal(codes[-1], X)
    for i in range(len(Ds) - 1):
        np.testing.assert_allclose(codes[i], Ds[i + 1] @ codes[i + 1], rtol=1e-12)
    assert problem.is_chain and [layer.name for layer in problem.layers] == [f"gamma{i + 1}" for i in range(len(Ds))]
    assert isinstance(problem.graph, nx.DiGraph)


def test_shared_code_and_tree_objectives():
    (A, B), rng = matrices(1, [5, 6, 4])
    B = rng.standard_normal((4, 6))
    y1, y2, x = rng.standard_normal(5), rng.standard_normal(4), rng.standard_normal(6)
    graph = nx.DiGraph()
    graph.add_node("y1", loss=pc.LeastSquares(y1))
    graph.add_node("y2", loss=pc.LeastSquares(y2))
    graph.add_node("g", regularizer=pc.L1(0.5))
    graph.add_edge("g", "y1", operator=pc.Matrix(A))
    graph.add_edge("g", "y2", operator=pc.Matrix(B))
    problem = pc.Problem(graph)
    expected = 0.5 * np.sum((y1 - A @ x) ** 2) + 0.5 * np.sum((y2 - B @ x) ** 2) + 0.5 * np.abs(x).sum()
    assert problem.objective(x) == pytest.approx(expected, rel=1e-12)
    assert not problem.is_chain
    with pytest.raises(pc.InvalidParameterError, match="not a chain.*primal-dual"):
        problem.layers
    with pytest.raises(pc.InvalidParameterError, match="not a chain"):
        pc.solve(problem, method="fista")
    # a diamond: x feeds a and b, which both feed y
    Da, Db, Ea, Eb = (rng.standard_normal(s) for s in ((5, 3), (5, 2), (3, 4), (2, 4)))
    y, x = rng.standard_normal(5), rng.standard_normal(4)
    g = nx.DiGraph()
    g.add_node("y", loss=pc.LeastSquares(y))
    g.add_node("a", regularizer=pc.L1(0.2))
    g.add_node("b")
    g.add_node("x", regularizer=pc.L1(0.3))
    for u, v, M in (("a", "y", Da), ("b", "y", Db), ("x", "a", Ea), ("x", "b", Eb)):
        g.add_edge(u, v, operator=pc.Matrix(M))
    expected = (0.5 * np.sum((y - Da @ Ea @ x - Db @ Eb @ x) ** 2) + 0.2 * np.abs(Ea @ x).sum()
                + 0.3 * np.abs(x).sum())
    assert pc.Problem(g).objective(x) == pytest.approx(expected, rel=1e-12)


def test_forward_and_backward_are_adjoint():
    (A, B), rng = matrices(2, [5, 6, 7])
    problem = pc.chain(rng.standard_normal((5, 2)), [(A, pc.L1(0.1)), (B, pc.L1(0.1))])
    x = rng.standard_normal((7, 2))
    c = {"y": rng.standard_normal((5, 2)), "gamma1": rng.standard_normal((6, 2))}
    values = problem.forward(x)
    lhs = np.vdot(values["y"], c["y"]) + np.vdot(values["gamma1"], c["gamma1"])
    rhs = np.vdot(x, problem.backward(c))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def graph_with(*edges, data=("y",), y=np.ones(3)):
    g = nx.DiGraph()
    for d in data:
        g.add_node(d, loss=pc.LeastSquares(y))
    for u, v, op in edges:
        g.add_edge(u, v, operator=op)
    return g


def _with_node_attrs(graph, node, **attrs):
    graph.nodes[node].update(attrs)
    return graph


def test_cycle_is_reported_with_its_path():
    g = graph_with(("a", "y", pc.Identity(3)), ("b", "a", pc.Identity(3)), ("a", "b", pc.Identity(3)))
    with pytest.raises(pc.GraphError, match="cycle: .*a -> b -> a|cycle: .*b -> a -> b"):
        pc.Problem(g)


@pytest.mark.parametrize("build, match", [
    (lambda: graph_with(("a", "y", pc.Identity(3)), ("c", "d", pc.Identity(3))), "not connected"),
    (lambda: graph_with(("a", "y", pc.Identity(3)), data=()), "data node"),
    (lambda: graph_with(("a", "y", pc.Identity(3)), ("b", "y", pc.Identity(3))), "deepest code.*'a', 'b'"),
    (lambda: graph_with(("a", "y", pc.Identity(3)), ("b", "a", pc.Identity(4))), "shapes disagree at node 'a'"),
    (lambda: graph_with(("a", "y", np.eye(3))), "edge 'a' -> 'y'.*operator"),
    (lambda: graph_with(("a", "y", pc.Identity(4))), "data y of node 'y'"),
    (lambda: graph_with(("y", "a", pc.Identity(3)), ("b", "y", pc.Identity(3))), "data node 'y' has edges"),
    (lambda: nx.DiGraph(), "the problem graph is empty"),
    (lambda: _with_node_attrs(graph_with(("a", "y", pc.Identity(3))), "y", regularizer=pc.L1(0.1)),
     "data node 'y' carries both a loss and a regularizer"),
    (lambda: _with_node_attrs(graph_with(("a", "y1", pc.Identity(3)), ("a", "y2", pc.Identity(3)), data=("y1", "y2"),
                                         y=np.ones((3, 2))), "y2", loss=pc.LeastSquares(np.ones((3, 4)))),
     r"the data of node 'y2' has batch shape \(4,\) but the data of node 'y1' has \(2,\)"),
])
def test_validation_errors_name_the_culprit(build, match):
    with pytest.raises(pc.GraphError, match=match):
        pc.Problem(build())


def test_attribute_errors_name_the_node():
    g = graph_with(("a", "y", pc.Identity(3)))
    g.nodes["a"]["regularizer"] = "l1"
    with pytest.raises(pc.GraphError, match="regularizer of node 'a'"):
        pc.Problem(g)
    g = graph_with(("a", "y", pc.Identity(3)))
    g.nodes["y"]["loss"] = lambda z: 0.0
    with pytest.raises(pc.GraphError, match="loss of node 'y'"):
        pc.Problem(g)
    with pytest.raises(pc.InvalidParameterError, match="graph"):
        pc.Problem({"y": 1})
    assert issubclass(pc.GraphError, ValueError)


def test_chain_errors():
    with pytest.raises(pc.InvalidParameterError, match="layers"):
        pc.chain(np.ones(3), [])
    with pytest.raises(pc.InvalidParameterError, match="layer 1"):
        pc.chain(np.ones(3), [np.eye(3)])
    with pytest.raises(pc.InvalidParameterError, match="layer 2 .*Regularizer"):
        pc.chain(np.ones(3), [(np.eye(3), pc.L1(0.1)), (np.eye(3), 0.1)])
    with pytest.raises(pc.GraphError, match="shapes disagree"):
        pc.chain(np.ones(3), [(np.eye(3), pc.L1(0.1)), (np.ones((4, 2)), pc.L1(0.1))])
    with pytest.raises(pc.InvalidParameterError, match="y contains NaN"):
        pc.chain(np.array([1.0, np.nan, 0.0]), [(np.eye(3), pc.L1(0.1))])
    problem = pc.chain(np.ones((3, 2)), [(np.eye(3), pc.L1(0.1))])
    with pytest.raises(pc.InvalidParameterError, match="x"):
        problem.objective(np.ones(3))


def test_building_never_touches_caller_arrays():
    D1, D2, Y = frozen(np.eye(3), np.ones((3, 2)), np.ones((3, 4)))
    problem = pc.chain(Y, [(D1, pc.L1(0.1)), (D2, pc.L1(0.1))])
    problem.objective(frozen(np.ones((2, 4))))
    assert problem.dtype == np.float64
    assert pc.chain(Y.astype(np.float32), [(D1.astype(np.float32), pc.L1(0.1))]).dtype == np.float32


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=20, deadline=None)
@given(dims=st.lists(st.integers(1, 5), min_size=2, max_size=4), batch=st.integers(1, 3),
       seed=st.integers(0, 2**16), nonneg=st.booleans())
def test_objective_formula_property(dims, batch, seed, nonneg):
    """Any chain: the objective equals the formula written out; codes follow the model relations."""
    rng = np.random.default_rng(seed)
    Ds = [rng.standard_normal((a, b)) for a, b in zip(dims[:-1], dims[1:])]
    lams = rng.uniform(0, 1, len(Ds))
    Y, X = rng.standard_normal((dims[0], batch)), np.abs(rng.standard_normal((dims[-1], batch)))
    regs = [pc.L1(lam, nonneg=nonneg and i == len(Ds) - 1) for i, lam in enumerate(lams)]
    problem = pc.chain(Y, list(zip(Ds, regs)))
    expected, code = 0.0, X
    for i in reversed(range(len(Ds))):
        expected += lams[i] * np.abs(code).sum()
        code = Ds[i] @ code
    expected += 0.5 * np.sum((Y - code) ** 2)
    assert problem.objective(X) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_codes_do_not_compute_the_data_images(rng):
    """``codes`` applies the operators the codes need, not the one into the data (a product saved per result)."""
    calls = []

    class Counted(pc.Matrix):
        def apply(self, x):
            calls.append(self.array.shape)
            return super().apply(x)

    D1, D2 = Counted(rng.standard_normal((5, 6))), Counted(rng.standard_normal((6, 8)))
    problem = pc.chain(rng.standard_normal((5, 3)), [(D1, pc.L1(0.1)), (D2, pc.L1(0.1))])
    x = rng.standard_normal((8, 3))
    codes = problem.codes(x)
    assert calls == [(6, 8)]
    np.testing.assert_allclose(codes[0], D2.array @ x)
    np.testing.assert_array_equal(codes[1], x)
    calls.clear()
    problem.forward(x)
    assert calls == [(6, 8), (5, 6)]
