"""The ``proxcore`` command line: ``proxcore demo``, ``proxcore plugins`` (and, as it lands, ``solve``)."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

__all__ = ["main"]


def _demo_lasso(n_signals, seed):
    """A built-in batch Lasso: unit-norm Gaussian 64×256 dictionary, 8-sparse signals, noise 0.05."""
    rng = np.random.default_rng(seed)
    n, m, s = 64, 256, 8
    D = rng.standard_normal((n, m))
    D /= np.linalg.norm(D, axis=0)
    X = np.zeros((m, n_signals))
    for j in range(n_signals):
        X[rng.choice(m, s, replace=False), j] = rng.standard_normal(s)
    Y = D @ X + 0.05 * rng.standard_normal((n, n_signals))
    return D, X, Y


def demo(args) -> int:
    import proxcore as pc

    D, X, Y = _demo_lasso(args.signals, args.seed)
    problem = pc.chain(Y, [(pc.Matrix(D), pc.L1(args.lam))])
    print(
        f"proxcore demo: batch Lasso, dictionary {D.shape[0]}x{D.shape[1]} (unit-norm Gaussian), "
        f"{Y.shape[1]} signals (8-sparse, noise 0.05), lambda = {args.lam}"
    )
    rows = []
    for method in ("ista", "fista"):
        start = time.perf_counter()
        res = pc.solve(problem, method=method, gap_tol=1e-7, max_iter=20_000)
        elapsed = time.perf_counter() - start
        support = np.abs(res.x) > 1e-8
        recovered = np.mean(np.all(support | (X == 0), axis=0))  # true support found
        rows.append((method, res.n_iter, res.objective, float(np.max(res.gap)), elapsed,
                     float(np.mean(support.sum(axis=0))), recovered, res.converged))
    header = f"{'method':<7} {'iters':>6} {'objective':>14} {'max gap':>10} {'time [s]':>9} {'nnz/signal':>10} {'support found':>13} {'converged':>9}"
    print(header)
    print("-" * len(header))
    for method, it, obj, gap, elapsed, nnz, rec, conv in rows:
        print(f"{method:<7} {it:>6} {obj:>14.8f} {gap:>10.2e} {elapsed:>9.3f} {nnz:>10.2f} {rec:>13.1%} {str(conv):>9}")
    print("(time includes one-off compilation of the numba kernels on a first run)")
    return 0 if all(row[-1] for row in rows) else 1


def list_plugins(args) -> int:
    """``proxcore plugins``: every registered name by kind, with the plugin and distribution providing it."""
    from . import plugins

    manager = plugins.get_manager()
    entries = manager.entries()
    width = max([len(e.name) for e in entries] + [4])
    for kind in plugins.KINDS:
        rows = [e for e in entries if e.kind == kind]
        print(f"{kind} ({len(rows)})")
        for e in rows:
            dist = f"{e.distribution} {e.version or ''}".strip() if e.distribution else "(registered at run time)"
            print(f"  {e.name:<{width}}  {dist:<24} plugin {e.plugin}")
    problems = [r for r in manager.report() if r.status != "loaded"]
    if problems:
        print("not loaded")
        for r in problems:
            dist = f"{r.distribution} {r.version or ''}".strip() if r.distribution else "?"
            print(f"  {r.name} ({dist}): {r.status}: {r.error}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proxcore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="solve a built-in batch Lasso and print a table")
    p.add_argument("--signals", type=int, default=1000, help="number of signals (default 1000)")
    p.add_argument("--lam", type=float, default=0.1, help="ℓ1 weight (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=demo)
    p = sub.add_parser("plugins", help="list every registered dictionary, operator, regularizer and pursuit")
    p.set_defaults(func=list_plugins)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
