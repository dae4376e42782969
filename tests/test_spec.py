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
    (with_layer(dictionary__name="dct", dictionary__array=None), "Missing key|n"),
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
