"""Provenance: a run directory records its inputs; a resume with other inputs is refused, naming
the difference and the way out; the report shows the data folder and fingerprint."""

import json
from pathlib import Path

import pytest
from test_fsdd import make_tree

import datasets
from bench import cli, runner, suite
from reports import html
from results import provenance

SUITE = """
name = "prov"
seeds = [0]
[train]
epochs = 1
warmup_epochs = 0
[[experiment]]
task = "kws"
dataset = "fsdd"
models = [{ preset = "tc-resnet8", depths = [1], residual = [true] }]
"""


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "prov.toml"
    path.write_text(SUITE)
    a = make_tree(tmp_path / "a" / "recordings", speakers=("alice", "bob"), takes=range(6)).parent
    b = make_tree(tmp_path / "b" / "recordings", speakers=("alice", "carol"), takes=range(6)).parent
    return suite.load(path), path, a, b, tmp_path / "run"


def test_fingerprint_hashes_file_list_and_sizes(tmp_path):
    root = make_tree(tmp_path / "r", speakers=("alice",), takes=range(2))
    first = datasets.fingerprint("fsdd", {}, root)
    assert first["fingerprint"].startswith("files:") and first["files"] == 20
    assert datasets.fingerprint("fsdd", {}, root) == first
    (root / "9_alice_1.wav").write_bytes(b"RIFF" + bytes(100))  # same name, other size
    assert datasets.fingerprint("fsdd", {}, root)["fingerprint"] != first["fingerprint"]
    synth = datasets.fingerprint("synth-words", {"profile": "tiny"})
    assert synth["data_dir"] is None and synth["fingerprint"].startswith("key:")


def test_resume_with_another_data_dir_is_refused(setup, monkeypatch):
    s, _, a, b, run_dir = setup
    monkeypatch.delenv("RESDEPTH_DATA_DIR", raising=False)
    monkeypatch.delenv("RESDEPTH_DATA_DIR_FSDD", raising=False)
    runner._claim_run_dir(run_dir, s)
    runner.check_provenance(run_dir, runner.describe_inputs(s, str(a)))
    recorded = provenance.read(run_dir)
    assert recorded["corpora"]["fsdd"]["data_dir"] == str(a.resolve())
    with pytest.raises(ValueError) as err:
        runner.run_suite(s, run_dir, data_dir=str(b), verbose=0)  # refused before any training
    message = str(err.value)
    assert f"fsdd: data folder {a.resolve()} -> {b.resolve()}" in message
    assert "--out" in message and "--accept-changed-data" in message
    assert not (run_dir / "cells").exists()


def test_resume_with_a_changed_corpus_is_refused_unless_accepted(setup):
    s, _, a, _, run_dir = setup
    runner.check_provenance(run_dir, runner.describe_inputs(s, str(a)))
    (a / "recordings" / "3_alice_9.wav").write_bytes(
        (a / "recordings" / "3_alice_1.wav").read_bytes()
    )
    now = runner.describe_inputs(s, str(a))
    with pytest.raises(
        ValueError,
        match=r"fsdd: corpus fingerprint files:\w+ -> files:\w+ \(121 files now, 120 then\)",
    ):
        runner.check_provenance(run_dir, now)
    runner.check_provenance(run_dir, now, accept_changed=True)
    recorded = provenance.read(run_dir)
    assert recorded["corpora"] == now["corpora"]
    assert recorded["previous"][0]["corpora"]["fsdd"]["files"] == 120
    runner.check_provenance(run_dir, now)  # the same inputs again: accepted


def test_cli_resume_with_other_data_exits_2_naming_it(setup, capsys):
    s, path, a, b, run_dir = setup
    runner._claim_run_dir(run_dir, s)
    runner.check_provenance(run_dir, runner.describe_inputs(s, str(a)))
    code = cli.main(["run", "--suite", str(path), "--out", str(run_dir), "--data-dir", str(b)])
    err = capsys.readouterr().err
    assert code == 2
    assert "data folder" in err and str(b.resolve()) in err and "--accept-changed-data" in err
    assert "Traceback" not in err


def test_report_shows_data_folder_and_fingerprint(setup):
    s, _, a, _, run_dir = setup
    runner._claim_run_dir(run_dir, s)
    now = runner.describe_inputs(s, str(a))
    runner.check_provenance(run_dir, now)
    (run_dir / "cells").mkdir()
    page = html.write_report(run_dir).read_text()
    assert str(a.resolve()) in page
    assert now["corpora"]["fsdd"]["fingerprint"] in page
    assert json.loads((run_dir / "provenance.json").read_text())["code_version"] in page


ROOT = Path(__file__).resolve().parents[1]


def test_code_version_is_git_describe_or_package_version(monkeypatch):
    import subprocess

    if (ROOT / ".git").exists():  # a checkout: exactly what git says
        described = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--tags"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert runner.code_version() == f"git {described}"

    def no_git(*args, **kwargs):
        raise OSError("git: not found")

    monkeypatch.setattr(runner.subprocess, "run", no_git)  # no git: the installed version
    from importlib import metadata

    assert runner.code_version() == f"resdepth {metadata.version('resdepth')}"


def test_cli_resume_with_a_changed_corpus_runs_when_accepted(setup, capsys):
    """``--accept-changed-data`` through the CLI: the refused resume runs, and the provenance
    keeps what the run had before."""
    s, path, a, _, run_dir = setup
    argv = ["run", "--suite", str(path), "--out", str(run_dir), "--data-dir", str(a), "-q"]
    runner._claim_run_dir(run_dir, s)
    runner.check_provenance(run_dir, runner.describe_inputs(s, str(a)))
    (a / "recordings" / "3_alice_9.wav").write_bytes(
        (a / "recordings" / "3_alice_1.wav").read_bytes()
    )
    assert cli.main([*argv, "--no-report"]) == 2
    assert "corpus fingerprint" in capsys.readouterr().err
    assert cli.main([*argv, "--no-report", "--accept-changed-data"]) == 0
    recorded = provenance.read(run_dir)
    assert recorded["corpora"]["fsdd"]["files"] == 121
    assert recorded["previous"][0]["corpora"]["fsdd"]["files"] == 120
    assert len(list((run_dir / "cells").glob("*.json"))) == 1
