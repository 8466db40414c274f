"""Reports from a synthetic run directory: tidy tables, means over seeds, direction-aware best
cell, and a self-contained HTML page that names failures and skipped files."""

import base64
import dataclasses
import math
import re
import statistics

import fakes
import pytest
from fakes import metric, with_cell, with_metrics

from reports import html, tables
from results import store
from results.record import CellResult, DatasetInfo, ModelInfo

PRESETS = {"tc-resnet8": ("tcresnet", 0.0), "res8-narrow": ("res2d", 0.05)}
DEPTHS = (1, 2, 3)
SEEDS = (0, 1)
LABELS = ["yes", "no", "up"]
DIVERGED = "kws-synth-words-tc-resnet8-d3-plain-s1"
SKIPPED = "kws-synth-words-res8-narrow-d1-res-s0"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def accuracy(preset, depth, residual, seed):
    """Residual nets improve with depth, plain ones get worse; seeds differ a little."""
    base = 0.6 + PRESETS[preset][1] + (0.1 * depth if residual else -0.05 * depth)
    return round(base + 0.01 * seed + 0.003 * depth * seed, 6)


SKIP_LOG = {
    "count": 3,
    "by_reason": {"wrong sample rate": 2, "truncated": 1},
    "files": [
        {"file": "a.wav", "reason": "wrong sample rate: 8000"},
        {"file": "b.wav", "reason": "wrong sample rate: 22050"},
        {"file": "c.wav", "reason": "truncated: 0 frames"},
    ],
}


def base_result(cell_id, preset, depth, residual, seed) -> CellResult:
    """What the runner records for every cell, whatever its status."""
    no_skips = {"count": 0, "by_reason": {}, "files": []}
    return CellResult(
        cell=fakes.cell_info(
            cell_id,
            dataset_options={"profile": "tiny"},
            preset=preset,
            depth=depth,
            residual=residual,
            seed=seed,
            train={"epochs": 3},
        ),
        status="ok",
        model=ModelInfo(
            family=PRESETS[preset][0],
            preset=preset,
            depth=depth,
            layers=2 + 2 * depth,
            width=1.0,
            residual=residual,
        ),
        dataset=DatasetInfo(
            name="synth-words",
            sizes={"train": 30, "val": 9, "test": 9},
            skipped=SKIP_LOG if cell_id == SKIPPED else no_skips,
            extra={"labels": LABELS},
        ),
        environment={
            "python": "3.12.1",
            "platform": "Linux-x86_64",
            "cpu": "Test CPU 9000",
            "cpu_count": 2,
            "backend": "tensorflow",
            "packages": {"keras": "3.99.0"},
        },
        started=1_800_000_000.0 + seed,
        finished=1_800_000_100.0 + seed,
        wall_seconds=100.0,
    )


def make_cell(preset, depth, residual, seed) -> CellResult:
    cell_id = f"kws-synth-words-{preset}-d{depth}-{'res' if residual else 'plain'}-s{seed}"
    result = base_result(cell_id, preset, depth, residual, seed)
    if cell_id == DIVERGED:
        return dataclasses.replace(
            result, status="diverged", error="loss is NaN at step 123 <lr=0.5>", diverged_step=123
        )
    acc = accuracy(preset, depth, residual, seed)
    return dataclasses.replace(
        with_metrics(
            result,
            accuracy=acc,
            macro_f1=round(acc - 0.02, 6),
            test_loss=round(2.0 - acc, 6),
            train_seconds=10.0 * depth + seed,
            params=1000 * depth + (0 if residual else 1),
        ),
        evaluation={"labels": LABELS, "confusion_matrix": [[3, 0, 0], [1, 2, 0], [0, 1, 2]]},
        history={"loss": (1.0, 0.7, 0.5), "val_accuracy": (0.4, 0.6, acc)},
        best_epoch=3,
    )


def make_asr_cell(depth: int, residual: bool, experiment: str, **metrics) -> CellResult:
    """A tc-resnet8 cell of the ``asr`` task in ``experiment`` with ``metrics`` (declared names)."""
    r = make_cell("tc-resnet8", depth, residual, 0)
    kind = "res" if residual else "plain"
    cell_id = f"asr-{experiment}-tc-resnet8-d{depth}-{kind}-s0"
    r = with_cell(r, task="asr", id=cell_id, experiment=experiment)
    return dataclasses.replace(r, metrics=fakes.metrics(**metrics), evaluation={})


