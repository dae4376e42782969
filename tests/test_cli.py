"""The command line's demo: runs on the built-in default and prints a converged table."""

import subprocess
import sys

from proxcore.cli import main


def test_demo_prints_a_table(capsys):
    assert main(["demo", "--signals", "40"]) == 0
    out = capsys.readouterr().out
    assert "batch Lasso" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["ista"], ["fista"])]
    assert [r[0] for r in rows] == ["ista", "fista"]
    assert all(r[-1] == "True" for r in rows)  # both converged
    objectives = [float(r[2]) for r in rows]
    assert abs(objectives[0] - objectives[1]) <= 1e-6 * objectives[1]


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "proxcore.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "demo" in out.stdout
