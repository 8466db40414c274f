"""The typed cell result: schema-1 files (the untyped dicts of earlier runs) are upgraded, a
newer schema is refused naming the file and the version, unknown keys are refused by name, and
``to_dict``/``from_dict`` (and the store's JSON files) round-trip."""

import copy
import json

import pytest

from results import store
from results.metrics import Metric
from results.record import (
    SCHEMA_VERSION,
    CellInfo,
    CellResult,
    DatasetInfo,
    GradientFlow,
    ModelInfo,
    SchemaError,
    Speed,
    Timing,
    kind_label,
)

CELL_V1 = {
    "id": "kws-synth-words-tc-resnet8-d2-plain-s0",
    "experiment": "synth-words",
    "task": "kws",
    "dataset": "synth-words",
    "dataset_options": {"profile": "tiny"},
    "preset": "tc-resnet8",
    "depth": 2,
    "width": None,
    "residual": False,
    "seed": 0,
    "train": {"epochs": 3, "batch_size": 32},
    "block": "post",
    "backend": None,
    "jit_compile": None,
}


def v1_kws() -> dict:
    """A keyword-spotting cell as the runner wrote it before the schema had a version."""
    record = {"value": 0.75, "unit": "fraction", "higher_is_better": True}
    return {
        "cell": dict(CELL_V1),
        "model": {
            "family": "tcresnet",
            "preset": "tc-resnet8",
            "depth": 2,
            "layers": 6,
            "width": 1.0,
            "residual": False,
            "block": "post",
        },
        "dataset": {
            "name": "synth-words",
            "labels": ["yes", "no"],
            "sizes": {"train": 30, "val": 9, "test": 9},
            "skipped": {"count": 1, "by_reason": {"truncated": 1}, "files": []},
            "speakers": 4,
        },
        "environment": {"backend": "tensorflow", "python": "3.11.7"},
        "started": 1.0,
        "finished": 11.0,
        "wall_seconds": 10.0,
        "status": "ok",
        "metrics": {
            "accuracy": record,
            "params": {"value": 1234, "unit": "count", "higher_is_better": False},
        },
        "gradient_flow": {
            "init": {"first_last_ratio": 0.5, "log10_slope_per_block": -0.1, "blocks": 2},
            "end": {"first_last_ratio": 0.7, "log10_slope_per_block": -0.05, "blocks": 2},
            "steps": 20,
            "interval": 10,
            "seconds": 0.2,
            "overhead": 0.02,
        },
        "tables": {"gradflow": "tables/gradflow/kws-synth-words-tc-resnet8-d2-plain-s0.parquet"},
        "history": {"loss": [1.0, 0.5], "val_accuracy": [0.5, 0.7]},
        "best_epoch": 2,
        "timing": {
            "train_seconds": 8.0,
            "epoch_seconds": [4.5, 3.5],
            "eval_seconds": 0.5,
            "steps": 20,
            "fit_samples_per_s": 7.5,
        },
        "speed": {
            "peak_gflops": 60.0,
            "flops_per_example": 6.5e6,
            "compile_seconds": 2.0,
            "step_seconds": {"p10": 0.1, "p50": 0.12, "p90": 0.2},
            "latency_ms": {"p50": 2.0, "p90": 2.5},
            "infer_samples_per_s": 3000.0,
            "utilization": 0.05,
            "data_wait_share": 0.01,
            "data_wait_method": "pipeline probe at the median step",
            "backend": "tensorflow",
            "omp_wait_policy": None,
            "jit_compile": False,
            "train_samples_per_s": 250.0,
            "steps": 20,
            "warmup_steps": 3,
        },
        "labels": ["yes", "no"],
        "confusion_matrix": [[4, 1], [1, 3]],
        "retrieval": {"pr_curve": {"recall": [0.0, 1.0], "precision": [1.0, 0.5]}},
        "split": "test",
        "n_examples": 9,
    }


def full_result() -> CellResult:
    """A result with every part filled, for the round trips."""
    return CellResult(
        cell=CellInfo(**{**CELL_V1, "backend": "jax", "jit_compile": True}),
        status="ok",
        model=ModelInfo("tcresnet", "tc-resnet8", 2, 6, 1.0, False),
        dataset=DatasetInfo("synth-words", {"train": 30}, {"count": 0}, {"labels": ["a", "b"]}),
        metrics={"accuracy": Metric.of("accuracy", 0.75), "params": Metric.of("params", 1234)},
        environment={"backend": "jax"},
        started=1.0,
        finished=2.0,
        wall_seconds=1.0,
        history={"loss": (1.0, 0.5)},
        best_epoch=2,
        timing=Timing(train_seconds=1.0, epoch_seconds=(0.6, 0.4), steps=4),
        speed=Speed(
            peak_gflops=60.0,
            flops_per_example=6.5e6,
            compile_seconds=2.0,
            step_seconds={"p10": 0.1, "p50": 0.12, "p90": 0.2},
            latency_ms={"p50": 2.0, "p90": 2.5},
            infer_samples_per_s=3000.0,
            utilization=0.05,
            data_wait_share=0.01,
            train_samples_per_s=250.0,
            steps=20,
            warmup_steps=3,
            backend="jax",
            jit_compile=True,
        ),
        gradient_flow=GradientFlow(init={"first_last_ratio": 0.5}, steps=20, overhead=0.02),
        tables={"gradflow": "tables/gradflow/x.parquet"},
        deterministic=False,
        evaluation={"confusion_matrix": [[1, 0], [0, 1]], "split": "test"},
    )


