"""Workload 6, the cost of an iteration against the machine's own matrix-product rate.

The hot loop of a batched solver is matrix products. This measures the
machine's rate on ``(256×256) @ (256×N)`` and, for every batched engine, the
time of one iteration next to the time of the matrix products that
iteration needs (measured here, in the same run, with NumPy on arrays of the
same shapes and dtype). Their ratio, the *product share*, is 1.0 for an
engine that costs nothing beyond BLAS. The iteration time is the difference
between a run of ``2K`` and one of ``K`` iterations (``tol=0``), over ``K``,
so set-up is not counted. The runs and the products are timed round robin,
and the share is the median of the rounds' shares: a slow spell of a noisy
machine then falls on both sides of a ratio.

- ``ista``, ``fista`` on ``½‖Y − DX‖² + λ‖X‖₁``, 64×256: products ``D X``, ``Dᵀ R``.
- ``ml-ista``, ``ml-fista`` on two layers 64×128, 128×256: ``D₂ x``,
  ``D₁ γ̂₁``, ``D₁ᵀ r₁``, ``D₂ᵀ r₂``.
- ``primal-dual`` (ADMM) on the same two layers, its x-update in the Woodbury
  form: ``D₂ d₀``, three 128×128 products and one ``D₂ᵀ`` product every
  iteration; every fifth iteration (the certificate's check) the objective's
  ``[D₁D₂; D₂] z₀`` (192×256) and the gap's ``D₁D₂ x``, and every tenth
  (ρ balancing, in the first 600) two ``D₂ᵀ`` products: counted at their
  share per iteration. The ADMM computes in float64 for float32 problems
  too, so its products are float64 ones in both rows.

For ``fista`` the iteration is also taken apart: its products, its two
passes over the batch timed alone (proxcore's fused ℓ1 step over
``256×N`` and the residual pass over ``64×N``, on arrays of the same
shapes), and the rest (the Python that sequences them). With no Python at
all, the share would be about ``products / (products + passes)``, the
*ceiling* reported (the passes are timed on arrays of their own, so the
rest is known only within the noise). Next to it, the passes against NumPy
passes that move as many arrays (``a + b + c`` into ``out`` over ``256×N``
and over ``64×N``: three arrays read, one written, like each fused pass),
whose time is set by the memory rate alone.

Then, for a few signals (1, 16 and 128: ``--small``), the time of one
``fista`` and one ``ml-fista`` iteration on the same dictionaries in
float64, where what is not a product (the fixed cost of each pass and of
the bookkeeping) is most of an iteration.

    python benchmarks/bench_iteration.py --signals 2000 --repeats 9
"""

import argparse
import statistics
import time

import numpy as np

import _harness as h


def _median_time(fn, repeats):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


_SMALL_K = 200


def _dictionaries(rng, dtype=np.float64):
    """``D`` (64×256) for ``fista``, and ``D1`` (64×128), ``D2`` (128×256) for the two-layer engines; unit-norm atoms."""
    def unit(shape):
        A = rng.standard_normal(shape)
        return (A / np.linalg.norm(A, axis=0)).astype(dtype)

    return unit((64, 256)), unit((64, 128)), unit((128, 256))


def _fista_passes(dtype, N, repeats):
    """``(passes, stream)``: fista's two passes alone, and NumPy passes that read three arrays and write one.

    The passes are proxcore's own kernels on arrays shaped as in the run
    (``x``, ``x_prev``, the gradient: ``256×N``; the images and ``y``:
    ``64×N``); the stream is ``np.add(np.add(a, b, out=o), c, out=o)``
    over the same shapes, whose second read of ``o`` is from cache.
    """
    from proxcore import _kernels

    rng = np.random.default_rng(1)  # draws of its own: the engines' instances stay those of earlier runs

    def arrays(rows, n):
        return [rng.standard_normal((rows, N)).astype(dtype) for _ in range(n)]

    x, x_prev, grad, out = arrays(256, 4)
    image, image_prev, y, residual = arrays(64, 4)
    beta = np.full(N, 0.5, dtype)
    thr, lam = np.full(1, 0.1, dtype), np.full(1, 1.0)

    def passes():
        _kernels.l1_step(x, x_prev, beta, grad, dtype(0.05), thr, lam, False, out=out)
        _kernels.extrapolate(image, image_prev, beta, out=residual, offset=y)

    def stream():
        for a, b, c, o in ((x, x_prev, grad, out), (image, image_prev, y, residual)):
            np.add(np.add(a, b, out=o), c, out=o)

    passes(), stream()  # compile, untimed
    return _median_time(passes, 3 * repeats), _median_time(stream, 3 * repeats)


