"""Solving batches on a Dask cluster: the ordinary batched engine mapped over chunks.

``pc.chain(Y, layers)`` accepts a :class:`dask.array.Array` ``Y`` whose
leading axes are one signal and whose trailing (batch) axes are chunked.
``pc.solve(problem, method=..., **options)`` then builds, on the current
:class:`distributed.Client`, one task per chunk that solves that chunk's
signals with the registered pursuit ``method`` (exactly the single-process
engine, on a batch of the chunk's size) and returns a :class:`DaskResult`:
``x``, every code, the per-signal convergence flags and gaps are lazy
``dask.array``\\ s chunked like ``Y`` along the batch, and the convergence
information (``n_iter``, ``converged``, ``status``, ``objective``, ``step``,
``message``) has one entry per chunk. Nothing runs until something is
computed; computing several of these together (``dask.compute``,
:meth:`DaskResult.compute`, :meth:`DaskResult.persist`, ``da.store``) solves
every chunk once.

The problem without its data (the graph: dictionaries, regularizers) is
scattered once to every worker (``client.scatter(..., broadcast=True)``) and
every chunk's task refers to that one copy. (Until something is computed, no
task waits on it, and the cluster's Active Memory Manager, if on, may drop the
extra replicas; a worker then fetches it once, from a peer, when its first
chunk starts.) A chunk whose worker dies is
solved again elsewhere by Dask (its inputs are in the task graph or
replicated). A worker holds one chunk's data and codes at a time per thread,
whatever the size of ``Y``, as long as the results are streamed (``da.store``,
``to_zarr``, reductions) rather than gathered.

This module imports Dask only inside its functions: ``import proxcore``
never imports it, and :func:`is_dask_array` only looks at modules already
loaded.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import warnings

import numpy as np

from ._validation import InvalidParameterError

__all__ = ["DaskResult", "is_dask_array", "is_dask_problem", "solve"]

#: options that have no meaning chunk by chunk
_REFUSED = {
    "callback": "a callback would run on the workers, one chunk at a time, and its effects would be lost",
    "target": "a target objective applies to the whole batch, but every chunk stops on its own",
}


def is_dask_array(a) -> bool:
    """True when ``a`` is a ``dask.array.Array`` (never imports Dask: one that is not loaded made none)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(a, module.Array)


def is_dask_problem(problem) -> bool:
    """True when some data node of ``problem`` carries a ``dask.array`` (``pc.solve`` then uses this module)."""
    graph = getattr(problem, "graph", None)
    nodes = getattr(problem, "data_nodes", None)
    if graph is None or nodes is None or "dask.array" not in sys.modules:
        return False
    return any(is_dask_array(graph.nodes[d]["loss"].y) for d in nodes)


def check_dask_array(a, name, *, min_ndim=None):
    """The lazy counterpart of :func:`proxcore._validation.check_array`: checks dtype and shape, computes nothing.

    Integers and booleans become float64 and float16 float32 (lazily, chunk by
    chunk); complex and non-numeric dtypes, unknown chunk sizes and too few
    dimensions are refused naming ``name``. Finiteness is checked chunk by
    chunk on the workers, by the ordinary :func:`check_array`.
    """
    kind = a.dtype.kind
    if kind == "c":
        raise InvalidParameterError(f"Complex data not supported: input {name} has dtype {a.dtype}.")
    if kind not in "fiub":
        raise InvalidParameterError(f"Input {name} must be numeric; got a dask array of dtype {a.dtype}.")
    if any(isinstance(s, float) and math.isnan(s) for s in a.shape):
        raise InvalidParameterError(
            f"Input {name} is a dask array of unknown shape {a.shape}; call {name}.compute_chunk_sizes() first."
        )
    if min_ndim is not None and a.ndim < min_ndim:
        raise InvalidParameterError(f"Input {name} must have at least {min_ndim} dimension(s); got shape {a.shape}.")
    if kind in "iub":
        a = a.astype(np.float64)
    elif a.dtype == np.float16:
        a = a.astype(np.float32)
    elif a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return a


# ---------------------------------------------------------------------- the per-chunk work
class _Template:
    """The problem without its data: what is scattered to the workers once."""

    def __init__(self, problem):
        graph = problem.graph.copy()
        for d in problem.data_nodes:
            del graph.nodes[d]["loss"]
        self.graph = graph
        self.data_nodes = list(problem.data_nodes)

    def problem(self, blocks):
        from .losses import LeastSquares
        from .problem import Problem

        graph = self.graph.copy()
        for d, y in zip(self.data_nodes, blocks):
            graph.nodes[d]["loss"] = LeastSquares(y)
        return Problem(graph)


