"""Run a suite: expand it into cells, train each, and store each result as it finishes.

Resumable: cells with a final result in the run directory are skipped, so a killed run picks up
where it stopped and loses at most the cell in flight. A cell that diverges (NaN loss) or runs out
of memory is recorded with that status and the sweep goes on; an unexpected error is recorded as
``error`` (with its traceback) and retried on the next resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import datasets
import models
from bench import devices, environment, loop, tasks, transfer
from bench.config import Cell, Suite
from bench.train import Diverged
from results import provenance, record, store
from results.errors import UserError
from results.record import CellResult, DatasetInfo, ModelInfo


def new_run_dir(suite: Suite, root: Path = Path("runs")) -> Path:
    """``runs/<UTC timestamp>-<suite>``, e.g. ``runs/20261124T101500Z-quick``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return root / f"{stamp}-{suite.name}"


@dataclasses.dataclass
class RunSummary:
    """How a run went: cells per status, and the ones skipped because already finished."""

    run_dir: Path
    statuses: Counter
    resumed: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Every cell ok, or skipped for want of its device (a gpu cell on a CPU machine)."""
        return set(self.statuses) <= {"ok", "skipped"}


def _claim_run_dir(run_dir: Path, suite: Suite) -> None:
    """Create ``run_dir`` for ``suite``, or check an existing one was made by the same suite."""
    marker = run_dir / "suite.json"
    text = suite.to_json()
    if marker.exists():
        # Read back through Suite, so a run made before a field existed (e.g. the device axes)
        # compares equal with its defaults filled in.
        kept = marker.read_text()
        # (one this version cannot read is compared as it is, and so refused)
        with contextlib.suppress(KeyError, TypeError, ValueError):
            kept = Suite.from_dict(json.loads(kept)).to_json()
        if json.loads(kept) != json.loads(text):
            raise UserError(
                f"{run_dir} holds a run of a different suite definition ({marker}); "
                "pass a new --out directory"
            )
        return
    store.write_atomic(marker, text + "\n")


def code_version() -> str:
    """``git describe`` of the checkout this code runs from, else the package version."""
    repo = Path(__file__).resolve().parent.parent
    if (repo / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "-C", str(repo), "describe", "--always", "--dirty", "--tags"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if out.returncode == 0 and out.stdout.strip():
                return "git " + out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    from importlib import metadata

    try:
        return "resdepth " + metadata.version("resdepth")
    except metadata.PackageNotFoundError:
        return "unknown"


def describe_inputs(suite: Suite, data_dir: str | None) -> dict:
    """What this run's cells depend on (``results.provenance``): suite, corpora, code, backend."""
    corpora = {}
    for exp in suite.experiments:
        key = exp.dataset + "".join(f" {k}={v}" for k, v in exp.dataset_options)
        if key not in corpora:
            corpora[key] = datasets.fingerprint(exp.dataset, exp.options, data_dir)
    return {
        "suite": suite.name,
        "corpora": corpora,
        "code_version": code_version(),
        "backend": current_backend(),
    }


def check_provenance(run_dir: Path, now: dict, *, accept_changed: bool = False) -> None:
    """Record ``now`` in a new run directory, or refuse a resume whose inputs differ."""
    old = provenance.read(run_dir)
    if old is None:
        if any((Path(run_dir) / "cells").glob("*.json")):
            now = {**now, "note": "recorded on a resume; earlier cells predate provenance"}
        provenance.write(run_dir, now)
        return
    diff = provenance.differences(old, now)
    if not diff:
        return
    if not accept_changed:
        raise UserError(
            f"{run_dir} was run with other inputs than this resume ("
            + "; ".join(diff)
            + f"; recorded in {provenance.path(run_dir)}). Pass a new --out folder, or "
            "--accept-changed-data to resume anyway (the report then mixes both)"
        )
    history = [*old.get("previous", []), {k: v for k, v in old.items() if k != "previous"}]
    provenance.write(run_dir, {**now, "previous": history})


