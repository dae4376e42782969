"""The command line: the demo's table, and `proxcore solve` on specs with per-layer tolerances (the DCP report)."""

import os
import shutil
import subprocess
import sys

import numpy as np

from proxcore.cli import main


def console_script():
    """The installed ``proxcore`` console script (next to this interpreter, else on PATH)."""
    here = os.path.join(os.path.dirname(sys.executable), "proxcore")
    found = here if os.path.exists(here) else shutil.which("proxcore")
    assert found, "the proxcore console script is not installed"
    return found


DEMO_METHODS = ["layered-thresholding", "layered-bp", "ml-ista", "ml-fista", "primal-dual"]


def demo_rows(out):
    return {line.split()[0]: line.split() for line in out.splitlines()
            if line.split()[:1] and line.split()[0] in DEMO_METHODS}


def test_demo_prints_a_table(tmp_path):
    plot = tmp_path / "demo.png"
    run = subprocess.run([console_script(), "demo", "--signals", "20", "--plot", str(plot)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "two-layer sparse model" in out and "Traceback" not in run.stderr
    header = next(line for line in out.splitlines() if line.startswith("method"))
    assert header.split()[5:13] == ["γ1", "prec", "γ1", "rec", "γ2", "prec", "γ2", "rec"]
    rows = demo_rows(out)
    assert list(rows) == DEMO_METHODS
    # columns: method iters objective gap γ1-prec γ1-rec γ2-prec γ2-rec time converged
    assert rows["primal-dual"][-1] == "True"  # the exact reference converged within its budget
    assert int(rows["primal-dual"][1]) < 20_000
    gaps = {m: float(r[3]) for m, r in rows.items()}
    assert all(g >= -1e-5 for g in gaps.values())  # nothing beats the exact engine beyond its tolerance
    assert gaps["ml-fista"] <= 1e-2  # ML-FISTA ends in a neighbourhood of the optimum
    for row in rows.values():
        assert all(0.0 <= float(v.rstrip("%")) <= 100.0 for v in row[4:8])
    # the forward pass keeps every atom it touches: precision is what exposes it, not recall
    assert float(rows["layered-thresholding"][6].rstrip("%")) < float(rows["primal-dual"][6].rstrip("%"))
    assert plot.exists() or "plot skipped" in out


def test_support_scores_count_false_atoms():
    from proxcore.cli import _support_scores

    truth = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 0.0]])  # 3 true atoms over two signals
    estimate = np.array([[0.5, 0.0], [0.0, 0.0], [1e-9, 1.0], [0.2, 0.1]])
    # signal 0: finds atom 0 (true), atom 3 (false); 1e-9 is below 1e-6 of its largest. Signal 1: atom 2, atom 3 (false)
    precision, recall = _support_scores(estimate, truth)
    assert (precision, recall) == (2 / 4, 2 / 3)
    assert _support_scores(np.zeros((4, 2)), truth) == (1.0, 0.0)
    assert _support_scores(truth, truth) == (1.0, 1.0)


def test_demo_fails_loudly_when_the_reference_does_not_converge(monkeypatch, capsys, tmp_path):
    from proxcore import cli

    monkeypatch.setitem(cli.REFERENCE_OPTIONS, "max_iter", 3)
    assert cli.main(["demo", "--signals", "5", "--plot", ""]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "proxcore demo: error: the exact reference (primal-dual) did not converge")
    assert "Maximum number of iterations (3)" in lines[0]
    assert demo_rows(captured.out)["primal-dual"][-1] == "False"


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


class _Terminal:
    """A stand-in for sys.stderr: records what is written and claims (or not) to be a terminal."""

    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text
        return len(text)

    def flush(self):
        pass


def test_solve_progress_bar_on_a_terminal_after_one_second(tmp_path, monkeypatch, capsys):
    """The bar of `proxcore solve` appears on stderr only on a terminal, only after 1 s, and not with --quiet."""
    import time

    rng = np.random.default_rng(0)
    np.save(tmp_path / "D.npy", rng.standard_normal((6, 10)))
    np.save(tmp_path / "Y.npy", rng.standard_normal((6, 2)))
    (tmp_path / "m.toml").write_text('[[layer]]\ndictionary = { name = "matrix", path = "D.npy" }\n'
                                     'regularizer = { name = "l1", lam = 0.1 }\n')
    args = ["solve", str(tmp_path / "m.toml"), "--data", str(tmp_path / "Y.npy"), "--out", str(tmp_path / "r.npz"),
            "--method", "ista", "--max-iter", "40", "--tol", "0"]
    for tty, quiet, step, shown in ((True, False, 0.25, True), (False, False, 0.25, False),
                                    (True, True, 0.25, False), (True, False, 0.0001, False)):
        clock = iter(step * k for k in range(10**6))  # every call to perf_counter advances the clock by `step`
        monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
        terminal = _Terminal(tty)
        monkeypatch.setattr(sys, "stderr", terminal)
        status = main(args + (["--quiet"] if quiet else []))
        monkeypatch.undo()
        assert status == 1  # tol 0: stopped at max_iter, said by the exit status
        if shown:
            bars = terminal.text.split("\r")[1:]
            assert bars and terminal.text.endswith("\n")
            assert bars[-1].startswith("[" + "#" * 30 + "] 40/40  objective ")
            assert all(b.startswith("[") and "/40  objective" in b for b in bars)
        else:  # not a terminal, --quiet, or a run shorter than a second (40 × 4 calls × 0.1 ms)
            assert terminal.text == ""
    assert "converged  False" in capsys.readouterr().out
