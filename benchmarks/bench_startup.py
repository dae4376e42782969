"""Start-up costs: ``import proxcore`` (no JIT at import) and the first call of each numba-backed pursuit.

Each figure is the median over fresh interpreter processes:

- ``import proxcore``, next to ``import numpy, scipy.sparse`` (what it
  cannot avoid) and a check that numba is not imported;
- the first ``pc.solve`` of ``fista``, ``omp``, ``cd``, ``lars`` on a tiny
  problem, with an empty numba cache (``NUMBA_CACHE_DIR`` a new folder: the
  compile) and with the cache that run left behind (loading it).

    python benchmarks/bench_startup.py --repeats 5
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import _harness as h

FIRST_CALL = """
import time, warnings, numpy as np
warnings.simplefilter("ignore")
import proxcore as pc
rng = np.random.default_rng(0)
D = rng.standard_normal((16, 32)); Y = rng.standard_normal((16, 4))
reg = pc.L0Ball(3) if {method!r} == "omp" else pc.L1(0.1)
start = time.perf_counter()
pc.solve(pc.chain(Y, [(D, reg)]), method={method!r})
print(time.perf_counter() - start)
"""


def _python(code, env=None):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return float(out.stdout.strip().splitlines()[-1])


def _import_time(modules):
    return _python(f"import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    h.common_arguments(parser, "startup", repeats=5, threads=False)
    args = parser.parse_args(argv)
    imports = {m: statistics.median(_import_time(m) for _ in range(args.repeats))
               for m in ("numpy, scipy.sparse", "proxcore")}
    numba_loaded = _python("import sys, proxcore; print(float('numba' in sys.modules))") > 0
    lines = [f"# Start-up ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "", h.environment(), "",
             "| what | seconds (median of fresh processes) |", "|---|---|"]
    lines += [f"| `import {m}` | {t:.3f} |" for m, t in imports.items()]
    lines += [f"| numba imported by `import proxcore` | {'yes' if numba_loaded else 'no'} |", "",
              "| first call | empty numba cache (compile) [s] | warm cache (load) [s] |", "|---|---|---|"]
    first = {}
    for method in ("fista", "omp", "cd", "lars"):
        cold, warm = [], []
        for _ in range(max(1, args.repeats // 2)):
            with tempfile.TemporaryDirectory() as cache:
                env = {"NUMBA_CACHE_DIR": cache}
                cold.append(_python(FIRST_CALL.format(method=method), env))
                warm.append(_python(FIRST_CALL.format(method=method), env))
        first[method] = (statistics.median(cold), statistics.median(warm))
        lines.append(f"| `{method}` | {first[method][0]:.2f} | {first[method][1]:.3f} |")
    lines += ["", f"Command: `python benchmarks/bench_startup.py --repeats {args.repeats}`.", ""]
    targets = [h.target("import proxcore [s]", imports["proxcore"], 0.3, "<="),
               h.target("numba not imported by import proxcore", 0.0 if not numba_loaded else 1.0, 0.0, "<=")]
    h.write(args.name, args.out_dir, "\n".join(lines),
            {"workload": args.name, "targets": targets, "imports": imports, "first_call": first})


if __name__ == "__main__":
    main()
