"""
Tutorial: write your own plugin package, from a custom operator to running it from a spec file
==============================================================================================

Run it: ``python tutorials/plot_write_your_own_plugin.py``. It writes a
small package, ``haar_plugin``, into a temporary folder, and follows it the
whole way:

1. a custom operator: the fast orthonormal Haar wavelet synthesis, O(n) per
   signal, as a ``pc.LinearOperator`` (four things to define);
2. checked with proxcore's testing kit (the adjoint), before anything else;
3. tried out at run time with ``pc.plugins.register``;
4. packaged: the hooks, and the ``[project.entry-points.proxcore]`` table of
   its ``pyproject.toml``;
5. "installed" and found through the entry points, exactly like proxcore's
   own built-in dictionaries and pursuits;
6. named from a TOML spec file and solved, as ``proxcore solve`` would.

Step 5 normally is ``pip install -e path/to/haar_plugin``; to leave your
environment untouched, the tutorial writes the ``.dist-info`` folder pip
would write and puts it on ``sys.path``. The figure shows the plugin's atoms,
built by name through the registry, and a few signals denoised by OMP from
the spec file. Figures go to ``PROXCORE_TUTORIAL_OUT`` (default: the current
directory); the script takes seconds (``PROXCORE_TUTORIAL_FAST=1`` changes
nothing here).
"""

import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import proxcore as pc  # noqa: E402

