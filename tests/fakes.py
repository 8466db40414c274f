"""Hand-made cell results for the readers' tests (reports, regression checks): typed
``CellResult``s as the harness records them, small helpers to vary them, and a run directory to
write them into through ``results.store``, the way a real run is read back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from results import store
from results.metrics import Metric
from results.record import CellInfo, CellResult


def metric(value: float, unit: str = "fraction", higher: bool = True) -> Metric:
    """A metric with an explicit unit and direction (e.g. one not declared in METRICS)."""
    return Metric(value, unit, higher)


def metrics(**values: float) -> dict[str, Metric]:
    """Declared metrics by name, with the unit and direction ``results.metrics`` gives them."""
    return {name: Metric.of(name, value) for name, value in values.items()}


def cell_info(cell_id: str, **fields) -> CellInfo:
    """A cell's identity; fields not given are those of a one-block residual kws cell."""
    defaults = {
        "experiment": "synth-words",
        "task": "kws",
        "dataset": "synth-words",
        "preset": "tc-resnet8",
        "depth": 1,
        "width": None,
        "residual": True,
        "seed": 0,
    }
    return CellInfo(id=cell_id, **{**defaults, **fields})


def with_metrics(result: CellResult, **values: float | Metric) -> CellResult:
    """``result`` with metrics added or replaced (a number is a declared metric's value)."""
    new = {n: v if isinstance(v, Metric) else Metric.of(n, v) for n, v in values.items()}
    return dataclasses.replace(result, metrics={**result.metrics, **new})


def without_metrics(result: CellResult, *names: str) -> CellResult:
    kept = {n: m for n, m in result.metrics.items() if n not in names}
    return dataclasses.replace(result, metrics=kept)


def with_cell(result: CellResult, **changes) -> CellResult:
    """``result`` with fields of its ``CellInfo`` changed (id, task, experiment, ...)."""
    return dataclasses.replace(result, cell=dataclasses.replace(result.cell, **changes))


def write_run(run_dir: Path, results: list[CellResult], suite: dict | None = None) -> Path:
    """A run directory holding ``suite.json`` and one ``cells/<id>.json`` per result."""
    store.write_json(Path(run_dir) / "suite.json", suite or {"name": "fake", "seeds": [0]})
    (Path(run_dir) / "cells").mkdir(parents=True, exist_ok=True)
    for r in results:
        store.write_result(run_dir, r)
    return Path(run_dir)
