"""Workload 1, batch Lasso: time to relative sub-optimality 1e-3 and 1e-6, proxcore against its peers.

Unit-norm Gaussian 64×256 dictionary, 8-sparse signals with noise 0.05,
λ = 0.1, N signals as columns. ``F*`` is certified: FISTA run to a duality
gap of 1e-13·‖y‖² per signal, ``F* ≥ F(x) − gap``; cvxpy confirms it on the
first signals. Each solver's own tolerance (or iteration budget) is swept;
medians of round-robin repeats in one process; every library on one thread
(BLAS, numba, SPAMS).

Peers: SPAMS ``lasso`` (LARS, C++), scikit-learn ``Lasso`` with a precomputed
Gram on all targets and ``sparse_encode(algorithm="lasso_cd")``, pyproximal's
``AcceleratedProximalGradient`` (FISTA) on the whole batch.

    python benchmarks/bench_lasso.py --signals 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import _harness as h

PEERS = [("SPAMS", "spams"), ("scikit-learn", "sklearn"), ("pyproximal", "pyproximal"), ("cvxpy", "cvxpy")]


def workload(n_signals, seed=0):
    """The issue's instance: 64×256, 8-sparse codes, noise 0.05."""
    return h.sparse_model(n_signals, 0.05, seed)


def certified_optimum(D, Y, lam):
    """``(F*, x*)``: FISTA to a duality gap of 1e-13·‖y‖² per signal; F* is the lower bound F(x) − gap."""
    import proxcore as pc

    res = pc.solve(pc.chain(Y, [(D, pc.L1(lam))]), method="fista", gap_tol=1e-13, max_iter=200_000)
    return res.objective - float(np.sum(res.gap)), res.x


def cvxpy_solution(D, Y, lam):
    """The Lasso codes of the columns of ``Y``, each solved by cvxpy (its default conic solver)."""
    import cvxpy as cp

    X = np.empty((D.shape[1], Y.shape[1]))
    for j, y in enumerate(Y.T):
        x = cp.Variable(D.shape[1])
        cp.Problem(cp.Minimize(0.5 * cp.sum_squares(D @ x - y) + lam * cp.norm1(x))).solve()
        X[:, j] = x.value
    return X


