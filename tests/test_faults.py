"""A sweep that survives faults: a NaN loss is recorded as ``diverged`` with its step, running out
of memory as ``oom``, and the sweep goes on; an unparsable results file stops a resume naming the
file; results are written atomically so a reader never sees half a file, even when the writer is
killed."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from bench import runner
from bench.config import Experiment, ModelSpec, Suite, TrainConfig
from bench.tasks.base import Evaluation, Setup
from reports import html
from results import check, store
from results.metrics import Metric
from results.record import CellInfo, CellResult

ROOT = Path(__file__).resolve().parents[1]
DIVERGE_AT = 3  # the batch whose inputs are NaN


class FakeData:
    """What the runner needs of a loaded corpus."""

    labels = ("a", "b")
    train = range(48)

    def summary(self):
        return {"name": "fake", "labels": list(self.labels), "skipped": {"count": 0}}


def _dataset(n_batches: int, nan_batch: int | None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8 * n_batches, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    if nan_batch is not None:
        x[8 * (nan_batch - 1) : 8 * nan_batch] = np.nan
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


class FakeTask:
    """Depth 1 trains into a NaN loss at a known step; 2 and 3 run out of memory (TensorFlow's
    and Python's kind); 4 trains fine. Supplies the task interface (``bench.tasks.base.Task``)
    with a 2-class dense model on 4 features."""

    DATA_KIND = "kws"
    HEADLINE = ("accuracy",)

    @staticmethod
    def setup(cell, data):
        import tensorflow as tf

        if cell.depth == 2:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        if cell.depth == 3:
            raise MemoryError("cannot allocate 64 GiB")
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(2, name="block1_dense")(inputs))
        xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        x, y = next(iter(_dataset(1, None)))
        return Setup(
            model=model,
            served=model,
            train=_dataset(6, DIVERGE_AT if cell.depth == 1 else None),
            val=_dataset(2, None),
            steps_per_epoch=6,
            loss=xent,
            metrics=[],
            probe_loss=lambda x, y, p: xent(y, p),
            probe_batches=[(x, y)],
            example=np.zeros(4, np.float32),
        )

    @staticmethod
    def evaluate(setup, data, split):
        return Evaluation({"accuracy": Metric.of("accuracy", 0.5)})

    @staticmethod
    def validation_metrics(setup, data, history):
        return {}

    @staticmethod
    def sidecar(data):
        return {}


def fake_suite() -> Suite:
    exp = Experiment(
        name="fake",
        task="kws",
        dataset="synth-words",
        dataset_options=(),
        train=TrainConfig(epochs=2, warmup_epochs=0, batch_size=8, gradient_interval=1),
        models=(ModelSpec("tc-resnet8", depths=(1, 2, 3, 4), residual=(True,)),),
    )
    return Suite("faults", "fault injection", (0,), (exp,))


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """The fault-injection suite run once: (suite, run directory, summary); the fake task stays
    in place for the tests' own re-runs."""
    suite = fake_suite()
    run_dir = tmp_path_factory.mktemp("faults")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner.tasks, "get", lambda name: FakeTask)
        mp.setattr(runner._DataCache, "get", lambda self, cell: FakeData())
        summary = runner.run_suite(suite, run_dir, verbose=0, log=lambda m: None)
        yield suite, run_dir, summary


def test_nan_is_diverged_with_its_step_oom_is_oom_and_the_sweep_goes_on(faulty):
    suite, run_dir, summary = faulty
    by_depth = {r.cell.depth: r for r in store.read_results(run_dir)}
    assert sorted(by_depth) == [1, 2, 3, 4]
    assert by_depth[1].status == "diverged"
    assert by_depth[1].diverged_step == DIVERGE_AT
    assert f"step {DIVERGE_AT}" in by_depth[1].error
    # The gradient flow up to the divergence is kept: init, then every step before the NaN one.
    import pandas as pd

    flow = pd.read_parquet(run_dir / by_depth[1].tables["gradflow"])
    assert set(flow["step"]) == set(range(DIVERGE_AT))
    assert flow["grad_norm"].notna().all()
    assert by_depth[1].gradient_flow.init["blocks"] == 1
    assert by_depth[2].status == "oom" and "ResourceExhausted" in by_depth[2].error
    assert by_depth[3].status == "oom" and "64 GiB" in by_depth[3].error
    assert by_depth[4].status == "ok"  # the sweep went on after three failures
    assert summary.statuses == {"diverged": 1, "oom": 2, "ok": 1} and not summary.ok
    # final statuses are not retried on resume
    again = runner.run_suite(suite, run_dir, verbose=0, log=lambda m: None)
    assert again.resumed == 4
    text = html.write_report(run_dir).read_text()
    assert "diverged" in text and "oom" in text and f">{DIVERGE_AT}<" in text


def test_a_failed_cell_fails_the_regression_check(faulty):
    _, run_dir, _ = faulty
    base = check.make_baseline(run_dir)
    for cell in base["cells"].values():  # as if every cell had finished ok before
        cell["status"] = "ok"
    rows = check.compare(base, store.read_results(run_dir))
    failed = {r.cell.split("-")[-3]: r.note for r in rows if r.failed}
    assert set(failed) == {"d1", "d2", "d3"}
    assert f"at step {DIVERGE_AT}" in failed["d1"] and failed["d2"].startswith("oom")


def test_an_unparsable_results_file_stops_the_resume_naming_it(faulty, tmp_path):
    suite, run_dir, _ = faulty
    copy = shutil.copytree(run_dir, tmp_path / "run")
    bad = store.cell_path(copy, suite.cells()[2].id)
    bad.write_text(bad.read_text()[:40])
    with pytest.raises(store.ResultsError, match=bad.name):
        runner.run_suite(suite, copy, verbose=0, log=lambda m: None)


WRITER = """
import sys
from pathlib import Path
from results import store
path = Path(sys.argv[1])
n = 0
while True:
    n += 1
    store.write_json(path, {"n": n, "payload": [n] * (100_000 + 25_000 * (n % 3))})
"""


def test_a_reader_never_sees_a_partial_results_file_even_when_the_writer_is_killed(tmp_path):
    path = tmp_path / "cells" / "x.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, env=env)
    reads, versions = 0, set()
    try:
        deadline = time.monotonic() + 60
        while reads < 120 and time.monotonic() < deadline:
            assert writer.poll() is None, "the writer died"
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            data = json.loads(text)  # a partial file would fail here
            n = data["n"]
            assert data["payload"] == [n] * (100_000 + 25_000 * (n % 3))
            versions.add(n)
            reads += 1
    finally:
        writer.send_signal(signal.SIGKILL)  # most likely in the middle of a write
        writer.wait()
    assert reads >= 50 and len(versions) > 3, (reads, len(versions))
    final = json.loads(path.read_text())
    assert final["payload"] == [final["n"]] * (100_000 + 25_000 * (final["n"] % 3))
    # a temporary file the kill left behind is never read as a result
    run = tmp_path / "run"
    info = CellInfo("y", "e", "kws", "d", "p", 1, None, True, 0)
    store.write_result(run, CellResult(info, "ok"))
    for leftover in (".z.json.abc.tmp", ".z.abc.tmp.json"):
        (run / "cells" / leftover).write_text('{"status": "o')
    assert [r.cell.id for r in store.read_results(run)] == ["y"]
