"""Convolutional basis pursuit: proxcore's FISTA and conv-admm against SPORCO's ADMM ConvBPDN, one process.

Same data, same objective, same dictionary::

    F(x) = ½‖Σ_k d_k ⊛ x_k − s‖² + λ Σ_k ‖x_k‖₁

on the high-pass part of scikit-image's ``camera`` (resized to ``size × size``,
scaled to [0, 1]) with ``K`` random unit-norm filters. Both libraries place the
filters at the origin and convolve circularly, so the objectives are the same
function (checked: SPORCO's reconstruction equals ``pc.Convolution @ x``).

Protocol (DESIGN §4: ratios and time-to-accuracy, never one absolute time):

1. SPORCO ``admm.cbpdn.ConvBPDN`` runs ``--iters`` iterations (``RelStopTol=0``
   so it does not stop early), default options otherwise; its time is
   construction + solve, with its default pyfftw threads (every core) and
   with one thread (as proxcore's ``workers=1``). Its result is scored with proxcore's objective at
   both ADMM variables: ``X``, where SPORCO's own ``ObjFun`` is evaluated
   (they agree to round-off), and the sparse ``Y`` that ``getcoef`` returns;
   the target is the lower of the two.
2. proxcore ``pc.solve(..., method="fista")`` from zero for ``--fista-iters``
   iterations, in float64 (one FFT thread, and ``workers=-1``, as SPORCO's
   pyfftw uses every core) and float32; and ``method="conv-admm"`` (SPORCO's
   algorithm, iterate for iterate) for ``--admm-iters`` iterations, float64
   and float32, one FFT thread. The time to a level is the set-up
   (operator, norm, problem) plus the solver's own clock at the first iterate
   whose objective is at or below it (``res.history``): the time a run with
   ``target=level`` takes, without repeating the run per level.
3. Each run is repeated ``--repeats`` times; medians are reported, and the
   ratio SPORCO time / proxcore time to SPORCO's objective.
4. Time-to-accuracy: ``F*`` is the lowest objective seen (all runs and
   SPORCO), bracketed by the duality gap of the last float64 iterate; levels
   ``F*(1 + 1e-3)`` and ``F*(1 + 1e-6)`` (float32 is not asked for 1e-6).

Run::

    /work/venv/bin/python benchmarks/bench_convolution.py            # 256×256, K=32, λ=0.05
    /work/venv/bin/python benchmarks/bench_convolution.py --fast     # a 64×64 smoke run

Results go to ``benchmarks/results/convolution.md`` (a Markdown table), ``.png`` (the gap against time)
and ``.json`` (the targets).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np

import _harness as h


def highpass_camera(size):
    """scikit-image's camera, ``size × size`` in [0, 1], minus a Tikhonov low-pass (gradient penalty 5)."""
    from skimage import data, transform

    img = transform.resize(data.camera().astype(np.float64) / 255.0, (size, size), anti_aliasing=True)
    pad = 16
    padded = np.pad(img, pad, mode="symmetric")
    n1, n2 = padded.shape
    w1 = 2 - 2 * np.cos(2 * np.pi * np.fft.fftfreq(n1))
    w2 = 2 - 2 * np.cos(2 * np.pi * np.fft.rfftfreq(n2))
    low = np.fft.irfft2(np.fft.rfft2(padded) / (1 + 5.0 * (w1[:, None] + w2[None, :])), s=padded.shape)
    return img - low[pad:-pad, pad:-pad]


def random_filters(n_filters, width, seed=0):
    """``(K, width, width)`` i.i.d. normal filters, each scaled to unit norm."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n_filters, width, width))
    return h / np.sqrt((h**2).sum(axis=(1, 2), keepdims=True))


def run_sporco(filters, s, lam, iters, threads=None):
    import sporco.fft
    from sporco.admm import cbpdn

    default_threads = sporco.fft.pyfftw_threads
    if threads is not None:
        sporco.fft.pyfftw_threads = threads  # read by sporco.fft at every call

    D = np.ascontiguousarray(np.moveaxis(filters, 0, -1))  # SPORCO: (8, 8, K)
    opt = cbpdn.ConvBPDN.Options({"Verbose": False, "MaxMainIter": iters, "RelStopTol": 0.0})
    start = time.perf_counter()
    b = cbpdn.ConvBPDN(D, s, lam, opt)
    b.solve()
    elapsed = time.perf_counter() - start
    sporco.fft.pyfftw_threads = default_threads
    X = np.moveaxis(np.asarray(b.X).reshape(s.shape + (-1,)), -1, 0)  # what SPORCO's ObjFun scores
    Y = np.moveaxis(np.asarray(b.getcoef()).reshape(s.shape + (-1,)), -1, 0)  # the sparse one it returns
    recon = np.asarray(b.reconstruct(b.X)).reshape(s.shape)
    return elapsed, X, Y, recon, b.k


def run_proxcore(filters, s, lam, *, target, dtype, workers, max_iter, method="fista"):
    import proxcore as pc

    start = time.perf_counter()
    D = pc.Convolution(filters.astype(dtype), s.shape, workers=workers)
    problem = pc.chain(s.astype(dtype), [(D, pc.L1(lam))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pc.solve(problem, method=method, target=target, max_iter=max_iter, tol=0.0)
    elapsed = time.perf_counter() - start
    return elapsed, res


def objective(filters, s, lam, x):
    """F(x) in float64 with proxcore's operator (an independent evaluation of each result)."""
    import proxcore as pc

    D = pc.Convolution(filters, s.shape)
    x = np.asarray(x, dtype=np.float64)
    r = D @ x - s
    return 0.5 * float(np.vdot(r, r)) + lam * float(np.abs(x).sum())


