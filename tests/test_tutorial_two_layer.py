"""The two-layer tutorial runs in its fast mode and shows what the theory predicts: ML-FISTA ends near, not at, the optimum, and the neighbourhood shrinks with μ."""

import re

from .conftest import run_tutorial


def test_tutorial_runs_in_fast_mode(tmp_path):
    stdout = run_tutorial("plot_two_layer_ml_fista.py", tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["two_layer_convergence.png",
                                                             "two_layer_neighbourhood.png"]
    gaps = {name.strip(): float(value) for name, value in
            re.findall(r"^\s*(.+?): relative gap after \d+ iterations (\S+)", stdout, flags=re.M)}
    assert set(gaps) == {"ML-ISTA", "ML-FISTA", "primal-dual (ADMM)", "primal-dual (Condat–Vũ)"}
    assert all(g >= -1e-9 for g in gaps.values())  # F* from the exact engine is the optimum
    assert gaps["ML-FISTA"] < gaps["ML-ISTA"]  # acceleration
    assert gaps["ML-FISTA"] > 1e-4  # a neighbourhood, not the optimum
    assert gaps["primal-dual (ADMM)"] < 1e-4  # the exact engine goes all the way down
    neighbourhood = [(float(f), float(g)) for f, g in
                     re.findall(r"^mu = (\S+)/\|D1\|\^2: converged=True .* relative gap (\S+)", stdout, re.M)]
    assert len(neighbourhood) >= 3  # every run converged
    fractions, sizes = zip(*neighbourhood)
    assert list(fractions) == sorted(fractions, reverse=True)
    assert all(b < a for a, b in zip(sizes, sizes[1:]))  # smaller μ, smaller neighbourhood
    slope = float(re.search(r"slope of the gap against mu: (\S+)", stdout).group(1))
    assert 0.5 < slope < 1.5  # about linear in μ, as the theorem's bound
