"""Declarative specs: from_spec, load_problem and chain agree; every schema error names the word; the CLI."""

import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

import proxcore as pc


@pytest.fixture
def model(tmp_path):
    rng = np.random.default_rng(0)
    D1, D2 = rng.standard_normal((6, 8)), rng.standard_normal((8, 10))
    np.save(tmp_path / "D1.npy", D1)
    np.save(tmp_path / "D2.npy", D2)
    Y = rng.standard_normal((6, 3))
    np.save(tmp_path / "Y.npy", Y)
    (tmp_path / "model.toml").write_text(
        '[[layer]]\ndictionary = { name = "matrix", path = "D1.npy" }\n'
        'regularizer = { name = "l1", lam = 0.1 }\n\n'
        '[[layer]]\ndictionary = { name = "matrix", path = "D2.npy" }\n'
        'regularizer = { name = "l1", lam = 0.05, nonneg = false }\n'
    )
    return tmp_path, D1, D2, Y, rng


def test_from_spec_load_problem_and_chain_build_the_same_objective(model):
    folder, D1, D2, Y, rng = model
    by_chain = pc.chain(Y, [(D1, pc.L1(0.1)), (D2, pc.L1(0.05))])
    by_file = pc.load_problem(folder / "model.toml", y=Y)
    spec = {"layer": [{"dictionary": {"name": "matrix", "array": D1.tolist()}, "regularizer": {"name": "l1", "lam": 0.1}},
                      {"dictionary": {"name": "matrix", "array": D2.tolist()},
                       "regularizer": {"name": "l1", "lam": 0.05}}]}
    by_spec = pc.Problem.from_spec(spec, y=Y)
    by_path = pc.load_problem(str(folder / "model.toml"), y=str(folder / "Y.npy"))
    for _ in range(3):
        X = rng.standard_normal((10, 3))
        expected = by_chain.objective(X)
        for other in (by_file, by_spec, by_path):
            assert other.objective(X) == pytest.approx(expected, rel=1e-14)


def test_registered_dictionaries_and_regularizers(tmp_path):
    spec = {"layer": [{"dictionary": {"name": "dct", "n": 8, "m": 16}, "regularizer": {"name": "l0", "lam": 0.2}},
                      {"dictionary": {"name": "identity", "n": 16}, "regularizer": {"name": "l0-ball", "s": 2}}]}
    problem = pc.Problem.from_spec(spec, y=np.ones(8))
    assert problem.in_shape == (16,)
    omega = {"name": "matrix", "array": np.diff(np.eye(4), axis=0).tolist()}
    spec = {"layer": [{"dictionary": {"name": "identity", "n": 4},
                       "regularizer": {"name": "analysis-l1", "omega": omega, "lam": 0.5}}]}
    problem = pc.Problem.from_spec(spec, y=np.zeros(4))
    assert problem.objective(np.array([0.0, 1.0, 1.0, 3.0])) == pytest.approx(
        0.5 * 11 + 0.5 * (1 + 0 + 2))  # ½‖x‖² + λ‖Ωx‖₁ with Ωx = (1, 0, 2)


def test_graph_form_equals_the_hand_built_graph():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((5, 7)), rng.standard_normal((4, 7))
    y1, y2 = rng.standard_normal(5), rng.standard_normal(4)
    spec = {"graph": {"data": ["y1", "y2"],
                      "node": [{"name": "g", "regularizer": {"name": "l1", "lam": 0.3}}],
                      "edge": [{"from": "g", "to": "y1", "dictionary": {"name": "matrix", "array": A.tolist()}},
                               {"from": "g", "to": "y2", "dictionary": {"name": "matrix", "array": B.tolist()}}]}}
    problem = pc.Problem.from_spec(spec, y={"y1": y1, "y2": y2})
    graph = nx.DiGraph()
    graph.add_node("y1", loss=pc.LeastSquares(y1))
    graph.add_node("y2", loss=pc.LeastSquares(y2))
    graph.add_node("g", regularizer=pc.L1(0.3))
    graph.add_edge("g", "y1", operator=pc.Matrix(A))
    graph.add_edge("g", "y2", operator=pc.Matrix(B))
    x = rng.standard_normal(7)
    assert problem.objective(x) == pytest.approx(pc.Problem(graph).objective(x), rel=1e-14)