def all_cells():
    return [
        make_cell(p, d, r, s) for p in PRESETS for d in DEPTHS for r in (True, False) for s in SEEDS
    ]


def write_run(run_dir, results, suite=None):
    suite = suite or {
        "name": "fake",
        "description": "Synthetic results for the report tests.",
        "seeds": list(SEEDS),
        "experiments": [{"name": "synth-words"}],
    }
    return fakes.write_run(run_dir, results, suite)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = write_run(tmp_path_factory.mktemp("run"), all_cells())
    return run_dir, store.read_results(run_dir)


@pytest.fixture(scope="module")
def report(run):
    run_dir, _ = run
    path = html.write_report(run_dir)
    return path, path.read_text()


def test_tidy_has_one_row_per_cell_with_metric_columns(run):
    _, results = run
    df = tables.tidy(results)
    assert len(df) == len(PRESETS) * len(DEPTHS) * 2 * len(SEEDS)
    assert list(df.columns[: len(tables.ID_COLUMNS)]) == tables.ID_COLUMNS
    assert {"accuracy", "macro_f1", "test_loss", "train_seconds", "params"} <= set(df.columns)
    row = df.set_index("cell_id").loc["kws-synth-words-res8-narrow-d2-plain-s1"]
    assert (row.family, row.preset, row.depth, row.layers, row.seed) == (
        "res2d",
        "res8-narrow",
        2,
        6,
        1,
    )
    assert row.kind == "plain" and not row.residual and row.status == "ok"
    assert row.accuracy == pytest.approx(accuracy("res8-narrow", 2, False, 1))
    diverged = df.set_index("cell_id").loc[DIVERGED]
    assert diverged.status == "diverged" and diverged.isna()["accuracy"]
    assert df.set_index("cell_id").loc[SKIPPED, "skipped"] == 3
    assert df["skipped"].sum() == 3


def test_metric_info_reads_unit_and_direction(run):
    info = tables.metric_info(run[1])
    assert info["accuracy"].label == "accuracy (fraction, ↑)"
    assert info["test_loss"].label == "test_loss (nats, ↓)"
    assert info["params"].higher_is_better is False


def test_summary_means_and_sds_over_seeds(run):
    df = tables.tidy(run[1])
    summ = tables.summary(df, "accuracy").set_index(["preset", "depth", "kind"])
    values = [accuracy("tc-resnet8", 2, True, s) for s in SEEDS]
    got = summ.loc[("tc-resnet8", 2, "residual")]
    assert got["mean"] == pytest.approx(statistics.mean(values))
    assert got["std"] == pytest.approx(statistics.stdev(values))
    assert got["n"] == 2 and got["failed"] == 0
    assert got["train_seconds"] == pytest.approx(20.5)
    # the diverged seed is counted as failed and left out of the mean; one seed has no sd
    one = summ.loc[("tc-resnet8", 3, "plain")]
    assert one["n"] == 1 and one["failed"] == 1
    assert one["mean"] == pytest.approx(accuracy("tc-resnet8", 3, False, 0))
    assert one.isna()["std"]
    assert len(summ) == len(PRESETS) * len(DEPTHS) * 2
    # residual before plain, depths ascending, within each preset
    first = tables.summary(df, "accuracy").head(4)
    assert list(first["kind"]) == ["residual"] * 3 + ["plain"] and list(first["depth"][:3]) == [
        1,
        2,
        3,
    ]


def test_skip_gain_is_positive_when_residual_is_better(run):
    summ = tables.summary(tables.tidy(run[1]), "accuracy")
    gain = tables.skip_gain(summ).set_index(["preset", "depth"])
    res = statistics.mean(accuracy("res8-narrow", 3, True, s) for s in SEEDS)
    plain = statistics.mean(accuracy("res8-narrow", 3, False, s) for s in SEEDS)
    assert gain.loc[("res8-narrow", 3), "gain"] == pytest.approx(res - plain)
    loss = tables.summary(tables.tidy(run[1]), "test_loss")
    assert (tables.skip_gain(loss, higher_is_better=False)["gain"] > 0).all()