def _few_signals(pc, rng, sizes, repeats):
    """``{engine: {N: seconds per iteration}}`` for ``fista`` (64×256) and ``ml-fista`` (64×128, 128×256)."""
    D, D1, D2 = _dictionaries(rng)
    times = {"fista": {}, "ml-fista": {}}
    for n in sizes:
        Y = rng.standard_normal((64, n))[:, 0] if n == 1 else rng.standard_normal((64, n))
        for method, problem in (("fista", pc.chain(Y, [(D, pc.L1(0.1))])),
                                ("ml-fista", pc.chain(Y, [(D1, pc.L1(0.05)), (D2, pc.L1(0.1))]))):
            h.silent(lambda: pc.solve(problem, method=method, max_iter=2, tol=0))  # compile, untimed

            def run(k):
                return _median_time(lambda: h.silent(lambda: pc.solve(problem, method=method, max_iter=k, tol=0)), 1)

            rounds = [max(run(2 * _SMALL_K) - run(_SMALL_K), 1e-12) / _SMALL_K for _ in range(repeats)]
            times[method][n] = statistics.median(rounds)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--iterations", type=int, default=50, help="K: runs of K and 2K iterations")
    parser.add_argument("--small", type=int, nargs="*", default=[1, 16, 128],
                        help="batch sizes of the few-signal table (none: skip it)")
    h.common_arguments(parser, "iteration", repeats=9)
    args = parser.parse_args(argv)
    h.pin_threads(args.threads)
    import proxcore as pc

    rng = np.random.default_rng(0)
    N, K = args.signals, args.iterations
    rows, shares, parts = [], {}, {}
    for dtype in (np.float64, np.float32):
        G = rng.standard_normal((256, 256)).astype(dtype)
        B = rng.standard_normal((256, N)).astype(dtype)
        t_mm = _median_time(lambda: G @ B, 3 * args.repeats)
        rate = 2 * 256 * 256 * N / t_mm / 1e9

        D, D1, D2 = _dictionaries(rng, dtype)
        Y = rng.standard_normal((64, N)).astype(dtype)
        X = rng.standard_normal((256, N)).astype(dtype)
        X1 = rng.standard_normal((128, N)).astype(dtype)
        Y1 = rng.standard_normal((64, N)).astype(dtype)
        C = rng.standard_normal((128, 128)).astype(dtype)
        E = np.vstack([D1 @ D2, D2])
        one = pc.chain(Y, [(D, pc.L1(0.1))])
        two = pc.chain(Y, [(D1, pc.L1(0.05)), (D2, pc.L1(0.1))])
        A = D1 @ D2
        # the ADMM computes in float64 whatever the problem's dtype (its certificate needs it): its products, too
        D2d, Cd, Ed, Ad, Xd, X1d = (a.astype(np.float64) for a in (D2, C, E, A, X, X1))
        engines = {  # the products of every iteration, and those of every fifth one
            "ista": (one, lambda: (D @ X, D.T @ Y), None),
            "fista": (one, lambda: (D @ X, D.T @ Y), None),
            "ml-ista": (two, lambda: (D2 @ X, D1 @ X1, D1.T @ Y1, D2.T @ X1), None),
            "ml-fista": (two, lambda: (D2 @ X, D1 @ X1, D1.T @ Y1, D2.T @ X1), None),
            "primal-dual": (two, lambda: (D2d @ Xd, Cd @ X1d, Cd @ X1d, D2d.T @ X1d, Cd @ X1d),
                            lambda: (Ed @ Xd, Ad @ Xd, D2d.T @ X1d)),
        }
        for method, (problem, products, fifth) in engines.items():
            h.silent(lambda: pc.solve(problem, method=method, max_iter=2, tol=0))  # compile, untimed
            def run(n):
                return _median_time(lambda: h.silent(lambda: pc.solve(problem, method=method, max_iter=n, tol=0)), 1)

            iteration, product, share = [], [], []
            for _ in range(args.repeats):  # round robin: each round's share from measurements made together
                short, long = run(K), run(2 * K)
                t_pr = _median_time(products, 3)
                if fifth is not None:
                    t_pr += _median_time(fifth, 3) / 5
                iteration.append(max(long - short, 1e-12) / K)
                product.append(t_pr)
                share.append(t_pr / iteration[-1])
            t_it, t_pr = statistics.median(iteration), statistics.median(product)
            shares[(method, np.dtype(dtype).name)] = statistics.median(share)
            rows.append((method, np.dtype(dtype).name, 1e3 * t_it, 1e3 * t_pr, statistics.median(share), rate))
            if method == "fista":
                parts[np.dtype(dtype).name] = (t_it, t_pr, *_fista_passes(dtype, N, args.repeats))
    small = _few_signals(pc, rng, args.small, args.repeats) if args.small else {}
    blas = h.pin_threads(args.threads)
    fista = {d: (t, p) for m, d, t, p, _, _ in rows if m == "fista"}
    f32_speedup = fista["float64"][0] / fista["float32"][0]
    # The iteration cannot gain more from float32 than its own products do.
    f32_products = fista["float64"][1] / fista["float32"][1]
    lines = [f"# One iteration against the matrix-product rate, N = {N} "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"{args.threads} thread(s) (BLAS: {', '.join(blas)}); iteration time from runs of {K} and {2 * K} "
             f"iterations; medians of {args.repeats} rounds, each timing both runs and the products (the "
             f"share is the median of the rounds' shares).", "", h.environment(), "",
             "| engine | dtype | ms / iteration | its products [ms] | product share | machine rate, (256×256)@(256×N) [GFlop/s] |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {m} | {d} | {t:.3f} | {p:.3f} | {s:.2f} | {r:.1f} |" for m, d, t, p, s, r in rows]
    lines += ["", f"fista float32 is {f32_speedup:.2f}× as fast as float64 per iteration; its products "
              f"alone, {f32_products:.2f}×.", "",
              f"Command: `python benchmarks/bench_iteration.py --signals {N} --repeats {args.repeats}`.", "",
              "## Where a fista iteration goes", "",
              "ms; the passes timed alone (medians of "
              f"{3 * args.repeats}); the rest is the iteration less both; the ceiling is the share with no rest.",
              "", "| dtype | iteration | products | passes | rest | ceiling | passes / NumPy stream |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {d} | {1e3 * t:.3f} | {1e3 * p:.3f} | {1e3 * q:.3f} | {1e3 * (t - p - q):.3f} | "
              f"{p / (p + q):.2f} | {q / st:.2f} |" for d, (t, p, q, st) in parts.items()]
    lines.append("")
    if small:
        lines += ["## A few signals (float64)", "",
                  f"ms per iteration, from runs of {_SMALL_K} and {2 * _SMALL_K} iterations, medians of "
                  f"{args.repeats} rounds.", "",
                  "| engine | " + " | ".join(f"N = {n}" for n in args.small) + " |",
                  "|---|" + "---|" * len(args.small)]
        lines += [f"| {m} | " + " | ".join(f"{1e3 * small[m][n]:.3f}" for n in args.small) + " |" for m in small]
        lines.append("")
    targets = [h.target("fista float64: product share of an iteration", shares[("fista", "float64")], 0.70, ">="),
               h.target("fista float32: product share of an iteration", shares[("fista", "float32")], 0.70, ">="),
               h.target("fista: float32 speed-up per iteration over float64 (about 2)", f32_speedup, 1.7, ">=")]
    h.write(args.name, args.out_dir, "\n".join(lines),
            {"workload": args.name, "targets": targets,
             "shares": {f"{m} {d}": s for (m, d), s in shares.items()},
             "fista_parts_s": {d: dict(zip(("iteration", "products", "passes", "stream"), v))
                               for d, v in parts.items()},
             "few_signals_s": {m: {str(n): t for n, t in times.items()} for m, times in small.items()}})


if __name__ == "__main__":
    main()
