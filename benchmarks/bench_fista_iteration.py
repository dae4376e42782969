"""Cost of one batched FISTA iteration against the machine's own matrix-product rate.

One FISTA iteration on ``½‖Y − DX‖² + λ‖X‖₁`` needs the products ``D X`` and
``Dᵀ R``; everything else (threshold, extrapolation, per-signal sums,
objective) is overhead. This prints, per dtype, the median time of an
iteration, of the two products alone, and their ratio (1.0 would be an
engine that costs nothing beyond BLAS). BLAS is pinned to one thread.

    python benchmarks/bench_fista_iteration.py --signals 2000 --repeats 5
"""

import argparse
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import proxcore as pc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", pc.ConvergenceWarning)
    threadpool_limits(1, user_api="blas")
    rng = np.random.default_rng(0)
    print(f"64x256 dictionary, {args.signals} signals, median of {args.repeats} x {args.iterations} iterations")
    print(f"{'dtype':<8}{'FISTA [ms/it]':>15}{'2 products [ms]':>17}{'product share':>15}")
    for dtype in (np.float64, np.float32):
        D = rng.standard_normal((64, 256))
        D = (D / np.linalg.norm(D, axis=0)).astype(dtype)
        Y = rng.standard_normal((64, args.signals)).astype(dtype)
        problem = pc.chain(Y, [(D, pc.L1(0.1))])
        pc.solve(problem, method="fista", max_iter=2, tol=0)  # compile the kernels
        X = np.zeros((256, args.signals), dtype)
        engine, products = [], []
        for _ in range(args.repeats):  # round robin
            start = time.perf_counter()
            pc.solve(problem, method="fista", max_iter=args.iterations, tol=0)
            engine.append((time.perf_counter() - start) / args.iterations)
            start = time.perf_counter()
            for _ in range(args.iterations):
                D.T @ (D @ X - Y)
            products.append((time.perf_counter() - start) / args.iterations)
        it, pr = np.median(engine), np.median(products)
        print(f"{np.dtype(dtype).name:<8}{it * 1e3:>15.3f}{pr * 1e3:>17.3f}{pr / it:>15.2f}")


if __name__ == "__main__":
    main()
