"""The Dask path (proxcore.distributed) on a real distributed.LocalCluster.

Two worker processes on loopback, one thread each, started and stopped by
this module. The reference is always the single-process engine on NumPy data
(``pc.pursuit(method)(numpy problem)``): on the whole batch when the iteration
count is fixed (``tol=0``: every column's update is independent of the others,
so chunking changes nothing but round-off), chunk by chunk when each chunk
stops on its own criterion.
"""

import os
import resource
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import proxcore as pc
from proxcore import distributed as pcd

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::proxcore.ConvergenceWarning")


@pytest.fixture(scope="module")
def cluster():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's own deprecation notes, not ours
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=50, worker_dashboard_address=None,
        ) as cluster:
            yield cluster


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


def _dictionary(rng, n, m, dtype=np.float64):
    D = rng.standard_normal((n, m))
    return (D / np.linalg.norm(D, axis=0)).astype(dtype)


def _single(method, Y, layers, **options):
    return pc.pursuit(method)(pc.chain(Y, layers), **options)


# ---------------------------------------------------------------------- the core stays dask-free
def test_import_proxcore_does_not_import_dask():
    code = ("import sys, numpy as np, proxcore as pc\n"
            "pc.solve(pc.chain(np.ones((2, 3)), [(np.eye(2), pc.L1(0.1))]), method='fista')\n"
            "assert not [m for m in sys.modules if m == 'dask' or m.startswith('dask.')], 'dask imported'\n"
            "assert 'distributed' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------- equal to the single-process engine
def test_fixed_iterations_equal_the_whole_batch_solve(client, rng):
    D = _dictionary(rng, 16, 40)
    Y = rng.standard_normal((16, 101))
    Y_before, D_before = Y.copy(), D.copy()
    res = pc.solve(pc.chain(da.from_array(Y, chunks=(8, 23)), [(D, pc.L1(0.3))]), method="fista", tol=0, max_iter=60)
    assert isinstance(res, pcd.DaskResult) and pcd.is_dask_array(res.x)
    assert res.x.shape == (40, 101) and res.chunks == ((23, 23, 23, 23, 9),)
    out = res.compute()
    ref = _single("fista", Y, [(D, pc.L1(0.3))], tol=0, max_iter=60)
    np.testing.assert_allclose(out.x, ref.x, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(out.gap, ref.gap, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(out.signal_converged, ref.signal_converged)
    assert out.objective.shape == (5,) and out.objective.sum() == pytest.approx(ref.objective, rel=1e-12)
    assert list(out.n_iter) == [60] * 5 and list(out.status) == [pc.Status.MAX_ITER] * 5
    assert not out.converged.any() and "Maximum number of iterations (60)" in out.message[0]
    np.testing.assert_array_equal(Y, Y_before)  # caller's arrays untouched
    np.testing.assert_array_equal(D, D_before)


def test_each_chunk_stops_on_its_own_like_the_single_process_engine(client, rng):
    D1, D2 = _dictionary(rng, 12, 24), _dictionary(rng, 24, 10)
    Y = rng.standard_normal((12, 70))
    layers = [(D1, pc.L1(0.05)), (D2, pc.L1(0.1))]
    out = pc.solve(pc.chain(da.from_array(Y, chunks=(12, 25)), layers), method="ml-fista",
                   tol=1e-7, max_iter=3000).compute()
    assert len(out.codes) == 2 and out.codes[-1] is out.x
    for i, (lo, hi) in enumerate([(0, 25), (25, 50), (50, 70)]):
        ref = _single("ml-fista", Y[:, lo:hi], layers, tol=1e-7, max_iter=3000)
        assert out.n_iter[i] == ref.n_iter and out.converged[i] == ref.converged
        np.testing.assert_allclose(out.x[:, lo:hi], ref.x, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out.codes[0][:, lo:hi], ref.codes[0], rtol=1e-10, atol=1e-12)
        assert out.objective[i] == pytest.approx(ref.objective, rel=1e-12)
    assert out.converged.all()


def test_float32_is_preserved(client, rng):
    D = _dictionary(rng, 10, 20, np.float32)
    Y = rng.standard_normal((10, 30)).astype(np.float32)
    res = pc.solve(pc.chain(da.from_array(Y, chunks=(10, 16)), [(D, pc.L1(0.2))]), method="ista", tol=0, max_iter=40)
    assert res.x.dtype == np.float32
    out = res.compute()
    ref = _single("ista", Y, [(D, pc.L1(0.2))], tol=0, max_iter=40)
    assert out.x.dtype == ref.x.dtype == np.float32
    np.testing.assert_allclose(out.x, ref.x, rtol=1e-5, atol=1e-6)


def test_several_batch_axes_and_a_dask_x0(client, rng):
    D = _dictionary(rng, 8, 12)
    Y = rng.standard_normal((8, 4, 9))
    x0 = rng.standard_normal((12, 4, 9))
    res = pc.solve(pc.chain(da.from_array(Y, chunks=(8, 2, 5)), [(D, pc.L1(0.1))]), method="fista",
                   tol=0, max_iter=30, x0=da.from_array(x0, chunks=(6, 3, 3)))
    assert res.n_iter.shape == (2, 2) and res.x.chunks[1:] == ((2, 2), (5, 4))
    out = res.compute()
    ref = _single("fista", Y, [(D, pc.L1(0.1))], tol=0, max_iter=30, x0=x0)
    np.testing.assert_allclose(out.x, ref.x, rtol=1e-11, atol=1e-12)


def test_lazy_until_computed(client, rng):
    def broken(block):
        raise RuntimeError("computed too early")

    Y = da.zeros((6, 20), chunks=(6, 10)).map_blocks(broken, dtype=float)
    res = pc.solve(pc.chain(Y, [(_dictionary(rng, 6, 8), pc.L1(0.1))]), method="fista")  # builds, runs nothing
    with pytest.raises(RuntimeError, match="computed too early"):
        res.x.compute()


def test_the_problem_is_scattered_once(client, rng, monkeypatch):
    calls = []
    scatter = type(client).scatter

    def spy(self, data, **kwargs):
        futures = scatter(self, data, **kwargs)
        calls.append((futures, kwargs))
        return futures

    monkeypatch.setattr(type(client), "scatter", spy)
    D = _dictionary(rng, 32, 64)
    Y = rng.standard_normal((32, 120))
    # The cluster's Active Memory Manager (on by default, every 2 s) drops the extra replicas of a key that
    # no task waits on yet, as here until .compute(): stopped, so that what is counted is what was scattered.
    client.amm.stop()
    try:
        res = pc.solve(pc.chain(da.from_array(Y, chunks=(32, 10)), [(D, pc.L1(0.2))]), method="fista", max_iter=20)
        assert len(calls) == 1 and calls[0][1].get("broadcast") is True  # once, to every worker, for 12 chunks
        [template] = calls[0][0]
        assert len(client.who_has([template])[template.key]) == 2
    finally:
        client.amm.start()
    ref = _single("fista", Y[:, :10], [(D, pc.L1(0.2))], max_iter=20)
    np.testing.assert_allclose(res.x[:, :10].compute(), ref.x, rtol=1e-11, atol=1e-12)
    # the dictionary is not copied into the task graph: its pickled size is far below D's
    import pickle

    graph = dict(res.x.__dask_graph__())
    sizes = [len(pickle.dumps(v)) for k, v in graph.items() if not str(k).startswith("array-")]
    assert max(sizes) < D.nbytes / 4


# ---------------------------------------------------------------------- bad input
def test_bad_input_names_the_argument(client, rng):
    D = _dictionary(rng, 4, 6)
    Y = da.from_array(rng.standard_normal((4, 10)), chunks=(4, 5))
    problem = pc.chain(Y, [(D, pc.L1(0.1))])
    with pytest.raises(pc.InvalidParameterError, match="'callback'"):
        pc.solve(problem, method="fista", callback=lambda s: None)
    with pytest.raises(pc.InvalidParameterError, match="'target'"):
        pc.solve(problem, method="fista", target=1.0)
    with pytest.raises(pc.InvalidParameterError, match="'tol'"):  # checked on the client, by the engine
        pc.solve(problem, method="fista", tol=-1.0)
    with pytest.raises(pc.InvalidParameterError, match="fista"):
        pc.solve(problem, method="fistaa")
    with pytest.raises(pc.InvalidParameterError, match="'client'"):
        pc.solve(problem, method="fista", client="tcp://nowhere")
    with pytest.raises(pc.InvalidParameterError, match="'x0'"):
        pc.solve(problem, method="fista", x0=np.zeros((6, 9)))
    with pytest.raises(pc.InvalidParameterError, match="Complex data.*input y"):
        pc.chain(Y.astype(complex), [(D, pc.L1(0.1))])
    with pytest.raises(pc.InvalidParameterError, match="no batch axis"):
        pc.solve(pc.chain(da.ones(4, chunks=2), [(D, pc.L1(0.1))]), method="fista")
    bad = np.ones((4, 10))
    bad[2, 7] = np.nan  # found on the worker that solves its chunk, named as the argument
    with pytest.raises(pc.InvalidParameterError, match="Input y contains NaN"):
        pc.solve(pc.chain(da.from_array(bad, chunks=(4, 5)), [(D, pc.L1(0.1))]), method="fista").x.compute()
    ints = pc.chain(da.from_array(np.arange(40).reshape(4, 10), chunks=(4, 5)), [(D, pc.L1(0.1))])
    assert ints.y.dtype == np.float64


# ---------------------------------------------------------------------- faults and memory
def _worker_pids(client):
    return client.run(os.getpid)


def test_a_worker_killed_mid_run_loses_no_result(client, rng):
    D = _dictionary(rng, 48, 96)
    Y = rng.standard_normal((48, 2400))
    res = pc.solve(pc.chain(da.from_array(Y, chunks=(48, 200)), [(D, pc.L1(0.2))]), method="fista",
                   tol=0, max_iter=250)
    future = client.compute(res.x)

    def solved(dask_scheduler):  # chunks solved and held in memory, by worker (the scheduler fuses the tasks
        held = {}  # of one chunk: reading, solving and taking x make one task)
        for ts in dask_scheduler.tasks.values():
            if ts.state == "memory" and not str(ts.key).startswith("_Template"):
                for ws in ts.who_has:
                    held[ws.address] = held.get(ws.address, 0) + 1
        return held

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        held = client.run_on_scheduler(solved)
        if held and max(held.values()) >= 2:
            break
        time.sleep(0.02)
    assert not future.done(), "the run finished before a worker could be killed: make the chunks slower"
    victim = max(held, key=held.get)
    os.kill(_worker_pids(client)[victim], signal.SIGKILL)  # the nanny starts a new worker
    x = future.result(timeout=120)
    ref = _single("fista", Y, [(D, pc.L1(0.2))], tol=0, max_iter=250)
    np.testing.assert_allclose(x, ref.x, rtol=1e-10, atol=1e-12)
    client.wait_for_workers(2, timeout=60)


def test_worker_memory_is_bounded_by_the_chunk_not_the_data(client):
    n, m, chunk, N = 32, 64, 2000, 200_000
    D = _dictionary(np.random.default_rng(1), n, m)

    def solve_all(N):
        Y = da.random.default_rng(0).standard_normal((n, N), chunks=(n, chunk))
        res = pc.solve(pc.chain(Y, [(D, pc.L1(0.2))]), method="fista", tol=0, max_iter=5)
        return float(abs(res.x).sum().compute())

    def peak_rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # bytes (Linux reports KiB)

    solve_all(8 * chunk)  # warm-up: kernels compiled, one chunk's working set reached
    before = client.run(peak_rss)
    assert solve_all(N) > 0
    after = client.run(peak_rss)
    data_bytes = (n + m) * N * 8  # Y and x: 154 MB
    chunk_bytes = (n + m) * chunk * 8  # 1.5 MB
    growth = max(after[w] - before[w] for w in after)
    assert growth < max(data_bytes / 8, 12 * chunk_bytes), (growth, data_bytes, chunk_bytes)


# ---------------------------------------------------------------------- the command line
def _spec(folder, D):
    np.save(folder / "D.npy", D)
    (folder / "model.toml").write_text(
        '[[layer]]\ndictionary = { name = "matrix", path = "D.npy" }\nregularizer = { name = "l1", lam = 0.2 }\n'
        '[solver]\nmethod = "fista"\nmax_iter = 500\ntol = 1e-9\n'
    )
    return folder / "model.toml"


def test_cli_with_scheduler_npy_in_npz_out(client, cluster, rng, tmp_path, capsys, monkeypatch):
    from proxcore.cli import main

    D = _dictionary(rng, 10, 20)
    Y = rng.standard_normal((10, 50))
    spec = _spec(tmp_path, D)
    np.save(tmp_path / "Y.npy", Y)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # show the progress bar
    code = main(["solve", str(spec), "--data", str(tmp_path / "Y.npy"), "--scheduler", cluster.scheduler_address,
                 "--chunk-size", "20", "--out", str(tmp_path / "out.npz")])
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "in 3 chunk(s)" in captured.out and "converged  True (3 of 3 chunks)" in captured.out
    assert "100% Completed" in captured.err  # the progress bar
    saved = np.load(tmp_path / "out.npz")
    for lo, hi in [(0, 20), (20, 40), (40, 50)]:
        ref = _single("fista", Y[:, lo:hi], [(D, pc.L1(0.2))], max_iter=500, tol=1e-9)
        np.testing.assert_allclose(saved["x"][:, lo:hi], ref.x, rtol=1e-10, atol=1e-12)
    assert saved["n_iter"].shape == (3,) and saved["converged"].all()


def test_cli_with_scheduler_zarr_in_zarr_out(client, cluster, rng, tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    from proxcore.cli import main

    D = _dictionary(rng, 10, 20)
    Y = rng.standard_normal((10, 45))
    spec = _spec(tmp_path, D)
    da.from_array(Y, chunks=(10, 15)).to_zarr(str(tmp_path / "Y.zarr"))
    code = main(["solve", str(spec), "--data", str(tmp_path / "Y.zarr"), "--scheduler", cluster.scheduler_address,
                 "--out", str(tmp_path / "out.zarr"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "in 3 chunk(s)" in captured.out and "Completed" not in captured.err
    x = zarr.open_array(str(tmp_path / "out.zarr"), path="x", mode="r")[...]
    ref = _single("fista", Y[:, :15], [(D, pc.L1(0.2))], max_iter=500, tol=1e-9)
    np.testing.assert_allclose(x[:, :15], ref.x, rtol=1e-10, atol=1e-12)


def test_cli_scheduler_errors_are_one_line(cluster, tmp_path, capsys, rng):
    from proxcore.cli import main

    spec = _spec(tmp_path, _dictionary(rng, 4, 6))
    assert main(["solve", str(spec), "--data", str(tmp_path / "nope.npy"), "--scheduler", cluster.scheduler_address,
                 "--out", str(tmp_path / "o.npz")]) == 2
    assert "--data: no such file" in capsys.readouterr().err
    np.save(tmp_path / "Y.npy", np.ones((4, 3)))
    assert main(["solve", str(spec), "--data", str(tmp_path / "Y.npy"), "--scheduler", cluster.scheduler_address,
                 "--chunk-size", "0", "--out", str(tmp_path / "o.npz")]) == 2
    assert "--chunk-size" in capsys.readouterr().err


def test_docs_page_runs(tmp_path, monkeypatch):
    import pathlib
    import re

    pytest.importorskip("zarr")
    text = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "dask.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) == 3
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(compile(block, "docs/dask.md:example", "exec"), namespace)
    assert namespace["converged"].shape == (4,) and namespace["x_part"].shape == (64, 5)
    assert os.path.isdir(namespace["out"])
