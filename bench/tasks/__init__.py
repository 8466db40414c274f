"""Task registry: a task is one module with a fixed interface, plus one line here.

A task module exposes:
    DATA_KIND: the dataset kind it trains on (``"kws"``: fixed-length labelled clips).
    run(cell, data, workdir, *, verbose) -> dict: train one cell and return its metrics,
        history and extras (JSON-ready); the runner adds config, timings and environment.
    evaluate(model, data, split) -> dict: metrics of an already trained model.
"""

from __future__ import annotations

import importlib
from types import ModuleType

TASKS: dict[str, str] = {
    "kws": "bench.tasks.kws",
}


def get(name: str) -> ModuleType:
    """The module of task ``name``; a clear error lists the known tasks."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    return importlib.import_module(TASKS[name])