def test_best_cell_honours_direction(run):
    _, results = run
    best = tables.best_cell(results, "accuracy")
    assert best.id == "kws-synth-words-res8-narrow-d3-res-s1"
    assert tables.best_cell(results, "accuracy", kind="plain").id == (
        "kws-synth-words-res8-narrow-d1-plain-s1"
    )
    # lower is better: the least loss is the best accuracy; the fewest params the shallowest net
    assert tables.best_cell(results, "test_loss").id == best.id
    assert tables.best_cell(results, "params", kind=None).model.depth == 1
    wer = [
        CellResult(
            cell=fakes.cell_info(f"asr-{v}", task="asr"), status="ok", metrics=fakes.metrics(wer=v)
        )
        for v in (0.4, 0.2, 0.3)
    ]
    assert tables.best_cell(wer, "wer").id == "asr-0.2"
    assert tables.best_cell(wer, "wer", kind="plain") is None
    assert tables.best_cell(results, "no-such-metric") is None


def test_report_is_a_self_contained_html_file(run, report):
    run_dir, _ = run
    path, text = report
    assert path == run_dir / "report.html"
    assert text.startswith("<!DOCTYPE html>") and "fake" in text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert "<link" not in text and "<script src" not in text  # only the inline table sorter
    assert text.count("<script>") == 1 and 'class="sortable"' in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) >= 3  # metric vs depth, training curves, confusion matrix
    for data in images:
        assert base64.b64decode(data).startswith(PNG_MAGIC)


def test_report_shows_the_table_failures_and_skips(run, report):
    _, text = report
    df = tables.tidy(run[1])
    for value in df["accuracy"].dropna():
        assert f"{value:.3f}" in text
    values = [accuracy("tc-resnet8", 2, True, s) for s in SEEDS]
    mean, sd = statistics.mean(values), statistics.stdev(values)
    assert f"{mean:.3f} ± {sd:.3f}" in text
    assert "accuracy (fraction, ↑)" in text and "params (count, ↓)" in text
    assert "tc-resnet8" in text and "res8-narrow" in text and "tcresnet" in text
    # the diverged cell with its (escaped) error and step; the skipped files with count and reason
    assert DIVERGED in text and "loss is NaN at step 123 &lt;lr=0.5&gt;" in text
    assert "<lr=0.5>" not in text
    assert re.search(rf"<td>{SKIPPED}</td><td>synth-words</td><td class=\"num\">3</td>", text)
    assert "wrong sample rate: 2" in text and "c.wav" in text
    assert "Test CPU 9000" in text and "3.99.0" in text


def test_report_renders_without_any_ok_cell(tmp_path):
    bad = make_cell("tc-resnet8", 3, False, 1)
    run_dir = write_run(tmp_path / "run", [bad])
    text = html.write_report(run_dir, out=tmp_path / "out" / "r.html").read_text()
    assert "No cell finished ok" in text and DIVERGED in text
    empty = write_run(tmp_path / "empty", [])
    assert "No cell has finished yet" in html.write_report(empty).read_text()


def test_a_task_without_a_section_builder_still_gets_a_table(tmp_path):
    new = with_cell(make_cell("tc-resnet8", 1, True, 0), task="new", id="new-tc-resnet8-d1")
    new = dataclasses.replace(new, metrics={"score": metric(0.4567, "fraction", False)})
    text = html.write_report(write_run(tmp_path, [new])).read_text()
    assert 'id="new"' in text and "Task new" in text
    assert "score (fraction, ↓)" in text and "0.457" in text


def test_unparsable_cell_file_is_named(tmp_path):
    run_dir = write_run(tmp_path, all_cells()[:2])
    (run_dir / "cells" / "x.json").write_text('{"status": "ok", "metr')
    with pytest.raises(store.ResultsError, match=r"x\.json"):
        html.write_report(run_dir)


