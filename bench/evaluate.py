"""Evaluate a saved model on any dataset of its task's kind (``python -m bench eval``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import datasets
from bench import tasks
from results import store


def evaluate_saved(
    model_path: Path, dataset: str, data_dir, options: dict, *, split: str = "test", cache_dir=None
) -> dict:
    """Metrics of a saved ``.keras`` model on ``split`` of ``dataset``, JSON-ready."""
    import keras

    sidecar = model_path.with_suffix(".json")
    if not model_path.is_file():
        raise FileNotFoundError(f"model not found: {model_path}")
    if not sidecar.is_file():
        raise FileNotFoundError(f"model sidecar not found: {sidecar} (saved beside every model)")
    meta = store.read_json(sidecar)
    task = tasks.get(meta["cell"]["task"])
    module = datasets.get(dataset)
    if module.KIND != task.DATA_KIND:
        raise ValueError(
            f"{model_path} is a {meta['cell']['task']!r} model; dataset {dataset!r} is "
            f"{module.KIND!r} data"
        )
    data = datasets.load(dataset, options, data_dir, cache_dir)
    model = keras.saving.load_model(model_path)
    scored = task.evaluate_saved(model, data, meta, split)
    return {
        "metrics": {k: dataclasses.asdict(m) for k, m in scored.metrics.items()},
        **scored.details,
        "model": str(model_path),
        "dataset": dataset,
        "options": options,
        "skipped": data.skipped.summary(),
    }
