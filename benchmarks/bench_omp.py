"""Workload 2, batch OMP: proxcore's Batch-OMP against SPAMS ``omp`` and scikit-learn ``orthogonal_mp_gram``.

Unit-norm Gaussian 64×256 dictionary, 10,000 signals ``y = Dx`` with
8-sparse ``x`` (normal coefficients), without noise and with noise 0.05;
every pursuit selects ``s = 8`` atoms. Everyone's set-up is timed (the Gram
and the correlations ``DᵀY`` for scikit-learn, Fortran copies for SPAMS,
the problem for proxcore). Medians of round-robin repeats, one thread each.
Reported: time, ratio to SPAMS, the mean residual ‖y − Dx‖ against SPAMS'
(greedy pursuits: equal residuals mean the same atoms), and whether the
supports equal scikit-learn's. SPAMS' ``omp`` is order-recursive matching
pursuit (forward selection: checked, it selects the atoms of proxcore's
``ormp``); scikit-learn's is OMP, as proxcore's ``omp``.

    python benchmarks/bench_omp.py --signals 10000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import _harness as h

PEERS = [("SPAMS", "spams"), ("scikit-learn", "sklearn")]


def candidates(D, Y, s, threads=1):
    import proxcore as pc

    out = {
        "proxcore omp": lambda: pc.solve(pc.chain(Y, [(pc.Matrix(D), pc.L0Ball(s))]), method="omp").x,
        "proxcore omp (NumPy twin)": lambda: pc.solve(pc.chain(Y, [(pc.Matrix(D), pc.L0Ball(s))]), method="omp",
                                                      jit=False).x,
        "proxcore ormp": lambda: pc.solve(pc.chain(Y, [(pc.Matrix(D), pc.L0Ball(s))]), method="ormp").x,
    }
    spams = h.peer("spams")
    out["SPAMS omp"] = None if spams is None else (
        lambda: spams.omp(np.asfortranarray(Y), np.asfortranarray(D), L=s, numThreads=threads).toarray())
    if h.peer("sklearn") is not None:
        from sklearn.linear_model import orthogonal_mp_gram

        out["scikit-learn orthogonal_mp_gram"] = lambda: orthogonal_mp_gram(D.T @ D, D.T @ Y, n_nonzero_coefs=s)
    else:
        out["scikit-learn orthogonal_mp_gram"] = None
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--s", type=int, default=8)
    h.common_arguments(parser, "omp", repeats=5)
    args = parser.parse_args(argv)
    h.pin_threads(args.threads)
    import proxcore as pc

    lines = [f"# Batch OMP, 64×256, N = {args.signals}, s = {args.s} "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", ""]
    targets, figures = [], {}
    for noise in (0.0, 0.05):
        D, Y = h.sparse_model(args.signals, noise)
        runs = candidates(D, Y, args.s, args.threads)
        h.silent(lambda: [pc.solve(pc.chain(Y[:, :4], [(D, pc.L0Ball(args.s))]), method=m) for m in ("omp", "ormp")])
        blas = h.pin_threads(args.threads)
        times = {name: [] for name, run in runs.items() if run is not None}
        outputs = {}
        for _ in range(args.repeats):  # round robin
            for name in times:
                start = time.perf_counter()
                outputs[name] = runs[name]()
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) for name, t in times.items()}
        residual = {name: float(np.linalg.norm(Y - D @ x, axis=0).mean()) for name, x in outputs.items()}
        ref_name = "scikit-learn orthogonal_mp_gram"
        lines += [f"## Noise {noise}", "",
                  "| method | time [s] | SPAMS time / time | mean ‖y − Dx‖ | vs SPAMS' | same supports as scikit-learn |",
                  "|---|---|---|---|---|---|"]
        for name, run in runs.items():
            if run is None:
                lines.append(f"| {name} | missing | – | – | – | – |")
                continue
            spams_ratio = h.ratio(med.get("SPAMS omp"), med[name])
            res_ratio = h.ratio(residual[name], residual.get("SPAMS omp"))
            same = (str(bool(np.array_equal(outputs[name] != 0, outputs[ref_name] != 0)))
                    if ref_name in outputs else "n/a")
            lines.append(f"| {name} | {med[name]:.3f} | {'n/a' if spams_ratio is None else f'{spams_ratio:.2f}'} "
                         f"| {residual[name]:.6g} | {'n/a' if res_ratio is None else f'{res_ratio:.6f}'} | {same} |")
        lines.append("")
        figures[noise] = {name: med[name] for name in med}
        for method in ("omp", "ormp"):
            targets.append(h.target(f"batch OMP noise={noise}: proxcore {method} / SPAMS omp time",
                                    h.ratio(med[f"proxcore {method}"], med.get("SPAMS omp")), 1.0, "<="))
            targets.append(h.target(f"batch OMP noise={noise}: proxcore {method} / SPAMS omp mean residual",
                                    h.ratio(residual[f"proxcore {method}"], residual.get("SPAMS omp")), 1.0 + 1e-9,
                                    "<="))
    lines += [f"Medians of {args.repeats} round-robin repeats; {args.threads} thread(s) for every library "
              f"(BLAS: {', '.join(blas)}).", "", h.environment(PEERS), "",
              f"Command: `python benchmarks/bench_omp.py --signals {args.signals} --repeats {args.repeats}`.", ""]
    h.write(args.name, args.out_dir, "\n".join(lines), {"workload": args.name, "targets": targets, "times": figures})


if __name__ == "__main__":
    main()
