"""The command line: --help on every sub-command, dry runs, clear errors."""

import subprocess
import sys
from pathlib import Path

import pytest

from bench import cli

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_top_level_help_lists_commands():
    out = _run("--help")
    assert out.returncode == 0
    for command in ("run", "report", "check", "baseline", "eval", "data", "list"):
        assert command in out.stdout


@pytest.mark.parametrize(
    "command", ["run", "report", "check", "baseline", "eval", "data", "list"]
)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    assert len(capsys.readouterr().out) > 100


def test_dry_run_lists_cells_of_quick(capsys):
    assert cli.main(["run", "--suite", "quick", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "kws-synth-words-tc-resnet8-d3-res-s0" in out
    assert "kws-synth-words-tc-resnet8-d3-plain-s0" in out


def test_unknown_suite_is_a_clear_error(capsys):
    assert cli.main(["run", "--suite", "nope", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "unknown suite 'nope'" in err and "quick" in err


def test_bad_set_option_is_named():
    with pytest.raises(ValueError, match="KEY=VALUE"):
        cli._parse_sets(["novalue"])
    assert cli._parse_sets(["words=['yes', 'no']", "seed=3", "split=speaker"]) == {
        "words": ["yes", "no"],
        "seed": 3,
        "split": "speaker",
    }


def test_data_roots_are_resolved_in_one_place(monkeypatch, tmp_path):
    import datasets

    monkeypatch.delenv("RESDEPTH_DATA_DIR", raising=False)
    monkeypatch.delenv("RESDEPTH_CACHE", raising=False)
    monkeypatch.setenv("RESDEPTH_DATA_DIR_FSDD_DIGITS", "/data/fsdd")
    assert datasets.data_dir("fsdd-digits", "/other") == "/data/fsdd"  # the corpus's own wins
    assert datasets.data_dir("librispeech", "/other") == "/other"  # then --data-dir
    assert datasets.data_dir("librispeech") is None
    monkeypatch.setenv("RESDEPTH_DATA_DIR", "/all")
    assert datasets.data_dir("librispeech") == "/all"  # then $RESDEPTH_DATA_DIR
    assert datasets.cache_dir() == Path.home() / ".cache" / "resdepth"
    monkeypatch.setenv("RESDEPTH_CACHE", str(tmp_path))
    assert datasets.cache_dir() == tmp_path and datasets.cache_dir("/x") == Path("/x")


def test_data_make_prints_sizes_for_an_asr_corpus(capsys, tmp_path):
    assert cli.main(["data", "make", "synth-sentences", "--set", "profile=tiny",
                     "--cache-dir", str(tmp_path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "synth-sentences: sizes {'train': 48, 'val': 8, 'test': 16}" in out
