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

import importlib.util
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import datasets
import datasets.prepare
import models
from bench import runner, transfer
from bench.config import Cell, Resources, Suite
from results import store
from results.errors import UserError
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
    """This machine: ``jobs`` 1 is this process, one cell after another (cells of other
    backends in a child per backend); more run that many cells at once in child processes
    (``bench.parallel``)."""

    name = "local"

    def __init__(self, jobs: int = 1):
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise UserError(f"jobs must be a whole number >= 1. Received: jobs={jobs!r}")
        self.jobs = jobs

    def run_suite(self, suite: Suite, run_dir: Path, **kwargs) -> runner.RunSummary:
        if self.jobs == 1:
            return runner.run_suite(suite, run_dir, **kwargs)
        from bench import parallel

        return parallel.run_suite(suite, run_dir, self.jobs, **kwargs)


_WORKER_DATA: dict = {}  # a Ray worker process keeps its last corpus for the next cell


def train_cell(
    cell: Cell, prepared: str, verbose: int, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train one cell in a temporary run directory; its record and files, to ship back.

    Runs inside a Ray worker (any node), reading the corpus the driver prepared
    (``prepared``: its folder, which every node sees, or a URI each node stages once,
    ``datasets.remote``); a worker never decodes a source.
    ``source``: the payload of the cell whose model ``@EXPERIMENT`` transfer starts from (Ray
    hands it over once that cell's task has returned); its model files are placed in the
    temporary run directory, where ``transfer.resolve`` finds them, and are not shipped back.
    Returns ``{"result": CellResult.to_dict(), "files": {path relative to the run directory:
    bytes}}``.
    """
    from datasets import prepare

    runner._enable_determinism()
    if prepared not in _WORKER_DATA:
        _WORKER_DATA.clear()
        _WORKER_DATA[prepared] = prepare.open_prepared(prepared)
    tmp = Path(tempfile.mkdtemp(prefix="resdepth-cell-"))
    try:
        placed = _place_models(tmp, source)
        result = runner.run_cell(cell, _WORKER_DATA[prepared], tmp, verbose=verbose)
        files = {
            rel: p.read_bytes()
            for p in sorted(tmp.rglob("*"))
            if p.is_file() and ".tmp" not in p.name
            and (rel := str(p.relative_to(tmp))) not in placed
        }  # fmt: skip
        return {"result": result.to_dict(), "files": files}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _place_models(run_dir: Path, source: dict[str, Any] | None) -> set[str]:
    """Write the saved-model files of a returned ``source`` payload into ``run_dir``."""
    if not source:
        return set()
    models = {rel: data for rel, data in source["files"].items() if rel.startswith("models/")}
    for rel, data in models.items():
        store.write_atomic(run_dir / rel, data)
    return set(models)


def source_payload(run_dir: Path, cell_id: str) -> dict[str, Any] | None:
    """A finished cell's saved model from ``run_dir``, as its task would have returned it
    (a resumed run's transfer source), or None when it saved none."""
    path = store.model_path(run_dir, cell_id)
    if not path.is_file():
        return None
    files = [path, path.with_suffix(".json")]
    return {"files": {str(p.relative_to(run_dir)): p.read_bytes() for p in files if p.is_file()}}


def cell_resources(cell: Cell, resources: Resources) -> dict[str, Any]:
    """What one cell's Ray task asks for: the suite's ``[resources]``, GPUs from the cell.

    A cell placed on a GPU (``device = "gpu"``) asks for one GPU per replica; a suite's
    ``num_gpus`` sets the GPUs of every one-replica cell instead (``0.25``: four small cells
    share a GPU) and of cells on any device. Ray shows each task only the GPUs it was given.
    """
    gpus = resources.num_gpus
    if cell.replicas > 1 and (gpus or cell.device == "gpu"):
        gpus = cell.replicas  # data parallelism needs whole devices
    elif not gpus and cell.device == "gpu":
        gpus = 1
    return {"num_cpus": resources.num_cpus, "num_gpus": gpus, "memory": resources.memory}


def forwarded_env() -> dict[str, str]:
    """This process's ``RESDEPTH_*`` variables (data folders, prepared copies, cache), which
    every worker gets, so a cell reads the data the driver was told of."""
    return {k: v for k, v in os.environ.items() if k.startswith("RESDEPTH_")}


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
    jobs = 1  # how many run at once is the cluster's to say
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
            raise UserError(RAY_MISSING)
        if max_retries < 0:
            raise UserError(f"max_retries must be >= 0. Received: max_retries={max_retries}")
        self.address = address
        self.max_retries = max_retries
        self.runtime_env = runtime_env or {}
        self.init = init or {}

    def _task(self, ray, suite: Suite, cell: Cell, backend: str):
        env = {
            **forwarded_env(),
            **runner.CHILD_ENV.get(backend, {}),
            **self.runtime_env.get("env_vars", {}),
        }
        env["KERAS_BACKEND"] = backend
        asks = cell_resources(cell, suite.resources)
        return ray.remote(
            **asks,
            # Every cell gets a fresh worker: a framework binds the devices it first sees, and a
            # reused worker's memory would carry one cell's host RSS into the next cell's peak
            # (a quick run read 6.4 GB on Ray against 3.7 GB locally). Costs a process start
            # and the framework import per cell.
            max_calls=1,
            max_retries=self.max_retries,
            retry_exceptions=False,  # run_cell records a cell's own errors; only deaths retry
            runtime_env={**self.runtime_env, "env_vars": env},
        )(self.cell_function)

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
        pending: dict = {}
        prepared: dict = {}
        submitted: dict = {}  # cell id -> its task's ObjectRef
        try:
            todo, statuses, resumed = runner.unfinished(suite, run_dir, progress)
            for cell in todo:
                corpus = (cell.dataset, cell.dataset_options)
                if corpus not in prepared:  # once, here: workers only read the shards
                    prepared[corpus] = str(
                        datasets.prepare.prepare(
                            cell.dataset, dict(cell.dataset_options), data_dir, cache_dir, log=log
                        )
                    )
                task = self._task(ray, suite, cell, cell.backend or here)
                # @EXPERIMENT transfer: the source cell's task result (Ray starts this task once
                # it is there), or its model from the run directory when it finished earlier
                src = transfer.source_cell(cell)
                source = None
                if src in submitted:
                    source = submitted[src]
                elif src is not None:
                    source = source_payload(run_dir, src)
                ref = task.remote(cell, prepared[corpus], 0 if verbose == 0 else 2, source)
                pending[ref] = cell
                submitted[cell.id] = ref
            log(f"{len(pending)} cells submitted to Ray ({resumed} already done)")
            slots = _slots(ray, suite, list(pending.values()))
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
            error = f"Ray task failed after {tries} attempt(s): {cause}"
            src = transfer.source_cell(cell)
            record = store.cell_path(run_dir, src) if src else None
            if record and not (record.is_file() and store.read_result(record).ok):
                error = f"its transfer source {src} did not finish ({cause})"  # no argument came
            result = failed_cell(cell, error, traceback.format_exc())
            store.write_result(run_dir, result)
            return result


def _slots(ray, suite: Suite, cells: list[Cell]) -> int:
    """How many of ``cells`` fit on the cluster at once (its CPUs, and GPUs where asked; by
    the largest ask); 0 when none does (an autoscaling cluster may still add a node that fits)."""
    total = ray.cluster_resources()
    fit = int(total.get("CPU", 1) // suite.resources.num_cpus)
    gpus = max((cell_resources(c, suite.resources)["num_gpus"] for c in cells), default=0)
    if gpus:
        fit = min(fit, int(total.get("GPU", 0) // gpus))
    return fit


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def get(name: str, *, address: str | None = None, jobs: int = 1, **options) -> Executor:
    """The executor called ``name`` (``local`` takes no address, ``ray`` no jobs)."""
    if name not in EXECUTORS:
        raise UserError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    if name == "local":
        if address is not None:
            raise UserError("--address is for --executor ray only")
        return LocalExecutor(jobs)
    if jobs != 1:
        raise UserError("--jobs is for --executor local; a Ray cluster runs what fits on it")
    return EXECUTORS[name](address, **options)
