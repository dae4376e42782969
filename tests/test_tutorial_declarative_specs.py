"""The declarative-spec tutorial runs in its fast mode: the TOML file, the mapping, pc.chain and `proxcore solve` give one answer."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "tutorials" / "plot_declarative_specs.py"


def test_tutorial_runs_in_fast_mode(tmp_path):
    pytest.importorskip("matplotlib")
    env = {**os.environ, "PROXCORE_TUTORIAL_FAST": "1", "PROXCORE_TUTORIAL_OUT": str(tmp_path),
           "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in tmp_path.glob("*.png")] == ["declarative_specs.png"]
    out = proc.stdout
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
