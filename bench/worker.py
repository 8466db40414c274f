"""Entry point of a backend's child process: ``python -m bench.worker`` with a JSON request on
stdin (``bench.runner.WorkerRequest``), started by the runner with ``KERAS_BACKEND`` set.

It runs the run directory's cells of that backend, in this process, and writes their results;
the parent reads them from the run directory.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    from bench import runner
    from bench import suite as suites

    request = runner.WorkerRequest.from_json(sys.stdin.read())
    run_dir = Path(request.run_dir)
    suite = suites.from_json(run_dir / "suite.json")
    summary = runner.run_suite(
        suite,
        run_dir,
        data_dir=request.data_dir,
        cache_dir=Path(request.cache_dir) if request.cache_dir else None,
        verbose=request.verbose,
        backend=request.backend,
        claim=request.claim,
        unset_backend=request.unset_backend,
        log=_silent if request.claim else print,  # a parallel run's driver logs its cells
    )
    return 0 if summary.ok else 1


def _silent(message: str) -> None:
    pass


if __name__ == "__main__":
    sys.exit(main())
