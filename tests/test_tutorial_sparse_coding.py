"""The sparse-coding tutorial runs in its fast mode and shows what the theory predicts."""

import re

from .conftest import run_tutorial


def test_tutorial_runs_in_fast_mode(tmp_path):
    stdout = run_tutorial("plot_sparse_coding.py", tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "sparse_coding_convergence.png", "sparse_coding_recovery.png"]
    gaps = dict(re.findall(r"^\s*(ISTA|FISTA|FISTA \+ restart): relative gap after \d+ iterations (\S+)",
                           stdout, flags=re.M))
    assert float(gaps["FISTA + restart"]) < float(gaps["FISTA"]) < float(gaps["ISTA"])
    omp = [float(v) for v in re.findall(r"OMP\s+([\d.]+)%", stdout)]
    assert omp[0] == 100.0  # two atoms of a 64x256 Gaussian dictionary: always found
