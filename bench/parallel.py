"""Cells in parallel on one machine: ``bench run --jobs N``.

The nets of this suite are small: one training process keeps 1.1-1.2 of a machine's cores busy
whatever TensorFlow's thread pools, so one cell after another leaves most of a laptop idle. Here
``N`` child processes (``python -m bench.worker``, as a cell of another backend already runs)
take the run's unfinished cells one at a time (``store.claim``: whoever creates
``claims/<cell-id>`` first runs it) and write each result into the run directory as usual; this
process watches the directory, shows progress and logs each cell as it starts and ends.

Every child runs its math on ``threads`` threads (``devices.thread_env``), and so does a
one-job run, so a cell's numbers are the same whatever ``N``. Corpora are prepared once, here,
before the children start (they only read the shards). A child that dies leaves its claimed
cells unfinished; they are recorded as ``error`` with its last lines, and a rerun retries them.
Ctrl-C stops the children; finished cells stay written, and a rerun resumes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets.prepare
from bench import devices, runner
from bench.config import Cell, Suite
from results import store

DEFAULT_THREADS = 1  # per cell: the most a small net keeps busy (see the module docstring)
# Host memory one job may take: the quick suite's cells peaked at 1.1-2.7 GB RSS (the keyword
# cells to the speech-recognition ones, runtime and corpus included; a 2-job run on a 2-core
# machine), so 3 GiB a job leaves room for the OS.
JOB_MEMORY_BYTES = 3 * 1024**3
POLL_SECONDS = 0.5


def available_memory() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, None where there is none."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def gpu_visible() -> bool:
    """An NVIDIA device node or a non-empty ``CUDA_VISIBLE_DEVICES``: several processes would
    each take the whole GPU's memory (TensorFlow and JAX preallocate), so jobs default to 1."""
    cuda = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cuda is not None:
        return cuda.strip() not in ("", "-1")
    return Path("/dev/nvidia0").exists()


def default_jobs(cells: int, threads: int = DEFAULT_THREADS) -> int:
    """How many cells to run at once here: the cores over ``threads``, no more than memory
    allows (``JOB_MEMORY_BYTES`` each) or than there are cells; 1 where a GPU is visible."""
    if gpu_visible():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = max(1, (cores or 1) // threads)
    memory = available_memory()
    if memory is not None:
        jobs = min(jobs, max(1, memory // JOB_MEMORY_BYTES))
    return max(1, min(jobs, cells))


def run_suite(
    suite: Suite,
    run_dir: Path,
    jobs: int,
    *,
    data_dir: str | None = None,
    cache_dir: Path | None = None,
    verbose: int | None = None,
    log: Callable[[str], None] = print,
    progress: Any = None,
    python: str = sys.executable,
) -> runner.RunSummary:
    """Run the unfinished cells of ``suite`` in ``jobs`` child processes per backend."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    runner._claim_run_dir(run_dir, suite)
    here = runner.current_backend()
    todo, statuses, resumed = runner.unfinished(suite, run_dir, progress)
    groups: dict[str, list[Cell]] = {}
    for cell in todo:
        groups.setdefault(cell.backend or here, []).append(cell)
    for corpus in dict.fromkeys((c.dataset, c.dataset_options) for g in groups.values() for c in g):
        datasets.prepare.prepare(corpus[0], dict(corpus[1]), data_dir, cache_dir, log=log)
    for backend, cells in groups.items():
        n = min(jobs, len(cells))
        log(f"{len(cells)} cells on backend {backend}: {n} at once ({resumed} already done)")
        for result in _run_group(run_dir, backend, here, cells, n, data_dir, cache_dir, verbose,
                                 log, progress, python):  # fmt: skip
            statuses[result.status] += 1
    return runner.RunSummary(run_dir, statuses, resumed, time.perf_counter() - t0)


def _run_group(
    run_dir, backend, here, cells, jobs, data_dir, cache_dir, verbose, log, progress, python
):
    """Start ``jobs`` children on ``backend``, follow their claims and results until they
    exit; yield every cell's result (an ``error`` one for a cell a dead child left)."""
    store.clear_claims(run_dir)
    request = runner.WorkerRequest(
        run_dir=str(run_dir),
        backend=backend,
        data_dir=data_dir,
        cache_dir=str(cache_dir) if cache_dir else None,
        verbose=0 if verbose == 0 else 2,
        claim=True,
        unset_backend=here,
    )
    threads = int(os.environ.get(devices.THREADS_ENV) or DEFAULT_THREADS)
    env = {
        **runner.CHILD_ENV.get(backend, {}),
        **os.environ,
        **devices.thread_env(threads),
        "KERAS_BACKEND": backend,
    }
    children = []
    with tempfile.TemporaryDirectory(prefix="resdepth-jobs-") as tmp:
        try:
            for k in range(jobs):
                err = open(Path(tmp) / f"child-{k}.err", "w+")  # noqa: SIM115 - closed below
                child = subprocess.Popen(
                    [python, "-m", "bench.worker"],
                    stdin=subprocess.PIPE, stderr=err, env=env, text=True,
                )  # fmt: skip
                children.append((child, err))
                with contextlib.suppress(BrokenPipeError):  # died at once: _follow records it
                    child.stdin.write(request.to_json())
                    child.stdin.close()
            yield from _follow(run_dir, cells, children, backend, log, progress)
        except BaseException as err:
            for child, _ in children:
                child.kill()
            if isinstance(err, KeyboardInterrupt):
                log(f"interrupted: {len(children)} child processes stopped; finished cells kept")
            raise
        finally:
            for child, err in children:
                child.wait()
                err.close()
            store.clear_claims(run_dir)


def _follow(run_dir, cells, children, backend, log, progress):
    """Poll the run directory: log a cell when it is claimed and when its result lands."""
    claimed: set[str] = set()
    todo = {c.id: c for c in cells}
    while todo:
        alive = any(child.poll() is None for child, _ in children)
        for cell_id in list(todo):
            if cell_id not in claimed and (run_dir / "claims" / cell_id).exists():
                claimed.add(cell_id)
                log(f"{cell_id}: training")
                if progress is not None:
                    progress.started()
            if store.is_done(run_dir, cell_id):
                result = store.read_result(store.cell_path(run_dir, cell_id))
                del todo[cell_id]
                log(f"{cell_id}: {runner.headline(result)}")
                if progress is not None:
                    (progress.finished if cell_id in claimed else progress.skipped)(result)
                yield result
        if not alive and todo:  # every child has exited: what is left, no one will write
            for cell_id, cell in todo.items():
                result = runner._child_failure(cell, backend, _ended(children))
                store.write_result(run_dir, result)
                log(f"{cell_id}: {runner.headline(result)}")
                if progress is not None:
                    progress.finished(result)
                yield result
            return
        time.sleep(POLL_SECONDS)


def _ended(children) -> subprocess.CompletedProcess:
    """The first failed child as a ``CompletedProcess`` (its exit code and stderr), for the
    record of a cell it left unfinished."""
    child, err = next(((c, e) for c, e in children if c.returncode), children[0])
    err.flush()
    err.seek(0)
    return subprocess.CompletedProcess(child.args, child.returncode, None, err.read()[-20000:])
