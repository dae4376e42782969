"""The sparse-coding tutorial runs in its fast mode and shows what the theory predicts."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "tutorials" / "plot_sparse_coding.py"


def test_tutorial_runs_in_fast_mode(tmp_path):
    pytest.importorskip("matplotlib")
    env = {**os.environ, "PROXCORE_TUTORIAL_FAST": "1", "PROXCORE_TUTORIAL_OUT": str(tmp_path),
           "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "sparse_coding_convergence.png", "sparse_coding_recovery.png"]
    gaps = dict(re.findall(r"^\s*(ISTA|FISTA|FISTA \+ restart): relative gap after \d+ iterations (\S+)",
                           proc.stdout, flags=re.M))
    assert float(gaps["FISTA + restart"]) < float(gaps["FISTA"]) < float(gaps["ISTA"])
    omp = [float(v) for v in re.findall(r"OMP\s+([\d.]+)%", proc.stdout)]
    assert omp[0] == 100.0  # two atoms of a 64x256 Gaussian dictionary: always found
