"""What every benchmark shares: threads, peers, the sweep protocol, and the report.

The protocol (DESIGN §4, issue 7):

- the same instance (fixed seeds) for every solver, in one process;
- a certified optimum ``F*`` (duality gap or KKT, confirmed by cvxpy on a
  subset where the workload says so);
- each solver's own tolerance or iteration setting is swept from loose to
  tight; every (solver, setting) pair runs once per round, round robin, for
  ``repeats`` rounds, and its time is the median; a setting counts for a
  level once its objective is within ``level·F*`` of ``F*``; the time to a
  level is the fastest setting that reaches it;
- set-up (Gram matrices, Lipschitz constants, operator construction) is
  inside every timed call;
- threads are pinned (BLAS through threadpoolctl, numba, SPAMS, FFT) and
  reported.

Each workload writes ``<name>.md`` (the table), ``<name>.png`` (relative
sub-optimality against time, log scales) and ``<name>.json`` (the figures
and the issue's targets, met or missed) to the results folder; ``run_all``
collects the JSON files into ``summary.md``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pathlib
import platform
import statistics
import sys
import time
import warnings

import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
LEVELS = (1e-3, 1e-6)


def pin_threads(n):
    """Pin BLAS (threadpoolctl), numba and the OpenMP runtime to ``n`` threads; returns the BLAS report."""
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(n)
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    return sorted({f"{i['internal_api']} ({i['num_threads']} thread{'s' if i['num_threads'] > 1 else ''})"
                   for i in threadpool_info()})


def peer(module):
    """The imported peer module, or None (reported as missing by the caller, never dropped silently)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a peer that fails to import for any reason is missing
        return None


def version(module):
    """The installed version of the distribution that provides ``module`` (``spams`` → spams-bin), or "missing"."""
    from importlib import metadata

    if peer(module) is None:
        return "missing"
    for dist in metadata.packages_distributions().get(module, []):
        return metadata.version(dist)
    return getattr(sys.modules[module], "__version__", "?")


def environment(peers=()):
    """One paragraph: machine, Python, library versions (peers included), load."""
    import numpy
    import scipy

    import proxcore

    libs = [f"numpy {numpy.__version__}", f"scipy {scipy.__version__}", f"proxcore {proxcore.__version__}"]
    libs += [f"{name} {version(module)}" for name, module in peers]
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
            f"Python {platform.python_version()}; " + ", ".join(libs))