LAYER = {"dictionary": {"name": "matrix", "array": [[1.0, 0.0], [0.0, 1.0]]}, "regularizer": {"name": "l1", "lam": 0.1}}


def with_layer(**changes):
    layer = {key: dict(value) for key, value in LAYER.items()}
    for path, value in changes.items():
        table, key = path.split("__")
        if value is None:
            layer[table].pop(key)
        else:
            layer[table][key] = value
    return {"layer": [layer]}


@pytest.mark.parametrize("spec, match", [
    (with_layer(regularizer__lamda=0.1), "Unknown key 'lamda' in spec.layer\\[0\\].regularizer \\(l1\\). Did you mean 'lam'"),
    (with_layer(regularizer__name="l11"), "Unknown regularizer 'l11'.*Did you mean 'l1'"),
    (with_layer(regularizer__name="analysis_l1"), "Did you mean 'analysis-l1'"),
    (with_layer(dictionary__name="matirx"), "Unknown dictionary 'matirx'.*Did you mean 'matrix'"),
    (with_layer(dictionary__arary=[[1.0]]), "Unknown key 'arary'.*Did you mean 'array'"),
    ({"layers": [LAYER]}, "Unknown key 'layers' in spec. Did you mean 'layer'"),
    ({"layer": []}, "spec.layer is empty"),
    ({}, "no layers"),
    ({"layer": [{"regularizer": LAYER["regularizer"]}]}, "Missing key 'dictionary' in spec.layer\\[0\\]"),
    (with_layer(regularizer__lam="0.1"), "spec.layer\\[0\\].regularizer.lam must be a number; got '0.1' \\(str\\)"),
    (with_layer(regularizer__lam=True), "lam must be a number"),
    (with_layer(regularizer__lam=-1.0), "lam"),
    (with_layer(regularizer__nonneg="yes"), "nonneg must be true or false"),
    (with_layer(dictionary__array=[[1.0, "2"]]), "array must be a number"),
    (with_layer(dictionary__name="dct", dictionary__array=None),
     r"Missing key 'n' in spec\.layer\[0\]\.dictionary \(dct\)\."),
    (with_layer(dictionary__path="D.npy"),
     r"spec\.layer\[0\]\.dictionary \(matrix\) needs exactly one of 'path' \(a \.npy file\) or 'array'"),
    (with_layer(dictionary__array=None), r"spec\.layer\[0\]\.dictionary \(matrix\) needs exactly one of 'path'"),
    (with_layer(dictionary__array=[1.0, 2.0]),
     r"spec\.layer\[0\]\.dictionary\.array must be a list of rows \(lists of numbers\); got \[1\.0, 2\.0\]"),
    (with_layer(dictionary__array="D.npy"), r"spec\.layer\[0\]\.dictionary\.array must be a list of rows.*'D\.npy'"),
    ({"layer": [LAYER], "graph": {"data": "y", "edge": [{"from": "g", "to": "y", "dictionary": LAYER["dictionary"]}],
                                  "node": [{"name": "g"}]}},
     r"spec has both 'layer' and 'graph'; give a chain \(\[\[layer\]\]\) or a \[graph\], not both"),
    ({"graph": {"data": "y", "edge": [{"from": "g", "to": "y", "dictionary": LAYER["dictionary"]}],
                "node": [{"name": "g"}, {"name": "g"}]}},
     r"spec\.graph\.node\[1\]\.name: node 'g' is declared twice"),
    ({"graph": {"data": "y", "edge": [{"from": "g", "to": "y", "dictionary": LAYER["dictionary"]}],
                "node": [{"name": "y"}]}},
     r"spec\.graph\.node\[0\]\.name: node 'y' is declared twice \(or is a data node\)"),
    ({"layer": [LAYER], "solver": {"method": "ml-fsta"}}, "spec.solver.method.*Did you mean 'ml-fista'"),
    ({"layer": [LAYER], "solver": {"max_iter": "100"}}, "max_iter must be an int"),
    ({"layer": [LAYER], "solver": {"maxiter": 100}}, "Unknown key 'maxiter'.*Did you mean 'max_iter'"),
    ({"graph": {"data": "y", "edge": [{"from": "gama", "to": "y", "dictionary": LAYER["dictionary"]}],
                "node": [{"name": "gamma"}]}}, "unknown node 'gama'. Did you mean 'gamma'"),
])
def test_schema_errors_name_the_word(spec, match):
    with pytest.raises(pc.InvalidParameterError, match=match):
        pc.Problem.from_spec(spec, y=np.ones(2))


