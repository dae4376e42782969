"""
Tutorial: sparse coding of many signals with ISTA, FISTA and OMP
================================================================

The synthesis model writes each signal as a few atoms of a dictionary,
``y = Dγ + w`` with ``‖γ‖₀ ≤ s``. Two ways to find ``γ``:

- the ℓ1 relaxation (basis pursuit denoising, the Lasso)
  ``min ½‖y − Dγ‖² + λ‖γ‖₁``, solved by ISTA / FISTA: one soft threshold
  after each gradient step, ``γ ← T_{λη}(γ − η Dᵀ(Dγ − y))``;
- the greedy route on ``min ‖y − Dγ‖² s.t. ‖γ‖₀ ≤ s``: orthogonal matching
  pursuit (a plugin pursuit, ``method="omp"``, on the ``pc.L0Ball(s)`` problem).

Part 1 compares the convergence of ISTA and FISTA (with and without restart)
on a batch of 1,000 signals against a certified optimum. Part 2 asks how
often each pursuit finds the true support as the signals get less sparse.

Run it: ``python tutorials/plot_sparse_coding.py`` (needs matplotlib).
Figures go to ``PROXCORE_TUTORIAL_OUT`` (default: the current directory);
``PROXCORE_TUTORIAL_FAST=1`` runs a small version in seconds (the test suite
does).
"""

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import proxcore as pc  # noqa: E402
from proxcore.certificates import lasso_duality_gap  # noqa: E402

FAST = os.environ.get("PROXCORE_TUTORIAL_FAST") == "1"
OUT = Path(os.environ.get("PROXCORE_TUTORIAL_OUT", "."))
warnings.simplefilter("ignore", pc.ConvergenceWarning)  # part 1 stops at max_iter on purpose
rng = np.random.default_rng(0)

# %%
# A dictionary and signals
# ------------------------
# 64-dimensional signals, 256 unit-norm Gaussian atoms; each signal is a
# combination of ``s`` atoms plus noise. Signals are the columns of ``Y``.
n, m = 64, 256
N = 100 if FAST else 1000
D = rng.standard_normal((n, m))
D /= np.linalg.norm(D, axis=0)


def signals(s, noise):
    codes = np.zeros((m, N))
    for j in range(N):
        codes[rng.choice(m, s, replace=False), j] = rng.choice([-1.0, 1.0], s) * rng.uniform(1, 2, s)
    return codes, D @ codes + noise * rng.standard_normal((n, N))


codes, Y = signals(8, 0.05)

# %%
# Part 1: convergence of ISTA and FISTA
# -------------------------------------
# The optimum is certified by the duality gap: ``F* ≥ F(x) − gap``.
lam = 0.1
problem = pc.chain(Y, [(pc.Matrix(D), pc.L1(lam))])
best = pc.solve(problem, method="fista", gap_tol=1e-13, max_iter=20_000)
f_star = best.objective - float(np.sum(lasso_duality_gap(D, Y, best.x, lam)))
print(f"F* = {f_star:.10f}   (certified: total gap {np.sum(best.gap):.1e})")

iterations = 100 if FAST else 400
runs = {
    "ISTA": pc.solve(problem, method="ista", max_iter=iterations, tol=0),
    "FISTA": pc.solve(problem, method="fista", max_iter=iterations, tol=0, restart=False),
    "FISTA + restart": pc.solve(problem, method="fista", max_iter=iterations, tol=0),
}
L = np.linalg.norm(D, 2) ** 2
k = np.arange(1, iterations + 1)
R2 = float(np.sum(best.x**2))

fig, ax = plt.subplots(figsize=(6, 4))
for name, res in runs.items():
    ax.semilogy(k, (res.history["objective"] - f_star) / f_star, label=name)
ax.semilogy(k, L * R2 / (2 * k) / f_star, "k:", label=r"ISTA bound $L\|x^*\|^2/2k$")
ax.semilogy(k, 2 * L * R2 / (k + 1) ** 2 / f_star, "k--", label=r"FISTA bound $2L\|x^*\|^2/(k+1)^2$")
ax.set(xlabel="iteration", ylabel=r"$(F(x_k) - F^*)/F^*$", title=f"Batch Lasso, {N} signals")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "sparse_coding_convergence.png", dpi=120)
for name, res in runs.items():
    print(f"{name:>16}: relative gap after {iterations} iterations "
          f"{(res.objective - f_star) / f_star:.2e}")

# %%
# Part 2: who finds the support?
# ------------------------------
# For each sparsity level, the fraction of signals whose true support the
# pursuit recovers exactly: OMP with the true ``s``, and the Lasso (FISTA)
# with its ``s`` largest coefficients.
levels = [2, 6, 10, 14] if FAST else [2, 4, 6, 8, 10, 12, 14, 16, 20]
found = {"OMP": [], "Lasso (FISTA)": []}
for s in levels:
    codes, Y = signals(s, 0.01)
    truth = codes != 0
    omp = pc.solve(pc.chain(Y, [(pc.Matrix(D), pc.L0Ball(s))]), method="omp")
    lasso = pc.solve(pc.chain(Y, [(pc.Matrix(D), pc.L1(0.02))]), method="fista", tol=1e-8, max_iter=5000)
    top = np.argsort(-np.abs(lasso.x), axis=0)[:s]
    lasso_support = np.zeros_like(truth)
    np.put_along_axis(lasso_support, top, True, axis=0)
    found["OMP"].append(np.mean(np.all((omp.x != 0) == truth, axis=0)))
    found["Lasso (FISTA)"].append(np.mean(np.all(lasso_support == truth, axis=0)))

fig, ax = plt.subplots(figsize=(6, 4))
for name, rate in found.items():
    ax.plot(levels, rate, "o-", label=name)
ax.set(xlabel="non-zeros per signal s", ylabel="support recovered", ylim=(-0.05, 1.05),
       title="Exact support recovery, 64×256 Gaussian dictionary")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "sparse_coding_recovery.png", dpi=120)
for s, a, b in zip(levels, found["OMP"], found["Lasso (FISTA)"]):
    print(f"s = {s:>2}: OMP {a:6.1%}   Lasso {b:6.1%}")
