"""Leave-one-speaker-out: suite folds expand into one experiment per held-out speaker, and the
report shows each fold and the mean ± sd per recipe (from results only)."""

import math
import tomllib

import pytest

from bench import suite
from reports import folds
from reports.html import build_sections
from reports.page import Context
from results.record import CellResult
from tests import fakes

SUITE = """
name = "loso"
[train]
epochs = 2
[[experiment]]
name = "pre"
task = "kws"
dataset = "synth-words"
dataset_options = {{ profile = "tiny" }}
models = [{{ preset = "tc-resnet8", depths = [1, 2] }}]
[[experiment]]
name = "scratch"
task = "kws"
dataset = "{dataset}"
{extra}
models = [{{ preset = "tc-resnet8", depths = [1] }}]
"""


def _parse(extra: str, dataset: str = "fsdd"):
    return suite.parse(tomllib.loads(SUITE.format(extra=extra, dataset=dataset)), "loso.toml")


def test_folds_expand_into_one_experiment_per_speaker():
    s = _parse('folds = ["george", "jackson"]\ndataset_options = { val_fraction = 0.2 }')
    names = [e.name for e in s.experiments]
    assert names == ["pre", "scratch-george", "scratch-jackson"]
    options = [e.options for e in s.experiments[1:]]
    assert options == [
        {"split": "speaker", "test_speakers": ("george",), "val_fraction": 0.2},
        {"split": "speaker", "test_speakers": ("jackson",), "val_fraction": 0.2},
    ]
    assert {c.id for c in s.cells()} >= {"kws-scratch-george-tc-resnet8-d1-res-s0"}
    assert len(s.cells()) == 4 + 2 * 2


def test_fsdd_speakers_suite_loads():
    s = suite.load("fsdd-speakers")
    recipes = {e.name.rsplit("-", 1)[0] for e in s.experiments if e.dataset == "fsdd"}
    assert recipes == {
        "scratch", "augment", "transfer", "transfer-augment", "peak", "peak-transfer"
    }  # fmt: skip
    assert len(s.cells()) == 8 + 6 * 5 * 2 * 2
    for cell in s.cells():
        assert (cell.train.augment is not None) == ("augment" in cell.experiment)
        if cell.experiment != "synth-pretrain":  # pretrains both presets
            assert (cell.preset == "tc-resnet8-peak") == ("peak" in cell.experiment)


@pytest.mark.parametrize(
    ("extra", "dataset", "message"),
    [
        ("folds = []", "fsdd", "non-empty list of distinct"),
        ('folds = ["a", "a"]', "fsdd", "non-empty list of distinct"),
        ('folds = "george"', "fsdd", "folds must be a list of strings"),
        ('folds = ["a"]', "synth-words", "folds need a dataset with speaker splits"),
        ('folds = ["a"]\ndataset_options = { test_speakers = ["b"] }', "fsdd", "not both"),
        ('train = { init_from = "@nope" }', "fsdd", "needs cell 'kws-nope-tc-resnet8-d1"),
        ('train = { init_from = "" }', "fsdd", "init_from must be a non-empty string"),
    ],
)
def test_bad_folds_and_init_from_are_refused(extra, dataset, message):
    with pytest.raises(ValueError, match=message):
        _parse(extra, dataset)


def test_init_from_must_name_an_earlier_experiment_with_the_model():
    s = _parse('train = { init_from = "@pre" }')  # pre trains depth 1: fine
    assert s.cells()[-1].train.init_from == "@pre"
    text = SUITE.format(extra='train = { init_from = "@pre" }', dataset="fsdd")
    text = text.replace("depths = [1, 2]", "depths = [2]")
    with pytest.raises(ValueError, match="needs cell 'kws-pre-tc-resnet8-d1-res-s0'"):
        suite.parse(tomllib.loads(text), "loso.toml")


def _fold(recipe, speaker, residual, acc, status="ok") -> CellResult:
    cell_id = f"kws-{recipe}-{speaker}-tc-resnet8-d3-{'res' if residual else 'plain'}-s0"
    return CellResult(
        cell=fakes.cell_info(
            cell_id,
            experiment=f"{recipe}-{speaker}",
            dataset="fsdd",
            depth=3,
            residual=residual,
            dataset_options={"split": "speaker", "test_speakers": [speaker]},
        ),
        status=status,
        metrics=fakes.metrics(accuracy=acc) if status == "ok" else {},
    )


