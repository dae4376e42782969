"""
Declarative specs: a multi-layer problem in a TOML file, from Python and from the shell
=======================================================================================

A problem is plain data: which dictionary and which regularizer at each
layer (or, for other shapes, which nodes and edges). Written as a TOML file,
it can be versioned next to the data, shared with someone who does not read
the code, and solved without writing any: ``proxcore solve model.toml
--data Y.npy --out result.npz``. This tutorial

1. builds a two-layer problem in Python with ``pc.chain``,
2. declares the same problem in ``model.toml`` and loads it with
   ``pc.load_problem`` (the same with ``pc.Problem.from_spec`` and a plain
   mapping), checks that it *is* the same problem, and solves it,
3. solves it again with ``proxcore solve`` (in a subprocess, and in process
   through ``proxcore.cli.main``), and reads the answer back,
4. declares a problem that is not a chain (one code, two observations) with
   a ``[graph]`` table,

and draws both problems' graphs with the convergence of each route.

Run it: ``python tutorials/plot_declarative_specs.py`` (needs matplotlib).
Figures go to ``PROXCORE_TUTORIAL_OUT`` (default: the current directory);
``PROXCORE_TUTORIAL_FAST=1`` runs a small version in seconds (the test
suite does).
"""

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402

import proxcore as pc  # noqa: E402
from proxcore import cli  # noqa: E402

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - older Pythons use the backport
    import tomli as tomllib

FAST = os.environ.get("PROXCORE_TUTORIAL_FAST") == "1"
OUT = Path(os.environ.get("PROXCORE_TUTORIAL_OUT", "."))
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %%
# The problem, in Python
# ----------------------
# Two layers: an overcomplete DCT dictionary ``D₁`` (a registered
# dictionary, ``pc.dictionary("dct", n=32, m=64)``) and a Gaussian ``D₂``
# of our own; the signals are the columns of ``Y``.
n, m1, m2 = 32, 64, 96
N = 40 if FAST else 200
D1 = pc.dictionary("dct", n=n, m=m1)
D2 = rng.standard_normal((m1, m2))
D2 /= np.linalg.norm(D2, axis=0)
G2 = np.zeros((m2, N))
for j in range(N):
    G2[rng.choice(m2, 3, replace=False), j] = rng.standard_normal(3)
Y = D1 @ (D2 @ G2) + 0.01 * rng.standard_normal((n, N))

in_python = pc.chain(Y, [(D1, pc.L1(0.05)), (D2, pc.L1(0.1))])
options = dict(method="ml-fista", max_iter=300 if FAST else 1000, tol=1e-8)
res_python = pc.solve(in_python, **options)
print(f"pc.chain + pc.solve : objective {res_python.objective:.10f} after {res_python.n_iter} iterations")

# %%
# The same problem, in a file
# ---------------------------
# Each ``[[layer]]`` table names a dictionary (a registered name with its
# parameters, or ``matrix`` with a ``.npy`` path relative to the file) and a
# regularizer; ``[solver]`` holds the defaults ``proxcore solve`` uses.
work = Path(tempfile.mkdtemp(prefix="proxcore_spec_"))
np.save(work / "D2.npy", D2)
np.save(work / "Y.npy", Y)
spec_file = work / "model.toml"
spec_file.write_text(textwrap.dedent(f"""\
    # two-layer basis pursuit: ½‖y − D1 D2 γ2‖² + 0.05‖D2 γ2‖₁ + 0.1‖γ2‖₁
    [[layer]]
    dictionary = {{ name = "dct", n = {n}, m = {m1} }}
    regularizer = {{ name = "l1", lam = 0.05 }}

    [[layer]]
    dictionary = {{ name = "matrix", path = "D2.npy" }}
    regularizer = {{ name = "l1", lam = 0.1 }}

    [solver]
    method = "{options['method']}"
    max_iter = {options['max_iter']}
    tol = {options['tol']}
"""))
print(spec_file.read_text())

from_file = pc.load_problem(spec_file, y=Y)
with spec_file.open("rb") as f:
    mapping = tomllib.load(f)  # plain data: dicts, lists, numbers and strings
from_mapping = pc.Problem.from_spec(mapping, y=Y, base_dir=work)

x = rng.standard_normal((m2, N))
values = [p.objective(x) for p in (in_python, from_file, from_mapping)]
print("F at a random point, three ways:", values)
assert np.allclose(values, values[0], rtol=1e-12)

res_file = pc.solve(from_file, **options)
same = np.allclose(res_file.x, res_python.x, rtol=1e-10, atol=1e-12)
print(f"pc.load_problem     : objective {res_file.objective:.10f} after {res_file.n_iter} iterations; "
      f"same codes as pc.chain: {same}")

# %%
# A typo is an error that names the word and the closest valid one:
try:
    pc.Problem.from_spec({"layer": [{"dictionary": {"name": "dct", "n": n, "m": m1},
                                     "regularizer": {"name": "l1", "lamda": 0.05}}]}, y=Y)
except pc.InvalidParameterError as exc:
    print("InvalidParameterError:", exc)

