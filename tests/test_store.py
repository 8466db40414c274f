"""Results files: atomic writes, unreadable files reported by name, final statuses."""

import dataclasses
import json
import os

import pytest
from fakes import cell_info

from results import store
from results.record import CellResult


def result(cell_id: str, status: str = "ok") -> CellResult:
    return CellResult(cell=cell_info(cell_id), status=status)


def test_write_json_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "cells" / "a.json"
    store.write_json(path, {"status": "ok", "x": 1})
    before = path.read_text()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.write_json(path, {"status": "ok", "x": 2})
    # the old file is untouched and no temporary file is left behind
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_unparsable_results_file_is_named(tmp_path):
    store.write_result(tmp_path, result("good"))
    bad = store.cell_path(tmp_path, "bad")
    bad.write_text('{"status": "ok", "metr')
    with pytest.raises(store.ResultsError, match="bad.json"):
        store.read_results(tmp_path)


def test_a_file_that_is_not_a_cell_result_is_named(tmp_path):
    store.write_json(store.cell_path(tmp_path, "half"), {"status": "ok"})  # no cell
    with pytest.raises(store.ResultsError, match=r"half\.json.*cell"):
        store.read_results(tmp_path)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(store.ResultsError, match="no cells/ folder"):
        store.read_results(tmp_path)


def test_is_done_only_for_final_statuses(tmp_path):
    store.write_result(tmp_path, result("a", "error"))
    store.write_result(tmp_path, result("b", "diverged"))
    assert not store.is_done(tmp_path, "a")
    assert store.is_done(tmp_path, "b")
    assert not store.is_done(tmp_path, "c")


def test_results_are_read_back_sorted_by_cell_id(tmp_path):
    for cell_id in ("b", "a", "c"):
        store.write_result(tmp_path, result(cell_id))
    assert [r.id for r in store.read_results(tmp_path)] == ["a", "b", "c"]


def test_nan_survives_round_trip(tmp_path):
    path = tmp_path / "x.json"
    store.write_json(path, {"v": float("nan")})
    assert json.loads(path.read_text())["v"] != json.loads(path.read_text())["v"]
    diverged = dataclasses.replace(
        result("d", "diverged"), history={"loss": (1.0, float("nan"))}, diverged_step=3
    )
    back = store.read_result(store.write_result(tmp_path, diverged))
    assert back.history["loss"][0] == 1.0 and back.history["loss"][1] != back.history["loss"][1]
