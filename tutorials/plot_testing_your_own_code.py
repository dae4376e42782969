"""
Tutorial: testing your own operator, regularizer and pursuit with proxcore's kit
================================================================================

Run it: ``python tutorials/plot_testing_your_own_code.py``. Each section
builds a correct object, checks it (silently), then a deliberately broken
twin, and prints the message the kit raises. In a test suite you would simply
call the checks inside ``test_*`` functions; pytest shows the same messages.
The figure at the end draws what each check measures, for the correct object
and its broken twin. Figures go to ``PROXCORE_TUTORIAL_OUT`` (default: the
current directory); the script takes seconds (``PROXCORE_TUTORIAL_FAST=1``
changes nothing here).
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import proxcore as pc  # noqa: E402
from proxcore.testing import check_adjoint, check_convergence, check_prox, optimum, tolerance  # noqa: E402

OUT = Path(os.environ.get("PROXCORE_TUTORIAL_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)


def show(title, check, *args, **kwargs):
    print(f"--- {title}")
    try:
        check(*args, **kwargs)
    except AssertionError as exc:
        print(exc)
    else:
        print("passed (silently)")
    print()


# %%
# 1. An operator: the finite difference and its adjoint
# -----------------------------------------------------
# ``check_adjoint`` runs the dot test ``⟨Ax, y⟩ = ⟨x, Aᵀy⟩`` on random
# batches, in each precision, with a tolerance scaled by the norms.
class Diff(pc.LinearOperator):
    """Forward differences of a signal of length n (n - 1 outputs)."""

    def __init__(self, n):
        self.in_shape, self.out_shape = (n,), (n - 1,)

    def apply(self, x):
        return x[1:] - x[:-1]

    def adjoint(self, y):
        z = np.pad(y, [(1, 1)] + [(0, 0)] * (y.ndim - 1))
        return z[:-1] - z[1:]


class BrokenDiff(Diff):
    """The classic slip: the adjoint pads on the wrong side."""

    def adjoint(self, y):
        z = np.pad(y, [(2, 0)] + [(0, 0)] * (y.ndim - 1))
        return z[:-1] - z[1:]


show("check_adjoint(Diff(8))", check_adjoint, Diff(8))
show("check_adjoint(BrokenDiff(8))", check_adjoint, BrokenDiff(8))


# %%
# 2. A regularizer: the ℓ0 penalty
# --------------------------------
# ``check_prox`` checks that ``prox(v, step)`` minimizes
# ``Φ(u) = step·g(u) + ½‖u − v‖²`` (by brute force for a non-convex ``g``).
class MyL0(pc.Regularizer):
    """λ‖x‖₀; its prox is hard thresholding at sqrt(2·step·λ)."""

    convex = False  # tells the kit to skip firm non-expansiveness and use brute force

    def __init__(self, lam):
        self.lam = lam

    def value(self, x):
        return float(self.lam * np.count_nonzero(x))

    def prox(self, v, step):
        v = np.asarray(v)
        return np.where(np.abs(v) > np.sqrt(2 * step * self.lam), v, 0).astype(v.dtype)

    def __repr__(self):
        return f"{type(self).__name__}({self.lam})"


class BrokenL0(MyL0):
    """The bug public libraries shipped: threshold at step·λ."""

    def prox(self, v, step):
        v = np.asarray(v)
        return np.where(np.abs(v) > step * self.lam, v, 0).astype(v.dtype)


show("check_prox(MyL0(0.5))", check_prox, MyL0(0.5))
show("check_prox(BrokenL0(0.5))", check_prox, BrokenL0(0.5))


# %%
# 3. A pursuit: ISTA written by hand
# ----------------------------------
# ``check_convergence`` runs the pursuit and checks ISTA's promise
# ``F(x_k) − F* ≤ L‖x0 − x*‖²/(2k)`` at every iteration, against a certified
# optimum ``F*``.
def my_ista(problem, *, max_iter=500, tol=0.0, callback=None, lam_scale=1.0):
    """Plain ISTA on a one-layer ℓ1 problem; lam_scale != 1 is the bug (it solves another problem)."""
    (layer,) = problem.layers
    D, lam = layer.operator, layer.regularizer.lam * lam_scale
    y = np.asarray(problem.y)
    step = 1.0 / D.norm() ** 2
    x = np.zeros(problem.in_shape + problem.batch_shape)
    history = []
    for k in range(1, max_iter + 1):
        v = x - step * D.adjoint(D.apply(x) - y)
        x = np.sign(v) * np.maximum(np.abs(v) - step * lam, 0)
        history.append(problem.objective(x))
        state = type("State", (), {"iteration": k, "x": x, "objective": history[-1]})()
        if callback is not None and callback(state):
            break
    return pc.Result(x=x, codes=(x,), objective=history[-1], n_iter=len(history), converged=False,
                     status=pc.Status.MAX_ITER, message="", history={"objective": np.array(history)},
                     signal_converged=np.zeros(problem.batch_shape, bool), step=step)


def my_broken_ista(problem, **options):
    return my_ista(problem, lam_scale=2.0, **options)


rng = np.random.default_rng(0)
D = rng.standard_normal((20, 40))
D /= np.linalg.norm(D, axis=0)
y = D[:, :3] @ np.array([1.0, -2.0, 1.5]) + 0.01 * rng.standard_normal(20)
problem = pc.chain(y, [(D, pc.L1(0.1))])

show("check_convergence(problem, my_ista, '1/k')", check_convergence, problem, my_ista, "1/k")
show("check_convergence(problem, my_broken_ista, '1/k')", check_convergence, problem, my_broken_ista, "1/k")


# %%
# What the checks measure
# -----------------------
# The same three properties, drawn for each correct object and its broken
# twin: the dot test's relative error against the kit's tolerance, the prox
# of a scalar against the brute-force minimizer of ``Φ``, and the objective
# gap of each ISTA against the rate it promises.
fig, axes = plt.subplots(1, 3, figsize=(14, 4))

rng = np.random.default_rng(1)
errors = {"Diff": [], "BrokenDiff": []}
for _ in range(20):
    x, u = rng.standard_normal(8), rng.standard_normal(7)
    for name, op in (("Diff", Diff(8)), ("BrokenDiff", BrokenDiff(8))):
        Ax, ATu = op @ x, op.T @ u
        scale = np.linalg.norm(Ax) * np.linalg.norm(u) + np.linalg.norm(x) * np.linalg.norm(ATu)
        errors[name].append(max(abs(np.vdot(Ax, u) - np.vdot(x, ATu)) / scale, 1e-18))
for i, (name, values) in enumerate(errors.items()):
    axes[0].semilogy(np.full(len(values), i) + rng.uniform(-0.15, 0.15, len(values)), values, "o", alpha=0.7,
                     label=name)
axes[0].axhline(tolerance(np.float64), color="k", ls="--", label="tolerance (float64)")
axes[0].set(xticks=[0, 1], xticklabels=list(errors), xlim=(-0.6, 1.6),
            ylabel=r"$|\langle Ax, y\rangle - \langle x, A^Ty\rangle|$ / norms", title="check_adjoint: the dot test")
axes[0].legend(fontsize=8)
print("dot test, largest relative error: " + ", ".join(f"{k} {max(v):.1e}" for k, v in errors.items()))

step, lam = 1.0, 0.5
v = np.linspace(-2, 2, 401)
# Φ(u) = step·λ[u ≠ 0] + ½(u − v)²: its minimizer is u = 0 (cost ½v²) or u = v (cost step·λ)
brute = np.where(0.5 * v**2 <= step * lam, 0.0, v)
axes[1].plot(v, brute, color="0.8", lw=6, label=r"argmin $\Phi$ (exact)")
axes[1].plot(v, MyL0(lam).prox(v, step), label=r"MyL0: threshold $\sqrt{2\,step\,\lambda}$")
axes[1].plot(v, BrokenL0(lam).prox(v, step), "--", label=r"BrokenL0: threshold $step\,\lambda$")
axes[1].set(xlabel="v", ylabel="prox(v, step = 1)", title=r"check_prox: $\ell_0$, $\lambda = 0.5$")
axes[1].legend(fontsize=8)
wrong = np.mean(BrokenL0(lam).prox(v, step) != brute)
print(f"prox of the l0 penalty: MyL0 wrong on {np.mean(MyL0(lam).prox(v, step) != brute):.0%} of the grid, "
      f"BrokenL0 on {wrong:.0%}")

best = optimum(problem)
L = np.linalg.norm(D, 2) ** 2
K = 3000
runs = {"my_ista": my_ista(problem, max_iter=K), "my_broken_ista": my_broken_ista(problem, max_iter=K)}
k = np.arange(1, K + 1)
for name, res in runs.items():
    axes[2].loglog(k, np.maximum(res.history["objective"] - best.objective, 1e-16), label=name)
axes[2].loglog(k, L * np.sum(best.x**2) / (2 * k), "k--", label=r"$L\|x_0 - x^*\|^2/(2k)$")
axes[2].set(xlabel="iteration k", ylabel=r"$F(x_k) - F^*$", title="check_convergence: the 1/k rate")
axes[2].legend(fontsize=8)
for name, res in runs.items():
    print(f"{name}: F(x_{K}) - F* = {res.history['objective'][-1] - best.objective:.2e}, "
          f"bound {L * np.sum(best.x**2) / (2 * K):.2e}")

fig.tight_layout()
fig.savefig(OUT / "testing_your_own_code.png", dpi=120)
plt.close(fig)

# %%
# The broken adjoint is off by far more than rounding; the broken prox
# keeps entries between ``step·λ`` and ``sqrt(2·step·λ)`` that the true
# minimizer zeroes; the broken ISTA converges, but to the minimizer of
# another problem, so its gap to the true ``F*`` stops falling and crosses
# the bound.