def test_asr_section_shows_greedy_vs_beam_and_the_worst_utterances(tmp_path):
    cells = []
    worst = {
        "id": "u7",
        "speaker": "en+m3",
        "reference": "turn <b>on</b> the light",
        "hypothesis": "turn of the lie",
        "wer": 0.5,
    }
    for depth, residual in ((1, True), (2, True), (1, False), (2, False)):
        wer = 0.30 - 0.1 * depth if residual else 0.30 + 0.05 * depth
        r = make_asr_cell(
            depth,
            residual,
            "s",
            wer=wer,
            cer=wer / 3,
            wer_beam=wer - 0.01,
            cer_beam=wer / 3 - 0.01,
            wer_lm=wer / 4 + 0.0012,
        )
        evaluation = {
            "errors": {"substitutions": 4, "deletions": 2, "insertions": 1},
            "worst": [worst],
        }
        cells.append(dataclasses.replace(r, evaluation=evaluation))
    text = html.write_report(write_run(tmp_path, cells)).read_text()
    assert 'id="asr"' in text and "WER beam" in text and "sub / del / ins" in text
    assert "<td>4 / 2 / 1</td>" in text
    assert "asr-s-tc-resnet8-d2-res-s0" in text  # the best cell names the worst-utterance table
    assert "turn &lt;b&gt;on&lt;/b&gt; the light" in text  # escaped, never markup
    assert "0.090" in text or "0.09" in text  # best residual beam WER
    assert "WER lexicon+LM" in text and "0.0262" in text  # best residual LM WER (0.025 + 0.0012)


def test_asr_section_shows_term_detection_beside_wer_and_the_hardest_terms(tmp_path):
    cells = []
    terms = [("kettle", 0.11, 3), ("<i>lamp</i>", 0.25, 2), ("oven", 0.5, 4), ("one", 0.7, 9)]
    terms += [("two", 0.9, 8), ("three", 1.0, 7)]
    for depth, residual in ((1, True), (2, True), (1, False), (2, False)):
        std = 0.6 + 0.1 * depth if residual else 0.5
        r = make_asr_cell(depth, residual, "t", wer=0.5 - 0.1 * depth, std_map=std)
        detection = {
            "terms": 6,
            "terms_without_relevant": 2,
            "per_term": [{"term": t, "ap": ap * std, "relevant": n} for t, ap, n in terms],
            "pr_curve": {"recall": [0.0, 0.5, 1.0], "precision": [1.0, 0.8, 0.4]},
        }
        cells.append(dataclasses.replace(r, evaluation={"term_detection": detection}))
    text = html.write_report(write_run(tmp_path, cells)).read_text()
    assert "Spoken term detection mAP against depth" in text
    assert "STD mAP (std_map) beside wer" in text and "skip connections buy in std_map" in text
    best = "asr-t-tc-resnet8-d2-res-s0"
    assert f"The 5 hardest of 6 terms of {best}" in text and "2 more terms never occur" in text
    hardest = text[text.index("The 5 hardest") :]
    assert "kettle" in hardest and "&lt;i&gt;lamp&lt;/i&gt;" in hardest  # escaped
    assert "three" not in hardest.split("</table>")[0]  # the easiest term is not listed
    assert f"precision-recall of the best residual cell, {best} (mAP 0.800, WER 0.300)" in text


def test_kws_section_shows_qbe_beside_accuracy_pr_curve_and_search_speed(tmp_path):
    cells = []
    for depth in (1, 2):
        r = with_metrics(make_cell("tc-resnet8", depth, True, 0), qbe_si_map=0.5 + 0.2 * depth)
        retrieval = {
            "pr_curve": {"recall": [0.0, 1.0], "precision": [1.0, 0.5]},
            "si_pr_curve": {"recall": [0.0, 1.0], "precision": [0.9, 0.4]},
            "search_speed": {
                "collection": 100,
                "queries": 100,
                "k": 10,
                "backends": {
                    "exact": {"queries_per_s": 1234.0, "build_seconds": 0.001, "index_bytes": 99},
                    "faiss-ivf": {"queries_per_s": 5678.0, "build_seconds": 0.2, "index_bytes": 7},
                },
                "ivf_recall_at_k": 0.875,
            },
        }
        cells.append(dataclasses.replace(r, evaluation={**r.evaluation, "retrieval": retrieval}))
    text = html.write_report(write_run(tmp_path, cells)).read_text()
    assert "QbE mAP (qbe_si_map) beside accuracy" in text
    best = cells[1].id
    assert f"precision-recall of the best residual cell by qbe_si_map, {best}" in text
    speed = text[text.index("back end") :]
    assert "5,678" in speed and "0.875" in speed and "exact" in speed