OUT = pathlib.Path(os.environ.get("PROXCORE_TUTORIAL_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)

# %%
# 1. The operator
# ---------------
# A pc.LinearOperator needs in_shape, out_shape, apply and adjoint. Arrays arrive with one signal
# on the leading axis and any batch axes after it; keep the batch axes.
PLUGIN_SOURCE = '''
"""haar_plugin: the orthonormal Haar wavelet basis for proxcore."""

import math

import numpy as np

import proxcore as pc

PROXCORE_PLUGIN_API = (1, 0)


class HaarSynthesis(pc.LinearOperator):
    """Haar coefficients (approximation first, then details from coarse to fine) -> signal of n = 2^J samples."""

    def __init__(self, n):
        if n < 2 or n & (n - 1):
            raise pc.InvalidParameterError(f"The 'n' parameter of haar must be a power of two >= 2; got {n!r}.")
        self.in_shape = self.out_shape = (n,)

    def apply(self, c):  # inverse transform, O(n)
        a, pos, n = c[:1], 1, self.in_shape[0]
        while pos < n:
            d = c[pos:2 * pos]
            up = np.empty((2 * pos,) + c.shape[1:], dtype=c.dtype)
            up[0::2] = (a + d) / math.sqrt(2)
            up[1::2] = (a - d) / math.sqrt(2)
            a, pos = up, 2 * pos
        return a

    def adjoint(self, x):  # forward transform, O(n): the adjoint of an orthonormal synthesis
        details, a = [], x
        while a.shape[0] > 1:
            even, odd = a[0::2], a[1::2]
            details.append((even - odd) / math.sqrt(2))
            a = (even + odd) / math.sqrt(2)
        return np.concatenate([a] + details[::-1])


def haar(n):
    """The dictionary factory: pc.dictionary("haar", n=64)."""
    return HaarSynthesis(n)


@pc.hookimpl
def proxcore_dictionaries():
    return {"haar": haar}


@pc.hookimpl
def proxcore_operators():
    return {"haar": HaarSynthesis}
'''

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "haar-plugin"
version = "1.0"
dependencies = ["proxcore"]

[project.entry-points.proxcore]
haar = "haar_plugin"
"""

root = pathlib.Path(tempfile.mkdtemp(prefix="haar_plugin_"))
(root / "haar_plugin.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
(root / "pyproject.toml").write_text(PYPROJECT)
sys.path.insert(0, str(root))
import haar_plugin  # noqa: E402  (written just above)

print(f"1. wrote the package in {root}")
D = haar_plugin.HaarSynthesis(8)
x = np.zeros(8)
x[[0, 5]] = [2.0, 1.0]
print("   one coarse and one fine Haar atom:", np.round(D @ x, 3))

# %%
# 2. Check it before anything else
# ---------------------------------
try:
    from proxcore.testing import check_adjoint

    check_adjoint(haar_plugin.HaarSynthesis(64))  # silent when the adjoint is right
    print("2. check_adjoint passed (silently)")
except ImportError:  # an older proxcore without the testing kit
    u, v = np.random.default_rng(0).standard_normal((2, 64))
    H = haar_plugin.HaarSynthesis(64)
    print("2. dot test <Hu, v> - <u, H'v> =", float(np.vdot(H @ u, v) - np.vdot(u, H.T @ v)))

# %%
# 3. Try it at run time, in a registry of its own
# ------------------------------------------------
experiment = pc.plugins.make_manager().load(autoload=False)  # the core engines only
with pc.plugins.use(experiment):
    pc.plugins.register(haar_plugin, name="haar-dev")
    print("3. registered at run time:", pc.plugins.names("dictionaries"))

# %%
# 4-5. Install it: the entry point pip would record, then load the registry
# --------------------------------------------------------------------------
info = root / "haar_plugin-1.0.dist-info"
info.mkdir()
(info / "METADATA").write_text("Metadata-Version: 2.1\nName: haar-plugin\nVersion: 1.0\n")
(info / "entry_points.txt").write_text("[proxcore]\nhaar = haar_plugin\n")
if str(root) not in sys.path:  # where pip would have put it (a gallery or notebook cell may reset sys.path)
    sys.path.insert(0, str(root))
registry = pc.plugins.make_manager().load()  # what the default registry does on first use
entry = registry.entry("dictionaries", "haar")
print(f"4. found through the entry points: dictionary 'haar' from plugin {entry.plugin!r} "
      f"({entry.distribution} {entry.version}), next to the built-ins {registry.names('dictionaries')}")
listing = subprocess.run([sys.executable, "-m", "proxcore.cli", "plugins"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root)}).stdout
print("5. `proxcore plugins` says:", *[line for line in listing.splitlines() if "haar" in line], sep="\n   ")

# %%
# 6. Name it from a spec file and solve
# -------------------------------------
rng = np.random.default_rng(1)
codes = np.zeros((64, 200))
for j in range(200):  # 200 signals, each 4 Haar atoms
    codes[rng.choice(64, 4, replace=False), j] = rng.standard_normal(4)
signals = haar_plugin.HaarSynthesis(64) @ codes + 0.01 * rng.standard_normal((64, 200))
spec = root / "model.toml"
spec.write_text(textwrap.dedent("""
    [[layer]]
    dictionary = { name = "haar", n = 64 }
    regularizer = { name = "l0-ball", s = 4 }

    [solver]
    method = "omp"
"""))
with pc.plugins.use(registry):
    problem = pc.load_problem(spec, y=signals)
    res = pc.solve(problem, method="omp")
found = np.mean(np.all((res.x != 0) == (codes != 0), axis=0))
print(f"6. {spec.name}: {res.message}\n   supports found exactly for {found:.0%} of the signals; "
      f"objective {res.objective:.4f}")
print(f"   the same from the shell: proxcore solve {spec} --data Y.npy (with the package installed)")

# %%
# The figure: the plugin's atoms, and what OMP did with them
# ----------------------------------------------------------
# ``pc.dictionary("haar", n=64)`` builds the operator by its registered name;
# its columns are the atoms (``D @ e_k``). Right: three of the signals, their
# noisy observations and the 4-atom OMP estimates from the spec file.
with pc.plugins.use(registry):
    H = pc.dictionary("haar", n=64)
atoms = H @ np.eye(64)[:, [0, 1, 2, 3, 5, 12, 40]]
clean = haar_plugin.HaarSynthesis(64) @ codes
estimate = haar_plugin.HaarSynthesis(64) @ np.asarray(res.x)
error_in = np.linalg.norm(signals - clean) / np.linalg.norm(clean)
error_out = np.linalg.norm(estimate - clean) / np.linalg.norm(clean)
print(f"7. relative error of the signals: noisy {error_in:.3f}, OMP on the Haar plugin {error_out:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 1.4]})
for i, atom in enumerate(atoms.T):
    axes[0].step(np.arange(64), atom - 0.45 * i, where="post")
axes[0].set(title='pc.dictionary("haar", n=64): some atoms', xlabel="sample", yticks=[])
for i, j in enumerate([0, 1, 2]):
    offset = -3.0 * i
    axes[1].plot(signals[:, j] + offset, ".", color="0.6", ms=4, label="noisy" if i == 0 else None)
    axes[1].step(np.arange(64), clean[:, j] + offset, where="mid", color="k", lw=1, label="clean" if i == 0 else None)
    axes[1].step(np.arange(64), estimate[:, j] + offset, where="mid", color="C3", lw=1.5, ls="--",
                 label="OMP, 4 atoms" if i == 0 else None)
axes[1].set(title=f"model.toml solved with the plugin's dictionary (error {error_in:.2f} → {error_out:.2f})",
            xlabel="sample", yticks=[])
axes[1].legend(fontsize=8, loc="upper right")
fig.tight_layout()
fig.savefig(OUT / "write_your_own_plugin.png", dpi=120)
plt.close(fig)
