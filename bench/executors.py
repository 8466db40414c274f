"""Who runs a suite's cells: ``local`` (this process, one after another) or ``ray`` (a cluster).

An executor has a ``name`` and ``run_suite(suite, run_dir, ...) -> RunSummary``;
``bench.runner.run_suite`` hands a run to it. ``local`` is the runner's own loop, unchanged.
``ray`` makes every unfinished cell one Ray task with the suite's ``[resources]``; the task trains
into a temporary directory on its node and returns the cell's result record and the bytes of
its files (tables, model and sidecar, TensorBoard events), which the driver writes atomically
into the run directory, so no filesystem is shared. A worker that dies is retried
``max_retries`` times by Ray, then its cell is recorded as ``error`` with the cause and the sweep
goes on. Ctrl-C cancels the running tasks; finished cells stay written, and a rerun resumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import shutil
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import datasets
import models
from bench import runner
from bench.config import Cell, Suite
from results import store
from results.record import CellResult, ModelInfo

RAY_MISSING = "the ray executor needs Ray: pip install 'resdepth[ray]' (or pip install ray)"


class Executor(Protocol):
    """Runs the unfinished cells of a suite into a run directory and summarizes the run."""

    name: str

    def run_suite(
        self,
        suite: Suite,
        run_dir: Path,
        *,
        data_dir: str | None,
        cache_dir: Path | None,
        verbose: int | None,
        log: Callable[[str], None],
        progress: Any,
    ) -> runner.RunSummary: ...


class LocalExecutor:
    """This process, one cell after another (cells of other backends in a child per backend)."""

    name = "local"

    def run_suite(self, suite: Suite, run_dir: Path, **kwargs) -> runner.RunSummary:
        return runner.run_suite(suite, run_dir, **kwargs)


@contextlib.contextmanager
def corpus_lock(cache_dir: str | Path | None) -> Iterator[None]:
    """Hold an exclusive lock on the corpus cache of this node while a corpus loads.

    Ray runs several cells per node at once; the first to load a corpus builds it into the cache
    and the others wait, then read it, so a corpus is built at most once per node.
    """
    root = datasets.cache_dir(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".resdepth.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_WORKER_DATA: dict = {}  # a Ray worker process keeps its last corpus for the next cell


def train_cell(
    cell: Cell, data_dir: str | None, cache_dir: str | None, verbose: int
) -> dict[str, Any]:
    """Train one cell in a temporary run directory; its record and files, to ship back.

    Runs inside a Ray worker (any node). Returns ``{"result": CellResult.to_dict(), "files":
    {path relative to the run directory: bytes}}``.
    """
    runner._enable_determinism()
    key = (cell.dataset, cell.dataset_options, data_dir, cache_dir)
    if key not in _WORKER_DATA:
        _WORKER_DATA.clear()
        with corpus_lock(cache_dir):
            _WORKER_DATA[key] = datasets.load(
                cell.dataset, dict(cell.dataset_options), data_dir, cache_dir
            )
    tmp = Path(tempfile.mkdtemp(prefix="resdepth-cell-"))
    try:
        result = runner.run_cell(cell, _WORKER_DATA[key], tmp, verbose=verbose)
        files = {
            str(p.relative_to(tmp)): p.read_bytes()
            for p in sorted(tmp.rglob("*"))
            if p.is_file() and ".tmp" not in p.name
        }
        return {"result": result.to_dict(), "files": files}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_returned(run_dir: Path, payload: dict[str, Any]) -> CellResult:
    """Write a returned cell into ``run_dir``: its files first, then its result (which marks the
    cell done), each atomically; an earlier attempt's TensorBoard events go first."""
    root = Path(run_dir).resolve()
    for rel in payload["files"]:  # all checked before anything is written
        if root not in (root / rel).resolve().parents:
            raise ValueError(f"a returned file leaves the run directory: {rel!r}")
    result = CellResult.from_dict(payload["result"], "<ray task>")
    shutil.rmtree(store.tensorboard_dir(run_dir, result.id), ignore_errors=True)
    for rel, data in payload["files"].items():
        store.write_atomic(root / rel, data)
    store.write_result(run_dir, result)
    return result


def failed_cell(cell: Cell, error: str, trace: str = "") -> CellResult:
    """The ``error`` record of a cell whose task ended without a result (worker died, cancelled)."""
    now = time.time()
    return CellResult(
        cell=cell.info(),
        model=ModelInfo(**models.describe(cell.preset, **cell.model_options)),
        status="error",
        error=error,
        traceback=trace,
        started=now,
        finished=now,
    )


