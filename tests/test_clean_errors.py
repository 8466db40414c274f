"""Clean errors: every CLI failure a user can cause ends with exit code 2 and one message saying
what and where (no traceback); corrupt cell files are moved aside and the report is still written;
a failed run leaves no folder; ``eval`` checks the model before the data and refuses labels it
cannot score; normal commands print no TensorFlow/absl/oneDNN log lines."""

import json
import subprocess
import sys
from pathlib import Path

import fakes
import keras
import pytest
from test_fsdd import make_tree

from bench import cli, suite
from results.record import CellResult

ROOT = Path(__file__).resolve().parents[1]


def _cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "afile").write_text("a file\n")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("the user's own files\n")
    (tmp_path / "fake.keras").write_text("not a model\n")
    return tmp_path


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["run", "--suite", "smoke", "--out", "{t}/afile"],
            "--out {t}/afile is a file, not a folder",
        ),
        (
            ["run", "--suite", "smoke", "--out", "{t}/afile/sub"],
            "--out {t}/afile/sub: cannot create it",
        ),
        (
            ["run", "--suite", "smoke", "--out", "{t}/junk"],
            "is a non-empty folder that is not a run directory",
        ),
        (
            ["run", "--suite", "smoke", "--out", "{t}/r", "--cache-dir", "{t}/afile"],
            "--cache-dir {t}/afile is a file",
        ),
        (
            ["data", "make", "synth-words", "--cache-dir", "{t}/afile"],
            "--cache-dir {t}/afile is a file",
        ),
        (
            ["data", "make", "synth-words", "--set", "bogus=1"],
            "unknown option(s) bogus for dataset 'synth-words'; known: words",
        ),
        (
            ["eval", "{t}/fake.keras", "--dataset", "fsdd"],
            "{t}/fake.keras is not a Keras model file",
        ),
        (["eval", "{t}/none.keras", "--dataset", "fsdd"], "model not found: {t}/none.keras"),
        (
            ["run", "--suite", "fsdd", "--out", "{t}/r", "--data-dir", "{t}/nodata"],
            "data folder {t}/nodata (from --data-dir) for dataset 'fsdd' does not exist",
        ),
        (["report", "{t}/nothing"], "{t}/nothing is not a run directory"),
    ],
)
def test_user_errors_exit_2_with_one_message(paths, capsys, argv, message):
    code, _, err = _cli(capsys, *[a.format(t=paths) for a in argv])
    assert code == 2
    assert err.startswith("error: ") and message.format(t=paths) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (paths / "r").exists()  # a failed run leaves no folder behind
    assert (paths / "junk" / "notes.txt").exists()


def _run_dir(tmp_path: Path) -> Path:
    good = CellResult(
        cell=fakes.cell_info("kws-a"), status="ok", metrics=fakes.metrics(accuracy=0.9)
    )
    other = CellResult(
        cell=fakes.cell_info("kws-b"), status="ok", metrics=fakes.metrics(accuracy=0.8)
    )
    run_dir = fakes.write_run(tmp_path / "run", [good, other])
    return run_dir


@pytest.mark.parametrize("content", ['{"schema_version": 2, "cell": {"id"', "[]", "", "\xff"])
def test_corrupt_cell_file_is_moved_aside_and_the_report_written(tmp_path, capsys, content):
    run_dir = _run_dir(tmp_path)
    (run_dir / "cells" / "kws-b.json").write_text(content, errors="surrogateescape")
    code, out, err = _cli(capsys, "report", run_dir)
    assert code == 0, err
    moved = run_dir / "cells" / "corrupt" / "kws-b.json"
    assert moved.exists() and not (run_dir / "cells" / "kws-b.json").exists()
    assert err.startswith("warning: ") and "kws-b.json" in err and f"moved to {moved}" in err
    assert (run_dir / "report.html").exists() and "report:" in out


def test_check_on_a_corrupt_cell_file_exits_2_naming_it(tmp_path, capsys):
    run_dir = _run_dir(tmp_path)
    (run_dir / "cells" / "kws-b.json").write_text("[]")
    code, _, err = _cli(capsys, "check", run_dir, "--baseline", ROOT / "bench/baselines/smoke.json")
    assert code == 2 and "kws-b.json" in err and "Traceback" not in err
    assert "moves unreadable cell files to cells/corrupt/" in err


@pytest.fixture(scope="module")
def digit_tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("fsdd") / "recordings", speakers=("alice",)).parent


