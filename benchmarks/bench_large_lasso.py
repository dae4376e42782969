"""Workload 3, one large Lasso: 500×2000, 50-sparse, λ = 0.1‖Aᵀy‖∞, proxcore against scikit-learn, celer, skglm.

One signal, so the batch engines have nothing to batch: this is the
single-problem case the working-set solvers (celer, skglm) are built for.
``F*`` is certified by the duality gap of LARS' exact solution (cvxpy
confirms it); each solver's tolerance is swept, medians of round-robin
repeats, one thread everywhere.

    python benchmarks/bench_large_lasso.py --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import _harness as h

PEERS = [("scikit-learn", "sklearn"), ("celer", "celer"), ("skglm", "skglm"), ("cvxpy", "cvxpy")]


def workload(n=500, m=2000, s=50, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, m)) / np.sqrt(n)
    x = np.zeros(m)
    x[rng.choice(m, s, replace=False)] = rng.standard_normal(s)
    y = A @ x + noise * rng.standard_normal(n) / np.sqrt(n)
    return A, y, 0.1 * float(np.abs(A.T @ y).max())


def solvers(A, y, lam):
    import proxcore as pc

    n = A.shape[0]

    def proxcore_run(method, option):
        def run(setting):
            options = {option: setting, "max_iter": 1_000_000} if option else {}
            return pc.solve(pc.chain(y, [(pc.Matrix(A), pc.L1(lam))]), method=method, **options).x

        return run

    out = {
        "proxcore fista": (proxcore_run("fista", "gap_tol"), [1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10]),
        "proxcore cd": (proxcore_run("cd", "tol"), [1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10]),
        "proxcore lars": (proxcore_run("lars", None), [None]),
    }
    if h.peer("sklearn") is not None:
        from sklearn.linear_model import Lasso

        out["scikit-learn Lasso"] = (lambda tol: Lasso(alpha=lam / n, fit_intercept=False, tol=tol, max_iter=100_000)
                                     .fit(A, y).coef_, [1e-2, 1e-4, 1e-6, 1e-8])
    else:
        out["scikit-learn Lasso"] = None
    for label, module in (("celer Lasso", "celer"), ("skglm Lasso", "skglm")):
        mod = h.peer(module)
        out[label] = None if mod is None else (
            lambda tol, mod=mod: mod.Lasso(alpha=lam / n, fit_intercept=False, tol=tol).fit(A, y).coef_,
            [1e-2, 1e-4, 1e-6, 1e-8, 1e-10])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    h.common_arguments(parser, "large_lasso")
    args = parser.parse_args(argv)
    h.pin_threads(args.threads)
    import proxcore as pc
    from proxcore.certificates import lasso_duality_gap

    A, y, lam = workload()
    problem = pc.chain(y, [(A, pc.L1(lam))])
    exact = pc.solve(problem, method="lars").x
    f_star = problem.objective(exact) - float(np.sum(lasso_duality_gap(A, y, exact, lam)))
    confirm = None
    if h.peer("cvxpy") is not None:
        import cvxpy as cp

        x = cp.Variable(A.shape[1])
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - y) + lam * cp.norm1(x))).solve()
        confirm = (problem.objective(x.value) - f_star) / f_star
    table = solvers(A, y, lam)
    h.silent(lambda: [pc.solve(pc.chain(y[:50], [(A[:50, :100], pc.L1(lam))]), method=m, max_iter=5)
                       for m in ("lars", "cd", "fista")])
    blas = h.pin_threads(args.threads)
    trials = h.sweep({k: v for k, v in table.items() if v is not None},
                     lambda x: (problem.objective(x) - f_star) / f_star, args.repeats)
    by_solver = {name: trials.get(name) for name in table}
    h.plot_gap_vs_time(h.out_path(args.out_dir, args.name + ".png"), {k: v for k, v in by_solver.items() if v},
                       f"One Lasso 500×2000, 50-sparse, λ = 0.1‖Aᵀy‖∞ = {lam:.4g}")
    best_pc = min((t for t in (h.time_to(by_solver[s], 1e-6) for s in ("proxcore fista", "proxcore cd", "proxcore lars"))
                   if t is not None), default=None)
    lines = [f"# One large Lasso, 500×2000, 50-sparse ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"λ = 0.1‖Aᵀy‖∞ = {lam:.6g}; F* = {f_star:.12g}, certified by the duality gap of LARS' solution"
             + (f"; cvxpy reaches {confirm:+.1e} relative to it" if confirm is not None else "")
             + f". Medians of {args.repeats} round-robin repeats; {args.threads} thread(s) (BLAS: {', '.join(blas)}).",
             "", h.environment(PEERS), "",
             *h.solver_table(by_solver, "proxcore lars"), "",
             f"Command: `python benchmarks/bench_large_lasso.py --repeats {args.repeats}`.", ""]
    peers_best = {name: h.time_to(by_solver[name] or [], 1e-6) for name in ("scikit-learn Lasso", "celer Lasso",
                                                                             "skglm Lasso")}
    targets = [h.target(f"large Lasso: proxcore / {name} time to 1e-6", h.ratio(best_pc, t), 1.0, "<=",
                        note="no target in the issue; reported") for name, t in peers_best.items()]
    h.write(args.name, args.out_dir, "\n".join(lines),
            {"workload": args.name, "targets": targets, "f_star": f_star, "cvxpy_confirmation": confirm})


if __name__ == "__main__":
    main()
