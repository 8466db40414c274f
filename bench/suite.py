"""Load a suite TOML file into a validated :class:`~bench.config.Suite`.

A suite names experiments (task × dataset × models × budget) and seeds. Unknown keys, tasks,
datasets, presets and bad option values fail here, with the file and the value named, before any
training starts.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import keras

import datasets
import models
from bench import tasks, validate
from bench.config import Experiment, ModelSpec, Resources, Suite, TrainConfig
from datasets import pipeline
from datasets.augment import Augment
from results.errors import UserError

SUITES_DIR = Path(__file__).parent / "suites"


def suite_names() -> list[str]:
    """Names of the suites shipped in ``bench/suites``."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def resolve(name_or_path: str | Path) -> Path:
    """A suite name (``quick``) or a path to a TOML file -> the file's path."""
    path = Path(name_or_path)
    if path.suffix in (".toml", ".json") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"suite file not found: {path}")
        return path
    candidate = SUITES_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise UserError(
            f"unknown suite {str(name_or_path)!r}; known: {', '.join(suite_names())} "
            "(or pass a path to a .toml file)"
        )
    return candidate


def _only_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


# Types of the keys that are not dataclass fields as written (TOML lists and tables).
SUITE_TYPES = {
    "name": str,
    "description": str,
    "seeds": tuple[int, ...],
    "train": dict,
    "jobs": int,
}
EXPERIMENT_TYPES = {
    "name": str,
    "task": str,
    "dataset": str,
    "dataset_options": dict,
    "train": dict,
    "models": list,
    "backends": tuple[str, ...],
    "jit_compile": tuple[bool, ...],
    "seeds": tuple[int, ...],
    "folds": tuple[str, ...],
}


def _build(cls: type, where: str, **kwargs):
    """``cls(**kwargs)``; its own range checks' errors gain the file and table."""
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise UserError(f"{where}: {err}") from err


def _train(table: dict, base: TrainConfig, where: str) -> TrainConfig:
    where = f"{where} [train]"
    validate.check_table(table, validate.field_types(TrainConfig), where)
    _only_keys(table, _fields(TrainConfig), where)
    if "augment" in table:  # a table of its own, typed like the rest; replaces the suite's
        table = {**table, "augment": _augment(table["augment"], f"{where} augment")}
    return _build(lambda **kw: dataclasses.replace(base, **kw), where, **table)


def _augment(table: Any, where: str) -> Augment:
    validate.check_table(table, validate.field_types(Augment), where)
    _only_keys(table, _fields(Augment), where)
    return _build(Augment, where, **table)


def _model(table: dict, where: str, task) -> ModelSpec:
    validate.check_table(table, validate.field_types(ModelSpec), where)
    _only_keys(table, _fields(ModelSpec), where)
    spec = _build(ModelSpec, where, **table)
    try:  # e.g. asr: the preset must have a 1-D (CTC) encoder
        task.check_model(spec.preset)
    except ValueError as err:
        raise UserError(f"{where}: {err}") from err
    for residual in spec.residual:  # unknown preset or bad variant: a ValueError naming it
        models.get_config(spec.preset, residual=residual, block=spec.block)
    return spec


AXES = ("device", "precision", "replicas")  # suite-wide defaults, or per experiment


def _experiments(
    table: dict, base_train: TrainConfig, where: str, axes: dict | None = None
) -> list[Experiment]:
    """One experiment, or with ``folds`` (held-out speakers) one per fold: leave-one-speaker-out.

    ``folds = ["george", "jackson"]`` makes ``NAME-george`` (test speaker george, the others
    train) and ``NAME-jackson``; the dataset must have a speaker split (``test_speakers``).
    """
    if not isinstance(table, dict) or "folds" not in table:
        return [_experiment(table, base_train, where, axes)]
    validate.check_table(table, EXPERIMENT_TYPES, where)
    folds = list(table["folds"])
    if not folds or len(set(folds)) != len(folds):
        raise UserError(
            f"{where}: folds must be a non-empty list of distinct speakers. Received: {folds!r}"
        )
    dataset = table.get("dataset")
    config = getattr(datasets.get(dataset), "Config", None) if isinstance(dataset, str) else None
    if config is None or "test_speakers" not in _fields(config):
        raise UserError(f"{where}: folds need a dataset with speaker splits. Received: {dataset}")
    options = dict(table.get("dataset_options", {}))
    if "test_speakers" in options:
        raise UserError(f"{where}: give held-out speakers in folds or test_speakers, not both")
    name = table.get("name", dataset)
    rest = {k: v for k, v in table.items() if k != "folds"}
    return [
        _experiment(
            {
                **rest,
                "name": f"{name}-{speaker}",
                "dataset_options": {**options, "split": "speaker", "test_speakers": [speaker]},
            },
            base_train,
            f"{where} fold {speaker!r}",
            axes,
        )
        for speaker in folds
    ]


