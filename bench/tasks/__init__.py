"""Task registry: a task is one module with a fixed interface, plus one line here.

A task module exposes:
    DATA_KIND: the dataset kind it trains on (``"kws"``: fixed-length labelled clips; ``"asr"``:
        utterances with transcripts).
    run(cell, data, *, verbose) -> (dict, keras.Model): train one cell; return its metrics,
        history and extras (JSON-ready; a ``tables`` entry of DataFrames is written as parquet)
        and the trained raw-audio model. The runner adds config, timings and environment.
    evaluate_saved(model, data, meta, split) -> dict: metrics of a saved model, ``meta`` being
        the sidecar saved beside it (its cell and labels).
"""

from __future__ import annotations

import importlib
from types import ModuleType

TASKS: dict[str, str] = {
    "kws": "bench.tasks.kws",
    "asr": "bench.tasks.asr",
    "timing": "bench.tasks.timing",
}


def get(name: str) -> ModuleType:
    """The module of task ``name``; a clear error lists the known tasks."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    return importlib.import_module(TASKS[name])
