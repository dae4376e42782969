"""The benchmark harness: its protocol (sweep, time to a level, targets) and a missing peer reported as missing.

No timing is asserted here (speed is measured by the benchmarks, not by the suite).
"""

import json
import pathlib
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def harness(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import _harness

    yield _harness
    for name in ("_harness", "bench_lasso"):  # the scripts are not a package: leave no trace for later tests
        sys.modules.pop(name, None)


def test_sweep_runs_round_robin_and_stops_at_the_first_setting_that_reaches_the_tightest_level(harness):
    calls = []

    def run(setting):
        calls.append(setting)
        return setting  # the "solution" is its own sub-optimality

    trials = harness.sweep({"solver": (run, [1e-2, 1e-4, 1e-7, 1e-9])}, evaluate=lambda x: x, repeats=3)
    # 1e-9 is never run: 1e-7 already reaches 1e-6; the three others run once per round
    assert calls == [1e-2, 1e-4, 1e-7] * 3
    by = {t.setting: t for t in trials["solver"]}
    assert sorted(by) == [1e-7, 1e-4, 1e-2] and all(len(t.times) == 3 for t in by.values())
    assert harness.time_to(trials["solver"], 1e-3) == min(by[1e-4].time, by[1e-7].time)
    assert harness.time_to(trials["solver"], 1e-6) == by[1e-7].time
    assert harness.time_to(trials["solver"], 1e-12) is None


def test_a_setting_over_the_budget_runs_once_and_skips_the_tighter_ones(harness):
    calls = []

    def run(setting):
        calls.append(setting)
        return setting

    harness.sweep({"slow": (run, [1e-2, 1e-4])}, evaluate=lambda x: x, repeats=3, budget=-1.0)
    assert calls == [1e-2]


def test_targets_miss_when_the_value_is_missing(harness):
    assert harness.target("t", 0.5, 1.0, "<=")["met"]
    assert not harness.target("t", 1.5, 1.0, "<=")["met"]
    assert harness.target("t", 250.0, 200.0, ">=")["met"]
    assert not harness.target("t", None, 1.0, "<=")["met"]  # a missing peer is never a met target


def test_lasso_workload_reports_a_missing_peer_as_missing(harness, monkeypatch, tmp_path):
    pytest.importorskip("sklearn")
    import bench_lasso

    real_peer = harness.peer
    monkeypatch.setattr(harness, "peer", lambda module: None if module == "spams" else real_peer(module))
    bench_lasso.main(["--signals", "30", "--repeats", "1", "--cvxpy-signals", "0", "--out-dir", str(tmp_path)])
    table = (tmp_path / "lasso_30.md").read_text()
    assert "| SPAMS lasso (LARS) | missing | missing |" in table
    summary = json.loads((tmp_path / "lasso_30.json").read_text())
    spams_target = next(t for t in summary["targets"] if "SPAMS" in t["target"])
    assert spams_target["value"] is None and not spams_target["met"]
    # every proxcore pursuit reached 1e-6 of the certified optimum on this instance
    assert all(summary["times_to_1e-6"][f"proxcore {m}"] is not None for m in ("fista", "cd", "lars"))