def test_seed_spread_is_stated_for_every_metric_with_several_seeds(run, report, tmp_path):
    df = tables.tidy(run[1])
    spread = tables.seed_spread(df).set_index("metric")
    assert {"accuracy", "macro_f1", "test_loss", "train_seconds", "params"} <= set(spread.index)
    # accuracy moves by 0.01 + 0.003 * depth between seeds 0 and 1: worst at depth 3
    assert spread.loc["accuracy", "range_max"] == pytest.approx(0.019)
    assert spread.loc["params", "sd_max"] == 0  # seeds never change the model
    # the diverged seed leaves its model point with one seed: not counted
    assert spread.loc["accuracy", "points"] == len(PRESETS) * len(DEPTHS) * 2 - 1
    _, text = report
    assert "Seed spread" in text and "0.019" in text
    one_seed = write_run(tmp_path, [make_cell("tc-resnet8", 1, True, 0)])
    text = html.write_report(one_seed).read_text()
    assert "One seed per model point" in text and "Seed spread: not measured" not in text


def test_retrieval_section_shows_qbe_and_std_metrics(tmp_path):
    cells = []
    for depth in DEPTHS:
        for residual in (True, False):
            r = make_cell("tc-resnet8", depth, residual, 0)
            cells.append(with_metrics(r, qbe_map=0.5 + 0.05 * depth, qbe_si_map=0.4 + 0.05 * depth))
    asr = make_asr_cell(2, True, "s", wer=0.3, std_map=0.7125)
    text = html.write_report(write_run(tmp_path, [*cells, asr])).read_text()
    section = text[text.index('<section id="retrieval">') :]
    section = section[: section.index("</section>")]
    assert "qbe_si_map (fraction, ↑)" in section and "0.550 ± –" in section
    assert "std_map (fraction, ↑)" in section and "0.713" in section
    assert "Query-by-example retrieval: test qbe_si_map" in section
    assert "Spoken-term detection: test std_map" in section
    assert section.count("<img") == 2
    plain = html.write_report(write_run(tmp_path / "none", [make_cell("tc-resnet8", 1, True, 0)]))
    assert 'id="retrieval"' not in plain.read_text()


def test_compare_page_judges_run_a_against_run_b(tmp_path, run):
    from reports import compare

    run_b, results = run
    worse = list(results)
    victim = next(i for i, r in enumerate(worse) if r.ok)
    worse[victim] = with_metrics(worse[victim], accuracy=0.1)
    run_a = write_run(tmp_path / "a", worse)
    path = compare.write_compare(run_a, run_b)
    text = path.read_text()
    assert path == run_a / f"compare-{run_b.name}.html"
    assert "FAIL: 1 regression" in text and "REGRESSED" in text
    # two seeds per model point: accuracy is judged as the mean over them
    before = results[victim].value("accuracy")
    other = next(r for r in results if r.id == worse[victim].id[:-1] + "1").value("accuracy")
    point = worse[victim].id.removesuffix("-s0")
    assert f"{point} (mean of seeds 0, 1)" in text and f"{(0.1 + other) / 2:.4f}" in text
    assert f"{(before + other) / 2:.4f}" in text
    assert 'id="differences"' in text and 'id="runs"' in text
    assert text.count("data:image/png;base64,") == 1