def _model(tmp_path: Path, labels: list[str]) -> Path:
    path = tmp_path / "m.keras"
    inputs = keras.Input((16000,))
    embedding = keras.layers.Dense(8, name="embedding")(inputs)  # kws scoring reads it
    keras.Model(inputs, keras.layers.Dense(len(labels))(embedding)).save(path)
    meta = {"labels": labels, "cell": {"task": "kws"}}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def test_eval_refuses_a_model_whose_labels_do_not_cover_the_corpus(tmp_path, capsys, digit_tree):
    model = _model(tmp_path, ["0", "1", "2", "3"])
    code, _, err = _cli(capsys, "eval", model, "--dataset", "fsdd", "--data-dir", digit_tree)
    assert code == 2
    assert "the model knows 4 labels; 30 of 50 test clips have one of the 6 others" in err
    assert "--allow-label-subset" in err


def test_eval_with_allow_label_subset_prints_the_dropped_count(tmp_path, capsys, digit_tree):
    model = _model(tmp_path, ["0", "1", "2", "3"])
    argv = ["eval", model, "--dataset", "fsdd", "--data-dir", digit_tree, "--allow-label-subset"]
    code, out, err = _cli(capsys, *argv)
    assert code == 0, err
    assert json.loads(out)["dropped_unknown_label"] == 30
    assert "WARNING: 30 test clips dropped" in err


def test_eval_checks_the_model_before_loading_data(tmp_path, capsys):
    (tmp_path / "m.keras").write_text("text")
    code, _, err = _cli(
        capsys, "eval", tmp_path / "m.keras", "--dataset", "fsdd", "--data-dir", tmp_path / "none"
    )
    assert code == 2 and "not a Keras model file" in err


def test_run_help_lists_every_suite(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ", ".join(suite.suite_names()) in text


def test_data_help_promises_a_hash_check_only_where_one_is_made(capsys):
    with pytest.raises(SystemExit):
        cli.main(["data", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "checked where one is pinned: speech-commands; fsdd publishes none" in text


@pytest.mark.parametrize("argv", [["list"], ["run", "--suite", "quick", "--dry-run"]])
def test_normal_commands_print_nothing_on_stderr(argv):
    out = subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0
    assert out.stderr == ""
    assert out.stdout


def test_verbose_brings_the_log_lines_back():
    out = subprocess.run(
        [sys.executable, "-m", "bench", "-v", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # TensorFlow's own start-up lines (which ones depends on the CPU: oneDNN's is not on all)
    assert out.returncode == 0
    assert "oneDNN" in out.stderr or "absl::InitializeLog" in out.stderr, out.stderr


def test_a_harness_fault_exits_1_and_says_how_to_see_the_traceback(monkeypatch, capsys):
    """A ValueError from inside the harness is a bug, not a typo in a suite file: exit 1, no
    ``error:`` line, and ``-v`` shows the traceback."""

    def broken(args):
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr(cli, "cmd_list", broken)
    code, out, err = _cli(capsys, "list")
    assert code == 1 and not err.startswith("error:"), err
    assert "internal error: ValueError: an internal invariant broke" in err
    assert "re-run with -v" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="internal invariant"):
        cli.main(["-v", "list"])


def test_a_user_error_from_any_layer_exits_2(monkeypatch, capsys):
    from results.errors import UserError

    def bad(args):
        raise UserError("suite.toml [train]: epochs must be >= 1. Received: epochs=0")

    monkeypatch.setattr(cli, "cmd_list", bad)
    code, _, err = _cli(capsys, "list")
    assert (
        code == 2 and err == "error: suite.toml [train]: epochs must be >= 1. Received: epochs=0\n"
    )


def test_a_stale_data_folder_variable_is_named_as_the_source(paths, capsys, monkeypatch):
    """$RESDEPTH_DATA_DIR_FSDD wins over --data-dir: when it names a folder that is gone, the
    error says so, instead of asking for the --data-dir that was given."""
    monkeypatch.setenv("RESDEPTH_DATA_DIR_FSDD", str(paths / "moved"))
    argv = ["run", "--suite", "fsdd", "--out", f"{paths}/r", "--data-dir", str(paths)]
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and "Traceback" not in err
    assert f"data folder {paths}/moved (from $RESDEPTH_DATA_DIR_FSDD, which wins over" in err
    assert "set $RESDEPTH_DATA_DIR_FSDD to the corpus folder or unset it" in err
