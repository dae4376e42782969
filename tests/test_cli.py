"""The command line's demo: runs on the built-in default and prints a converged table."""

import subprocess
import sys

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