def test_file_errors(tmp_path):
    with pytest.raises(pc.InvalidParameterError, match="no such file"):
        pc.load_problem(tmp_path / "missing.toml", y=np.ones(2))
    (tmp_path / "bad.toml").write_text("[[layer]\n")
    with pytest.raises(pc.InvalidParameterError, match="not valid TOML"):
        pc.load_problem(tmp_path / "bad.toml", y=np.ones(2))
    (tmp_path / "m.toml").write_text('[[layer]]\ndictionary = { name = "matrix", path = "nope.npy" }\n')
    with pytest.raises(pc.InvalidParameterError, match="nope.npy"):
        pc.load_problem(tmp_path / "m.toml", y=np.ones(2))


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "proxcore.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_cli_solve_writes_x_codes_and_history(model):
    folder, D1, D2, Y, _ = model
    out = run_cli("solve", folder / "model.toml", "--data", folder / "Y.npy", "--method", "primal-dual",
                  "--out", folder / "result.npz", cwd=folder)
    assert out.returncode == 0, out.stderr
    assert "objective" in out.stdout and "converged  True" in out.stdout
    saved = np.load(folder / "result.npz")
    problem = pc.chain(Y, [(D1, pc.L1(0.1)), (D2, pc.L1(0.05))])
    assert float(saved["objective"]) == pytest.approx(problem.objective(saved["x"]), rel=1e-12)
    np.testing.assert_allclose(saved["code1"], D2 @ saved["code2"], atol=1e-12)
    np.testing.assert_array_equal(saved["code2"], saved["x"])
    assert saved["history_objective"].shape == (int(saved["n_iter"]),)
    # the exact engine's answer is the optimum: ML-FISTA's (default) is no better
    ml = run_cli("solve", folder / "model.toml", "--data", folder / "Y.npy", "--out", folder / "ml.npz",
                 "--max-iter", "3", cwd=folder)
    assert ml.returncode == 1 and "converged  False" in ml.stdout  # stopped early: said, and exit status 1
    assert float(np.load(folder / "ml.npz")["objective"]) >= float(saved["objective"]) * (1 - 1e-9)


@pytest.mark.parametrize("change, match", [
    ({"spec": "missing.toml"}, "no such file"),
    ({"data": "missing.npy"}, "--data: no such file"),
    ({"method": "ml-fsta"}, "Did you mean 'ml-fista'"),
])
def test_cli_user_errors_are_one_line(model, change, match):
    folder = model[0]
    args = {"spec": folder / "model.toml", "data": folder / "Y.npy", "method": "ml-fista"}
    args.update(change)
    out = run_cli("solve", args["spec"], "--data", args["data"], "--method", args["method"],
                  "--out", folder / "r.npz", cwd=folder)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and match.replace("\\", "") in lines[0] or pytest.fail(out.stderr)


def test_cli_bad_spec_is_one_line(model):
    folder = model[0]
    (folder / "typo.toml").write_text('[[layer]]\ndictionary = { name = "matrix", path = "D1.npy" }\n'
                                      'regularizer = { name = "l1", lamda = 0.1 }\n')
    out = run_cli("solve", folder / "typo.toml", "--data", folder / "Y.npy", "--out", folder / "r.npz", cwd=folder)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "proxcore solve: error: Unknown key 'lamda' in spec.layer[0].regularizer (l1). Did you mean 'lam'? "
        "Valid keys: lam, nonneg."]


# ---------------------------------------------------------------- per-layer tolerances (the deep coding problem)
def dcp_spec(D1, D2, tolerances=(0.01, 0.02), budgets=(2, 1)):
    layers = []
    for D, s, t in zip((D1, D2), budgets, tolerances):
        layer = {"dictionary": {"name": "matrix", "array": D.tolist()}, "regularizer": {"name": "l0-ball", "s": s}}
        if t is not None:
            layer["tolerance"] = t
        layers.append(layer)
    return {"layer": layers}


