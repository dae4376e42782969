"""The declarative-spec tutorial runs in its fast mode: the TOML file, the mapping, pc.chain and `proxcore solve` give one answer."""

import re

from .conftest import run_tutorial


def test_tutorial_runs_in_fast_mode(tmp_path):
    stdout = run_tutorial("plot_declarative_specs.py", tmp_path)
    assert [p.name for p in tmp_path.glob("*.png")] == ["declarative_specs.png"]
    out = stdout
    # the three routes: the same objective and iterations, the same codes
    routes = dict(re.findall(r"^(pc\.chain \+ pc\.solve|pc\.load_problem|proxcore solve)\s*: objective (\S+ after \d+)",
                             out, flags=re.M))
    assert len(routes) == 3 and len(set(routes.values())) == 1, routes
    assert out.count("same codes as pc.chain: True") == 2
    # the command line ran ML-FISTA from the spec's [solver] table, then the exact engine in process
    assert re.search(r"^method\s+ml-fista$", out, flags=re.M) and re.search(r"^converged\s+True$", out, flags=re.M)
    gap = float(re.search(r"returned 0; ML-FISTA is within (\S+) of the optimum", out).group(1))
    assert 0 <= gap < 1e-2  # near the optimum, not at it
    # a typo names the word and the closest valid key
    assert "Unknown key 'lamda'" in out and "Did you mean 'lam'?" in out
    # the [graph] spec recovers the shared code
    assert float(re.search(r"\[graph\] spec, .* relative error (\S+)", out).group(1)) < 0.05