def _solve_block(template, method, options, n_data, *blocks):
    """Solve one chunk on a worker: the registered pursuit on the chunk's problem, as in one process."""
    from .engines import pursuit
    from ._validation import ConvergenceWarning

    data, rest = blocks[:n_data], blocks[n_data:]
    if rest:  # x0's block
        options = dict(options, x0=rest[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the status per chunk says it
        return pursuit(method)(template.problem(data), **options)


def _field(result, name, shape, dtype):
    """One array field of a chunk's result, as an ndarray of ``shape`` (NaN when the engine gives none)."""
    value = getattr(result, name)
    if value is None:
        return np.full(shape, np.nan, dtype=dtype)
    return np.asarray(value, dtype=dtype).reshape(shape)


def _code(result, i):
    return np.asarray(result.codes[i])


def _scalar(result, name, ndim, dtype):
    value = getattr(result, name)
    out = np.empty((1,) * ndim, dtype=dtype)
    out.flat[0] = (np.nan if value is None else value) if dtype != object else value
    return out


# ---------------------------------------------------------------------- the result
@dataclasses.dataclass(frozen=True, eq=False)
class DaskResult:
    """What ``pc.solve`` returns for a problem whose data is a ``dask.array``.

    The fields of :class:`proxcore.Result`, chunk by chunk. Each is a lazy
    ``dask.array`` until :meth:`compute` (then NumPy arrays) or
    :meth:`persist` (then Dask arrays held on the workers).

    Attributes
    ----------
    x, codes :
        The deepest code and every code (shallowest first, ``codes[-1]`` is
        ``x``), shape ``in_shape + batch``, chunked like the data along the batch.
    signal_converged, gap :
        Per signal (batch shape); ``gap`` is NaN where the engine computes no duality gap.
    n_iter, converged, status, objective, step, message :
        One entry per chunk: an array whose shape is the chunk grid of the
        batch axes (``numblocks``). ``objective.sum()`` is the batch total
        (the single-process ``res.objective``); ``converged.all()`` is the
        single-process ``res.converged``; ``status`` holds
        :class:`proxcore.Status` values.
    chunks :
        The batch axes' chunks, as in ``dask.array.Array.chunks``.
    history :
        Empty: per-iteration histories stay on the workers (each chunk runs
        its own number of iterations).
    """

    x: object
    codes: tuple
    signal_converged: object
    gap: object
    n_iter: object
    converged: object
    status: object
    objective: object
    step: object
    message: object
    chunks: tuple
    history: dict = dataclasses.field(default_factory=dict)

    _ARRAYS = ("x", "signal_converged", "gap", "n_iter", "converged", "status", "objective", "step", "message")

    def _collections(self):
        return [getattr(self, name) for name in self._ARRAYS] + list(self.codes[:-1])

    def _rebuild(self, values):
        fields = dict(zip(self._ARRAYS, values))
        n = len(self._ARRAYS)
        codes = tuple(values[n:]) + (fields["x"],)
        return dataclasses.replace(self, codes=codes, **fields)

    def compute(self, **kwargs) -> DaskResult:
        """Everything as NumPy arrays, every chunk solved once (``dask.compute`` of all fields)."""
        import dask

        return self._rebuild(dask.compute(*self._collections(), **kwargs))

    def persist(self, **kwargs) -> DaskResult:
        """Everything solved and kept on the workers as Dask arrays (``dask.persist`` of all fields)."""
        import dask

        return self._rebuild(dask.persist(*self._collections(), **kwargs))

    def __repr__(self):
        kind = "lazy" if is_dask_array(self.x) else "computed"
        return f"<DaskResult ({kind}) x {self.x.shape} in {math.prod(len(c) for c in self.chunks)} chunk(s)>"


# ---------------------------------------------------------------------- solve
def _get_client(client):
    try:
        from distributed import Client, default_client
    except ImportError:  # pragma: no cover - dask without distributed
        raise InvalidParameterError(
            "solving a dask-backed problem needs dask.distributed: pip install 'proxcore[dask]'."
        ) from None
    if client is not None:
        if not isinstance(client, Client):
            raise InvalidParameterError(f"The 'client' parameter of solve must be a distributed.Client; got {client!r}.")
        return client
    try:
        return default_client()
    except ValueError:
        raise InvalidParameterError(
            "this problem's data is a dask array but there is no Dask client: start one first "
            "(from distributed import Client; client = Client(address)), or pass client=."
        ) from None


def solve(problem, method="fista", *, client=None, **options) -> DaskResult:
    """Solve every chunk of a dask-backed ``problem`` with the pursuit ``method`` on the client's workers.

    Called by ``pc.solve`` when the problem's data is a ``dask.array``; see
    the module docstring. ``options`` are the pursuit's (``max_iter``,
    ``tol``, ``step``, ...; ``x0`` may be a NumPy or Dask array of the
    codes' shape); ``callback`` and ``target`` are refused (they concern the
    whole batch, and every chunk stops on its own). They are checked here,
    by the engine itself on an empty batch, before any task is built.

    Returns
    -------
    DaskResult
        Lazy: nothing is solved until its arrays are computed.
    """
    import dask
    import dask.array as da

    from .engines import pursuit

    for name, why in _REFUSED.items():
        if options.get(name) is not None:
            raise InvalidParameterError(f"The {name!r} parameter is not supported on a dask-backed problem: {why}.")
    solver = pursuit(method)  # an unknown name fails here, with suggestions
    client = _get_client(client)
    graph = problem.graph
    shapes = [tuple(problem.shapes[d]) for d in problem.data_nodes]
    batch_ndim = len(problem.batch_shape)
    if batch_ndim == 0:
        raise InvalidParameterError(
            "The 'y' parameter holds a single signal (no batch axis) as a dask array; Dask chunks the batch "
            "axes, so give y at least one trailing batch axis."
        )
    ys = [graph.nodes[d]["loss"].y for d in problem.data_nodes]
    first = next(y for y in ys if is_dask_array(y))
    batch_chunks = first.chunks[len(shapes[ys.index(first)]):]
    blocks = []
    for y, shape in zip(ys, shapes):
        chunks = tuple((s,) for s in shape) + batch_chunks
        y = y.rechunk(chunks) if is_dask_array(y) else da.from_array(np.asarray(y), chunks=chunks)
        blocks.append(y)
    x0 = options.pop("x0", None)
    in_shape = problem.in_shape
    if x0 is not None:
        expected = in_shape + problem.batch_shape
        if tuple(x0.shape) != expected:
            raise InvalidParameterError(f"The 'x0' parameter of {method} must have shape {expected}; got {x0.shape}.")
        chunks = tuple((s,) for s in in_shape) + batch_chunks
        x0 = x0.rechunk(chunks) if is_dask_array(x0) else da.from_array(np.asarray(x0), chunks=chunks)
    # the options checked by the engine itself, on an empty batch (and operator norms cached before scattering)
    template = _Template(problem)
    empty = [np.zeros(shape + (0,), dtype=y.dtype) for y, shape in zip(blocks, shapes)]
    dry_options = dict(options)
    if x0 is not None:
        dry_options["x0"] = np.zeros(in_shape + (0,), dtype=x0.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = solver(template.problem(empty), **dry_options)
    code_specs = [(tuple(np.shape(c))[:-1], np.asarray(c).dtype) for c in probe.codes]
    x_dtype = np.asarray(probe.x).dtype

    [template_future] = client.scatter([template], broadcast=True, hash=False)
    n_data = len(blocks)
    delayed_blocks = [b.to_delayed() for b in blocks]
    x0_blocks = x0.to_delayed() if x0 is not None else None
    grid = tuple(len(c) for c in batch_chunks)
    per_code = [np.empty(grid, dtype=object) for _ in code_specs]
    fields = {name: np.empty(grid, dtype=object) for name in ("signal_converged", "gap")}
    scalars = {name: np.empty(grid, dtype=object) for name in DaskResult._ARRAYS[3:]}
    scalar_dtypes = {"n_iter": np.int64, "converged": bool, "status": np.int64, "objective": np.float64,
                     "step": np.float64, "message": object}
    token = dask.base.tokenize(template_future.key, method, options, *blocks, x0)
    solve_one = dask.delayed(_solve_block, pure=True)
    for index in np.ndindex(*grid):
        args = [db[(0,) * len(shape) + index] for db, shape in zip(delayed_blocks, shapes)]
        if x0_blocks is not None:
            args.append(x0_blocks[(0,) * len(in_shape) + index])
        batch = tuple(batch_chunks[a][i] for a, i in enumerate(index))
        result = solve_one(template_future, method, options, n_data, *args,
                           dask_key_name=f"proxcore-solve-{token}-{'-'.join(map(str, index))}")
        for i, (shape, dtype) in enumerate(code_specs):
            per_code[i][index] = da.from_delayed(dask.delayed(_code, pure=True)(result, i), shape + batch, dtype=dtype)
        fields["signal_converged"][index] = da.from_delayed(
            dask.delayed(_field, pure=True)(result, "signal_converged", batch, bool), batch, dtype=bool)
        fields["gap"][index] = da.from_delayed(
            dask.delayed(_field, pure=True)(result, "gap", batch, np.float64), batch, dtype=np.float64)
        for name, dtype in scalar_dtypes.items():
            scalars[name][index] = da.from_delayed(
                dask.delayed(_scalar, pure=True)(result, name, batch_ndim, dtype), (1,) * batch_ndim, dtype=dtype)

    def assemble(parts, lead):
        # parts: an object array over the batch grid; lead: leading (signal) axes to add to the nesting
        nested = parts.tolist()
        for _ in range(lead):
            nested = [nested]
        return da.block(nested)

    codes = tuple(assemble(parts, len(shape)) for parts, (shape, _) in zip(per_code, code_specs))
    x = codes[-1]
    if x.dtype != x_dtype:  # pragma: no cover - codes[-1] is x in every engine
        x = x.astype(x_dtype)
    return DaskResult(
        x=x,
        codes=codes,
        signal_converged=assemble(fields["signal_converged"], 0),
        gap=assemble(fields["gap"], 0),
        chunks=batch_chunks,
        **{name: assemble(scalars[name], 0) for name in scalar_dtypes},
    )


# ---------------------------------------------------------------------- the command line
class NpyFile:
    """A ``.npy`` file as a lazy array for ``dask.array.from_array``: each task memory-maps the file itself.

    Pickles as its path (a ``np.memmap`` would pickle as a copy of the data),
    so a chunk's task reads only that chunk's bytes, on the worker. The path
    must be readable by the workers (the same machine or a shared file system).
    """

    def __init__(self, path):
        self.path = str(path)
        mapped = np.load(self.path, mmap_mode="r", allow_pickle=False)
        self.shape, self.dtype, self.ndim = mapped.shape, mapped.dtype, mapped.ndim

    def __getitem__(self, key):
        return np.array(np.load(self.path, mmap_mode="r", allow_pickle=False)[key])

    def __getstate__(self):
        return {"path": self.path, "shape": self.shape, "dtype": self.dtype, "ndim": self.ndim}


def open_data(path, chunk_size=None):
    """A ``.npy`` file (memory-mapped) or a Zarr array as a ``dask.array``, chunked along the last axis.

    ``chunk_size`` (signals per chunk) rechunks the last axis; the default
    keeps a Zarr array's own chunks and gives a ``.npy`` chunks of about 64 MB.
    Errors name ``--data``.
    """
    import os

    import dask.array as da

    if not os.path.exists(path):
        raise InvalidParameterError(f"--data: no such file {path!r}.")
    if os.path.isdir(path) or str(path).rstrip("/").endswith(".zarr"):
        try:
            y = da.from_zarr(str(path))
        except ImportError:
            raise InvalidParameterError("--data: reading Zarr needs zarr: pip install 'proxcore[zarr]'.") from None
        except Exception as exc:  # zarr raises many kinds
            raise InvalidParameterError(f"--data: cannot read {path!r} as a Zarr array ({exc}).") from None
        if chunk_size is not None:
            y = y.rechunk({y.ndim - 1: chunk_size})
        return y
    try:
        source = NpyFile(path)
    except (OSError, ValueError) as exc:
        raise InvalidParameterError(f"--data: cannot read {path!r} as a .npy array ({exc}).") from None
    if source.ndim == 0:
        raise InvalidParameterError(f"--data: {path!r} holds a scalar; signals go in columns.")
    if chunk_size is None:
        per_signal = max(math.prod(source.shape[:-1]) * source.dtype.itemsize, 1)
        chunk_size = max(1, min(source.shape[-1], (64 << 20) // per_signal))
    chunks = source.shape[:-1] + (chunk_size,)
    return da.from_array(source, chunks=chunks, asarray=True, fancy=False, name=f"npy-{_file_token(path)}")


def _file_token(path):
    import os

    import dask

    stat = os.stat(path)
    return dask.base.tokenize(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


def cli_solve(args, spec, options, base_dir) -> int:
    """``proxcore solve SPEC --data Y --scheduler ADDRESS --out OUT``: the run on a Dask scheduler.

    ``--out`` ending in ``.zarr`` streams ``x`` and every code to a Zarr store
    chunk by chunk (nothing gathered); anything else is an ``.npz`` gathered
    on this machine, as without ``--scheduler``. A progress bar counts the
    tasks on stderr (on a terminal, unless ``--quiet``).
    """
    import contextlib
    import time

    from distributed import Client, progress

    from .problem import Problem

    if args.chunk_size is not None and args.chunk_size < 1:
        raise InvalidParameterError(f"--chunk-size must be a positive number of signals; got {args.chunk_size}.")
    try:
        client = Client(args.scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InvalidParameterError(f"--scheduler: cannot connect to {args.scheduler!r} ({exc}).") from None
    try:
        Y = open_data(args.data, args.chunk_size)
        problem = Problem.from_spec(spec, y=Y, base_dir=base_dir)
        method = args.method or options.pop("method", None)
        options.pop("method", None)
        if method is None:
            method = "primal-dual" if not problem.is_chain else ("fista" if len(problem.layers) == 1 else "ml-fista")
        if args.max_iter is not None:
            options["max_iter"] = args.max_iter
        if args.tol is not None:
            options["tol"] = args.tol
        start = time.perf_counter()
        res = solve(problem, method, client=client, **options)
        out = str(args.out)
        small = {"n_iter": res.n_iter, "converged": res.converged, "status": res.status,
                 "objective": res.objective, "step": res.step, "message": res.message}
        if out.rstrip("/").endswith(".zarr"):
            import dask.array as da

            big = {"x": res.x, "signal_converged": res.signal_converged, "gap": res.gap}
            big.update({f"code{i}": c for i, c in enumerate(res.codes[:-1], start=1)})
            try:
                stores = [da.to_zarr(a, out, component=name, overwrite=True, compute=False) for name, a in big.items()]
            except Exception as exc:
                raise InvalidParameterError(f"--out: cannot write {out!r} ({exc}).") from None
            names = list(small)
            futures = client.compute(stores + [small[n] for n in names])
        else:
            names = ["x", "signal_converged", "gap"] + list(small) + [f"code{i}" for i in range(1, len(res.codes))]
            collections = dict(small, x=res.x, signal_converged=res.signal_converged, gap=res.gap)
            collections.update({f"code{i}": c for i, c in enumerate(res.codes[:-1], start=1)})
            futures = client.compute([collections[n] for n in names])
        if not args.quiet and sys.stderr.isatty():
            with contextlib.redirect_stdout(sys.stderr):
                progress(futures, notebook=False)
        values = client.gather(futures)
        elapsed = time.perf_counter() - start
        if out.rstrip("/").endswith(".zarr"):
            info = dict(zip(names, values[len(values) - len(names):]))
            written = f"{out} (x, code1..code{len(res.codes) - 1 or 1}, signal_converged, gap)"
        else:
            info = dict(zip(names, values))
            arrays = dict(info, message=np.asarray(info["message"], dtype=str))
            arrays[f"code{len(res.codes)}"] = info["x"]
            try:
                np.savez(out, **arrays)
            except OSError as exc:
                raise InvalidParameterError(f"--out: cannot write {out!r} ({exc.strerror or exc}).") from None
            written = f"{out} (x, code1..code{len(res.codes)}, per-chunk n_iter/converged/status/objective)"
    finally:
        client.close()
    converged = bool(np.all(info["converged"]))
    n_chunks = int(np.size(info["converged"]))
    print(f"method     {method}")
    print(f"scheduler  {args.scheduler}")
    print(f"signals    {math.prod(problem.batch_shape)} in {n_chunks} chunk(s)")
    print(f"objective  {float(np.sum(info['objective'])):.10g}")
    print(f"iterations {int(np.max(info['n_iter'], initial=0))} (most in one chunk)")
    print(f"converged  {converged} ({int(np.count_nonzero(info['converged']))} of {n_chunks} chunks)")
    print(f"time       {elapsed:.3f} s")
    if not converged:
        first = np.flatnonzero(~np.asarray(info["converged"]).ravel())[0]
        print(f"message    chunk {first}: {np.asarray(info['message']).ravel()[first]}")
    print(f"wrote      {written}")
    return 0 if converged else 1