def test_fold_table_per_speaker_mean_and_sd():
    results = [
        _fold("scratch", "george", True, 0.7),
        _fold("scratch", "jackson", True, 0.8),
        _fold("transfer-augment", "george", True, 0.9),
        _fold("transfer-augment", "jackson", True, 1.0),
        _fold("scratch", "george", False, 0.6),
        _fold("scratch", "jackson", False, 0.5, status="error"),  # not a finished fold
        CellResult(cell=fakes.cell_info("other"), status="ok", metrics=fakes.metrics(accuracy=1)),
    ]
    table = folds.fold_table(folds.fold_frame(results))
    rows = {(r.recipe, r.kind): r for r in table.itertuples()}
    assert set(rows) == {
        ("scratch", "residual"),
        ("transfer-augment", "residual"),
        ("scratch", "plain"),
    }
    row = rows[("transfer-augment", "residual")]
    assert (row.george, row.jackson, row.folds) == (0.9, 1.0, 2)
    assert row.mean == pytest.approx(0.95) and row.sd == pytest.approx(math.sqrt(0.005))
    plain = rows[("scratch", "plain")]
    assert plain.folds == 1 and math.isnan(plain.sd) and math.isnan(plain.jackson)


def test_report_has_a_folds_section(tmp_path):
    results = [_fold("scratch", s, True, a) for s, a in (("george", 0.7), ("jackson", 0.9))]
    results.append(_fold("transfer", "george", True, 0.95))  # one fold only: not "best"
    ctx = Context.load(fakes.write_run(tmp_path / "run", results))
    section = next(s for s in build_sections(ctx) if s.id == "folds")
    table = section.blocks[1]
    assert "mean" in table.columns and table.rows[0][table.columns.index("mean")] == "0.800"
    assert "Best mean over the most folds: scratch" in section.blocks[0].text
    assert folds.section(Context.load(fakes.write_run(tmp_path / "none", []))) is None


def _recipe_runs():
    """scratch and peak-transfer over three speakers, d3 residual: peak-transfer is ahead by
    0.10, 0.05 and 0.15 on the three folds."""
    scratch = {"george": 0.70, "jackson": 0.80, "theo": 0.60}
    peak = {"george": 0.80, "jackson": 0.85, "theo": 0.75}
    results = [_fold("scratch", s, True, a) for s, a in scratch.items()]
    results += [_fold("peak-transfer", s, True, a) for s, a in peak.items()]
    results.append(_fold("scratch", "george", False, 0.65))  # one fold: no sd, no Δ
    return results


def test_the_recipe_table_pairs_each_recipe_with_scratch_by_fold():
    table = folds.recipe_table(folds.fold_frame(_recipe_runs()))
    assert list(table.columns) == ["recipe", "d3 residual", "d3 plain"]
    rows = {r["recipe"]: r for r in table.to_dict("records")}
    # mean 0.8 sd 0.05; Δ per fold 0.10, 0.05, 0.15: mean 0.10, sd 0.05, t(2) 4.303 * 0.05 / √3
    half = 4.303 * 0.05 / math.sqrt(3)
    assert rows["peak-transfer"]["d3 residual"] == (
        f"0.800 ± 0.050 (Δ +0.100 [{0.1 - half:+.3f}, {0.1 + half:+.3f}])"
    )
    assert rows["scratch"]["d3 residual"] == "0.700 ± 0.100"
    assert rows["scratch"]["d3 plain"] == "0.650, 1 of 3 folds"
    assert rows["peak-transfer"]["d3 plain"] == "–"


def test_bench_report_writes_the_readme_table(tmp_path, capsys):
    from bench import cli

    run = fakes.write_run(tmp_path / "run", _recipe_runs())
    assert cli.main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    md = (run / "tables" / "folds.md").read_text()
    assert f"held-out speakers: {(run / 'tables' / 'folds.md').resolve()}" in out
    lines = md.splitlines()
    assert lines[2] == "| recipe | d3 residual | d3 plain |" and lines[3] == "|---|---|---|"
    assert lines[4].startswith("| scratch | 0.700 ± 0.100 | 0.650, 1 of 3 folds |")
    assert lines[5].startswith("| peak-transfer | 0.800 ± 0.050 (Δ +0.100 [")
    assert "paired by fold" in lines[0] and "over 3 folds" in lines[0]
    html = (run / "report.html").read_text()
    assert "Δ +0.100" in html
