"""The command line: the demo's table, and `proxcore solve` on specs with per-layer tolerances (the DCP report)."""

import subprocess
import sys

import numpy as np

from proxcore.cli import main


def test_demo_prints_a_table(capsys, tmp_path):
    plot = tmp_path / "demo.png"
    assert main(["demo", "--signals", "20", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "two-layer sparse model" in out
    methods = ["layered-thresholding", "layered-bp", "ml-ista", "ml-fista", "primal-dual"]
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] and line.split()[0] in methods}
    assert list(rows) == methods
    gaps = {m: float(r[3]) for m, r in rows.items()}
    assert gaps["primal-dual"] == 0.0 and all(g >= -1e-8 for g in gaps.values())  # the exact engine is lowest
    assert gaps["ml-fista"] <= 1e-2  # ML-FISTA ends in a neighbourhood of the optimum
    assert plot.exists() or "plot skipped" in out


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "proxcore.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "demo" in out.stdout


# ---------------------------------------------------------------- `proxcore solve` on a spec with per-layer tolerances
def write_dcp(folder, budgets, tolerances, regularizer="l0-ball"):
    from scipy.linalg import hadamard

    rng = np.random.default_rng(2)
    D1 = np.hstack([np.eye(16), hadamard(16) / 4.0])  # μ = 1/4
    D2 = np.zeros((32, 8))
    rows = rng.permutation(32)[:16].reshape(8, 2)
    D2[rows[:, 0], np.arange(8)] = D2[rows[:, 1], np.arange(8)] = np.sqrt(0.5)  # disjoint two-entry atoms
    G2 = np.zeros((8, 5))
    G2[rng.integers(0, 8, 5), np.arange(5)] = rng.uniform(1.0, 1.5, 5)
    Y = D1 @ D2 @ G2 + 0.005 * rng.standard_normal((16, 5))
    np.save(folder / "D1.npy", D1)
    np.save(folder / "D2.npy", D2)
    np.save(folder / "Y.npy", Y)
    layers = []
    for name, s, t in zip(("D1", "D2"), budgets, tolerances):
        reg = f'{{ name = "l0-ball", s = {s} }}' if regularizer == "l0-ball" else '{ name = "l1", lam = 1.0 }'
        layers.append(f'[[layer]]\ndictionary = {{ name = "matrix", path = "{name}.npy" }}\n'
                      f'regularizer = {reg}\ntolerance = {t}\n')
    (folder / "dcp.toml").write_text("\n".join(layers))
    return D1, D2, Y


def test_solve_on_a_dcp_spec_prints_the_feasibility_report(tmp_path, capsys):
    import proxcore as pc
    from proxcore.dcp import DCP

    D1, D2, Y = write_dcp(tmp_path, (2, 1), (0.005, 0.01))
    out = tmp_path / "r.npz"
    status = main(["solve", str(tmp_path / "dcp.toml"), "--data", str(tmp_path / "Y.npy"), "--out", str(out)])
    text = capsys.readouterr().out
    assert "method     layered-omp" in text  # l0-ball budgets with tolerances: layered OMP by default
    saved = np.load(out)
    # the report is the DCP's on the written codes, recomputed here from the arrays alone
    codes = [saved["code1"], saved["code2"]]
    r1, r2 = np.sum((Y - D1 @ codes[0]) ** 2, axis=0), np.sum((codes[0] - D2 @ codes[1]) ** 2, axis=0)
    np.testing.assert_allclose(saved["residual1"], r1, rtol=1e-9)
    np.testing.assert_allclose(saved["residual2"], r2, rtol=1e-9)
    ok = (r1 <= 0.005) & (r2 <= 0.01) & (np.count_nonzero(codes[0], axis=0) <= 2) & (np.count_nonzero(codes[1], axis=0) <= 1)
    np.testing.assert_array_equal(saved["feasible"], ok)
    assert ok.all() and status == 0 and "DCP: feasible (5 of 5 signal(s))" in text
    report = DCP(pc.load_problem(tmp_path / "dcp.toml", y=Y)).feasibility(codes)
    assert str(report) in text
    # a budget too small for the tolerance: still written, reported, and exit status 1
    write_dcp(tmp_path, (1, 1), (1e-6, 0.01))
    status = main(["solve", str(tmp_path / "dcp.toml"), "--data", str(tmp_path / "Y.npy"), "--out", str(out)])
    text = capsys.readouterr().out
    assert status == 1 and "DCP: NOT feasible" in text and "layer 1: residual" in text
    assert not np.load(out)["feasible"].any()


def test_solve_on_an_l1_spec_with_tolerances_uses_layered_bp_eps(tmp_path, capsys):
    D1, D2, Y = write_dcp(tmp_path, (None, None), (0.005, 0.01), regularizer="l1")
    out = tmp_path / "r.npz"
    status = main(["solve", str(tmp_path / "dcp.toml"), "--data", str(tmp_path / "Y.npy"), "--out", str(out)])
    text = capsys.readouterr().out
    assert status == 0 and "method     layered-bp-eps" in text and "tolerances: met (5 of 5 signal(s))" in text
    saved = np.load(out)
    r1 = np.sum((Y - D1 @ saved["code1"]) ** 2, axis=0)
    assert np.all(r1 <= 0.005) and np.all(r1 >= 0.005 * (1 - 1e-4))  # the constraint is active: min ℓ1 within ε


def test_solve_on_a_convolutional_dcp_spec(tmp_path, capsys):
    import proxcore as pc

    D = pc.Convolution(np.array([[1.0, -0.5, 0.25], [0.3, 0.8, -0.2]]), 24)
    G = np.zeros((2, 24, 3))
    G[0, [2, 14], 0], G[1, 8, 1], G[:, 20, 2] = [1.0, -1.0], 1.5, [1.0, 0.5]
    Y = np.asarray(D @ G) + 0.01 * np.random.default_rng(0).standard_normal((24, 3))
    np.save(tmp_path / "Y.npy", Y)
    (tmp_path / "conv.toml").write_text(
        '[[layer]]\ndictionary = { name = "convolution", filters = [[1.0, -0.5, 0.25], [0.3, 0.8, -0.2]], '
        'signal_shape = 24 }\nregularizer = { name = "l0inf", s = 3, filter_shape = 3 }\ntolerance = 0.01\n')
    status = main(["solve", str(tmp_path / "conv.toml"), "--data", str(tmp_path / "Y.npy"),
                   "--out", str(tmp_path / "r.npz")])
    text = capsys.readouterr().out
    assert "method     layered-bp-eps" in text and "DCP:" in text  # stripe budgets: ℓ1 within ε, then the report
    saved = np.load(tmp_path / "r.npz")
    r = np.sum((Y - np.asarray(D @ saved["code1"])) ** 2, axis=0)
    stripes = pc.L0Inf(3, filter_shape=3, signal_shape=(2, 24)).norm(saved["code1"])
    np.testing.assert_array_equal(saved["feasible"], (r <= 0.01) & (stripes <= 3))
    assert status == 0 and saved["feasible"].all() and "DCP: feasible (3 of 3 signal(s))" in text
