"""Strict suite validation: every value type-checked before training, errors naming the file, the
table, the key, the value received and what is allowed; property-tested with hypothesis."""

import copy
import re
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import cli, suite

BASE = {
    "name": "t",
    "seeds": [0],
    "train": {"epochs": 2, "batch_size": 8, "warmup_epochs": 0.5},
    "experiment": [
        {
            "task": "kws",
            "dataset": "synth-words",
            "dataset_options": {"profile": "tiny"},
            "models": [{"preset": "tc-resnet8", "depths": [1, 2], "residual": [True, False]}],
        }
    ],
}
SOURCE = "bad.toml"


def _with(path: tuple, value):
    data = copy.deepcopy(BASE)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    "path, value, words",
    [
        (("train", "epochs"), "10", r"\[train\]: epochs must be an integer. Received: epochs='10'"),
        (("train", "epochs"), 1.5, r"\[train\]: epochs must be an integer. Received: epochs=1.5"),
        (("train", "epochs"), True, r"epochs must be an integer. Received: epochs=True \(bool\)"),
        (
            ("train", "batch_size"),
            32.5,
            r"batch_size must be an integer. Received: batch_size=32.5",
        ),
        (("train", "learning_rate"), "fast", r"learning_rate must be a number"),
        (("seeds",), [-1], r"bad.toml: seeds must be a non-empty list of integers >= 0"),
        (("seeds",), ["0"], r"bad.toml: seeds must be a list of integers. Received: seeds=\['0'\]"),
        (("seeds",), 3, r"seeds must be a list of integers. Received: seeds=3 \(int\)"),
        (("experiment", 0, "models", 0, "depths"), 3, r"models\[0\]: depths must be a list of"),
        (("experiment", 0, "models", 0, "residual"), [1], r"residual must be a list of booleans"),
        (("experiment", 0, "task"), 3, r"experiment\[0\]: task must be a string. Received: task=3"),
        (
            ("experiment", 0, "models"),
            {"preset": "x"},
            r"experiment\[0\]: models must be a list of tables. Received: models={'preset': 'x'}",
        ),
        (("experiment",), {"task": "kws"}, r"experiment must be a list of tables"),
        (("train",), [1], r"bad.toml: train must be a table"),
    ],
)
def test_wrong_types_are_named(path, value, words):
    with pytest.raises(ValueError, match=words) as err:
        suite.parse(_with(path, value), SOURCE)
    assert str(err.value).startswith(SOURCE)


def test_ints_are_accepted_where_numbers_are_and_tables_are_optional():
    data = _with(("train", "learning_rate"), 1)
    del data["train"]
    assert suite.parse(data, SOURCE).experiments[0].train.epochs == 20
    assert suite.parse(_with(("train", "learning_rate"), 1), SOURCE).experiments[0].train


def test_dry_run_shows_each_experiments_budget_without_a_train_table(tmp_path, capsys):
    text = (suite.SUITES_DIR / "smoke.toml").read_text()
    text = re.sub(r"\[train\][^\[]*", "", text, count=1)
    assert "epochs" not in tomllib.loads(text).get("train", {})
    path = tmp_path / "notrain.toml"
    path.write_text(text)
    assert cli.main(["run", "--suite", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "experiment synth-words (kws on synth-words): epochs=20 batch_size=64" in out


# Values of each TOML type; each strategy below picks one that the key does not allow.
ANY = st.one_of(
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=1),
)
KEYS = {
    ("train", "epochs"): lambda v: type(v) is int and v >= 1,
    ("train", "batch_size"): lambda v: type(v) is int and v >= 1,
    ("train", "patience"): lambda v: type(v) is int and v >= 1,
    ("train", "gradient_interval"): lambda v: type(v) is int and v >= 1,
    ("train", "learning_rate"): lambda v: type(v) in (int, float) and v > 0,
    ("train", "weight_decay"): lambda v: type(v) in (int, float) and v >= 0,
    ("train", "warmup_epochs"): lambda v: type(v) in (int, float) and 0 <= v < 2,
    ("seeds",): lambda v: (
        type(v) is list and bool(v) and all(type(s) is int and s >= 0 for s in v)
        and len(set(v)) == len(v)  # a repeated seed is refused
    ),  # fmt: skip
    ("name",): lambda v: type(v) is str,
    ("description",): lambda v: type(v) is str,
    ("experiment", 0, "name"): lambda v: type(v) is str and bool(v),
    ("experiment", 0, "models", 0, "depths"): lambda v: (
        type(v) is list and all(type(d) is int and d >= 1 for d in v) and len(set(v)) == len(v)
    ),
    ("experiment", 0, "models", 0, "residual"): None,  # a non-empty list of booleans, below
    ("experiment", 0, "models", 0, "width"): lambda v: type(v) in (int, float) and v > 0,
    ("experiment", 0, "jit_compile"): None,
    ("experiment", 0, "backends"): lambda v: False,
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(KEYS, key=str)), value=ANY)
def test_property_wrong_values_are_rejected_naming_the_key(key, value):
    if KEYS[key] is None:
        valid = type(value) is list and bool(value) and all(type(v) is bool for v in value)
        valid = valid and len(set(value)) == len(value)
    else:
        valid = KEYS[key](value)
    # backends: ANY makes no list of backend names, so every value is invalid (lambda above)
    data = _with(key, value)
    if valid:
        suite.parse(data, SOURCE)  # a valid value never raises
        return
    with pytest.raises(ValueError) as err:
        suite.parse(data, SOURCE)
    message = str(err.value)
    assert message.startswith(SOURCE), message
    assert key[-1] in message, message
