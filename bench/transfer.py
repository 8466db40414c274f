"""Transfer: start a cell from another cell's trained encoder, then fine-tune.

``train.init_from`` names the source model: a saved ``.keras`` path, ``RUN_DIR:CELL_ID`` (that
run's ``models/CELL_ID.keras``), or ``@EXPERIMENT`` (the cell of the same model in an earlier
experiment of the same run; ``bench.suite`` checks it exists). Weights are copied layer by layer,
by name, for every layer except the classifier head (``logits``): the head is sized for the new
corpus's labels and starts fresh. A layer present in both with other weight shapes is an error;
layers only in the new model (e.g. a deeper net) keep their initial weights and are counted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import keras

from bench.config import Cell
from datasets.base import DataError
from results import store
from results.errors import UserError

HEAD_LAYERS = ("logits",)


def resolve(cell: Cell, run_dir: Path) -> Path | None:
    """The saved model ``cell.train.init_from`` names (None: the cell trains from scratch).

    Raises:
        DataError: the model file is not there (e.g. its source cell failed).
    """
    ref = cell.train.init_from
    if not ref:
        return None
    if ref.startswith("@"):
        path = store.model_path(run_dir, source_cell(cell))
    elif ref.endswith(".keras"):
        path = Path(ref).expanduser()
    elif ":" in ref:
        source_dir, cell_id = ref.rsplit(":", 1)
        path = store.model_path(Path(source_dir).expanduser(), cell_id)
    else:
        raise DataError(
            f"train.init_from must be a .keras path, RUN_DIR:CELL_ID or @EXPERIMENT. "
            f"Received: init_from={ref!r}"
        )
    if not path.is_file():
        raise DataError(f"train.init_from={ref!r}: no saved model at {path}")
    return path


def source_cell(cell: Cell) -> str | None:
    """The id of the run's own cell whose model ``@EXPERIMENT`` names (None: no such
    reference): an executor that trains cells apart (Ray) ships that model to the cell."""
    ref = cell.train.init_from
    if not ref or not ref.startswith("@"):
        return None
    return dataclasses.replace(cell, experiment=ref[1:]).id


def portable(evaluation: dict, run_dir: Path) -> dict:
    """``evaluation`` with a transfer source inside ``run_dir`` recorded relative to it
    (``models/CELL.keras``): the same record wherever the run directory is, a Ray worker's
    temporary one included."""
    moved = evaluation.get("transfer")
    if not moved:
        return evaluation
    source = Path(moved["source"])
    if not source.is_relative_to(run_dir):
        return evaluation
    return {**evaluation, "transfer": {**moved, "source": str(source.relative_to(run_dir))}}


def load_encoder(model: keras.Model, path: Path, head: tuple[str, ...] = HEAD_LAYERS) -> dict:
    """Copy the weights of the model saved at ``path`` into ``model`` by layer name, except
    ``head``; returns what was loaded (for the cell's record).

    Raises:
        ValueError: a layer of both models has other weight shapes, or no layer matched.
    """
    source = keras.saving.load_model(path, compile=False)
    by_name = {layer.name: layer for layer in source.layers}
    loaded, fresh = [], []
    for layer in model.layers:
        if not layer.weights or layer.name in head:
            continue
        other = by_name.get(layer.name)
        if other is None:
            fresh.append(layer.name)
            continue
        weights = other.get_weights()
        mine = [tuple(w.shape) for w in layer.weights]
        if [tuple(w.shape) for w in weights] != mine:
            raise UserError(
                f"init_from {path}: layer {layer.name!r} has weights {mine} here and "
                f"{[tuple(w.shape) for w in weights]} in the source model"
            )
        layer.set_weights(weights)
        loaded.append(layer.name)
    if not loaded:
        raise UserError(f"init_from {path}: no layer of the source model matches this model")
    return _summary(path, loaded, fresh, head)


def _summary(path: Path, loaded: list[str], fresh: list[str], head) -> dict[str, Any]:
    return {
        "source": str(path),
        "loaded_layers": len(loaded),
        "fresh_layers": fresh,
        "head": list(head),
    }
