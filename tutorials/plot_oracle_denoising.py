"""
Tutorial: synthesis vs synthesis–analysis oracle denoising in a two-layer model
===============================================================================

The two-layer model ``y = D₁D₂γ₂ + w``, ``γ₁ = D₂γ₂``, couples a synthesis
prior (``γ₂`` is sparse) with an analysis prior (``γ₁ = D₂γ₂`` has zero
rows). Aberdam, Sulam & Elad (SIMODS 2019) compare two oracles that know
where the zeros are and fit the rest by least squares:

- the synthesis oracle knows ``T = supp(γ₂)`` only:
  ``E‖γ̂₂ − γ₂‖² = σ² tr((D_TᵀD_T)⁻¹) ≤ σ² s₂/(1 − δ)``;
- the synthesis–analysis oracle also knows the zero rows ``Λ`` of ``γ₁``,
  i.e. ``Φ^Λγ_T = 0`` with ``Φ^Λ = (D₂)_{Λ,T}``:
  ``E‖γ̂₂ − γ₂‖² ≤ σ²(s₂ − rank Φ^Λ)/(1 − δ)``.

Here ``D = D₁D₂`` is ``80×120`` with unit-norm atoms (``D₁`` has
orthonormal rows, ``D₂`` is Gaussian), ``s₂ = 8`` and ``rank Φ^Λ = 5``:
the second oracle should make about ``3/8`` of the error of the first, at
every noise level. The script measures both errors
over many signals, against the exact risks (``proxcore.oracle.oracle_risks``)
and the talk's bounds, and plots them against ``σ``. ``δ`` is the restricted
isometry constant of ``D`` on each signal's support,
``max(1 − λ_min, λ_max − 1)`` of ``D_TᵀD_T`` (``OracleRisks.delta``, at most
``δ_{s₂}``): the bounds plotted are the average over the signals of
``σ²s₂/(1 − δ)`` and ``σ²(s₂ − rank Φ^Λ)/(1 − δ)``.

Run it: ``python tutorials/plot_oracle_denoising.py`` (needs matplotlib).
Figures go to ``PROXCORE_TUTORIAL_OUT`` (default: the current directory);
``PROXCORE_TUTORIAL_FAST=1`` runs a small version in seconds (the test
suite does).
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from proxcore.oracle import oracle_risks, synthesis_analysis_oracle, synthesis_oracle  # noqa: E402

FAST = os.environ.get("PROXCORE_TUTORIAL_FAST") == "1"
OUT = Path(os.environ.get("PROXCORE_TUTORIAL_OUT", "."))
rng = np.random.default_rng(0)

# %%
# The model
# ---------
# The columns of ``D₂`` are scaled so that the effective
# atoms ``D₁D₂`` have unit norm. Each signal draws its own support ``T``
# (``s₂`` atoms) and ``r`` rows of ``γ₁`` to be zero, and ``γ_T`` in the
# null space of ``(D₂)_{Λ,T}``.
n, m1, m2 = 80, 100, 120
s2, r = 8, 5
N = 150 if FAST else 2000
sigmas = np.logspace(-2, 0, 3 if FAST else 7)

D1 = np.linalg.qr(rng.standard_normal((m1, n)))[0].T  # orthonormal rows
D2 = rng.standard_normal((m1, m2))
D2 /= np.linalg.norm(D1 @ D2, axis=0)
D = D1 @ D2

G2 = np.zeros((m2, N))
support = np.zeros((m2, N), bool)
cosupport = np.zeros((m1, N), bool)
for j in range(N):
    T = rng.choice(m2, s2, replace=False)
    L = rng.choice(m1, r, replace=False)
    basis = np.linalg.svd(D2[np.ix_(L, T)])[2][r:].T
    G2[T, j] = 2.0 * basis @ rng.standard_normal(s2 - r)
    support[T, j] = True
    cosupport[:, j] = np.abs(D2 @ G2[:, j]) < 1e-9  # the zero rows of γ₁ (the r chosen ones)

# %%
# Errors against the noise level
# ------------------------------
# The exact risks scale as ``σ²``: compute them once at ``σ = 1``.
unit = [oracle_risks(D1, D2, support[:, j], cosupport[:, j], 1.0) for j in range(N)]
risk_syn = np.mean([k.synthesis for k in unit])
risk_sa = np.mean([k.synthesis_analysis for k in unit])
delta = max(k.delta for k in unit)
# the talk's bounds, per signal with the δ of its own support, averaged (they bound the average risk)
bound_syn = np.mean([k.bound_synthesis for k in unit])
bound_sa = np.mean([k.bound_synthesis_analysis for k in unit])
print(f"s2 = {s2}, rank Phi^Lambda = {unit[0].rank}, largest delta on a support = {delta:.3f}")
print(f"at sigma = 1: exact risks {risk_syn:.4g} <= bound {bound_syn:.4g} (synthesis), "
      f"{risk_sa:.4g} <= bound {bound_sa:.4g} (synthesis-analysis)")
assert risk_syn <= bound_syn and risk_sa <= bound_sa  # each signal's risk is below its own bound

measured = []
for sigma in sigmas:
    Y = D @ G2 + sigma * rng.standard_normal((n, N))
    e_syn = np.mean(np.sum((synthesis_oracle(D, Y, support) - G2) ** 2, axis=0))
    e_sa = np.mean(np.sum((synthesis_analysis_oracle(D1, D2, Y, support, cosupport) - G2) ** 2, axis=0))
    measured.append((e_syn, e_sa))
    print(f"sigma={sigma:.4g}  synthesis={e_syn:.4g}  synthesis-analysis={e_sa:.4g}  ratio={e_sa / e_syn:.3f}"
          f"  (exact risks {sigma**2 * risk_syn:.4g}, {sigma**2 * risk_sa:.4g})")
measured = np.array(measured)

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(sigmas, measured[:, 0], "o", color="C0", label="synthesis oracle (measured)")
ax.loglog(sigmas, measured[:, 1], "s", color="C1", label="synthesis–analysis oracle (measured)")
ax.loglog(sigmas, sigmas**2 * risk_syn, "-", color="C0", label=r"$\sigma^2\,\mathrm{tr}((D_T^TD_T)^{-1})$")
ax.loglog(sigmas, sigmas**2 * risk_sa, "-", color="C1", label=r"$\sigma^2\,\mathrm{tr}((N^TD_T^TD_TN)^{-1})$")
ax.loglog(sigmas, sigmas**2 * bound_syn, ":", color="C0", label=r"$\sigma^2 s_2/(1 - \delta)$")
ax.loglog(sigmas, sigmas**2 * bound_sa, ":", color="C1",
          label=r"$\sigma^2 (s_2 - \mathrm{rank}\,\Phi^\Lambda)/(1 - \delta)$")
ax.set_xlabel(r"noise level $\sigma$")
ax.set_ylabel(r"$E\|\hat\gamma_2 - \gamma_2\|^2$")
ax.set_title(f"Oracle denoising, two layers ({N} signals per point)")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(OUT / "oracle_denoising.png", dpi=120)
print(f"mean ratio synthesis-analysis / synthesis: {np.mean(measured[:, 1] / measured[:, 0]):.3f} "
      f"(theory without conditioning: (s2 - rank)/s2 = {(s2 - r) / s2:.3f})")