def test_tolerances_are_read_by_from_spec_and_load_problem(model):
    from proxcore.dcp import DCP, layer_tolerances

    folder, D1, D2, Y, rng = model
    problem = pc.Problem.from_spec(dcp_spec(D1, D2), y=Y)
    assert layer_tolerances(problem) == (0.01, 0.02)
    (folder / "dcp.toml").write_text(
        '[[layer]]\ndictionary = { name = "matrix", path = "D1.npy" }\n'
        'regularizer = { name = "l0-ball", s = 2 }\ntolerance = 0.01\n\n'
        '[[layer]]\ndictionary = { name = "matrix", path = "D2.npy" }\n'
        'regularizer = { name = "l0-ball", s = 1 }\ntolerance = 2e-2\n')
    loaded = pc.load_problem(folder / "dcp.toml", y=Y)
    assert layer_tolerances(loaded) == (0.01, 0.02)
    # the same objective as the chain (tolerances constrain the DCP, not F), and a DCP without restating them
    X = np.zeros((10, 3))
    X[0] = 1.0
    assert loaded.objective(X) == pytest.approx(pc.chain(Y, [(D1, pc.L0Ball(2)), (D2, pc.L0Ball(1))]).objective(X))
    dcp = DCP(loaded)
    assert dcp.tolerances == (0.01, 0.02) and dcp.budgets == (2, 1)
    codes = [D2 @ X, X]
    np.testing.assert_allclose(dcp.feasibility(codes).residuals[0], np.sum((Y - D1 @ D2 @ X) ** 2, axis=0),
                               rtol=1e-12)
    # a spec without tolerances carries none, as before
    assert layer_tolerances(pc.load_problem(folder / "model.toml", y=Y)) is None


@pytest.mark.parametrize("tolerances, match", [
    ((0.01, None), "Missing key 'tolerance' in spec.layer\\[1\\]"),
    ((None, 0.01), "Missing key 'tolerance' in spec.layer\\[0\\]"),
    ((-0.1, 0.1), "spec.layer\\[0\\].tolerance must be a finite number >= 0"),
    (("0.1", 0.1), "spec.layer\\[0\\].tolerance must be a number"),
    ((True, 0.1), "tolerance must be a number"),
    ((float("inf"), 0.1), "tolerance must be a finite number"),
])
def test_tolerance_errors_name_the_layer(model, tolerances, match):
    _, D1, D2, Y, _ = model
    with pytest.raises(pc.InvalidParameterError, match=match):
        pc.Problem.from_spec(dcp_spec(D1, D2, tolerances), y=Y)


def test_tolerance_is_a_chain_key_only(model):
    _, D1, D2, Y, _ = model
    spec = {"graph": {"data": "y", "node": [{"name": "g"}],
                      "edge": [{"from": "g", "to": "y", "dictionary": {"name": "identity", "n": 6},
                                "tolerance": 0.1}]}}
    with pytest.raises(pc.InvalidParameterError, match="Unknown key 'tolerance' in spec.graph.edge\\[0\\]"):
        pc.Problem.from_spec(spec, y=Y)
    with pytest.raises(pc.InvalidParameterError, match="Did you mean 'tolerance'"):
        pc.Problem.from_spec({"layer": [{**dcp_spec(D1, D2)["layer"][0], "tolerence": 0.1}]}, y=Y)


# ---------------------------------------------------------------- the convolution dictionary in a spec
CONV_FILTERS = [[1.0, -0.5, 0.25], [0.3, 0.8, -0.2]]


def test_spec_names_the_convolution_dictionary_with_l1(tmp_path):
    rng = np.random.default_rng(4)
    y = rng.standard_normal(24)
    (tmp_path / "conv.toml").write_text(
        '[[layer]]\n'
        f'dictionary = {{ name = "convolution", filters = {CONV_FILTERS}, signal_shape = 24 }}\n'
        'regularizer = { name = "l1", lam = 0.1 }\n')
    by_file = pc.load_problem(tmp_path / "conv.toml", y=y)
    by_chain = pc.chain(y, [(pc.Convolution(np.array(CONV_FILTERS), 24), pc.L1(0.1))])
    op = by_file.layers[0].operator
    assert isinstance(op, pc.Convolution) and op.in_shape == (2, 24)
    for _ in range(3):
        x = rng.standard_normal((2, 24))
        assert by_file.objective(x) == pytest.approx(by_chain.objective(x), rel=1e-13)
    a = pc.solve(by_file, method="fista", tol=1e-12, max_iter=5000)
    b = pc.solve(by_chain, method="fista", tol=1e-12, max_iter=5000)
    assert a.converged and b.converged
    np.testing.assert_allclose(a.x, b.x, atol=1e-10)
    assert a.objective == pytest.approx(b.objective, rel=1e-12)


