"""Generated bad input never ends in a traceback: suites with one key given a value of the wrong
type or range, unknown or repeated values, and JSON files of the wrong kind where a baseline, a
results file, a run's ``suite.json`` or a saved model's sidecar is expected. ``python -m bench``
answers each with exit 2 and one ``error:`` line (or accepts it: exit 0), never an internal error
(exit 1) or an exception (hypothesis)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_check import cell as checked_cell

from bench import cli
from results import store

BASE = {
    "name": "fuzz",
    "seeds": [0],
    "train": {"epochs": 2, "batch_size": 8, "learning_rate": 0.005, "warmup_epochs": 0.5},
    "experiment": [
        {
            "task": "kws",
            "dataset": "synth-words",
            "dataset_options": {"profile": "tiny"},
            "models": [{"preset": "tc-resnet8", "depths": [1, 2], "residual": [True, False]}],
        }
    ],
}
# Where a generated value goes: (path of tables, key).
KEYS = [
    ((), "seeds"), ((), "name"), ((), "device"), ((), "precision"), ((), "replicas"),
    ((), "description"), ((), "resources"),
    (("train",), "epochs"), (("train",), "batch_size"), (("train",), "learning_rate"),
    (("train",), "warmup_epochs"), (("train",), "patience"), (("train",), "weight_decay"),
    (("train",), "gradient_interval"), (("train",), "steps_per_execution"),
    (("train",), "precompute_features"), (("train",), "init_from"), (("train",), "augment"),
    (("experiment", 0), "task"), (("experiment", 0), "dataset"), (("experiment", 0), "name"),
    (("experiment", 0), "seeds"), (("experiment", 0), "dataset_options"),
    (("experiment", 0), "folds"), (("experiment", 0), "backends"),
    (("experiment", 0, "models", 0), "preset"), (("experiment", 0, "models", 0), "depths"),
    (("experiment", 0, "models", 0), "residual"), (("experiment", 0, "models", 0), "width"),
    (("experiment", 0, "models", 0), "block"),
    (("experiment", 0, "dataset_options"), "profile"),
    (("experiment", 0, "dataset_options"), "seed"),
    ((), "no_such_key"), (("train",), "no_such_key"), (("experiment", 0), "no_such_key"),
]  # fmt: skip

scalars = st.one_of(
    st.integers(-3, 3),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["", "tc-resnet8", "gpu", "mixed_float16", "@nowhere", "-1", "1e9"]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.lists(st.integers(0, 3), min_size=2, max_size=4),  # repeated seeds or depths
    st.dictionaries(st.sampled_from(["epochs", "x", "profile", "time_masks"]), scalars, max_size=2),
)


def _toml(value) -> str:
    """A value as TOML (the few types the strategies make)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"


def _suite_text(data: dict) -> str:
    lines = []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in data.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    for key, value in data.items():
        if key not in tables and key not in arrays:
            lines.append(f"{key} = {_toml(value)}")
    for key, table in tables.items():
        lines.append(f"[{key}]")
        lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    for key, rows in arrays.items():
        for row in rows:
            lines.append(f"[[{key}]]")
            lines += [f"{k} = {_toml(v)}" for k, v in row.items()]
    return "\n".join(lines) + "\n"


def _with(path: tuple, key: str, value) -> dict:
    data = json.loads(json.dumps(BASE))
    node = data
    for step in path:
        if isinstance(node, dict) and step not in node:
            node[step] = {}
        node = node[step]
    node[key] = value
    return data