def solvers(D, Y, lam, threads=1):
    import proxcore as pc

    def proxcore_run(method, option):
        def run(setting):
            options = {option: setting, "max_iter": 100_000} if option else {}
            return pc.solve(pc.chain(Y, [(pc.Matrix(D), pc.L1(lam))]), method=method, **options).x

        return run

    out = {
        "proxcore fista": (proxcore_run("fista", "gap_tol"), [1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10]),
        "proxcore cd": (proxcore_run("cd", "tol"), [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-6, 1e-8, 1e-10]),
        "proxcore lars": (proxcore_run("lars", None), [None]),
    }
    spams = h.peer("spams")
    if spams is not None:
        def spams_lasso(_):
            return spams.lasso(np.asfortranarray(Y), D=np.asfortranarray(D), lambda1=lam, mode=2,
                               numThreads=threads).toarray()

        out["SPAMS lasso (LARS)"] = (spams_lasso, [None])
    else:
        out["SPAMS lasso (LARS)"] = None
    if h.peer("sklearn") is not None:
        from sklearn.decomposition import sparse_encode
        from sklearn.linear_model import Lasso

        def sklearn_lasso(tol):
            model = Lasso(alpha=lam / D.shape[0], fit_intercept=False, precompute=D.T @ D, tol=tol, max_iter=100_000)
            return model.fit(D, Y).coef_.T

        def sklearn_encode(max_iter):  # rows as samples; lasso_cd divides alpha by n itself; no tol: sweep max_iter
            return sparse_encode(Y.T, D.T, algorithm="lasso_cd", alpha=lam, max_iter=max_iter).T

        out["scikit-learn Lasso (Gram)"] = (sklearn_lasso, [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-6, 1e-8])
        out["scikit-learn sparse_encode"] = (sklearn_encode, [10, 100, 1000])
    else:
        out["scikit-learn Lasso (Gram)"] = out["scikit-learn sparse_encode"] = None
    pyproximal = h.peer("pyproximal")
    if pyproximal is not None:
        import pylops

        def pyproximal_fista(niter):
            Op = pylops.MatrixMult(D, otherdims=(Y.shape[1],))
            tau = 1.0 / np.linalg.norm(D, 2) ** 2  # set-up counted
            x = pyproximal.optimization.primal.AcceleratedProximalGradient(
                pyproximal.L2(Op=Op, b=Y.ravel()), pyproximal.L1(sigma=lam), x0=np.zeros(D.shape[1] * Y.shape[1]),
                tau=tau, niter=niter, show=False)
            return x.reshape(D.shape[1], Y.shape[1])

        out["pyproximal FISTA"] = (pyproximal_fista, [50, 200, 1000, 3000])
    else:
        out["pyproximal FISTA"] = None
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--cvxpy-signals", type=int, default=5, help="signals re-solved by cvxpy to confirm F*")
    h.common_arguments(parser, "lasso_<signals>")
    args = parser.parse_args(argv)
    args.name = args.name.replace("<signals>", str(args.signals))
    h.pin_threads(args.threads)
    import proxcore as pc

    lam = 0.1
    D, Y = workload(args.signals)
    problem = pc.chain(Y, [(D, pc.L1(lam))])
    f_star, x_star = certified_optimum(D, Y, lam)
    k = min(args.cvxpy_signals, args.signals)
    confirm = None
    if k and h.peer("cvxpy") is not None:
        sub = pc.chain(Y[:, :k], [(D, pc.L1(lam))])
        x_cvx = cvxpy_solution(D, Y[:, :k], lam)
        confirm = {"objective": (sub.objective(x_cvx) - sub.objective(x_star[:, :k])) / sub.objective(x_star[:, :k]),
                   "codes": float(np.abs(x_cvx - x_star[:, :k]).max())}

    table = solvers(D, Y, lam, args.threads)
    present = {name: entry for name, entry in table.items() if entry is not None}
    h.silent(lambda: [pc.solve(pc.chain(Y[:, :10], [(D, pc.L1(lam))]), method=method, max_iter=5)
                       for method in ("lars", "cd", "fista")])
    blas = h.pin_threads(args.threads)  # again, now that every peer has loaded its runtime
    pause = 0.15 if args.threads > 1 else 0.0  # every run starts with the BLAS workers asleep (h.sweep)
    trials = h.sweep(present, lambda x: (problem.objective(x) - f_star) / f_star, args.repeats, pause=pause)
    by_solver = {name: trials.get(name) for name in table}

    name = args.name
    h.plot_gap_vs_time(h.out_path(args.out_dir, name + ".png"), {k: v for k, v in by_solver.items() if v},
                       f"Batch Lasso 64×256, N = {args.signals}, λ = {lam}")
    best_pc = min(t for t in (h.time_to(by_solver[s], 1e-6) for s in ("proxcore fista", "proxcore cd", "proxcore lars"))
                  if t is not None)
    spams_t = h.time_to(by_solver["SPAMS lasso (LARS)"] or [], 1e-6)
    sk_t = h.time_to(by_solver["scikit-learn Lasso (Gram)"] or [], 1e-6)
    targets = [
        h.target(f"batch Lasso N={args.signals}, {args.threads} thread(s): proxcore / SPAMS time to 1e-6",
                 h.ratio(best_pc, spams_t), 1.0, "<="),
        h.target(f"batch Lasso N={args.signals}, {args.threads} thread(s): proxcore / scikit-learn Lasso time to 1e-6",
                 h.ratio(best_pc, sk_t), 0.25, "<="),
    ]
    lines = [f"# Batch Lasso, 64×256, N = {args.signals}, λ = {lam} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
             "",
             f"F* = {f_star:.10g}, certified by the duality gap"
             + (f"; cvxpy on the first {k} signals: objective {confirm['objective']:+.1e} relative to proxcore's, "
                f"codes within {confirm['codes']:.1e}" if confirm is not None else "")
             + f". Medians of {args.repeats} round-robin repeats; {args.threads} thread(s) for every library "
             f"(BLAS: {', '.join(blas)}). Set-up (Gram, Lipschitz constant) inside every timing.",
             "",
             h.environment(PEERS),
             "",
             *h.solver_table(by_solver, "proxcore lars"),
             "",
             f"Command: `python benchmarks/bench_lasso.py --signals {args.signals} --repeats {args.repeats} "
             f"--threads {args.threads}`.",
             ""]
    h.write(name, args.out_dir, "\n".join(lines),
            {"workload": name, "targets": targets, "f_star": f_star, "cvxpy_confirmation": confirm,
             "times_to_1e-6": {s: (h.time_to(t, 1e-6) if t else None) for s, t in by_solver.items()}})


if __name__ == "__main__":
    main()
