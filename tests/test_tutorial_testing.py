"""The testing tutorial runs, checks the correct objects silently, shows the kit's message for each broken one, and draws what each check measures."""

import re

from .conftest import run_tutorial


def test_testing_tutorial_prints_a_message_for_each_broken_object(tmp_path):
    stdout = run_tutorial("plot_testing_your_own_code.py", tmp_path)
    sections = dict(
        (block.split("\n", 1)[0].strip(), block.split("\n", 1)[1].strip())
        for block in stdout.split("--- ")[1:]
    )
    for good in ("check_adjoint(Diff(8))", "check_prox(MyL0(0.5))", "check_convergence(problem, my_ista, '1/k')"):
        assert sections[good] == "passed (silently)"
    assert "the dot test <Ax, y> = <x, Aᵀy> does not hold" in sections["check_adjoint(BrokenDiff(8))"]
    assert "not the minimizer of Φ(u)" in sections["check_prox(BrokenL0(0.5))"]
    broken_solver = sections["check_convergence(problem, my_broken_ista, '1/k')"]
    assert "F(x_k) − F* ≤ L‖x0 − x*‖²/(2k) is violated" in broken_solver and "certified lasso" in broken_solver

    # the figure, and the quantities it draws
    assert (tmp_path / "testing_your_own_code.png").is_file()
    out = stdout
    good, broken = (float(v) for v in re.search(r"largest relative error: Diff (\S+), BrokenDiff (\S+)", out).groups())
    assert good < 1e-14 < 1e-3 < broken  # rounding against a real bug, around the kit's tolerance
    wrong = re.search(r"MyL0 wrong on (\d+)% of the grid, BrokenL0 on (\d+)%", out).groups()
    assert wrong[0] == "0" and int(wrong[1]) > 10  # the broken threshold keeps step·λ < |v| < sqrt(2·step·λ)
    ok, bad = (re.search(rf"^{name}: F\(x_\d+\) - F\* = (\S+), bound (\S+)", out, flags=re.M).groups()
               for name in ("my_ista", "my_broken_ista"))
    assert float(ok[0]) <= float(ok[1]) and float(bad[0]) > float(bad[1])  # within the 1/k bound, and not
