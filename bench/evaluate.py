"""Evaluate a saved model on any dataset of its task's kind (``python -m bench eval``)."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

import datasets
from bench import tasks
from datasets.base import out_of_alphabet
from results import store
from results.errors import UserError


def evaluate_saved(
    model_path: Path,
    dataset: str,
    data_dir,
    options: dict,
    *,
    split: str = "test",
    cache_dir=None,
    allow_label_subset: bool = False,
) -> dict:
    """Metrics of a saved ``.keras`` model on ``split`` of ``dataset``, JSON-ready.

    The model is checked and loaded before the corpus; a corpus with labels the model does not
    know is refused unless ``allow_label_subset`` (then those clips are dropped and counted).
    """
    sidecar = model_path.with_suffix(".json")
    if not model_path.is_file():
        raise FileNotFoundError(f"model not found: {model_path}")
    if not zipfile.is_zipfile(model_path):
        raise UserError(
            f"{model_path} is not a Keras model file (a .keras file is a zip archive written by "
            "model.save)"
        )
    if not sidecar.is_file():
        raise FileNotFoundError(f"model sidecar not found: {sidecar} (saved beside every model)")
    meta = _read_sidecar(sidecar)
    task = tasks.get(meta["cell"]["task"])
    module = datasets.get(dataset)
    if module.KIND != task.DATA_KIND:
        raise UserError(
            f"{model_path} is a {meta['cell']['task']!r} model; dataset {dataset!r} is "
            f"{module.KIND!r} data"
        )
    datasets.make_config(dataset, options)  # a bad --set fails before the model loads
    model = _load_model(model_path)
    # only what scoring reads is prepared: test-clean without train-clean-100
    needed = task.eval_splits(meta, split)
    data = datasets.load(dataset, options, data_dir, cache_dir, splits=needed)
    if "labels" in meta and hasattr(data, "labels"):
        _check_labels(data, meta["labels"], split, allow_label_subset)
    scored = task.evaluate_saved(model, data, meta, split)
    return {
        "metrics": {k: dataclasses.asdict(m) for k, m in scored.metrics.items()},
        **scored.details,
        "model": str(model_path),
        "dataset": dataset,
        "options": options,
        "splits_read": list(needed),
        "skipped": data.skipped.summary(),
    }


def _read_sidecar(path: Path) -> dict:
    """A model's sidecar (``bench.runner._save_model``): its labels and the cell's identity,
    checked for the fields evaluation reads, so another JSON file there is refused by name."""
    meta = store.read_json(path)
    cell = meta.get("cell") if isinstance(meta, dict) else None
    labels = meta.get("labels", []) if isinstance(meta, dict) else None
    if (
        not isinstance(cell, dict)
        or not isinstance(cell.get("task"), str)
        or not isinstance(labels, list)
        or not all(isinstance(label, str) for label in labels)
    ):
        raise UserError(
            f"{path} is not a model sidecar written by bench run (a JSON object with 'labels', "
            "a list of names, and 'cell', holding at least its task)"
        )
    if tasks.get(cell["task"]).DATA_KIND == "asr" and not (
        isinstance(cell.get("preset"), str) and type(cell.get("depth")) is int
    ):
        raise UserError(
            f"{path}: a speech-recognition model's sidecar needs its cell's preset and depth "
            "(its output frames follow from them)"
        )
    text = meta.get("train_transcripts", [])
    if not isinstance(text, list) or not all(
        isinstance(t, str) and t and not out_of_alphabet(t) for t in text
    ):
        raise UserError(
            f"{path}: 'train_transcripts' must be a list of the training split's transcripts "
            "(normalized: lower-case letters, apostrophe and space)"
        )
    return meta


def _load_model(path: Path):
    import keras

    # The project's own layers register themselves when their modules load: a model saved
    # with SpecAugment or PeakNorm (models.frontend), pre-activation or ReZero blocks
    # (models.blocks) or looped blocks (models.repeat) needs them imported before it loads.
    import models.blocks  # noqa: F401
    import models.frontend  # noqa: F401
    import models.repeat  # noqa: F401

    try:
        return keras.saving.load_model(path)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as err:
        raise UserError(f"{path} is not a loadable Keras model file: {err}") from err


def _check_labels(data, model_labels: list[str], split: str, allow_subset: bool) -> None:
    """Refuse a corpus whose ``split`` has clips of labels the model was not trained on."""
    missing = [name for name in data.labels if name not in set(model_labels)]
    if not missing:
        return
    ids = [i for i, name in enumerate(data.labels) if name in set(missing)]
    part = getattr(data, split)
    dropped = int(np.isin(part.labels, ids).sum())
    if dropped and not allow_subset:
        raise UserError(
            f"the model knows {len(model_labels)} labels; {dropped} of {len(part)} {split} clips "
            f"have one of the {len(missing)} others ({', '.join(missing[:10])}"
            f"{', ...' if len(missing) > 10 else ''}). Pass --allow-label-subset to score only "
            "the clips of the model's labels"
        )
