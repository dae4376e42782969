"""The testing tutorial runs, checks the correct objects silently, and shows the kit's message for each broken one."""

import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "tutorials" / "testing_your_own_code.py"


def test_testing_tutorial_prints_a_message_for_each_broken_object():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sections = dict(
        (block.split("\n", 1)[0].strip(), block.split("\n", 1)[1].strip())
        for block in proc.stdout.split("--- ")[1:]
    )
    for good in ("check_adjoint(Diff(8))", "check_prox(MyL0(0.5))", "check_convergence(problem, my_ista, '1/k')"):
        assert sections[good] == "passed (silently)"
    assert "the dot test <Ax, y> = <x, Aᵀy> does not hold" in sections["check_adjoint(BrokenDiff(8))"]
    assert "not the minimizer of Φ(u)" in sections["check_prox(BrokenL0(0.5))"]
    broken_solver = sections["check_convergence(problem, my_broken_ista, '1/k')"]
    assert "F(x_k) − F* ≤ L‖x0 − x*‖²/(2k) is violated" in broken_solver and "certified lasso" in broken_solver
