"""Evaluate a saved model on any dataset of its task's kind (``python -m bench eval``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import datasets
from bench import store, tasks
from datasets.base import AudioSplit, DataError, KwsData


def _relabel(data: KwsData, labels: list[str], split: str) -> tuple[KwsData, int]:
    """Map the dataset's labels onto the model's by name; examples of unknown labels are dropped
    and counted (a model cannot be scored on classes it never had)."""
    part: AudioSplit = getattr(data, split)
    index = {name: i for i, name in enumerate(labels)}
    mapping = np.array([index.get(name, -1) for name in data.labels])
    new = mapping[part.labels]
    keep = new >= 0
    if not keep.any():
        raise DataError(
            f"none of the dataset's labels {list(data.labels)} is known to the model {labels}"
        )
    sub = AudioSplit(part.audio[keep], new[keep].astype(np.int32), part.speakers[keep])
    relabeled = KwsData(data.name, tuple(labels), sub, sub, sub, data.skipped, data.info)
    return relabeled, int((~keep).sum())


def evaluate_saved(
    model_path: Path, dataset: str, data_dir, options: dict, *, split: str = "test", cache_dir=None
) -> dict:
    """Metrics of a saved ``.keras`` model on ``split`` of ``dataset``."""
    import keras

    from bench.runner import default_cache_dir

    sidecar = model_path.with_suffix(".json")
    if not model_path.is_file():
        raise FileNotFoundError(f"model not found: {model_path}")
    if not sidecar.is_file():
        raise FileNotFoundError(f"label sidecar not found: {sidecar} (saved beside every model)")
    meta = store.read_json(sidecar)
    task = tasks.get(meta["cell"]["task"])
    module = datasets.get(dataset)
    data = module.load(module.Config(**options), data_dir, cache_dir or default_cache_dir())
    data, unknown = _relabel(data, meta["labels"], split)
    model = keras.saving.load_model(model_path)
    result = task.evaluate(model, data, split)
    result.update(
        model=str(model_path),
        dataset=dataset,
        options=options,
        dropped_unknown_label=unknown,
        skipped=data.skipped.summary(),
    )
    return result