def _enable_determinism() -> None:
    """The thread count of ``$RESDEPTH_THREADS`` and the backend's deterministic kernels, before
    the first op of this process: TensorFlow's op determinism; cuDNN's deterministic
    convolutions on PyTorch (its CPU kernels are). JAX on a CPU is deterministic as it is (on a
    GPU XLA's ``--xla_gpu_deterministic_ops`` must be in ``XLA_FLAGS`` before JAX starts)."""
    devices.apply_threads()
    backend = current_backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


class _DataCache:
    """Loads each (dataset, options) once per run and shares it between its cells."""

    def __init__(self, data_dir: str | None, cache_dir: Path | None) -> None:
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self._loaded: dict = {}

    def get(self, cell: Cell):
        key = (cell.dataset, cell.dataset_options)
        if key not in self._loaded:
            self._loaded = {}  # keep one corpus in memory at a time
            self._loaded[key] = datasets.load(
                cell.dataset, dict(cell.dataset_options), self.data_dir, self.cache_dir
            )
        return self._loaded[key]


def run_cell(cell: Cell, data, run_dir: Path, *, verbose: int) -> CellResult:
    """Train and evaluate one cell; always returns a result with a status, never raises for
    divergence, OOM or a bug inside the cell. Its model and tables are written to ``run_dir``;
    its result is returned for the caller to write."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(cell.seed)
    task = tasks.get(cell.task)
    started = time.time()
    base = {
        "cell": cell.info(),
        "model": ModelInfo(**models.describe(cell.preset, **cell.model_options)),
        "dataset": DatasetInfo(**record.dataset_info(data.summary())),
        "environment": {
            **environment.describe(),
            "threads": devices.threads(),  # math threads in force, None: the framework's own
            "jobs": int(os.environ.get("RESDEPTH_JOBS") or 1),  # cells sharing the machine
        },
        "started": started,
    }
    log_dir = store.tensorboard_dir(run_dir, cell.id)
    shutil.rmtree(log_dir, ignore_errors=True)  # a re-run cell (resume) starts its logs anew
    try:
        init_from = transfer.resolve(cell, run_dir)
        out = loop.run(task, cell, data, log_dir=log_dir, verbose=verbose, init_from=init_from)
        tables = _write_tables(out.tables, run_dir, cell)
        _save_model(out.model, run_dir, cell, data, task.sidecar(data))
        fields = {
            "status": "ok",
            "metrics": out.metrics,
            "evaluation": transfer.portable(dict(out.evaluation), run_dir),
            "history": out.history,
            "best_epoch": out.best_epoch,
            "timing": out.timing,
            "speed": out.speed,
            "gradient_flow": out.gradient_flow,
            "tables": tables,
            "deterministic": out.deterministic,
        }
    except Diverged as err:
        fields = {"status": "diverged", "error": str(err), "diverged_step": err.step}
        if err.flow is not None:
            fields["tables"] = _write_tables({"gradflow": err.flow}, run_dir, cell)
            fields["gradient_flow"] = loop.gradient_summary(err.flow, None, None)
    except devices.Unavailable as err:  # e.g. a gpu cell on a CPU-only machine
        fields = {"status": "skipped", "error": str(err)}
    except MemoryError as err:
        fields = {"status": "oom", "error": str(err) or "MemoryError"}
    except Exception as err:  # noqa: BLE001 - a sweep records a failing cell and goes on
        status = "oom" if type(err).__name__ == "ResourceExhaustedError" else "error"
        fields = {
            "status": status,
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
        }
    finished = time.time()
    return CellResult(**base, **fields, finished=finished, wall_seconds=finished - started)


def _write_tables(tables: dict, run_dir: Path, cell: Cell) -> dict[str, str]:
    """Write a cell's tables to the run directory; their paths relative to it, by name."""
    return {name: store.write_table(run_dir, name, cell.id, t) for name, t in tables.items()}


def _save_model(model, run_dir: Path, cell: Cell, data, extra: dict) -> None:
    """Save the trained model (raw audio in, logits out) and a sidecar with its labels, its
    cell and what its task's ``evaluate_saved`` needs of the training data (``extra``)."""
    path = store.model_path(run_dir, cell.id)
    with store.atomic_path(path) as tmp:
        model.save(tmp)
    store.write_json(
        path.with_suffix(".json"),
        {"labels": list(getattr(data, "labels", ())), "cell": cell.to_dict(), **extra},
    )