def first_time(res, level, overhead):
    """Seconds to the first iterate at or below ``level``: set-up plus the solver's clock; None if never."""
    obj, times = res.history["objective"], res.history["time"]
    hit = np.flatnonzero(obj <= level)
    return overhead + float(times[hit[0]]) if hit.size else None


def median_or_none(values):
    return None if any(v is None for v in values) else statistics.median(values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--lam", type=float, default=0.05)
    parser.add_argument("--iters", type=int, default=100, help="SPORCO iterations")
    parser.add_argument("--fista-iters", type=int, default=400, help="FISTA iterations per run")
    parser.add_argument("--admm-iters", type=int, default=250, help="conv-admm iterations per run")
    parser.add_argument("--fast", action="store_true", help="64×64, 8 filters, one repeat")
    h.common_arguments(parser, "convolution", threads=False)
    args = parser.parse_args(argv)
    if args.fast:
        args.size, args.filters, args.repeats = 64, 8, 1

    import proxcore as pc
    import scipy
    import sporco

    s = highpass_camera(args.size)
    filters = random_filters(args.filters, args.width)
    lam = args.lam

    # warm-up, untimed: numba kernels (cached on disk anyway) and SPORCO's FFTW plans for this shape
    run_sporco(filters, s, lam, 2)
    for dtype in (np.float64, np.float32):
        for method in ("fista", "conv-admm"):
            run_proxcore(filters, s, lam, target=None, dtype=dtype, workers=None, max_iter=2, method=method)

    # 1. SPORCO, repeated: its default (pyfftw on every core), and one FFT thread
    sporco_runs = [run_sporco(filters, s, lam, args.iters) for _ in range(args.repeats)]
    t_sporco = statistics.median(r[0] for r in sporco_runs)
    t_sporco_1 = statistics.median(run_sporco(filters, s, lam, args.iters, threads=1)[0] for _ in range(args.repeats))
    _, X, Y, recon, k_sporco = sporco_runs[-1]
    D = pc.Convolution(filters, s.shape)
    same_operator = float(np.abs(recon - D @ X).max() / max(np.abs(recon).max(), 1e-300))
    assert same_operator < 1e-8, f"SPORCO and proxcore disagree on D x: {same_operator:.3g}"
    F_X, F_Y = objective(filters, s, lam, X), objective(filters, s, lam, Y)
    target = min(F_X, F_Y)

    # 2. proxcore, repeated, full histories
    configs = [("fista float64, workers=1", "fista", np.float64, None),
               ("fista float64, workers=-1", "fista", np.float64, -1),
               ("fista float32, workers=1", "fista", np.float32, None),
               ("conv-admm float64, workers=1", "conv-admm", np.float64, None),
               ("conv-admm float32, workers=1", "conv-admm", np.float32, None)]
    runs = {}
    for label, method, dtype, workers in configs:
        runs[label] = []
        for _ in range(args.repeats):
            elapsed, res = run_proxcore(filters, s, lam, target=None, dtype=dtype, workers=workers,
                                        max_iter=args.fista_iters if method == "fista" else args.admm_iters,
                                        method=method)
            runs[label].append((elapsed - float(res.history["time"][-1]), res))
    lowest = min(float(r.history["objective"].min()) for label, _, dt, _ in configs if dt == np.float64
                 for _, r in runs[label])
    F_star = min(lowest, target)
    last = runs[configs[0][0]][-1][1]
    F_last = objective(filters, s, lam, last.x)
    gap = float(np.sum(last.gap)) if last.gap is not None else float("nan")

    # 3. report
    lines = [f"# Convolutional BP: proxcore FISTA and conv-admm vs SPORCO ConvBPDN ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n"]
    lines.append(
        f"Objective ½‖Σ d_k ⊛ x_k − s‖² + λΣ‖x_k‖₁, s = high-pass camera {args.size}×{args.size}, "
        f"{args.filters} random unit-norm {args.width}×{args.width} filters, λ = {lam}; circular boundaries "
        f"(SPORCO's reconstruction and proxcore's D x agree to {same_operator:.1e} relative). "
        f"Medians of {args.repeats} run(s) each after an untimed warm-up of both, one process. Command: "
        f"`python benchmarks/bench_convolution.py{' --fast' if args.fast else ''}`.\n"
    )
    lines.append(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (load average at the end "
        f"{os.getloadavg()[0]:.1f}), Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, sporco {sporco.__version__} (pyfftw), proxcore {pc.__version__}.\n"
    )
    lines.append(
        f"SPORCO, {k_sporco} ADMM iterations: **{t_sporco:.2f} s** ({1e3 * t_sporco / k_sporco:.1f} ms/iteration) "
        f"with its default {os.cpu_count()} pyfftw threads, {t_sporco_1:.2f} s with one; "
        f"F(X) = {F_X:.10g}, F(Y) = {F_Y:.10g}; target = {target:.10g}, relative sub-optimality "
        f"{(target - F_star) / F_star:.1e}. F* = {F_star:.10g} (lowest seen; the last float64 FISTA iterate, "
        f"F = {F_last:.10g}, has duality gap {gap:.1e}, so F* ≥ {F_last - gap:.10g}).\n"
    )
    lines.append("| proxcore | time to SPORCO's objective (s) | iterations | ms/iteration "
                 "| SPORCO time / proxcore time (SPORCO default; one thread each) | time to 1e-3 (s) "
                 "| time to 1e-6 (s) |")
    lines.append("|---|---|---|---|---|---|---|")
    fmt = lambda v: "not reached" if v is None else f"{v:.2f}"  # noqa: E731
    for label, method, dtype, workers in configs:
        rs = runs[label]
        t_target = median_or_none([first_time(r, target, o) for o, r in rs])
        hits = np.flatnonzero(rs[-1][1].history["objective"] <= target)
        n_hit = str(int(hits[0]) + 1) if hits.size else f"> {rs[-1][1].n_iter}"
        per_iter = statistics.median(1e3 * r.history["time"][-1] / r.n_iter for _, r in rs)
        t3 = median_or_none([first_time(r, F_star * (1 + 1e-3), o) for o, r in rs])
        t6 = "n/a" if dtype == np.float32 else fmt(median_or_none([first_time(r, F_star * (1 + 1e-6), o) for o, r in rs]))
        ratio = "—" if t_target is None else f"**{t_sporco / t_target:.2f}×**"
        if t_target is not None and workers is None:
            ratio += f"; {t_sporco_1 / t_target:.2f}×"
        lines.append(f"| {label} | {fmt(t_target)} | {n_hit} | {per_iter:.1f} | {ratio} | {fmt(t3)} | {t6} |")
    lines.append(
        "\nfloat32 objectives are computed in float32 by the engine (its time to SPORCO's level reads its own "
        "history); SPORCO runs in float64.\n"
    )
    lines.append(f"Command: `python benchmarks/bench_convolution.py{' --fast' if args.fast else ''}`.\n")
    text = "\n".join(lines)
    _plot(h.out_path(args.out_dir, args.name + ".png"), runs, configs, F_star, t_sporco, target)
    best = min((t for t in (median_or_none([first_time(r, target, o) for o, r in runs[label]])
                            for label, *_ in configs) if t is not None), default=None)
    f64 = min((t for t in (median_or_none([first_time(r, target, o) for o, r in runs[label]])
                           for label, _, dtype, workers in configs if dtype == np.float64 and workers is None)
               if t is not None), default=None)
    targets = [h.target("convolutional BP: best proxcore time to SPORCO's 100-iteration objective / SPORCO's time",
                        h.ratio(best, t_sporco), 0.5, "<="),
               h.target("convolutional BP: best proxcore float64 (one FFT thread) / SPORCO's time (issue 6: < 1)",
                        h.ratio(f64, t_sporco), 1.0, "<=")]
    h.write(args.name, args.out_dir, text,
            {"workload": "convolution", "targets": targets, "sporco_seconds": t_sporco})
    return text


def _plot(path, runs, configs, F_star, t_sporco, target):
    """Relative sub-optimality against time: each FISTA configuration's history, SPORCO's end point."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, *_ in configs:
        overhead, res = runs[label][-1]
        gap = np.maximum((np.asarray(res.history["objective"], dtype=np.float64) - F_star) / F_star, 1e-16)
        ax.loglog(overhead + np.asarray(res.history["time"]), gap, label=f"proxcore {label}")
    ax.loglog([t_sporco], [max((target - F_star) / F_star, 1e-16)], "ko", label="SPORCO ConvBPDN, 100 iterations")
    ax.set_xlabel("time [s]")
    ax.set_ylabel("(F − F*) / F*")
    ax.set_title("Convolutional BP, 256×256, 32 filters 8×8", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
