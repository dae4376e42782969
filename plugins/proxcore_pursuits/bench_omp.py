"""Benchmark: proxcore's Batch-OMP against scikit-learn's ``orthogonal_mp_gram``, in one process.

Run ``python -m proxcore_pursuits.bench_omp`` (scikit-learn required). Both
get the same unit-norm Gaussian dictionary and signals; scikit-learn is given
the Gram and the correlations precomputed, proxcore the problem (it computes
them itself, inside the timing). Reports the median of ``--repeats`` runs of
each, the ratio, and checks that supports and coefficients agree.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--s", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = parser.parse_args(argv)

    from sklearn.linear_model import orthogonal_mp_gram
    from threadpoolctl import threadpool_limits

    import proxcore as pc

    rng = np.random.default_rng(0)
    D = rng.standard_normal((args.n, args.m))
    D /= np.linalg.norm(D, axis=0)
    D = D.astype(args.dtype)
    Y = rng.standard_normal((args.n, args.signals)).astype(args.dtype)
    problem = pc.chain(Y, [(pc.Matrix(D), pc.L0Ball(args.s))])
    pc.solve(pc.chain(Y[:, :2], [(pc.Matrix(D), pc.L0Ball(args.s))]), method="omp")  # compile (or load the cache)

    def sklearn():
        return orthogonal_mp_gram(D.T @ D, D.T @ Y, n_nonzero_coefs=args.s)

    candidates = {
        "proxcore omp (numba)": lambda: pc.solve(problem, method="omp").x,
        "proxcore omp (NumPy twin)": lambda: pc.solve(problem, method="omp", jit=False).x,
        "scikit-learn orthogonal_mp_gram": sklearn,
    }
    with threadpool_limits(1, user_api="blas"):
        times, outputs = {}, {}
        for name, run in candidates.items():
            samples = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                outputs[name] = run()
                samples.append(time.perf_counter() - start)
            times[name] = statistics.median(samples)
    ref = outputs["scikit-learn orthogonal_mp_gram"]
    print(f"OMP, {args.n}x{args.m} unit-norm Gaussian dictionary, {args.signals} signals, s = {args.s}, "
          f"{args.dtype}, one BLAS thread, median of {args.repeats}")
    print(f"{'method':<34} {'time [s]':>9} {'speed-up vs sklearn':>20} {'same supports':>14} {'max |Δx|':>10}")
    for name, t in times.items():
        x = outputs[name]
        print(f"{name:<34} {t:>9.3f} {times['scikit-learn orthogonal_mp_gram'] / t:>19.1f}x "
              f"{str(bool(np.array_equal(x != 0, ref != 0))):>14} {float(np.abs(x - ref).max()):>10.2e}")


if __name__ == "__main__":
    main()
