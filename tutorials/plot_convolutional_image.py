"""
Tutorial: convolutional sparse coding of an image, and of a 1-D signal
======================================================================

The convolutional model writes a signal as a sum of small filters convolved
with sparse code maps, ``s ≈ Σ_k d_k ⊛ x_k``. Convolutional basis pursuit
finds the codes by solving

    min_x  ½‖Σ_k d_k ⊛ x_k − s‖² + λ Σ_k ‖x_k‖₁

and with proxcore that is an ordinary one-layer problem: the dictionary is a
:class:`proxcore.Convolution` (FFT-based, exact spectral norm), the engine the
plain ``fista``. The locality of the codes is measured by the stripe norm
``‖x‖₀,∞`` (:class:`proxcore.L0Inf`): the largest number of non-zeros that
can touch one window of the signal.

Part 1 codes the high-pass part of scikit-image's ``camera`` with 32 filters
of 8×8 (2-D DCT atoms) and reports PSNR and sparsity; part 2 recovers the
spikes of a synthetic 1-D signal, with ℓ1 and with the stripe constraint;
part 3 solves a two-layer convolutional model (ML-CSC) built with ``pc.chain``
by layered thresholding, ML-ISTA, ML-FISTA and the exact primal-dual engine.

Run it: ``python tutorials/plot_convolutional_image.py`` (needs the
``tutorials`` extra: scikit-image and matplotlib). Figures are written to
``PROXCORE_TUTORIAL_OUT`` (default: the current directory);
``PROXCORE_TUTORIAL_FAST=1`` runs a small version in seconds (the test suite
does).
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402
from skimage import data, transform  # noqa: E402

import proxcore as pc  # noqa: E402

FAST = os.environ.get("PROXCORE_TUTORIAL_FAST", "") not in ("", "0")
OUT = Path(os.environ.get("PROXCORE_TUTORIAL_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)
# The fast mode stops FISTA early on purpose; the message is printed below instead of warned.
warnings.filterwarnings("ignore", category=pc.ConvergenceWarning)


def psnr(reference, estimate, peak=1.0):
    mse = float(np.mean((reference - estimate) ** 2))
    return 10 * np.log10(peak**2 / mse) if mse > 0 else np.inf


# ------------------------------------------------------------------------------------ 1. an image
# The image, in [0, 1]; 256×256 (64×64 in the fast mode). The low frequencies are not sparse in
# small filters: split them off with a Tikhonov low-pass (penalty 5 on the gradient) and code the rest.
size = 64 if FAST else 256
image = transform.resize(data.camera().astype(np.float64) / 255.0, (size, size), anti_aliasing=True)
pad = 16
padded = np.pad(image, pad, mode="symmetric")
w1 = 2 - 2 * np.cos(2 * np.pi * np.fft.fftfreq(padded.shape[0]))
w2 = 2 - 2 * np.cos(2 * np.pi * np.fft.rfftfreq(padded.shape[1]))
lowpass = np.fft.irfft2(np.fft.rfft2(padded) / (1 + 5.0 * (w1[:, None] + w2[None, :])), s=padded.shape)
lowpass = lowpass[pad:-pad, pad:-pad]
highpass = image - lowpass

# 32 filters of 8×8: the 2-D DCT-II atoms of lowest frequency, without the constant one (the
# high-pass image has no mean); each has unit norm.
width, n_filters = 8, 32
basis = scipy.fft.idct(np.eye(width), norm="ortho", axis=0)  # columns: 1-D DCT atoms
pairs = sorted(((i, j) for i in range(width) for j in range(width) if (i, j) != (0, 0)),
               key=lambda p: (p[0] + p[1], p))
filters = np.stack([np.outer(basis[:, i], basis[:, j]) for i, j in pairs[:n_filters]])

D = pc.Convolution(filters, image.shape)
print(f"dictionary: {D!r}; ‖D‖ = {D.norm():.4f} (exact, from the frequency response)")

lam = 0.05
problem = pc.chain(highpass, [(D, pc.L1(lam))])
start = time.perf_counter()
res = pc.solve(problem, method="fista", max_iter=60 if FAST else 300, tol=1e-5)
elapsed = time.perf_counter() - start
codes = res.x  # (32, size, size)
recon_high = D @ codes
recon = recon_high + lowpass

nnz = np.count_nonzero(codes)
stripe = pc.L0Inf(1, (width, width), signal_shape=codes.shape).norm(codes)
print(f"convolutional BP, λ = {lam}: {res.n_iter} FISTA iterations in {elapsed:.2f} s ({res.message})")
print(f"  objective {res.objective:.6g}")
print(f"  sparsity: {nnz} non-zeros of {codes.size} coefficients ({100 * nnz / codes.size:.2f}%), "
      f"{nnz / image.size:.3f} per pixel; stripe norm ‖x‖₀,∞ = {stripe} "
      f"(of {n_filters * (2 * width - 1) ** 2} entries per stripe)")
snr = 10 * np.log10(np.sum(highpass**2) / np.sum((highpass - recon_high) ** 2))
print(f"  PSNR of the reconstructed image {psnr(image, recon):.2f} dB (the error is all in the high-pass part, "
      f"coded with SNR {snr:.2f} dB)")

fig, axes = plt.subplots(2, 3, figsize=(12, 8))
panels = [(image, "camera"), (highpass, "high-pass part"), (lowpass, "low-pass part"),
          (recon_high, f"Σ d_k ⊛ x_k ({100 * nnz / codes.size:.1f}% non-zero)"),
          (recon, f"reconstruction, PSNR {psnr(image, recon):.1f} dB"),
          (np.abs(codes).sum(axis=0), "Σ_k |x_k| (where the codes are)")]
for ax, (img, title) in zip(axes.ravel(), panels):
    ax.imshow(img, cmap="gray" if "Σ_k" not in title else "magma")
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
fig.savefig(OUT / "convolutional_image.png", dpi=80)

fig, axes = plt.subplots(4, 8, figsize=(8, 4))
for ax, h in zip(axes.ravel(), filters):
    ax.imshow(h, cmap="gray")
    ax.axis("off")
fig.suptitle("the 32 filters (8×8 DCT atoms)")
fig.savefig(OUT / "convolutional_filters.png", dpi=80)

fig, ax = plt.subplots(figsize=(5, 3.5))
history = res.history["objective"]
ax.semilogy(np.arange(1, len(history) + 1), history - history.min() + 1e-12)
ax.set_xlabel("iteration")
ax.set_ylabel("F(x_k) − min F")
ax.set_title("FISTA on the convolutional Lasso")
fig.tight_layout()
fig.savefig(OUT / "convolutional_convergence.png", dpi=80)

# ------------------------------------------------------------------------------------ 2. a 1-D signal
# Three filters of length 16, a few spikes each, noise. ℓ1 recovers the spikes (up to shrinkage);
# the stripe constraint ‖x‖₀,∞ ≤ 1, by projected gradient with the greedy projection, keeps at most
# one spike near any window — the model's own notion of sparsity.
rng = np.random.default_rng(0)
n, f, k = (256 if FAST else 1024), 16, 3
h = rng.standard_normal((k, f)) * np.hanning(f)
h /= np.linalg.norm(h, axis=1, keepdims=True)
D1 = pc.Convolution(h, n)
truth = np.zeros((k, n))
positions = np.arange(20, n - 20, 3 * f)  # far apart: the true code has ‖x‖₀,∞ = 1
truth[rng.integers(0, k, positions.size), positions] = rng.choice([-1, 1], positions.size) * (1 + rng.random(positions.size))
clean = D1 @ truth
signal = clean + 0.05 * rng.standard_normal(n)

stripes = pc.L0Inf(1, f, signal_shape=truth.shape)
print(f"\n1-D: {positions.size} spikes, ‖x_true‖₀,∞ = {stripes.norm(truth)}")
bp = pc.solve(pc.chain(signal, [(D1, pc.L1(0.1))]), method="fista", max_iter=500, tol=1e-7)
pg = pc.solve(pc.chain(signal, [(D1, stripes)]), method="ista", x0=bp.x, max_iter=200, tol=1e-7)
for name, x in (("ℓ1 (convolutional BP)", bp.x), ("‖x‖₀,∞ ≤ 1 (projected gradient)", pg.x)):
    support = np.flatnonzero(np.abs(x) > 1e-3 * np.abs(x).max())
    hits = len(set(support) & set(np.flatnonzero(truth)))
    print(f"  {name}: {np.count_nonzero(x)} non-zeros, stripe norm {stripes.norm(x)}, "
          f"{hits}/{positions.size} true spikes found, PSNR of the clean signal "
          f"{psnr(clean, D1 @ x, peak=np.abs(clean).max()):.1f} dB")

fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
axes[0].plot(signal, color="0.6", lw=0.8, label="noisy signal")
axes[0].plot(clean, "k", lw=1, label="clean")
axes[0].plot(D1 @ pg.x, "C3--", lw=1, label="reconstruction (‖x‖₀,∞ ≤ 1)")
axes[0].legend(loc="upper right")
for ax, (x, title) in zip(axes[1:], ((bp.x, "codes, ℓ1"), (pg.x, "codes, ‖x‖₀,∞ ≤ 1"))):
    true = np.flatnonzero(truth.any(axis=0))
    ax.stem(true, truth.sum(axis=0)[true], linefmt="0.8", markerfmt="o", basefmt=" ")
    for j in range(k):
        nz = np.flatnonzero(x[j])
        ax.plot(nz, x[j][nz], f"C{j}.", ms=4, label=f"filter {j}")
    ax.legend(loc="upper right")
    ax.set_title(title + " (grey stems: the truth)")
fig.tight_layout()
fig.savefig(OUT / "convolutional_1d.png", dpi=80)

# ------------------------------------------------------------------------------------ 3. two layers
# The multi-layer convolutional model (ML-CSC): y = D1 γ1, γ1 = D2 γ2, both codes sparse. D2 is a
# multichannel convolution (its output has one channel per filter of D1); pc.chain composes the
# layers, D1 @ D2 is again a convolution (exact norm), and every multi-layer engine takes the chain.
n2 = 64 if FAST else 128
L1 = pc.dictionary("convolution", n_filters=4, filter_shape=7, signal_shape=n2, seed=1)
L2 = pc.dictionary("convolution", n_filters=6, filter_shape=5, channels=4, signal_shape=n2, seed=2)
gamma2 = np.zeros(L2.in_shape)
gamma2.flat[rng.choice(gamma2.size, 6, replace=False)] = 1 + rng.random(6)
y2 = L1 @ (L2 @ gamma2) + 0.01 * rng.standard_normal(n2)
ml = pc.chain(y2, [(L1, pc.L1(0.02)), (L2, pc.L1(0.02))])
print(f"\nML-CSC: {L1!r}\n        {L2!r}; D1 @ D2 = {(L1 @ L2)!r}")
exact = pc.solve(ml, method="primal-dual", max_iter=1500 if FAST else 20000, tol=1e-9)
truth2 = set(np.flatnonzero(gamma2))
for method, options in (("layered-thresholding", {}), ("ml-ista", {"max_iter": 500}), ("ml-fista", {"max_iter": 500}),
                        ("primal-dual", {})):
    r = exact if method == "primal-dual" else pc.solve(ml, method=method, **options)
    top = set(np.argsort(-np.abs(r.x).ravel())[: len(truth2)])  # the 6 largest entries of γ2
    print(f"  {method:>20}: objective {ml.objective(r.x):10.5f} ({ml.objective(r.x) / exact.objective - 1:+.1e} "
          f"relative to primal-dual), 6 largest entries of γ2 on the true support: {len(top & truth2)}/6")
print("  (layered thresholding is the one-pass CNN forward estimate, not a minimizer of the objective)")

print(f"\nfigures written to {OUT.resolve()}")
