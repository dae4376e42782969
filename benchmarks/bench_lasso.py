"""Batch Lasso: time to relative sub-optimality 1e-3 and 1e-6, proxcore against scikit-learn.

Workload (issue 7, workload 1): unit-norm Gaussian 64×256 dictionary, 8-sparse
signals with noise 0.05, λ = 0.1, N signals as columns. The optimum F* is
certified: FISTA run to a duality gap of 1e-13·‖y‖² per signal, F* ≥ F(x) − gap.
Each solver's own tolerance is swept; a run counts for a level once its
objective is within that level of F*. Times are medians over round-robin
repeats in one process, BLAS pinned to one thread (reported).

    python benchmarks/bench_lasso.py --signals 2000 --repeats 3 --out results/lasso.md
"""

from __future__ import annotations

import argparse
import pathlib
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import proxcore as pc
from proxcore.certificates import lasso_duality_gap


def workload(n_signals, seed=0, n=64, m=256, s=8, noise=0.05):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n, m))
    D /= np.linalg.norm(D, axis=0)
    X = np.zeros((m, n_signals))
    for j in range(n_signals):
        X[rng.choice(m, s, replace=False), j] = rng.standard_normal(s)
    return D, D @ X + noise * rng.standard_normal((n, n_signals))


def proxcore_solver(method, tol_name=None):
    def run(D, Y, lam, setting):
        problem = pc.chain(Y, [(pc.Matrix(D), pc.L1(lam))])
        options = {tol_name: setting, "max_iter": 100_000} if tol_name else {}
        return pc.solve(problem, method=method, **options).x

    return run


def sklearn_lasso(D, Y, lam, tol):
    from sklearn.linear_model import Lasso

    model = Lasso(alpha=lam / D.shape[0], fit_intercept=False, precompute=D.T @ D, tol=tol, max_iter=100_000)
    return model.fit(D, Y).coef_.T


def sklearn_sparse_encode(D, Y, lam, max_iter):
    from sklearn.decomposition import sparse_encode

    # rows as samples; lasso_cd divides alpha by the number of features itself, and has no tol: sweep max_iter
    return sparse_encode(Y.T, D.T, algorithm="lasso_cd", alpha=lam, max_iter=max_iter).T


# each solver with the settings swept (its own tolerance, or its iteration budget)
SOLVERS = {
    "proxcore fista": (proxcore_solver("fista", "gap_tol"), [1e-4, 1e-6, 1e-8, 1e-10]),
    "proxcore cd": (proxcore_solver("cd", "tol"), [1e-4, 1e-6, 1e-8, 1e-10]),
    "proxcore lars": (proxcore_solver("lars"), [None]),  # exact: one setting
    "sklearn Lasso (Gram)": (sklearn_lasso, [1e-2, 1e-4, 1e-6, 1e-8]),
    "sklearn sparse_encode": (sklearn_sparse_encode, [10, 100, 1000]),
}


def _available(name):
    if name.startswith("proxcore "):
        try:
            pc.pursuit(name.split()[1])
        except ValueError:
            print(f"{name}: not registered, reported as missing")
            return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/lasso.md"))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    threadpool_limits(1, user_api="blas")
    lam = 0.1
    D, Y = workload(args.signals)
    problem = pc.chain(Y, [(pc.Matrix(D), pc.L1(lam))])
    ref = pc.solve(problem, method="fista", gap_tol=1e-13, max_iter=200_000)
    f_star = ref.objective - float(np.sum(lasso_duality_gap(D, Y, ref.x, lam)))

    available = {name: entry for name, entry in SOLVERS.items() if _available(name)}
    times = {name: {tol: [] for tol in tols} for name, (_, tols) in available.items()}
    subopt = {name: {} for name in available}
    for _ in range(args.repeats):  # round robin: every solver and setting once per repeat
        for name, (solve, tols) in available.items():
            for tol in tols:
                start = time.perf_counter()
                x = solve(D, Y, lam, tol)
                times[name][tol].append(time.perf_counter() - start)
                subopt[name][tol] = (problem.objective(x) - f_star) / f_star

    rows = []
    names = [n for n in SOLVERS if n in times]
    for name in names:
        row = [name]
        for level in (1e-3, 1e-6):
            reached = [np.median(times[name][tol]) for tol in times[name] if subopt[name][tol] <= level]
            row.append(f"{min(reached):.3f}" if reached else "not reached")
        rows.append(row)
    base = {lvl: rows[0][i + 1] for i, lvl in enumerate((1e-3, 1e-6))}
    lines = [
        f"# Batch Lasso, 64×256, N = {args.signals}, λ = {lam}",
        "",
        f"F* = {f_star:.10g} (certified by the duality gap); median of {args.repeats} round-robin repeats; "
        f"BLAS: {', '.join(sorted({i['internal_api'] for i in threadpool_info()}))}, 1 thread.",
        "",
        "| solver | time to 1e-3 [s] | time to 1e-6 [s] | ratio to proxcore at 1e-6 |",
        "|---|---|---|---|",
    ]
    for row in rows:
        try:
            ratio = f"{float(row[2]) / float(base[1e-6]):.2f}"
        except ValueError:
            ratio = "n/a"
        lines.append(f"| {row[0]} | {row[1]} | {row[2]} | {ratio} |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
