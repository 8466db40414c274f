"""Task registry: a task is one module (or folder) satisfying ``bench.tasks.base.Task``, plus one
line here.

The task supplies what differs between tasks (models, batches, loss, probe, evaluation); the one
training loop in ``bench.loop`` runs every task's cells.
"""

from __future__ import annotations

import importlib

from bench.tasks.base import Task, members
from results.errors import UserError

TASKS: dict[str, str] = {
    "kws": "bench.tasks.kws",
    "asr": "bench.tasks.asr",
    "timing": "bench.tasks.timing",
    "timing-asr": "bench.tasks.timing_asr",
}


def get(name: str) -> Task:
    """The task ``name``; a clear error lists the known tasks, or names what a module lacks."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    module = importlib.import_module(TASKS[name])
    missing = [m for m in members() if not hasattr(module, m)]
    if missing:
        raise TypeError(f"task module {TASKS[name]} does not provide {missing} (bench.tasks.base)")
    return module  # type: ignore[return-value]