def _main(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    return code, err.getvalue()


def _assert_clean(code: int, err: str, what: str) -> None:
    assert code in (0, 2), f"{what}: exit {code}\n{err}"
    assert "Traceback" not in err, f"{what}\n{err}"
    if code == 2:
        lines = [line for line in err.splitlines() if not line.startswith("warning:")]
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{what}\n{err}"


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(KEYS), values)
def test_a_generated_bad_suite_exits_2_with_one_error_line(where, value):
    path, key = where
    text = _suite_text(_with(path, key, value))
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "fuzz.toml"
        suite.write_text(text)
        code, err = _main(["run", "--suite", str(suite), "--dry-run", "--out", f"{tmp}/run"])
    _assert_clean(code, err, text)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "format",
                    "cells",
                    "comparisons",
                    "tolerances",
                    "cell",
                    "status",
                    "metrics",
                    "schema_version",
                    "id",
                ]
            ),  # fmt: skip
            inner,
            max_size=4,
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values, json_values)
def test_json_of_the_wrong_kind_exits_2_naming_the_file(baseline, cell):
    """A baseline that is not one, and a cell file that is not one, in bench check."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        (run / "cells").mkdir(parents=True)
        (run / "cells" / "x.json").write_text(json.dumps(cell))
        base = Path(tmp) / "base.json"
        base.write_text(json.dumps(baseline))
        code, err = _main(["check", str(run), "--baseline", str(base)])
    _assert_clean(code, err, f"baseline={baseline!r} cell={cell!r}")
    if code == 2:
        assert "base.json" in err or "x.json" in err or "run" in err, err


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_a_suite_json_of_the_wrong_kind_exits_2_naming_it(suite):
    """A run's ``suite.json`` that is not a suite: read as a suite (``--suite RUN/suite.json``),
    by a resumed run of another suite, and by ``bench baseline`` of that run."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        (run / "cells").mkdir(parents=True)
        store.write_result(run, checked_cell("a-d1-res"))
        (run / "suite.json").write_text(json.dumps(suite))
        for argv in (
            ["run", "--suite", str(run / "suite.json"), "--dry-run"],
            ["run", "--suite", "smoke", "--out", str(run), "--experiment", "nowhere"],
            ["baseline", str(run), "--out", f"{tmp}/base.json"],
        ):
            code, err = _main(argv)
            _assert_clean(code, err, f"{argv}: suite.json={suite!r}")
            if code == 2 and argv[0] == "run" and argv[2] != "smoke":
                assert "suite.json" in err, err


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_a_model_sidecar_of_the_wrong_kind_exits_2_naming_it(meta):
    """``bench eval`` of a model whose sidecar (``<cell>.json`` beside ``<cell>.keras``) is not
    one: refused by name before the model or the corpus loads."""
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "cell.keras"
        with zipfile.ZipFile(model, "w") as archive:
            archive.writestr("config.json", "{}")
        model.with_suffix(".json").write_text(json.dumps(meta))
        code, err = _main(["eval", str(model), "--dataset", "synth-words", "--cache-dir", tmp])
    _assert_clean(code, err, f"sidecar={meta!r}")
    if code == 2:
        assert "cell.json" in err or "cell.keras" in err, err


@pytest.mark.parametrize(
    "cell, message",
    [
        ({"task": "asr"}, "needs its cell's preset and depth"),
        ({"task": "asr", "preset": "quartznet-small", "depth": "3"}, "preset and depth"),
        ({"task": "nope"}, "unknown task 'nope'"),
    ],
)
def test_a_sidecar_missing_what_its_task_reads_is_refused_by_name(cell, message, tmp_path):
    model = tmp_path / "cell.keras"
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("config.json", "{}")
    model.with_suffix(".json").write_text(json.dumps({"labels": [], "cell": cell}))
    code, err = _main(["eval", str(model), "--dataset", "synth-sentences"])
    _assert_clean(code, err, str(cell))
    assert code == 2 and message in err, err


@pytest.mark.parametrize(
    "where, value",
    [
        (((), "seeds"), [0, 1, 0]),
        ((("experiment", 0), "seeds"), [2, 2]),
        ((("experiment", 0, "models", 0), "depths"), [1, 2, 1]),
        ((("experiment", 0, "models", 0), "residual"), [True, True]),
        (((), "precision"), ["float32", "float32"]),
    ],
)
def test_a_repeated_sweep_value_is_refused_by_name(where, value, tmp_path):
    """A repeated seed or depth would run the same cell twice and count the copy as resumed."""
    suite = tmp_path / "fuzz.toml"
    suite.write_text(_suite_text(_with(*where, value)))
    code, err = _main(["run", "--suite", str(suite), "--dry-run"])
    assert code == 2 and f"{where[1]} repeats" in err and str(suite) in err, err


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--replicas", "0", "must be an integer >= 1"),
        ("--assume-peak-tflops", "-1", "must be a finite number > 0"),
        ("--assume-peak-tflops", "nan", "must be a finite number > 0"),
        ("--assume-memory-gb", "0", "must be a finite number > 0"),
        ("--assume-utilization", "5", "must be a share in (0, 1]"),
        ("--assume-utilization", "abc", "must be a number > 0"),
    ],
)
def test_numeric_options_are_range_checked(option, value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--suite", "smoke", "--dry-run", option, value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument {option}: {message}, got {value}" in err, err