def test_a_schema_1_result_is_upgraded():
    r = CellResult.from_dict(v1_kws())
    assert r.schema_version == SCHEMA_VERSION
    assert r.id == CELL_V1["id"] and r.kind == "plain" and r.ok
    assert r.cell.dataset_options == {"profile": "tiny"} and r.cell.train["epochs"] == 3
    assert r.model.layers == 6 and r.model.depth == 2
    assert r.metrics["accuracy"] == Metric(0.75, "fraction", True)
    assert r.value("params") == 1234 and r.value("wer") is None
    # task extras move under evaluation; corpus extras under dataset.extra
    assert r.evaluation["confusion_matrix"] == [[4, 1], [1, 3]]
    assert r.evaluation["labels"] == ["yes", "no"] and r.evaluation["n_examples"] == 9
    assert r.evaluation["retrieval"]["pr_curve"]["precision"] == [1.0, 0.5]
    assert r.dataset.name == "synth-words" and r.dataset.sizes["test"] == 9
    assert r.dataset.skipped_count == 1
    assert r.dataset.extra == {"labels": ["yes", "no"], "speakers": 4}
    assert r.speed.peak_gflops == 60.0 and r.speed.latency_ms["p90"] == 2.5
    assert r.timing.epoch_seconds == (4.5, 3.5)
    assert r.gradient_flow.init["first_last_ratio"] == 0.5 and r.gradient_flow.steps == 20
    assert r.history["val_accuracy"] == (0.5, 0.7)
    assert r.deterministic  # schema 1 wrote the flag for timing cells only


def test_schema_1_failures_and_the_timing_flag_are_upgraded():
    failed = {
        "cell": dict(CELL_V1),
        "status": "error",
        "error": "the jax child process exited with code 1 before writing this cell",
        "traceback": "...",
        "started": 1.0,
        "finished": 1.0,
        "wall_seconds": 0.0,
    }
    r = CellResult.from_dict(failed)
    assert r.status == "error" and r.model is None and r.speed is None and not r.metrics
    timing = {**v1_kws(), "deterministic": False}
    assert CellResult.from_dict(timing).deterministic is False


def test_a_schema_1_run_directory_is_read_and_reported(tmp_path):
    """An older run directory still renders: the store upgrades every file it reads."""
    from reports import html

    store.write_json(tmp_path / "suite.json", {"name": "old", "seeds": [0]})
    old = {k: v for k, v in v1_kws().items() if k != "tables"}  # no gradient table on disk
    store.write_json(store.cell_path(tmp_path, CELL_V1["id"]), old)
    (result,) = store.read_results(tmp_path)
    assert result.schema_version == SCHEMA_VERSION
    text = html.write_report(tmp_path).read_text()
    assert CELL_V1["id"] in text and "0.750" in text


def test_a_newer_schema_is_refused_naming_the_file_and_the_version(tmp_path):
    path = store.cell_path(tmp_path, "future")
    store.write_json(path, {**full_result().to_dict(), "schema_version": 99})
    with pytest.raises(store.ResultsError) as err:
        store.read_result(path)
    assert str(path) in str(err.value) and "99" in str(err.value)
    with pytest.raises(store.ResultsError, match="future.json"):
        store.read_results(tmp_path)


def test_to_dict_and_from_dict_round_trip(tmp_path):
    r = full_result()
    data = r.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION
    assert json.loads(json.dumps(data)) == data  # JSON-ready as it is
    assert CellResult.from_dict(data) == r
    path = store.write_result(tmp_path, r)
    assert path == store.cell_path(tmp_path, r.id)
    assert store.read_result(path) == r
    bare = CellResult(cell=r.cell, status="oom", error="OOM")
    assert CellResult.from_dict(json.loads(json.dumps(bare.to_dict()))) == bare


@pytest.mark.parametrize(
    "where",
    [
        lambda d: d.update(colour="blue"),
        lambda d: d["cell"].update(colour="blue"),
        lambda d: d["speed"].update(colour="blue"),
    ],
    ids=["top", "cell", "speed"],
)
def test_an_unknown_key_is_refused_by_name(where):
    data = copy.deepcopy(full_result().to_dict())
    where(data)
    with pytest.raises(SchemaError, match="colour"):
        CellResult.from_dict(data, "cells/x.json")
    with pytest.raises(SchemaError, match=r"cells/x\.json"):
        CellResult.from_dict(data, "cells/x.json")


def test_a_malformed_result_is_refused_naming_the_source():
    with pytest.raises(SchemaError, match=r"x\.json.*list"):
        CellResult.from_dict([1, 2], "x.json")
    with pytest.raises(SchemaError, match="status"):
        CellResult.from_dict({**full_result().to_dict(), "status": "fine"}, "x.json")
    missing = full_result().to_dict()
    del missing["cell"]["seed"]
    with pytest.raises(SchemaError, match="seed"):
        CellResult.from_dict(missing, "x.json")


def test_kind_labels_residual_plain_and_block_variants():
    assert kind_label(True) == "residual" and kind_label(False) == "plain"
    assert kind_label(True, "pre") == "residual-pre" and kind_label(False, "post") == "plain"
    assert CellInfo(**{**CELL_V1, "block": "rezero", "residual": True}).kind == "residual-rezero"
