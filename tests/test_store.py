"""Results files: atomic writes, and unreadable files reported by name."""

import json
import os

import pytest

from bench import store


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
    store.write_json(store.cell_path(tmp_path, "good"), {"status": "ok"})
    bad = store.cell_path(tmp_path, "bad")
    bad.write_text('{"status": "ok", "metr')
    with pytest.raises(store.ResultsError, match="bad.json"):
        store.read_results(tmp_path)


def test_is_done_only_for_final_statuses(tmp_path):
    store.write_json(store.cell_path(tmp_path, "a"), {"status": "error"})
    store.write_json(store.cell_path(tmp_path, "b"), {"status": "diverged"})
    assert not store.is_done(tmp_path, "a")
    assert store.is_done(tmp_path, "b")
    assert not store.is_done(tmp_path, "c")


def test_nan_survives_round_trip(tmp_path):
    path = tmp_path / "x.json"
    store.write_json(path, {"v": float("nan")})
    assert json.loads(path.read_text())["v"] != json.loads(path.read_text())["v"]