def current_backend() -> str:
    """The Keras backend of this process (fixed when Keras is first imported)."""
    import keras

    return keras.backend.backend()


# Environment a backend's child process starts with, unless the caller's environment sets it.
# PyTorch's CPU build runs its ops on GNU OpenMP threads that spin while they wait; on a shared
# 2-core machine a spinning thread holds the core its partner needs, and a res8 training step
# went from ~0.25 s to 1.5-2.8 s with one other busy process. Passive waiting keeps it at
# 0.4-0.8 s under the same load.
CHILD_ENV = {"torch": {"OMP_WAIT_POLICY": "PASSIVE"}}


def run_backend_child(
    run_dir: Path,
    backend: str,
    *,
    data_dir: str | None,
    cache_dir: Path | None,
    quiet: bool,
    python: str = sys.executable,
) -> subprocess.CompletedProcess:
    """Run ``run_dir``'s cells of ``backend`` in a child process with ``KERAS_BACKEND`` set.

    Keras picks its backend once, at import, so a cell on another backend needs its own
    process: ``python -m bench.worker`` reads a ``WorkerRequest`` (JSON) on stdin and runs
    ``run_suite`` on the run's ``suite.json`` for that backend, writing each cell's result as
    usual. Its output goes to this process's output; its stderr is kept (last lines) for the
    error of a cell it could not run.
    """
    request = WorkerRequest(
        run_dir=str(run_dir),
        backend=backend,
        data_dir=data_dir,
        cache_dir=str(cache_dir) if cache_dir else None,
        verbose=0 if quiet else 2,
    )
    env = {**CHILD_ENV.get(backend, {}), **os.environ, "KERAS_BACKEND": backend}
    return subprocess.run(
        [python, "-m", "bench.worker"],
        input=request.to_json(),
        env=env,
        stdout=None,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclasses.dataclass(frozen=True)
class WorkerRequest:
    """What a backend's child process runs: a run directory's cells of one backend."""

    run_dir: str
    backend: str
    data_dir: str | None = None
    cache_dir: str | None = None
    verbose: int = 2
    claim: bool = False  # one of several children of a parallel run: run only cells it claims
    unset_backend: str | None = None  # with claim: the backend of cells that name none

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerRequest:
        return cls(**json.loads(text))


def run_suite(
    suite: Suite,
    run_dir: Path,
    *,
    data_dir: str | None = None,
    cache_dir: Path | None = None,
    verbose: int | None = None,
    log: Callable[[str], None] = print,
    backend: str | None = None,
    accept_changed_data: bool = False,
    executor=None,
    progress=None,
    claim: bool = False,
    unset_backend: str | None = None,
) -> RunSummary:
    """Run every unfinished cell of ``suite`` into ``run_dir``; returns the run's summary.

    Cells of another Keras backend than this process's run afterwards, one child process per
    backend (``run_backend_child``). ``backend`` set: run only that backend's cells, here (what
    such a child does); it must be this process's backend. A resume whose data folder, corpus,
    code version or backend differ from the run's ``provenance.json`` is refused unless
    ``accept_changed_data``. ``executor`` (``bench.executors``): who runs the cells; None or
    ``local`` is this process, one cell after another (``jobs`` > 1: ``bench.parallel``).
    ``progress`` (``bench.progress.Progress``) is told of every cell as it starts and
    finishes. ``claim``: run only the unfinished cells this process claims first
    (``store.claim``), as each child of a parallel run does; ``unset_backend``: the backend
    of the cells that name none (the parallel run's driver's), which such a child also runs.
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    _claim_run_dir(run_dir, suite)
    if backend is None:  # the driver; a backend's child runs under the driver's check
        check_provenance(
            run_dir, describe_inputs(suite, data_dir), accept_changed=accept_changed_data
        )
    if executor is not None and (executor.name != "local" or getattr(executor, "jobs", 1) > 1):
        return executor.run_suite(
            suite, run_dir, data_dir=data_dir, cache_dir=cache_dir, verbose=verbose, log=log,
            progress=progress,
        )  # fmt: skip
    _enable_determinism()
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    here = current_backend()
    if backend is not None and backend != here:
        raise UserError(
            f"--backend {backend} needs KERAS_BACKEND={backend}; this process runs {here}"
        )
    data = _DataCache(data_dir, cache_dir)
    cells = suite.cells()
    statuses: Counter = Counter()
    resumed = 0
    children: dict[str, list[Cell]] = {}
    for i, cell in enumerate(cells, 1):
        if backend is not None and (cell.backend or unset_backend) != backend:
            continue
        if cell.backend not in (None, here):
            children.setdefault(cell.backend, []).append(cell)
            continue
        if store.is_done(run_dir, cell.id):
            if claim:
                continue  # the parallel run's driver counts and shows it
            resumed += 1
            done = store.read_result(store.cell_path(run_dir, cell.id))
            statuses[done.status] += 1
            log(f"[{i}/{len(cells)}] {cell.id}: already done, skipped")
            if progress is not None:
                progress.skipped(done)
            continue
        if claim and not store.claim(run_dir, cell.id):
            continue  # another child of this parallel run has it
        log(f"[{i}/{len(cells)}] {cell.id}: training")
        if progress is not None:
            progress.started()
        result = run_cell(cell, data.get(cell), run_dir, verbose=verbose)
        store.write_result(run_dir, result)
        statuses[result.status] += 1
        log(f"[{i}/{len(cells)}] {cell.id}: {headline(result)}")
        if progress is not None:
            progress.finished(result)
    for name, group in children.items():
        todo = [c for c in group if not store.is_done(run_dir, c.id)]
        resumed += len(group) - len(todo)
        child = None
        if todo:
            log(f"{len(todo)} cells on backend {name}: running them in a child process")
            child = run_backend_child(
                run_dir, name, data_dir=data_dir, cache_dir=cache_dir, quiet=verbose == 0
            )
        for cell in group:
            if not store.is_done(run_dir, cell.id):  # the child died before writing it
                store.write_result(run_dir, _child_failure(cell, name, child))
            done = store.read_result(store.cell_path(run_dir, cell.id))
            statuses[done.status] += 1
            if progress is not None:
                (progress.finished if cell in todo else progress.skipped)(done)
    return RunSummary(run_dir, statuses, resumed, time.perf_counter() - t0)


def unfinished(suite: Suite, run_dir: Path, progress=None) -> tuple[list[Cell], Counter, int]:
    """The cells of ``suite`` that ``run_dir`` has no final result for, the statuses of those it
    has, and how many those are (resumed); ``progress`` is told of each finished one."""
    todo, statuses, resumed = [], Counter(), 0
    for cell in suite.cells():
        if not store.is_done(run_dir, cell.id):
            todo.append(cell)
            continue
        done = store.read_result(store.cell_path(run_dir, cell.id))
        statuses[done.status] += 1
        resumed += 1
        if progress is not None:
            progress.skipped(done)
    return todo, statuses, resumed


def _child_failure(
    cell: Cell, backend: str, child: subprocess.CompletedProcess | None
) -> CellResult:
    """The result of a cell whose backend's child process ended without writing it."""
    stderr = (child.stderr if child else "") or ""
    tail = "\n".join(stderr.strip().splitlines()[-30:])
    now = time.time()
    code = child.returncode if child else "?"
    return CellResult(
        cell=cell.info(),
        model=ModelInfo(**models.describe(cell.preset, **cell.model_options)),
        status="error",
        error=f"the {backend} child process exited with code {code} before writing this cell",
        traceback=tail,
        started=now,
        finished=now,
    )


def headline(result: CellResult) -> str:
    """One line for the log: status and the task's headline metrics."""
    if not result.ok:
        return f"{result.status.upper()} - {result.error or ''}"
    names = tasks.get(result.cell.task).HEADLINE
    parts = [f"{n}={result.metrics[n].value:.4g}" for n in names if n in result.metrics]
    return f"ok in {result.wall_seconds:.0f}s, " + ", ".join(parts)
