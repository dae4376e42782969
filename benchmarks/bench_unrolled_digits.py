"""Unrolled pursuits as classifiers on digits (feed-forward vs ML-ISTA vs ML-FISTA vs layered BP), and LISTA.

Reproduces, at the scale available offline, the comparison of the talk's
"Supervised Learning Formulation" slide: ``K`` iterations of ML-ISTA with
learned dictionaries, biases and steps form a recurrent network with the same
parameters as the feed-forward network (``K = 1``). The authors report MNIST
98.74% (feed-forward) vs 99.11% (ML-ISTA) and 99.16% (ML-FISTA).

Protocol:

1. scikit-learn's ``load_digits`` (1797 images 8×8), pixels scaled to [0, 1];
   for each seed a stratified 70/30 train/test split (``random_state=seed``).
2. Every method trains ``UnrolledClassifier(layer_sizes, method, n_unroll)``
   with the same options and ``random_state=seed`` (so the same initial
   dictionaries for every method): Adam, early stopping on 15% of the
   training set, the best validation epoch kept. ``n_parameters_`` is
   checked equal across methods.
   A convolutional table repeats this with ``kernel_size``/``image_shape``
   (``pc.Convolution`` layers, fewer seeds and epochs: it is slower).
3. Reported: test accuracy mean ± std over the seeds, the paired difference
   to the feed-forward network on the same split (mean ± std), epochs and
   fit time (relative to the feed-forward network, DESIGN §4).
4. LISTA: signals from a sparse model ``y = Dx + w`` (``D`` 32×64 unit-norm
   atoms, 4-sparse codes, noise 0.05), λ = 0.1; relative error to the Lasso
   codes (FISTA, tol 1e-10) on held-out signals after ``K`` iterations/layers,
   for ISTA, FISTA and the LISTA variants; and the number of ISTA iterations
   that reach the error of the best ``K``-layer network.

Run::

    /work/venv/bin/python benchmarks/bench_unrolled_digits.py            # 5 seeds (dense and LISTA: 10 minutes on an idle machine; conv: longer)
    /work/venv/bin/python benchmarks/bench_unrolled_digits.py --tables conv --out benchmarks/results/unrolled_digits_conv.md
    /work/venv/bin/python benchmarks/bench_unrolled_digits.py --fast     # a smoke run

Results go to ``benchmarks/results/unrolled_digits.md`` (Markdown tables).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import proxcore as pc  # noqa: E402
from proxcore.learn import LISTA, UnrolledClassifier  # noqa: E402


def mean_std(values, signed=False):
    values = list(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):{'+' if signed else ''}.4f} ± {sd:.4f}"


def digits_table(args, conv=False):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    if args.fast:
        X, y = X[:600], y[:600]
    configs = [("feed-forward", "layered-thresholding", 1)]
    for K in (args.conv_n_unroll if conv else args.n_unroll):
        configs += [("ML-ISTA", "ml-ista", K), ("ML-FISTA", "ml-fista", K)]
        if not conv:
            configs.append(("layered BP", "layered-bp", K))
    sizes = args.conv_sizes if conv else args.sizes
    geometry = dict(kernel_size=args.kernel_size, image_shape=(8, 8)) if conv else {}
    seeds = args.conv_seeds if conv else args.seeds
    rows = {c: {"acc": [], "epochs": [], "time": [], "params": set()} for c in configs}
    for seed in range(seeds):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
        for config in configs:
            _, method, K = config
            clf = UnrolledClassifier(sizes, method=method, n_unroll=K, learning_rate=args.learning_rate,
                                     max_epochs=args.conv_max_epochs if conv else args.max_epochs,
                                     n_iter_no_change=args.patience, validation_fraction=0.15, random_state=seed,
                                     **geometry)
            start = time.perf_counter()
            clf.fit(X_tr, y_tr)
            rows[config]["time"].append(time.perf_counter() - start)
            rows[config]["acc"].append(clf.score(X_te, y_te))
            rows[config]["epochs"].append(clf.history_["train_loss"].size)
            rows[config]["params"].add(clf.n_parameters_)
            print(f"seed {seed} {config[0]:<12} K={K} acc {rows[config]['acc'][-1]:.4f}", file=sys.stderr, flush=True)
    params = set().union(*(r["params"] for r in rows.values()))
    assert len(params) == 1, f"parameter counts differ: {params}"
    base = rows[configs[0]]
    kind = (f"Convolutional layers ({', '.join(map(str, sizes))} filters of {args.kernel_size}×{args.kernel_size}, "
            "circular, on the 8×8 images)" if conv else f"Dense layers {tuple(sizes)}")
    lines = [
        f"{kind} on 8×8 digits, {seeds} seed(s) (70/30 splits), {params.pop()} parameters for every network"
        + (f", at most {args.conv_max_epochs} epochs." if conv else "."),
        "",
        "| network | K | test accuracy (mean ± std) | paired difference to feed-forward | epochs | fit time / feed-forward |",
        "|---|---|---|---|---|---|",
    ]
    for config in configs:
        r = rows[config]
        diff = [a - b for a, b in zip(r["acc"], base["acc"])]
        ratio = statistics.fmean(r["time"]) / statistics.fmean(base["time"])
        lines.append(f"| {config[0]} | {config[2]} | {mean_std(r['acc'])} | "
                     f"{'—' if config is configs[0] else mean_std(diff, signed=True)} | "
                     f"{statistics.fmean(r['epochs']):.0f} | {ratio:.1f} |")
    return lines


def lista_table(args):
    n, m, s, lam = (16, 32, 3, 0.1) if args.fast else (32, 64, 4, 0.1)
    depth = 3 if args.fast else args.lista_depth
    names = ["ISTA", "FISTA", "LISTA", "LISTA-CP", "LISTA step"]
    errors = {name: [] for name in names}
    reach = {name: [] for name in names[2:]}
    for seed in range(args.lista_seeds):
        rng = np.random.default_rng(seed)
        D = rng.standard_normal((n, m))
        D /= np.linalg.norm(D, axis=0)

        def sample(count):
            codes = np.zeros((m, count))
            for j in range(count):
                codes[rng.choice(m, s, replace=False), j] = rng.standard_normal(s)
            return (D @ codes + 0.05 * rng.standard_normal((n, count))).T

        Y_tr, Y_te = sample(400 if args.fast else 3000), sample(200 if args.fast else 500)
        lasso = pc.chain(Y_te.T, [(D, pc.L1(lam))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pc.ConvergenceWarning)
            star = pc.solve(lasso, method="fista", tol=1e-10, max_iter=50_000).x
            err = lambda x: float(np.linalg.norm(x - star) / np.linalg.norm(star))  # noqa: E731
            errors["ISTA"].append(err(pc.solve(lasso, method="ista", max_iter=depth, tol=0).x))
            errors["FISTA"].append(err(pc.solve(lasso, method="fista", max_iter=depth, tol=0, restart=False).x))
            ista_curve = []
            pc.solve(lasso, method="ista", max_iter=args.ista_budget, tol=0,
                     callback=lambda state: ista_curve.append(err(state.x)) and False)
        ista_curve = np.array(ista_curve)
        for name, variant in (("LISTA", "lista"), ("LISTA-CP", "coupled"), ("LISTA step", "step")):
            est = LISTA(D, lam, n_layers=depth, variant=variant, learning_rate=1e-3,
                        max_epochs=20 if args.fast else args.lista_epochs, random_state=seed).fit(Y_tr)
            e = err(est.transform(Y_te).T)
            errors[name].append(e)
            hit = np.flatnonzero(ista_curve <= e)
            reach[name].append(int(hit[0]) + 1 if hit.size else None)
            print(f"seed {seed} {name:<10} error {e:.4f}", file=sys.stderr, flush=True)
    lines = [
        f"Lasso codes of a {n}×{m} unit-norm Gaussian dictionary, λ = {lam}, {s}-sparse signals with noise 0.05; "
        f"relative error ‖x_K − x*‖/‖x*‖ on held-out signals after K = {depth} iterations (layers), "
        f"{args.lista_seeds} seed(s) (a new dictionary each).",
        "",
        f"| method | error at K = {depth} (mean ± std) | ISTA iterations to the same error |",
        "|---|---|---|",
    ]
    for name in names:
        cell = "—"
        if name in reach:
            hits = reach[name]
            cell = (f"{statistics.fmean(hits):.0f} (min {min(hits)}, max {max(hits)})" if all(h for h in hits)
                    else f"> {args.ista_budget} for {sum(h is None for h in hits)} seed(s)")
        elif name == "ISTA":
            cell = str(depth)
        lines.append(f"| {name} | {mean_std(errors[name])} | {cell} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--n-unroll", type=int, nargs="+", default=[3, 6])
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--lista-depth", type=int, default=10)
    parser.add_argument("--lista-seeds", type=int, default=3)
    parser.add_argument("--lista-epochs", type=int, default=150)
    parser.add_argument("--ista-budget", type=int, default=5000)
    parser.add_argument("--conv-sizes", type=int, nargs="+", default=[8, 8])
    parser.add_argument("--kernel-size", type=int, default=3)
    parser.add_argument("--conv-n-unroll", type=int, nargs="+", default=[3])
    parser.add_argument("--conv-seeds", type=int, default=3)
    parser.add_argument("--conv-max-epochs", type=int, default=60)
    parser.add_argument("--tables", nargs="+", choices=["dense", "conv", "lista"], default=["dense", "conv", "lista"],
                        help="which tables to produce (the convolutional one is the slowest)")
    parser.add_argument("--fast", action="store_true", help="a small smoke run")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "unrolled_digits.md")
    args = parser.parse_args(argv)
    if args.fast:
        args.seeds, args.sizes, args.n_unroll, args.max_epochs = 2, [16, 8], [2], 30
        args.lista_seeds, args.ista_budget = 1, 500
        args.conv_sizes, args.conv_n_unroll, args.conv_seeds, args.conv_max_epochs = [2, 2], [2], 1, 3
    start = time.perf_counter()
    sections = []
    if "dense" in args.tables:
        sections += ["## Classification: same parameters, K iterations", "", *digits_table(args), ""]
    if "conv" in args.tables:
        sections += ["## Classification with convolutional layers", "", *digits_table(args, conv=True), ""]
    if "lista" in args.tables:
        sections += ["## LISTA vs ISTA/FISTA", "", *lista_table(args), ""]
    command = "python benchmarks/bench_unrolled_digits.py" + (" --fast" if args.fast else "") + (
        "" if set(args.tables) == {"dense", "conv", "lista"} else " --tables " + " ".join(args.tables))
    if "conv" in args.tables and not args.fast:
        command += f" --conv-seeds {args.conv_seeds} --conv-max-epochs {args.conv_max_epochs}"
    text = "\n".join([
        "# Unrolled pursuits on digits, and LISTA",
        "",
        f"Produced by `{command}` ({time.perf_counter() - start:.0f} s, {platform.processor() or platform.machine()}, "
        f"NumPy {np.__version__}, one BLAS thread).",
        "",
        *sections,
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
