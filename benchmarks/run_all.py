"""Run every benchmark, one process per workload, and write ``summary.md`` with the issue's targets.

    pip install -e ".[bench]"
    python benchmarks/run_all.py                 # every workload, full size (about 20 minutes on 2 cores)
    python benchmarks/run_all.py --quick         # a smoke run: small sizes, one repeat
    python benchmarks/run_all.py --only lasso_2000 omp

Each workload script writes its table (``.md``), its plot of the relative
sub-optimality against time (``.png``) and its figures (``.json``) to the
results folder (``benchmarks/results/`` by default); a peer that is not
installed appears as *missing* in its table. ``summary.md`` lists every
target of the issue, measured, with met or missed, and links each table.
Run it on an otherwise idle machine: the ratios are what matter.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent

#: name -> (script, full-size arguments, quick arguments)
WORKLOADS = {
    "lasso_2000": ("bench_lasso.py", ["--signals", "2000", "--repeats", "3"], ["--signals", "200", "--repeats", "1"]),
    "lasso_2000_2threads": ("bench_lasso.py", ["--signals", "2000", "--repeats", "3", "--threads", "2"], None),
    "lasso_20000": ("bench_lasso.py", ["--signals", "20000", "--repeats", "3"], None),
    "lasso_20000_2threads": ("bench_lasso.py", ["--signals", "20000", "--repeats", "3", "--threads", "2"], None),
    "omp": ("bench_omp.py", ["--signals", "10000", "--repeats", "5"], ["--signals", "500", "--repeats", "1"]),
    "large_lasso": ("bench_large_lasso.py", ["--repeats", "3"], ["--repeats", "1"]),
    "convolution": ("bench_convolution.py", ["--repeats", "3"], ["--fast"]),
    "mlbp": ("bench_mlbp.py", ["--signals", "500", "--cvxpy-signals", "10"],
             ["--signals", "50", "--cvxpy-signals", "2", "--repeats", "1"]),
    "iteration": ("bench_iteration.py", ["--signals", "2000", "--repeats", "9"],
                  ["--signals", "200", "--repeats", "1", "--iterations", "10"]),
    "startup": ("bench_startup.py", ["--repeats", "5"], ["--repeats", "1"]),
}


def summary(out_dir, ran, seconds):
    """The Markdown summary of every ``*.json`` in ``out_dir`` written by this run."""
    lines = [f"# proxcore benchmarks ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"{len(ran)} workload(s) (this run took {seconds / 60:.1f} minutes; each table has its own date), one "
             "process each. Tables and plots: "
             + ", ".join(f"[{name}]({name}.md)" for name in ran) + ".", "",
             "| target | measured | bound | met |", "|---|---|---|---|"]
    for name in ran:
        path = out_dir / f"{name}.json"
        if not path.exists():
            lines.append(f"| {name}: the script failed (see its output) | – | – | no |")
            continue
        for t in json.loads(path.read_text())["targets"]:
            value = "not measured (peer missing or level not reached)" if t["value"] is None else f"{t['value']:.3g}"
            met = "yes" if t["met"] else "**no**"
            note = f" ({t['note']})" if t.get("note") else ""
            lines.append(f"| {t['target']}{note} | {value} | {t['sense']} {t['bound']:g} | {met} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=sorted(WORKLOADS), help="run these workloads only")
    parser.add_argument("--out-dir", type=pathlib.Path, default=HERE / "results")
    args = parser.parse_args(argv)
    out_dir = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = args.only or list(WORKLOADS)
    start, ran = time.perf_counter(), []
    for name in chosen:
        script, full, quick = WORKLOADS[name]
        extra = quick if args.quick else full
        if extra is None:
            print(f"== {name}: skipped in --quick", flush=True)
            continue
        (out_dir / f"{name}.json").unlink(missing_ok=True)
        print(f"== {name}: {script} {' '.join(extra)}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / script), *extra, "--out-dir", str(out_dir), "--name", name], cwd=HERE,
                               env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if code:
            print(f"== {name}: exit status {code}", flush=True)
        ran.append(name)
    # the summary covers every workload with results in the folder: those of this run and of earlier --only runs
    listed = [name for name in WORKLOADS if name in ran or (out_dir / f"{name}.json").exists()]
    text = summary(out_dir, listed, time.perf_counter() - start)
    (out_dir / "summary.md").write_text(text)
    print(text)
    print(f"written to {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