def test_spec_names_the_convolution_dictionary_with_l0inf():
    rng = np.random.default_rng(5)
    y = rng.standard_normal((24, 2))
    spec = {"layer": [{"dictionary": {"name": "convolution", "filters": CONV_FILTERS, "signal_shape": 24},
                       "regularizer": {"name": "l0inf", "s": 2, "filter_shape": 3}}]}
    by_spec = pc.Problem.from_spec(spec, y=y)
    reg = pc.L0Inf(2, filter_shape=3)
    by_chain = pc.chain(y, [(pc.Convolution(np.array(CONV_FILTERS), 24), reg)])
    a = pc.solve(by_spec, method="ista", max_iter=300, tol=1e-10)  # projected gradient on ‖γ‖₀,∞ ≤ 2
    b = pc.solve(by_chain, method="ista", max_iter=300, tol=1e-10)
    np.testing.assert_allclose(a.x, b.x, atol=1e-12)
    assert a.n_iter == b.n_iter and a.objective == pytest.approx(b.objective, rel=1e-12)
    stripes = pc.L0Inf(2, filter_shape=3, signal_shape=(2, 24)).norm(a.x)
    assert np.all(stripes <= 2) and np.all(stripes >= 1) and np.isfinite(a.objective)


@pytest.mark.filterwarnings("ignore::proxcore.ConvergenceWarning")  # 30 iterations: the run, not convergence
def test_the_convolution_plugins_toml_example_runs():
    """The spec example in proxcore_convolution's docstring, read from the docstring itself."""
    import re

    import proxcore_convolution

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    block = re.search(r"::\n\n((?:    .*\n)+)", proxcore_convolution.__doc__)
    assert block, "the TOML example left the docstring"
    spec = tomllib.loads("\n".join(line[4:] for line in block.group(1).splitlines()))
    table = spec["layer"][0]["dictionary"]
    y = np.random.default_rng(6).standard_normal(tuple(table["signal_shape"]))
    problem = pc.Problem.from_spec(spec, y=y)
    op = problem.layers[0].operator
    assert isinstance(op, pc.Convolution)
    params = {k: v for k, v in table.items() if k != "name"}
    same = pc.dictionary("convolution", **params)
    np.testing.assert_array_equal(op.filters, same.filters)
    lam = spec["layer"][0]["regularizer"]["lam"]
    by_chain = pc.chain(y, [(pc.Convolution(same.filters, tuple(table["signal_shape"])), pc.L1(lam))])
    a = pc.solve(problem, method="fista", max_iter=30)
    b = pc.solve(by_chain, method="fista", max_iter=30)
    np.testing.assert_allclose(a.x, b.x, atol=1e-12)
    assert a.history["objective"][-1] < a.history["objective"][0]


TWO_DATA = {"graph": {"data": ["y1", "y2"], "node": [{"name": "g"}],
                      "edge": [{"from": "g", "to": "y1", "dictionary": LAYER["dictionary"]},
                               {"from": "g", "to": "y2", "dictionary": LAYER["dictionary"]}]}}


@pytest.mark.parametrize("spec, y, match", [
    (TWO_DATA, {"y1": np.ones(2), "y3": np.ones(2)},
     r"The 'y' parameter has data for 'y3', which is not a data node\. Did you mean 'y2'"),
    (TWO_DATA, {"y1": np.ones(2)}, r"The 'y' parameter has no data for node\(s\) \['y2'\]"),
    (TWO_DATA, np.ones(2), r"The 'y' parameter must map each data node \['y1', 'y2'\] to its array"),
    ({"layer": [LAYER]}, {"y": np.ones(2)}, r"The 'y' parameter must be an array for a chain spec; got a mapping"),
])
def test_y_mapping_errors_name_the_argument_and_node(spec, y, match):
    with pytest.raises(pc.InvalidParameterError, match=match):
        pc.Problem.from_spec(spec, y=y)