def _experiment(
    table: dict, base_train: TrainConfig, where: str, axes: dict | None = None
) -> Experiment:
    allowed = {"name", "task", "dataset", "dataset_options", "train", "models", "seeds"}
    allowed |= {"backends", "jit_compile", *AXES}
    validate.check_table(table, EXPERIMENT_TYPES, where)
    _only_keys(table, allowed, where)
    for key in ("task", "dataset", "models"):
        if key not in table:
            raise UserError(f"{where}: missing key {key!r}")
    name = table.get("name", table["dataset"])
    if not name.strip() or "/" in name:
        raise UserError(
            f"{where}: name must be a non-empty string without '/' (it is part of every cell's "
            f"file name). Received: name={name!r}"
        )
    task = tasks.get(table["task"])
    module = datasets.get(table["dataset"])
    if module.KIND != task.DATA_KIND:
        raise UserError(
            f"{where}: task {table['task']!r} needs a {task.DATA_KIND!r} dataset; "
            f"{table['dataset']!r} is {module.KIND!r}"
        )
    backends = tuple(table.get("backends", (None,)))
    train = _train(table.get("train", {}), base_train, where)
    if train.precompute_features and not task.PRECOMPUTES:
        raise UserError(
            f"{where}: task {table['task']!r} does not train on precomputed features; set "
            f"precompute_features = false in its train table (a suite's [train] is inherited)"
        )
    if train.augment is not None:
        parts = {"waveform": train.augment.waveform, "spec": bool(train.augment.spec_augment)}
        refused = sorted(p for p, on in parts.items() if on and p not in task.AUGMENTS)
        if refused:
            raise UserError(
                f"{where}: task {table['task']!r} does not apply train.augment's {refused} "
                f"part (it applies {sorted(task.AUGMENTS) or 'none'}; waveform = time_shift_ms, "
                f"noise_prob, speed; spec = time_masks, freq_masks). Received: {train.augment}"
            )
    if train.augment is not None and train.augment.waveform:
        others = sorted({b or keras.config.backend() for b in backends} - {"tensorflow"})
        if others:
            raise UserError(f"{where}: {pipeline.waveform_refusal(', '.join(others))}")
    options = dict(table.get("dataset_options", {}))
    try:
        module.Config(**options)  # validate the options now, not mid-sweep
    except (TypeError, ValueError) as err:
        raise UserError(f"{where}: bad dataset_options for {table['dataset']!r}: {err}") from err
    return _build(
        Experiment,
        where,
        name=name,
        task=table["task"],
        dataset=table["dataset"],
        dataset_options=tuple(sorted((k, _freeze(v)) for k, v in options.items())),
        train=train,
        models=tuple(
            _model(m, f"{where} models[{i}]", task) for i, m in enumerate(table["models"])
        ),
        backends=backends,
        jit_compile=tuple(table.get("jit_compile", (None,))),
        seeds=tuple(table["seeds"]) if "seeds" in table else None,
        **{**(axes or {}), **{k: table[k] for k in AXES if k in table}},
    )


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def parse(data: dict, source: str = "<suite>") -> Suite:
    """Build a suite from already-parsed TOML data; ``source`` names it in errors.

    Every value is type-checked (``bench.validate``) before a dataclass is built.
    """
    validate.check_table(data, SUITE_TYPES, source)
    allowed = {"name", "description", "seeds", "train", "experiment", "resources", "jobs", *AXES}
    _only_keys(data, allowed, source)
    validate.check_seeds(data.get("seeds", [0]), source)
    axes = {k: data[k] for k in AXES if k in data}
    resources = data.get("resources", {})
    _only_keys(resources, _fields(Resources), f"{source} [resources]")
    base_train = _train(data.get("train", {}), TrainConfig(), source)
    experiments = data.get("experiment", [])
    if not experiments:
        raise UserError(f"{source}: no [[experiment]] tables")
    if not isinstance(experiments, list) or not all(isinstance(e, dict) for e in experiments):
        raise UserError(
            f"{source}: experiment must be a list of tables ([[experiment]]). "
            f"Received: experiment={experiments!r}"
        )
    suite = _build(
        Suite,
        source,
        name=data.get("name", Path(source).stem),
        description=data.get("description", ""),
        seeds=tuple(data.get("seeds", [0])),
        experiments=tuple(
            exp
            for i, e in enumerate(experiments)
            for exp in _experiments(e, base_train, f"{source} experiment[{i}]", axes)
        ),
        resources=Resources(**resources),
        jobs=data.get("jobs"),
    )
    _check_init_from(suite, source)
    return suite


def _check_init_from(suite: Suite, source: str) -> None:
    """Every ``init_from = "@EXPERIMENT"`` names an earlier experiment that trains the same model
    (preset, depth, width, residual, block, seed), so its cell has run when the fine-tune starts."""
    done: set[str] = set()
    for cell in suite.cells():
        ref = cell.train.init_from
        if ref and ref.startswith("@"):
            source_id = dataclasses.replace(cell, experiment=ref[1:]).id
            if source_id not in done:
                raise UserError(
                    f"{source}: experiment {cell.experiment!r}: init_from={ref!r} needs cell "
                    f"{source_id!r} in an earlier experiment of the suite"
                )
        done.add(cell.id)


def from_json(path: Path) -> Suite:
    """A run directory's ``suite.json`` (``Suite.to_json``) read back; anything else is refused
    naming the file, since a resumed run, a worker and a report all trust it."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON: {err}") from err
    try:
        return Suite.from_dict(data)
    except UserError as err:
        raise UserError(f"{path}: {err}") from err
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise UserError(
            f"{path}: not a suite.json written by bench run ({type(err).__name__}: {err})"
        ) from err


def load(name_or_path: str | Path) -> Suite:
    """Load and validate a suite by name or path (a TOML file, or a run's ``suite.json``)."""
    path = resolve(name_or_path)
    if path.suffix == ".json":
        return from_json(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML: {err}") from err
    try:
        return parse(data, str(path))
    except TypeError as err:  # a bad field type inside a dataclass constructor
        raise UserError(f"{path}: {err}") from err
