"""Throughput of the Dask path (signals per second) against the number of workers.

The problem: FISTA on ``½‖y − Dx‖² + λ‖x‖₁`` with a 64×256 unit-norm
Gaussian dictionary, a fixed number of iterations (``tol=0``, so every run
does the same work), ``--signals`` signals in chunks of ``--chunk``. The
baseline is the single-process engine on the whole NumPy batch in this
process; then a ``distributed.LocalCluster`` of 1, 2, ... worker processes
(one thread each, loopback) solves the same data held as a ``dask.array``,
``x`` streamed into a reduction (nothing gathered). BLAS is pinned to one
thread everywhere, so a worker is one core. Each configuration is run
``--repeats`` times after a warm-up; the median is reported.

    python benchmarks/bench_dask.py --signals 40000 --chunk 5000 --workers 1 2 --repeats 3
"""

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy loads BLAS; inherited by the workers
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import proxcore as pc  # noqa: E402


def _problem_data(n, m, N, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n, m))
    D /= np.linalg.norm(D, axis=0)
    Y = rng.standard_normal((n, N))
    return D, Y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=40000)
    parser.add_argument("--chunk", type=int, default=5000, help="signals per chunk")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import dask.array as da
    from distributed import Client, LocalCluster

    warnings.simplefilter("ignore", pc.ConvergenceWarning)
    threadpool_limits(1, user_api="blas")
    D, Y = _problem_data(64, 256, args.signals)
    options = {"method": "fista", "tol": 0.0, "max_iter": args.iterations}
    layers = [(D, pc.L1(0.1))]

    pc.solve(pc.chain(Y[:, :100], layers), **options)  # compile the kernels
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        pc.solve(pc.chain(Y, layers), **options)
        times.append(time.perf_counter() - start)
    base = args.signals / np.median(times)
    print(f"FISTA, 64x256 dictionary, {args.signals} signals, {args.iterations} iterations, "
          f"chunks of {args.chunk}; median of {args.repeats} runs; {os.cpu_count()} cores")
    print(f"{'engine':<26}{'signals/s':>12}{'vs baseline':>13}")
    print(f"{'single process (NumPy)':<26}{base:>12.0f}{1.0:>13.2f}")

    for workers in args.workers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, silence_logs=50)
        with cluster, Client(cluster) as client:
            with warnings.catch_warnings():  # "sending large graph": Y goes to the cluster once, on purpose
                warnings.simplefilter("ignore", UserWarning)
                Yd = client.persist(da.from_array(Y, chunks=(64, args.chunk)))  # the data already on the cluster

            def run():
                res = pc.solve(pc.chain(Yd, layers), **options)
                return float(abs(res.x).sum().compute())

            run()  # warm-up: workers import proxcore and load the compiled kernels
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
        rate = args.signals / np.median(times)
        label = f"dask, {workers} worker{'s' if workers > 1 else ''}"
        print(f"{label:<26}{rate:>12.0f}{rate / base:>13.2f}")


if __name__ == "__main__":
    main()
