"""The ``proxcore`` command line: ``proxcore solve SPEC``, ``proxcore demo``, ``proxcore plugins``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

__all__ = ["main"]


def _demo_model(n_signals, seed):
    """A built-in two-layer sparse model ``y = D1 γ1 + w``, ``γ1 = D2 γ2``.

    ``D1`` is a unit-norm Gaussian 48×96 dictionary, ``D2`` a 96×128
    dictionary whose atoms have 6 non-zeros (so that ``γ1`` is sparse too),
    ``γ2`` is 3-sparse, the noise has standard deviation 0.02.
    """
    rng = np.random.default_rng(seed)
    n0, n1, n2, k, s2 = 48, 96, 128, 6, 3
    D1 = rng.standard_normal((n0, n1))
    D1 /= np.linalg.norm(D1, axis=0)
    D2 = np.zeros((n1, n2))
    for j in range(n2):
        D2[rng.choice(n1, k, replace=False), j] = rng.standard_normal(k)
    D2 /= np.linalg.norm(D2, axis=0)
    G2 = np.zeros((n2, n_signals))
    for j in range(n_signals):
        G2[rng.choice(n2, s2, replace=False), j] = rng.choice([-1.0, 1.0], s2) * rng.uniform(1.0, 2.0, s2)
    G1 = D2 @ G2
    Y = D1 @ G1 + 0.02 * rng.standard_normal((n0, n_signals))
    return D1, D2, G1, G2, Y


def _support_scores(estimate, truth):
    """Support precision and recall over the batch: ``(TP/(TP+FP), TP/(TP+FN))``.

    An entry is found when ``|entry| > 1e-6`` of its signal's largest; true
    where ``truth`` is non-zero. Counts are pooled over all signals (a
    precision of 1 when nothing is found, a recall of 1 when nothing is true).
    """
    estimate, truth = np.asarray(estimate), np.asarray(truth)
    scale = np.maximum(np.abs(estimate).max(axis=0, keepdims=True), 1e-300)
    found = np.abs(estimate) > 1e-6 * scale
    true = truth != 0
    hits = int(np.count_nonzero(found & true))
    n_found, n_true = int(np.count_nonzero(found)), int(np.count_nonzero(true))
    return (hits / n_found if n_found else 1.0), (hits / n_true if n_true else 1.0)


#: The exact reference's budget: on the default problem (100 signals) ADMM meets tol 1e-6 after about
#: 4900 iterations, its objective then 8e-10 (relative) above cvxpy's; tol 1e-8 is not met in 20,000.
REFERENCE_OPTIONS = {"max_iter": 20_000, "tol": 1e-6}


def demo(args) -> int:
    """``proxcore demo``: the two-layer sparse model recovered by five pursuits, as a table and a plot."""
    import warnings

    import proxcore as pc

    D1, D2, G1, G2, Y = _demo_model(args.signals, args.seed)
    lam2, lam1 = args.lam, args.lam / 2
    problem = pc.chain(Y, [(pc.Matrix(D1), pc.L1(lam1)), (pc.Matrix(D2), pc.L1(lam2))])
    print(
        f"proxcore demo: two-layer sparse model y = D1 D2 γ2 + w, D1 {D1.shape[0]}x{D1.shape[1]}, "
        f"D2 {D2.shape[0]}x{D2.shape[1]}, {Y.shape[1]} signals; multi-layer BP with "
        f"λ1 = {lam1:g}, λ2 = {lam2:g}"
    )
    runs = [("layered-thresholding", {}), ("layered-bp", {"tol": 1e-8}),
            ("ml-ista", {"max_iter": 1000, "tol": 1e-8}), ("ml-fista", {"max_iter": 1000, "tol": 1e-8}),
            ("primal-dual", dict(REFERENCE_OPTIONS))]
    results = {}
    with _single_threaded_blas():  # small products: threads only contend
        for method, options in runs:
            try:
                solver = pc.pursuit(method)
            except pc.InvalidParameterError:
                continue  # a pursuit whose plugin is not installed
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pc.ConvergenceWarning)
                res = solver(problem, **options)
            results[method] = (res, time.perf_counter() - start)
    exact = results["primal-dual"][0]
    optimum = exact.objective
    header = (f"{'method':<21}{'iters':>7}{'objective':>14}{'rel. gap':>11}"
              f"{'γ1 prec':>9}{'γ1 rec':>8}{'γ2 prec':>9}{'γ2 rec':>8}{'time [s]':>10}{'converged':>10}")
    print(header)
    print("-" * len(header))
    below = []
    for method, (res, elapsed) in results.items():
        value = problem.objective(res.x)
        gap = (value - optimum) / abs(optimum)
        if gap < -10 * REFERENCE_OPTIONS["tol"]:
            below.append(f"{method} ({gap:.2e})")
        (p1, r1), (p2, r2) = _support_scores(res.codes[0], G1), _support_scores(res.x, G2)
        print(f"{method:<21}{res.n_iter:>7}{value:>14.6f}{gap:>11.2e}{p1:>9.1%}{r1:>8.1%}{p2:>9.1%}{r2:>8.1%}"
              f"{elapsed:>10.3f}{str(res.converged):>10}")
    print("rel. gap: (F − F*)/F* against primal-dual (the exact engine); prec / rec: support precision "
          "(found atoms that are true) and recall (true atoms found) per layer")
    if args.plot:
        _plot(results, optimum, args.plot)
    if not exact.converged:
        print(f"proxcore demo: error: the exact reference (primal-dual) did not converge, so the gaps above are not "
              f"against the optimum: {exact.message}", file=sys.stderr)
        return 1
    if below:
        print(f"proxcore demo: error: ended below the exact reference: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


def _single_threaded_blas():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn, not with proxcore
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _plot(results, optimum, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("convergence plot skipped: matplotlib is not installed (pip install matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in ("ml-ista", "ml-fista", "primal-dual"):
        if method in results:
            history = results[method][0].history["objective"]
            ax.semilogy(np.arange(1, len(history) + 1), np.maximum((history - optimum) / abs(optimum), 1e-16),
                        label=method)
    ax.set_xlabel("iteration")
    ax.set_ylabel("(F − F*) / F*")
    ax.set_title("Multi-layer BP: convergence")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"convergence plot saved to {path}")


# ---------------------------------------------------------------------- solve
class _Progress:
    """A progress bar on stderr for runs longer than a second (only on a terminal)."""

    def __init__(self, max_iter, enabled):
        self.max_iter, self.enabled = max_iter, enabled
        self.start = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def __call__(self, state):
        if not self.enabled:
            return None
        now = time.perf_counter() - self.start
        if now < 1.0 or now - self.last < 0.1:
            return None
        self.last, self.shown = now, True
        done = min(state.iteration / self.max_iter, 1.0)
        bar = "#" * int(30 * done)
        sys.stderr.write(f"\r[{bar:<30}] {state.iteration}/{self.max_iter}  objective {state.objective:.6g}")
        sys.stderr.flush()
        return None

    def close(self):
        if self.shown:
            sys.stderr.write("\n")


def solve(args) -> int:
    """``proxcore solve SPEC --data Y.npy --out result.npz``."""
    import warnings

    import proxcore as pc
    from .spec import read_spec, solver_options

    spec = read_spec(args.spec)
    options = solver_options(spec)
    if args.scheduler:  # on a Dask cluster: the data memory-mapped or Zarr, solved chunk by chunk
        import os

        from .distributed import cli_solve

        return cli_solve(args, spec, options, os.path.dirname(os.path.abspath(args.spec)))
    try:
        Y = np.load(args.data, allow_pickle=False)
    except FileNotFoundError:
        raise pc.InvalidParameterError(f"--data: no such file {args.data!r}.") from None
    except (OSError, ValueError) as exc:
        raise pc.InvalidParameterError(f"--data: cannot read {args.data!r} as a .npy array ({exc}).") from None
    import os

    from .dcp import layer_tolerances

    problem = pc.Problem.from_spec(spec, y=Y, base_dir=os.path.dirname(os.path.abspath(args.spec)))
    tolerances = layer_tolerances(problem) if problem.is_chain else None
    method = args.method or options.pop("method", None)
    options.pop("method", None)
    if method is None and tolerances is not None:  # per-layer tolerances: a layered pursuit that honours them
        dense_budgets = all(isinstance(layer.regularizer, pc.L0Ball) for layer in problem.layers)
        method = "layered-omp" if dense_budgets else "layered-bp-eps"
    if method is None:
        method = "primal-dual" if not problem.is_chain else ("fista" if len(problem.layers) == 1 else "ml-fista")
    if args.max_iter is not None:
        options["max_iter"] = args.max_iter
    if args.tol is not None:
        options["tol"] = args.tol
    solver = pc.pursuit(method)
    progress = _Progress(options.get("max_iter", 1000), sys.stderr.isatty() and not args.quiet)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pc.ConvergenceWarning)  # the summary says it
        try:
            res = solver(problem, callback=progress, **options)
        except TypeError as exc:
            if "callback" not in str(exc):
                raise
            res = solver(problem, **options)  # a pursuit without iterations takes no callback
        finally:
            progress.close()
    elapsed = time.perf_counter() - start
    arrays = {"x": res.x, "objective": np.float64(res.objective), "n_iter": np.int64(res.n_iter),
              "converged": np.bool_(res.converged)}
    for i, code in enumerate(res.codes, start=1):
        arrays[f"code{i}"] = np.asarray(code)
    for key, value in res.history.items():
        arrays[f"history_{key}"] = np.asarray(value)
    report = None
    if tolerances is not None:
        report, feasible, residuals = _tolerance_report(problem, res)
        arrays["feasible"] = np.asarray(feasible)
        for i, r in enumerate(residuals, start=1):
            arrays[f"residual{i}"] = np.asarray(r)
    out = args.out
    try:
        np.savez(out, **arrays)
    except OSError as exc:
        raise pc.InvalidParameterError(f"--out: cannot write {out!r} ({exc.strerror or exc}).") from None
    print(f"method     {method}")
    print(f"objective  {res.objective:.10g}")
    print(f"iterations {res.n_iter}")
    print(f"converged  {res.converged}")
    print(f"time       {elapsed:.3f} s")
    print(f"message    {res.message}")
    if report is not None:
        print(report)
    extra = ", feasible, residual1..residual{}".format(len(res.codes)) if report is not None else ""
    print(f"wrote      {out} (x, code1..code{len(res.codes)}, history_*{extra})")
    if report is not None:
        return 0 if res.converged and bool(np.all(feasible)) else 1
    return 0 if res.converged else 1


def _tolerance_report(problem, res):
    """For a spec with per-layer tolerances: (the report's text, feasible per signal, residuals per layer).

    With budgets at every layer (``l0-ball``, ``l0inf``) it is the deep coding problem's
    :class:`proxcore.dcp.Feasibility`; otherwise the residuals against the tolerances alone.
    """
    import proxcore as pc
    from .dcp import DCP, layer_residuals, layer_tolerances

    if len(res.codes) != len(problem.layers):
        raise pc.InvalidParameterError(f"the pursuit returned {len(res.codes)} code(s) for a chain of "
                                       f"{len(problem.layers)} layers; cannot check the tolerances.")
    if all(isinstance(layer.regularizer, (pc.L0Ball, pc.L0Inf)) for layer in problem.layers):
        report = DCP(problem).feasibility(res.codes)
        return str(report), report.signal_feasible, report.residuals
    residuals = layer_residuals(problem, res.codes)
    tolerances = layer_tolerances(problem)
    ok = np.ones(problem.batch_shape, dtype=bool)
    for r, t in zip(residuals, tolerances):
        ok &= r <= t
    lines = [f"tolerances: {'met' if ok.all() else 'NOT met'} ({int(ok.sum())} of {ok.size} signal(s))"]
    for i, (r, t) in enumerate(zip(residuals, tolerances), start=1):
        worst = float(np.max(r)) if r.size else 0.0
        lines.append(f"  layer {i}: residual {worst:.4g} <= {t:.4g}? {'yes' if worst <= t else 'no'} "
                     "(max over signals)")
    return "\n".join(lines), ok, residuals


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
    p = sub.add_parser("demo", help="recover a built-in two-layer sparse model with five pursuits; print a table")
    p.add_argument("--signals", type=int, default=100, help="number of signals (default 100)")
    p.add_argument("--lam", type=float, default=0.1, help="ℓ1 weight of the deepest layer, λ1 = lam/2 (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default="proxcore-demo.png",
                   help="where to save the convergence plot (default proxcore-demo.png; '' for none)")
    p.set_defaults(func=demo)
    p = sub.add_parser("solve", help="solve the problem a TOML spec declares, on data from a .npy file")
    p.add_argument("spec", help="the problem spec (.toml): [[layer]] tables or a [graph]")
    p.add_argument("--data", required=True, help="the data Y (.npy), signals as columns")
    p.add_argument("--method", help="a registered pursuit (default: the spec's [solver] method, else ml-fista)")
    p.add_argument("--max-iter", type=int, dest="max_iter")
    p.add_argument("--tol", type=float)
    p.add_argument("--out", required=True, help="where to write x, every code and the history (.npz)")
    p.epilog = ("exit status: 0 converged, 1 stopped before converging (results still written), 2 user error. "
                "A spec whose layers give 'tolerance' (the deep coding problem) defaults to layered-omp (l0-ball "
                "budgets) or layered-bp-eps, prints whether the codes meet every tolerance and budget, and exits "
                "with 1 when they do not.")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="solve on a running Dask scheduler (tcp://host:port): --data is memory-mapped (.npy) or "
                        "Zarr, solved chunk by chunk; --out .zarr streams the codes (needs proxcore[dask])")
    p.add_argument("--chunk-size", type=int, dest="chunk_size", metavar="N",
                   help="with --scheduler: signals per chunk (default: the Zarr chunks, or about 64 MB)")
    p.set_defaults(func=solve)
    p = sub.add_parser("plugins", help="list every registered dictionary, operator, regularizer and pursuit")
    p.set_defaults(func=list_plugins)
    return parser


def main(argv=None) -> int:
    from ._validation import InvalidParameterError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InvalidParameterError as exc:  # a user error: one clear line, no traceback
        print(f"proxcore {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