class RayExecutor:
    """Every unfinished cell one Ray task; results come back to this process, which writes them.

    Args:
        address: the cluster (``auto``, ``HOST:PORT``); None starts a local Ray instance.
        max_retries: times Ray reruns a cell whose worker process or node died.
        runtime_env: merged into every task's Ray ``runtime_env`` (its ``env_vars`` too).
        init: extra ``ray.init`` keyword arguments when this executor starts Ray.
    """

    name = "ray"
    # What a task runs; a function importable on every node (tests swap in one that misbehaves).
    cell_function: Callable[..., dict[str, Any]] = staticmethod(train_cell)

    def __init__(
        self,
        address: str | None = None,
        *,
        max_retries: int = 2,
        runtime_env: dict | None = None,
        init: dict | None = None,
    ):
        if importlib.util.find_spec("ray") is None:
            raise ValueError(RAY_MISSING)
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0. Received: max_retries={max_retries}")
        self.address = address
        self.max_retries = max_retries
        self.runtime_env = runtime_env or {}
        self.init = init or {}

    def _task(self, ray, suite: Suite, backend: str):
        env = {**runner.CHILD_ENV.get(backend, {}), **self.runtime_env.get("env_vars", {})}
        env["KERAS_BACKEND"] = backend
        res = suite.resources
        return ray.remote(self.cell_function).options(
            num_cpus=res.num_cpus,
            num_gpus=res.num_gpus,
            memory=res.memory,
            max_retries=self.max_retries,
            retry_exceptions=False,  # run_cell records a cell's own errors; only deaths retry
            runtime_env={**self.runtime_env, "env_vars": env},
        )

    def run_suite(
        self,
        suite: Suite,
        run_dir: Path,
        *,
        data_dir: str | None = None,
        cache_dir: Path | None = None,
        verbose: int | None = None,
        log: Callable[[str], None] = print,
        progress: Any = None,
    ) -> runner.RunSummary:
        """Submit the unfinished cells, write each as it returns; Ctrl-C cancels the rest."""
        import ray

        t0 = time.perf_counter()
        run_dir = Path(run_dir)
        runner._claim_run_dir(run_dir, suite)
        here = runner.current_backend()
        started_ray = not ray.is_initialized()
        if started_ray:
            ray.init(address=self.address, log_to_driver=verbose != 0, **self.init)
        statuses: Counter = Counter()
        resumed = 0
        pending: dict = {}
        try:
            for cell in suite.cells():
                if store.is_done(run_dir, cell.id):
                    done = store.read_result(store.cell_path(run_dir, cell.id))
                    statuses[done.status] += 1
                    resumed += 1
                    if progress is not None:
                        progress.skipped(done)
                    continue
                task = self._task(ray, suite, cell.backend or here)
                cache = str(cache_dir) if cache_dir else None
                ref = task.remote(cell, data_dir, cache, 0 if verbose == 0 else 2)
                pending[ref] = cell
            log(f"{len(pending)} cells submitted to Ray ({resumed} already done)")
            slots = _slots(ray, suite)
            if pending and not slots:
                log(f"the cluster has less than one cell asks ({suite.resources}); the cells wait")
            while pending:
                if progress is not None:
                    progress.set_running(min(len(pending), slots))
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    cell = pending.pop(ref)
                    result = self._collect(ray, ref, cell, run_dir)
                    statuses[result.status] += 1
                    log(f"{cell.id}: {runner.headline(result)}")
                    if progress is not None:
                        progress.finished(result)
        except KeyboardInterrupt:
            log(f"interrupted: cancelling {len(pending)} Ray tasks; finished cells are kept")
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started_ray:
                ray.shutdown()
        return runner.RunSummary(run_dir, statuses, resumed, time.perf_counter() - t0)

    def _collect(self, ray, ref, cell: Cell, run_dir: Path) -> CellResult:
        """A finished task's cell, written to ``run_dir``; a task that failed -> ``error``."""
        try:
            return write_returned(run_dir, ray.get(ref))
        except Exception as err:  # noqa: BLE001 - a dead worker is one cell's error, not the sweep's
            tries = self.max_retries + 1
            cause = f"{type(err).__name__}: {err}".strip().splitlines()[0]
            result = failed_cell(
                cell, f"Ray task failed after {tries} attempt(s): {cause}", traceback.format_exc()
            )
            store.write_result(run_dir, result)
            return result


def _slots(ray, suite: Suite) -> int:
    """How many cells of ``suite`` fit on the cluster at once (its CPUs, and GPUs if asked);
    0 when none does (an autoscaling cluster may still add a node that fits)."""
    total = ray.cluster_resources()
    res = suite.resources
    fit = int(total.get("CPU", 1) // res.num_cpus)
    if res.num_gpus:
        fit = min(fit, int(total.get("GPU", 0) // res.num_gpus))
    return fit


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def get(name: str, *, address: str | None = None, **options) -> Executor:
    """The executor called ``name`` (``local`` takes no address)."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    if name == "local":
        if address is not None:
            raise ValueError("--address is for --executor ray only")
        return LocalExecutor()
    return EXECUTORS[name](address, **options)
