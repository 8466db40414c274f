"""A cell function for ``tests/test_executors.py`` whose worker process dies on its first try.

Ray imports it by name on the worker (``tests/`` is on the workers' ``PYTHONPATH``): it registers
the tiny task of ``tests/tiny_task.py`` as ``doomed``, and the cell named by ``$DOOMED_CELL`` kills
its own process with SIGKILL the first time it runs (a marker file, ``$DOOMED_MARKER``, records
that it did), as a node or worker dying mid-cell would.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from bench import executors, tasks

tasks.TASKS["doomed"] = "tiny_task"


def train_cell(cell, prepared, verbose, source=None):
    """``bench.executors.train_cell``, except the doomed cell dies on its first attempt."""
    marker = Path(os.environ["DOOMED_MARKER"])
    if cell.id == os.environ["DOOMED_CELL"] and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return executors.train_cell(cell, prepared, verbose, source)