# %%
# From the shell: ``proxcore solve``
# ----------------------------------
# The command reads the spec and the data, runs the ``[solver]`` method
# (``--method``, ``--max-iter``, ``--tol`` override it), prints a summary and
# writes ``x``, every layer's code and the history to a ``.npz`` file. Its
# exit status is 0 when the solver converged. Here it runs in a subprocess,
# as from a shell script, then in this process through ``proxcore.cli.main``
# (what the ``proxcore`` command calls).
command = [sys.executable, "-m", "proxcore.cli", "solve", str(spec_file), "--data", str(work / "Y.npy"),
           "--out", str(work / "result.npz"), "--quiet"]
print("$ proxcore solve model.toml --data Y.npy --out result.npz --quiet")
shell = subprocess.run(command, capture_output=True, text=True)
print(shell.stdout)
assert shell.returncode == 0, shell.stderr
saved = np.load(work / "result.npz")
same_cli = np.allclose(saved["x"], res_python.x, rtol=1e-10, atol=1e-12)
print(f"proxcore solve      : objective {float(saved['objective']):.10f} after {int(saved['n_iter'])} iterations; "
      f"same codes as pc.chain: {same_cli}")

status = cli.main(["solve", str(spec_file), "--data", str(work / "Y.npy"), "--method", "primal-dual",
                   "--max-iter", "20000", "--tol", "1e-9", "--out", str(work / "exact.npz"), "--quiet"])
assert status == 0  # converged
exact = np.load(work / "exact.npz")
gap = (res_python.objective - float(exact["objective"])) / float(exact["objective"])
print(f"cli.main(... --method primal-dual) returned {status}; ML-FISTA is within {gap:.2e} of the optimum")

# %%
# Beyond chains: a ``[graph]`` table
# ----------------------------------
# One code observed twice, through two operators (two sensors, say): data
# nodes, code nodes with their regularizers, and edges ``from`` a code ``to``
# what it explains, each with its dictionary. The exact engine
# ``primal-dual`` takes any graph the composer accepts.
A = rng.standard_normal((12, m2))
B = rng.standard_normal((16, m2))
np.save(work / "A.npy", A)
np.save(work / "B.npy", B)
(work / "shared.toml").write_text(textwrap.dedent("""\
    [graph]
    data = ["camera", "sensor"]

    [[graph.node]]
    name = "gamma"
    regularizer = { name = "l1", lam = 0.05 }

    [[graph.edge]]
    from = "gamma"
    to = "camera"
    dictionary = { name = "matrix", path = "A.npy" }

    [[graph.edge]]
    from = "gamma"
    to = "sensor"
    dictionary = { name = "matrix", path = "B.npy" }
"""))
truth = G2[:, :5]
shared = pc.load_problem(work / "shared.toml", y={"camera": A @ truth, "sensor": B @ truth})
res_shared = pc.solve(shared, method="primal-dual", tol=1e-10)
error = np.linalg.norm(res_shared.x - truth) / np.linalg.norm(truth)
print(f"[graph] spec, two observations of one code: {res_shared.message} relative error {error:.3f}")


# %%
# The figure: the two graphs and the three routes to one answer
# -------------------------------------------------------------
# ``problem.graph`` is the ``networkx.DiGraph`` the composer validated:
# nodes carry a loss (data) or a regularizer (codes), edges the operators.
def draw(ax, problem, pos, title):
    graph = problem.graph
    labels = {}
    for node, data in graph.nodes(data=True):
        reg = data.get("regularizer")
        labels[node] = node if reg is None else f"{node}\n{type(reg).__name__}({getattr(reg, 'lam', '')})"
    edge_labels = {(u, v): "{}→{}".format(*(d["operator"].in_shape + d["operator"].out_shape))
                   for u, v, d in graph.edges(data=True)}
    colors = ["#f2c14e" if "loss" in graph.nodes[v] else "#8ecae6" for v in graph]
    nx.draw_networkx(graph, pos, ax=ax, labels=labels, node_color=colors, node_size=1700, font_size=7,
                     arrowsize=15, node_shape="o")
    for (u, v), text in edge_labels.items():  # the operator's shapes, beside its edge
        (xu, yu), (xv, yv) = pos[u], pos[v]
        ax.text((xu + xv) / 2 + 0.12, (yu + yv) / 2, text, fontsize=8, va="center", color="0.3")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-0.6, 4.6)
    ax.axis("off")


fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.6]})
draw(axes[0], from_file, {"y": (0, 4), "gamma1": (0, 2), "gamma2": (0, 0)}, "model.toml: a chain (data on top)")
draw(axes[1], shared, {"camera": (-1, 4), "sensor": (1, 4), "gamma": (0, 0)}, "shared.toml: a [graph]")
f_star = float(exact["objective"])
routes = {"pc.chain + pc.solve": res_python.history["objective"],
          "pc.load_problem": res_file.history["objective"],
          "proxcore solve (subprocess)": saved["history_objective"]}
for (name, history), style in zip(routes.items(), ["-", "--", ":"]):
    history = np.asarray(history)
    axes[2].semilogy(np.arange(1, len(history) + 1), (history - f_star) / f_star, style, lw=2, label=name)
axes[2].set(xlabel="iteration", ylabel=r"$(F(x_k) - F^*)/F^*$", title="ML-FISTA on model.toml, three routes")
axes[2].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "declarative_specs.png", dpi=120)
plt.close(fig)

# %%
# The three curves lie on top of each other: the file, the mapping and the
# Python call build the same problem, and the command line runs the same
# solver on it.
