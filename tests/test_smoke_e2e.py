"""The smoke suite end to end: real learning, the report's table, resume, same seed same metrics.

Trains the ``smoke`` suite (a few synthetic words, tiny budget) once per test session, then checks
the run directory. Budget: well under 3 minutes on a 2-core CPU.
"""

import dataclasses
import json
import time

import pytest

from bench import retrieval, runner, search, suite
from results import store

pytestmark = pytest.mark.slow

# Metrics that must be bit-for-bit identical between two runs of the same cell and seed.
DETERMINISTIC = ("accuracy", "macro_f1", "test_loss", "val_accuracy")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    s = suite.load("smoke")
    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    cache = tmp_path_factory.mktemp("cache")
    t0 = time.perf_counter()
    summary = runner.run_suite(s, run_dir, cache_dir=cache, verbose=0)
    return s, run_dir, cache, summary, time.perf_counter() - t0


def _metrics(result):
    return {k: result.metrics[k].value for k in DETERMINISTIC}


def test_every_cell_finished_ok(smoke_run):
    s, run_dir, _, summary, seconds = smoke_run
    assert summary.ok, summary.statuses
    results = store.read_results(run_dir)
    assert len(results) == len(s.cells())
    for r in results:
        assert r.status == "ok", r.traceback
        assert store.model_path(run_dir, r.cell.id).is_file()
        assert r.environment["backend"] == "tensorflow"
        assert r.dataset.skipped_count == 0
    print(f"smoke suite: {seconds:.1f}s")


def test_models_really_learn(smoke_run):
    _, run_dir, _, _, _ = smoke_run
    results = store.read_results(run_dir)
    chance = 1 / len(results[0].evaluation["labels"])
    best = max(r.metrics["accuracy"].value for r in results if r.cell.residual)
    assert best >= min(0.95, 3 * chance), f"best residual accuracy {best:.3f}, chance {chance:.3f}"
    for r in results:  # every cell beats chance clearly, and training loss went down
        assert r.metrics["accuracy"].value > 1.5 * chance, r.cell.id
        assert r.history["loss"][-1] < r.history["loss"][0]
        # query-by-example on the test split: same-word items found above chance, unseen voices
        for name in ("qbe_map", "qbe_si_map"):
            assert chance < r.metrics[name].value <= 1.0, (r.cell.id, name)
        assert r.evaluation["retrieval"]["layer"] == "embedding"
        # search back ends: speed of each, IVF recall against exact (when faiss-cpu is present)
        assert r.metrics["qbe_qps_exact"].value > 0
        if search.has_faiss():
            assert r.metrics["qbe_qps_faiss_ivf"].unit == "queries/s"
            assert 0 < r.metrics["qbe_ivf_recall_at_10"].value <= 1.0
        assert len(r.evaluation["retrieval"]["pr_curve"]["precision"]) == len(
            retrieval.RECALL_LEVELS
        )


def test_report_has_the_table(smoke_run):
    from reports import html, tables

    _, run_dir, _, _, _ = smoke_run
    path = html.write_report(run_dir)
    text = path.read_text()
    assert path.name == "report.html"
    df = tables.tidy(store.read_results(run_dir))
    for row in df.itertuples():
        assert f"{row.accuracy:.3f}" in text or f"{row.accuracy:.2f}" in text
    assert "tc-resnet8" in text and "data:image/png;base64," in text
    assert 'id="gradflow"' in text and "first/last at init" in text
    assert "Query-by-example retrieval: test qbe_si_map" in text
    assert "Query-by-example precision-recall of the best" in text and "queries/s" in text


def test_every_cell_records_gradient_flow(smoke_run):
    import pandas as pd

    from bench import gradflow

    _, run_dir, _, _, _ = smoke_run
    for r in store.read_results(run_dir):
        table = pd.read_parquet(run_dir / r.tables["gradflow"])
        assert list(table.columns) == list(gradflow.COLUMNS)
        assert table["step"].min() == 0 and table["step"].max() > 0
        assert (table["grad_norm"] > 0).all()
        g = r.gradient_flow
        assert g.init["blocks"] == r.model.depth
        assert 0 < g.overhead < 1


def test_resume_keeps_finished_cells_and_redoes_the_missing_one(smoke_run):
    s, run_dir, cache, _, _ = smoke_run
    cells = s.cells()
    victim = store.cell_path(run_dir, cells[-1].id)
    lost = store.read_result(victim)
    victim.unlink()
    kept = {c.id: store.cell_path(run_dir, c.id).read_bytes() for c in cells[:-1]}

    summary = runner.run_suite(s, run_dir, cache_dir=cache, verbose=0)

    assert summary.resumed == len(cells) - 1
    for cell_id, before in kept.items():
        assert store.cell_path(run_dir, cell_id).read_bytes() == before
    redone = store.read_result(victim)
    assert redone.status == "ok"
    # same cell, same seed: same metrics and the same loss curve
    assert _metrics(redone) == _metrics(lost)
    assert redone.history["loss"] == lost.history["loss"]


def test_resume_refuses_a_different_suite(smoke_run, tmp_path):
    _, run_dir, _, _, _ = smoke_run
    other = suite.load("quick")
    with pytest.raises(ValueError, match="different suite"):
        runner.run_suite(other, run_dir, cache_dir=tmp_path, verbose=0)


