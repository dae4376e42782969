"""
Tutorial: testing your own operator, regularizer and pursuit with proxcore's kit
================================================================================

Run it: ``python tutorials/testing_your_own_code.py``. Each section builds a
correct object, checks it (silently), then a deliberately broken twin, and
prints the message the kit raises. In a test suite you would simply call the
checks inside ``test_*`` functions; pytest shows the same messages.
"""

import numpy as np

import proxcore as pc
from proxcore.testing import check_adjoint, check_convergence, check_prox


def show(title, check, *args, **kwargs):
    print(f"--- {title}")
    try:
        check(*args, **kwargs)
    except AssertionError as exc:
        print(exc)
    else:
        print("passed (silently)")
    print()


# 1. An operator: the finite difference and its adjoint --------------------------------
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


# 2. A regularizer: the ℓ0 penalty ---------------------------------------------------------
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


# 3. A pursuit: ISTA written by hand --------------------------------------------------------
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