def silent(run):
    """``run()`` with warnings silenced (convergence warnings of deliberately short runs); returns its value.

    Also the untimed warm-up before a measurement: numba kernels compiled (or loaded from the disk cache).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run()


@dataclasses.dataclass
class Trial:
    """One (solver, setting) pair: its times over the rounds and the relative sub-optimality it reached."""

    solver: str
    setting: object
    times: list
    subopt: float

    @property
    def time(self):
        return statistics.median(self.times)


def sweep(solvers, evaluate, repeats, budget=60.0, pause=0.0):
    """Run every ``solvers[name] = (run, settings)`` at every setting, round robin, ``repeats`` rounds.

    ``run(setting)`` returns the solution; ``evaluate(solution)`` its relative
    sub-optimality ``(F − F*)/F*``. A setting whose first run exceeds
    ``budget`` seconds is run only once, and the solver's tighter settings
    are skipped (reported as not reached). Settings tighter than the first
    one that reaches the smallest level are skipped too: they cannot be
    faster to it. ``pause`` seconds of sleep before each timed run let the
    previous run's threads go quiet: with several BLAS threads, OpenBLAS's
    workers spin on their cores for about 0.1 s after each call (the
    evaluation of the previous solution), which slows whatever runs next.
    """
    trials = {name: {} for name in solvers}
    skip = {name: set() for name in solvers}
    for round_ in range(repeats):
        for name, (run, settings) in solvers.items():
            for setting in settings:
                key = repr(setting)
                if key in skip[name] or (round_ and key not in trials[name]):
                    continue
                time.sleep(pause)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.perf_counter()
                    solution = run(setting)
                    elapsed = time.perf_counter() - start
                if key not in trials[name]:
                    trials[name][key] = Trial(name, setting, [], float(evaluate(solution)))
                trials[name][key].times.append(elapsed)
                if round_ == 0:
                    later = [repr(s) for s in settings[settings.index(setting) + 1:]]
                    if elapsed > budget:
                        skip[name].add(key)
                        skip[name].update(later)
                    if trials[name][key].subopt <= min(LEVELS):
                        skip[name].update(later)
    return {name: list(by.values()) for name, by in trials.items()}


def time_to(trials, level):
    """Fastest median time among the trials within ``level`` of the optimum, or None."""
    reached = [t.time for t in trials if t.subopt <= level]
    return min(reached) if reached else None


def fmt(seconds):
    return "not reached" if seconds is None else f"{seconds:.3f}"


def ratio(a, b):
    return None if a is None or b is None else a / b


def target(name, value, bound, sense, note=""):
    """A target of the issue: ``value`` must be ``<=`` or ``>=`` ``bound``; None (missing peer, not reached) misses."""
    if sense not in ("<=", ">="):
        raise ValueError(f"target {name!r}: sense must be '<=' or '>='; got {sense!r}.")
    met = value is not None and (value <= bound if sense == "<=" else value >= bound)
    return {"target": name, "value": value, "bound": bound, "sense": sense, "met": bool(met), "note": note}


def plot_gap_vs_time(path, curves, title):
    """Relative sub-optimality against time, log–log, one curve per solver (its swept settings)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    floor = 1e-16
    for name, trials in curves.items():
        pts = sorted((t.time, max(t.subopt, floor)) for t in trials)
        if pts:
            ax.loglog(*zip(*pts), "o-" if len(pts) > 1 else "o", label=name, ms=4)
    for level in LEVELS:
        ax.axhline(level, color="grey", lw=0.6, ls=":")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # decade labels only: no overlaps
    ax.set_xlabel("time [s] (median)")
    ax.set_ylabel("(F − F*) / F*  (floored at 1e-16)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def common_arguments(parser, name, repeats=3, threads=True):
    """What every workload script takes: ``--repeats``, ``--threads``, ``--out-dir`` and ``--name``.

    ``--name`` is the stem of the ``.md``, ``.png`` and ``.json`` files; ``--out-dir`` defaults to
    ``benchmarks/results``. ``threads=False`` for a script that pins nothing (it measures fresh processes).
    """
    parser.add_argument("--repeats", type=int, default=repeats, help="rounds; medians over them (default: %(default)s)")
    if threads:
        parser.add_argument("--threads", type=int, default=1, help="for every library (default: %(default)s)")
    parser.add_argument("--out-dir", default=str(RESULTS), help="folder of the results (default: %(default)s)")
    parser.add_argument("--name", default=name, help="stem of the .md, .png and .json files (default: %(default)s)")


def sparse_model(n_signals, noise, seed=0, n=64, m=256, s=8):
    """``(D, Y)``: a unit-norm Gaussian ``n×m`` dictionary and ``Y = DX + noise·W``, ``X`` ``s``-sparse per column."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n, m))
    D /= np.linalg.norm(D, axis=0)
    X = np.zeros((m, n_signals))
    for j in range(n_signals):
        X[rng.choice(m, s, replace=False), j] = rng.standard_normal(s)
    return D, D @ X + noise * rng.standard_normal((n, n_signals))


def out_path(out_dir, filename):
    """``out_dir / filename``, the folder created if needed."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / filename


def write(name, out_dir, markdown, summary):
    """``<name>.md`` and ``<name>.json`` in ``out_dir``; prints the Markdown."""
    out_path(out_dir, f"{name}.md").write_text(markdown)
    out_path(out_dir, f"{name}.json").write_text(json.dumps(summary, indent=2, default=float))
    print(markdown)


def solver_table(trials_by_solver, reference):
    """Markdown rows: solver, time to each level, ratio to ``reference`` at the tightest level."""
    lines = ["| solver | time to 1e-3 [s] | time to 1e-6 [s] | best sub-optimality reached "
             f"| time to 1e-6 / {reference}'s |", "|---|---|---|---|---|"]
    base = time_to(trials_by_solver.get(reference, []), LEVELS[-1])
    for name, trials in trials_by_solver.items():
        if trials is None:
            lines.append(f"| {name} | missing | missing | – | – |")
            continue
        t3, t6 = time_to(trials, LEVELS[0]), time_to(trials, LEVELS[-1])
        best = min(t.subopt for t in trials)
        r = ratio(t6, base)
        lines.append(f"| {name} | {fmt(t3)} | {fmt(t6)} | {best:.1e} | {'n/a' if r is None else f'{r:.2f}'} |")
    return lines
