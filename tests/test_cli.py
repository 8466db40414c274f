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
    assert "kws-synth-words-tc-resnet8-d16-res-s2" in out
    assert "kws-synth-words-tc-resnet8-d16-plain-s0" in out
    kws, asr = (line for line in out.splitlines() if line.startswith("  experiment "))
    assert "precompute_features=true" in kws and "seeds=" not in kws  # the suite's seeds
    assert "precompute_features" not in asr  # speech recognition trains on audio
    assert "augment=time_masks=2,freq_masks=1" in asr and asr.endswith("seeds=[0]")


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


def test_data_make_prints_sizes_and_caches_the_corpus_in_resdepth_cache(
    capsys, tmp_path, monkeypatch
):
    """Without --cache-dir the corpus is made into ``$RESDEPTH_CACHE`` (not ``~/.cache``) and
    read back from there the second time."""
    monkeypatch.setenv("RESDEPTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    argv = ["data", "make", "synth-sentences", "--set", "profile=tiny"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "synth-sentences: sizes {'train': 48, 'val': 8, 'test': 16}" in out
    (cached,) = (tmp_path / "cache" / "synth-sentences").glob("*.npz")
    assert not (tmp_path / "home").exists()
    stamp = cached.stat().st_mtime_ns
    assert cli.main(argv) == 0 and cached.stat().st_mtime_ns == stamp  # loaded, not remade
    assert "sizes {'train': 48, 'val': 8, 'test': 16}" in capsys.readouterr().out


# The names `bench list` must print: every suite file, and the tasks and datasets the README
# names (golden lists: a registry that loses one fails here).
TASKS = {"kws", "asr", "timing", "timing-asr"}
DATASETS = {"synth-words", "fsdd", "speech-commands", "synth-sentences", "fsdd-digits",
            "librispeech", "synth-lengths"}  # fmt: skip


def test_list_names_every_suite_task_dataset_and_preset(capsys):
    import models

    assert cli.main(["list"]) == 0
    listed = {}
    for line in capsys.readouterr().out.splitlines():
        key, _, names = line.partition(":")
        listed[key.strip()] = {n.strip() for n in names.split(",")}
    assert listed["suites"] == {p.stem for p in (ROOT / "bench" / "suites").glob("*.toml")}
    assert listed["tasks"] == TASKS
    assert listed["datasets"] == DATASETS
    assert listed["presets"] == set(models.preset_names()) and len(listed["presets"]) == 17


def _librispeech_tree(root: Path) -> Path:
    """Three one-chapter subsets (two 0.25 s utterances each) in LibriSpeech's layout."""
    import numpy as np
    import soundfile as sf

    for subset in ("train-mini", "dev-mini", "test-mini"):
        folder = root / subset / "19" / "198"
        folder.mkdir(parents=True)
        rows = []
        for i, text in enumerate(("HELLO THERE", "GOOD DAY")):
            uid = f"19-198-{i:04d}"
            sf.write(folder / f"{uid}.flac", 0.1 * np.sin(np.arange(4000) / 3.0), 16000)
            rows.append(f"{uid} {text}")
        (folder / "19-198.trans.txt").write_text("\n".join(rows) + "\n")
    return root


MINI = ["--set", "train=train-mini", "--set", "val=dev-mini", "--set", "test=test-mini"]


def test_resdepth_data_dir_is_the_corpus_root_when_data_dir_is_absent(
    capsys, tmp_path, monkeypatch
):
    tree = _librispeech_tree(tmp_path / "corpus")
    monkeypatch.setenv("RESDEPTH_DATA_DIR", str(tree))
    assert cli.main(["data", "make", "librispeech", *MINI]) == 0
    assert "librispeech: sizes {'train': 2, 'val': 2, 'test': 2}" in capsys.readouterr().out
    # --data-dir, when given, wins over the variable
    assert cli.main(["data", "make", "librispeech", *MINI, "--data-dir", str(tmp_path)]) != 0
    assert str(tmp_path) in capsys.readouterr().err


def test_a_runs_dataset_folder_comes_from_resdepth_data_dir_name(tmp_path, monkeypatch):
    """In a run, ``$RESDEPTH_DATA_DIR_LIBRISPEECH`` gives LibriSpeech's folder, over the run's
    ``--data-dir`` (which another corpus of the suite may use)."""
    from bench import runner, suite

    tree = _librispeech_tree(tmp_path / "ls")
    monkeypatch.setenv("RESDEPTH_DATA_DIR_LIBRISPEECH", str(tree))
    s = suite.parse(
        {
            "name": "x",
            "experiment": [
                {
                    "task": "asr",
                    "dataset": "librispeech",
                    "dataset_options": {"train": "train-mini", "val": "dev-mini",
                                        "test": "test-mini"},  # fmt: skip
                    "models": [{"preset": "tc-resnet8-ctc"}],
                }
            ],
        },
        "x",
    )
    data = runner._DataCache(str(tmp_path / "elsewhere"), tmp_path / "cache").get(s.cells()[0])
    assert data.info["data_dir"] == str(tree.resolve()) or data.info["data_dir"] == str(tree)
    assert data.train.transcripts == ("hello there", "good day")


def test_experiment_runs_only_the_named_experiments_and_refuses_an_unknown_one(capsys):
    assert cli.main(["run", "--suite", "gpu-check", "--experiment", "ctc", "--dry-run"]) == 0
    listed = [ln.strip() for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ")]
    cells = [ln for ln in listed if not ln.startswith("experiment")]
    assert len(cells) == 8 and all(c.startswith("timing-asr-ctc-quartznet-5x5-") for c in cells)
    assert cli.main(["run", "--suite", "gpu-check", "--experiment", "kws", "asr"]) == 2
    assert "--experiment asr: not in suite 'gpu-check'; its experiments: kws, ctc" in (
        capsys.readouterr().err
    )