def test_every_cell_records_its_speed(smoke_run):
    from bench import speed
    from results.metrics import METRICS

    s, run_dir, _, _, _ = smoke_run
    for r in store.read_results(run_dir):
        sp, m = r.speed, r.metrics
        assert sp.backend == "tensorflow" and isinstance(sp.jit_compile, bool)
        assert sp.peak_gflops == pytest.approx(speed.peak_gflops())  # once per process
        q = sp.step_seconds
        assert 0 < q["p10"] <= q["p50"] <= q["p90"]
        assert m["train_samples_per_s"].value == pytest.approx(
            s.cells()[0].train.batch_size / q["p50"]
        )
        assert 0 < sp.latency_ms["p50"] <= sp.latency_ms["p90"]
        assert sp.infer_samples_per_s > 0 and sp.compile_seconds >= 0
        assert 0 < sp.utilization < 1
        assert 0 <= sp.data_wait_share < 1
        assert sp.flops_per_example == m["flops_per_example"].value > 0
        for name in speed.SPEED_METRICS:
            assert m[name].unit == METRICS[name].unit, name


def _events(folder):
    """``{tag: [step, ...]}`` of every summary in the event files under ``folder``."""
    import tensorflow as tf

    tags: dict[str, list[int]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(int(event.step))
    return tags


def test_every_cell_writes_tensorboard_event_files(smoke_run):
    import pandas as pd

    _, run_dir, _, _, _ = smoke_run
    for r in store.read_results(run_dir):
        logs = store.tensorboard_dir(run_dir, r.cell.id)
        epochs = len(r.history["loss"])
        train, val = _events(logs / "train"), _events(logs / "validation")
        for tag in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate"):
            assert train[tag] == list(range(epochs)), (r.cell.id, tag, train)
        for tag in ("epoch_loss", "epoch_accuracy"):
            assert val[tag] == list(range(epochs)), (r.cell.id, tag, val)
        # every gradient-flow recording, at its training step: a scalar per block, a histogram
        grads = _events(logs / "gradients")
        steps = sorted(pd.read_parquet(run_dir / r.tables["gradflow"])["step"].unique())
        blocks = [f"gradient_norm/block_{b:03d}" for b in range(1, r.model.depth + 1)]
        assert sorted(grads) == sorted([*blocks, "gradient_norm/blocks"]), sorted(grads)
        for tag in (*blocks, "gradient_norm/blocks"):
            assert grads[tag] == steps, (r.cell.id, tag)


def _toml(value) -> str:
    """A dataset option as ``--set`` takes it (TOML; JSON's scalars and lists are TOML too)."""
    return json.dumps(value)


def test_cli_eval_reloads_each_saved_model_and_scores_what_the_run_recorded(smoke_run, capsys):
    """``python -m bench eval runs/<run>/models/<cell>.keras --dataset ...`` (through
    ``cli.main``) on the run's own test split gives the accuracy and macro-F1 the run recorded:
    the saved file is the trained model, raw audio in. About 2 s a cell."""
    from bench import cli

    _, run_dir, cache, _, _ = smoke_run
    for r in store.read_results(run_dir):
        cell = r.cell
        sets = [f"--set={k}={_toml(v)}" for k, v in cell.dataset_options.items()]
        model = store.model_path(run_dir, cell.id)
        argv = ["eval", str(model), "--dataset", cell.dataset, *sets, "--cache-dir", str(cache)]
        assert cli.main(argv) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["n_examples"] == r.evaluation["n_examples"]
        assert again["dropped_unknown_label"] == 0
        for name in ("accuracy", "macro_f1"):
            assert again["metrics"][name]["value"] == r.metrics[name].value, name
        assert again["metrics"]["test_loss"]["value"] == pytest.approx(
            r.metrics["test_loss"].value, rel=1e-4
        )


def test_cli_report_compare_writes_a_page_naming_both_runs(smoke_run, tmp_path, capsys):
    """``python -m bench report RUN_A --compare RUN_B`` on two copies of the smoke run, one
    cell of A made worse: the page exists where the README says, names both runs, and its
    comparison table lists every cell, the worse one as a regression."""
    import shutil

    from bench import cli

    _, run_dir, _, _, _ = smoke_run
    run_a, run_b = tmp_path / "run-a", tmp_path / "run-b"
    for copy in (run_a, run_b):
        shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("models", "*.html"))
    results = store.read_results(run_a)
    victim = results[0]
    worse = {
        **victim.metrics,
        "accuracy": dataclasses.replace(victim.metrics["accuracy"], value=0.0),
    }
    store.write_result(run_a, dataclasses.replace(victim, metrics=worse))

    assert cli.main(["report", str(run_a), "--compare", str(run_b)]) == 0
    page = run_a / "compare-run-b.html"
    assert f"report: {page.resolve()}" in capsys.readouterr().out
    text = page.read_text()
    assert "run-a" in text and "run-b" in text
    assert 'id="differences"' in text and "<table" in text and "(reference)" in text
    for r in results:
        assert r.cell.id in text
    rows = [row for row in text.split("<tr") if victim.cell.id in row]
    (worse,) = [row for row in rows if ">accuracy (" in row]
    assert "REGRESSED" in worse, worse
    regressed = [row for row in text.split("<tr") if "<td>REGRESSED</td>" in row]
    # that row, and at most the residual - plain difference of its pair that it reversed
    assert [row for row in regressed if "Δ " not in row] == [worse]
    assert all(victim.cell.id.replace("-plain-", "-res-") in row for row in regressed[1:])