def test_degradation_plot_marks_diverged_cells_instead_of_dropping_them(monkeypatch):
    import matplotlib.axes
    import pandas as pd

    from reports import gradflow

    marks = []
    real = matplotlib.axes.Axes.scatter

    def spy(self, x, y, **kwargs):
        marks.append((list(x), kwargs.get("label")))
        return real(self, x, y, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", spy)
    df = pd.DataFrame(
        {
            "status": ["ok", "ok", "ok", "diverged"],
            "family": ["res2d"] * 4,
            "preset": ["res8-coarse"] * 4,
            "kind": ["residual", "residual", "plain", "plain"],
            "depth": [2, 128, 2, 128],
            "train_loss": [0.3, 0.2, 0.4, None],
            "accuracy": [0.9, 0.9, 0.8, None],
        }
    )
    png = gradflow.degradation(df)
    assert png.startswith(b"\x89PNG")
    assert ([128], "plain: diverged") in marks  # once per panel: loss and accuracy


def test_degradation_plot_keeps_presets_of_one_family_apart(monkeypatch):
    """Keyword spotting and CTC cells of one family (quick) are drawn in panels of their own:
    a classifier's and a CTC model's training losses are never averaged together."""
    import pandas as pd
    import seaborn as sns

    from reports import gradflow

    drawn = []
    real = sns.lineplot

    def spy(data, **kwargs):
        drawn.append(set(data["preset"]))
        return real(data, **kwargs)

    monkeypatch.setattr(sns, "lineplot", spy)
    df = pd.DataFrame(
        {
            "status": ["ok"] * 4,
            "family": ["tcresnet"] * 4,
            "preset": ["tc-resnet8", "tc-resnet8", "tc-resnet8-ctc", "tc-resnet8-ctc"],
            "kind": ["residual", "plain"] * 2,
            "depth": [3] * 4,
            "train_loss": [0.2, 0.3, 9.0, 9.5],
            "accuracy": [0.9, 0.8, None, None],
        }
    )
    assert gradflow.degradation(df).startswith(b"\x89PNG")
    # loss: one panel per preset; accuracy: only the classifier has one
    assert drawn == [{"tc-resnet8"}, {"tc-resnet8-ctc"}, {"tc-resnet8"}]


def test_the_answer_comes_first_paired_by_seed_with_intervals(run, report):
    _, text = report
    sections = re.findall(r'<section id="([^"]+)"', text)
    assert sections[0] == "answer"
    answer = text[text.index('<section id="answer"') : text.index("</section>")]
    # residual − plain = 0.15 * depth on both seeds: sd 0, so the interval is the point itself
    assert "tc-resnet8 at 2 blocks: skips help at this budget (accuracy residual − plain +0.300, " \
        "95% CI [+0.300, +0.300] over 2 seeds, paired by seed)" in answer
    # the diverged plain seed leaves depth 3 of tc-resnet8 with one shared seed: a hint
    assert re.search(r"tc-resnet8 at 3 blocks: skips help at this budget \(accuracy residual "
                     r"− plain \+0\.450, 95% CI \[[^]]+\], one seed: the test set&#39;s noise "
                     r"only, so a hint, not a finding\)", answer)  # fmt: skip
    assert "residual, 3 blocks: 0.960 ± 0.013 sd" in answer  # res8-narrow: 0.95 and 0.969
    assert "residual, 3 blocks: 0.900</td>" in answer  # tc-resnet8: only the seed both have
    assert "One seed per model point" not in answer  # this run has two seeds


def test_the_answer_opens_with_one_picture_of_every_kind_with_its_intervals(run, report):
    """The answer's first block is the figure, then one table; the figure's points are the
    means over seeds with t-intervals, computed here from the records independently."""
    from reports import answer
    from reports.page import Context

    run_dir, results = run
    _, text = report
    section = text[text.index('<section id="answer"') : text.index("</section>")]
    assert section.index("<img") < section.index("<table")
    assert section.count("<table") == 1  # one compact table (no second headline metric here)
    points = answer.points(Context.load(run_dir))
    assert set(points["kind"]) == {"residual", "plain"} and set(points["depth"]) == set(DEPTHS)
    row = points[(points["panel"].str.contains("res8-narrow")) & (points["kind"] == "residual")
                 & (points["depth"] == 3)].iloc[0]  # fmt: skip
    values = [r.metrics["accuracy"].value for r in results if r.ok and r.cell.preset ==
              "res8-narrow" and r.cell.depth == 3 and r.cell.residual]  # fmt: skip
    mean = sum(values) / len(values)
    half = 12.706 * statistics.stdev(values) / math.sqrt(2)  # t(0.975, 1 df)
    assert row["value"] == pytest.approx(mean) and row["over_seeds"]
    assert (row["low"], row["high"]) == pytest.approx((mean - half, mean + half), rel=1e-3)


def test_a_one_seed_point_is_drawn_with_the_test_sets_interval(tmp_path):
    from reports import answer
    from reports.page import Context

    cells = [make_cell("tc-resnet8", d, r, 0) for d in (1, 2) for r in (True, False)]
    points = answer.points(Context.load(write_run(tmp_path, cells)))
    assert len(points) == 4 and not points["over_seeds"].any()
    widths = points["high"] - points["low"]
    assert (widths > 0).all()  # the bootstrap over the 9 test examples of the confusion matrix


def test_a_one_seed_run_says_its_answer_is_a_hint(tmp_path):
    cells = [make_cell("tc-resnet8", d, r, 0) for d in (1, 2) for r in (True, False)]
    text = html.write_report(write_run(tmp_path, cells)).read_text()
    answer = text[text.index('<section id="answer"') : text.index("</section>")]
    assert "one seed per model point" in answer.lower() and "hint, not a finding" in answer
    assert "at 1 block: no detectable difference at this budget" in answer


def test_task_sections_show_skip_gains_and_depth_steps_with_intervals(report):
    _, text = report
    kws = text[text.index('<section id="kws"') :]
    kws = kws[: kws.index("</section>")]
    assert "what the skip connections buy in accuracy (residual − plain at the same depth, " in kws
    assert "depth vs depth and block vs block in accuracy" in kws
    assert "deeper is worse" in kws and "deeper is better" in kws


def test_the_answer_reads_wer_the_right_way_round(tmp_path):
    cells = []
    for residual, wer in ((True, 0.30), (False, 0.50)):
        r = make_asr_cell(3, residual, "sentences", wer=wer, cer=wer / 2)
        errors = {"reference_words": 2000, "substitutions": 1, "deletions": 1, "insertions": 1}
        cells.append(dataclasses.replace(r, evaluation={"errors": errors}))
    text = html.write_report(write_run(tmp_path, cells)).read_text()
    answer = text[text.index('<section id="answer"') : text.index("</section>")]
    assert "in each task&#39;s headline metric (Speech recognition: wer (fraction, ↓))" in answer
    # lower WER is better: residual − plain −0.200 means the skips help
    assert "at 3 blocks: skips help at this budget (wer residual − plain -0.200, 95% CI [" in answer
    assert "normal approximation over 2000 reference words" in answer


def test_the_report_says_a_length_cap_left_training_utterances_out_and_test_is_whole(tmp_path):
    r = make_asr_cell(1, True, "ls", wer=0.5)
    extra = {"max_seconds": 16.0, "too_long": {"train": 7, "val": 0, "test": 0}}
    r = dataclasses.replace(r, dataset=DatasetInfo("librispeech", {"train": 3}, {}, extra))
    text = html.write_report(write_run(tmp_path, [r])).read_text()
    assert "librispeech: 7 training utterances longer than max_seconds=16.0 left out" in text
    assert "dev and test are scored whole" in text


def test_the_header_gives_the_wall_time_and_the_machine_it_ran_on(tmp_path):
    """A time is never shown without its machine: cores, CPU, and the calibration peak."""
    from test_check import speed

    from reports.page import Context

    def ran(cell_id, start, end, peak):
        r = CellResult(fakes.cell_info(cell_id), "ok", metrics=fakes.metrics(accuracy=0.5))
        return dataclasses.replace(
            r, started=start, finished=end, speed=speed(peak),
            environment={"cpu_count": 2, "cpu": "Some CPU @ 2.0GHz"},
        )  # fmt: skip

    cells = [ran("a", 1000.0, 1100.0, 120.0), ran("b", 1100.0, 2063.0, 130.0)]
    ctx = Context.load(fakes.write_run(tmp_path / "run", cells))
    head = html.header(ctx)
    assert head["wall"] == "17 min 43 s"
    assert head["machine"] == (
        "2 cores (Some CPU @ 2.0GHz), calibration peak 130.0 GFLOP/s (median over cells)"
    )
    page = html.render(ctx, [])
    assert "(wall time 17 min 43 s)" in page and "on 2 cores (Some CPU @ 2.0GHz)" in page
