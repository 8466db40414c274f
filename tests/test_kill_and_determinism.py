"""Across processes: two runs with the same seed give identical metrics on CPU, and a run killed
with SIGKILL in the middle of a cell resumes to the same results as an uninterrupted one.

The suite is a cheap subset of ``smoke`` (same corpus, one depth, residual and plain, 2 epochs),
run through the real command line in fresh Python processes, so nothing is shared in memory. The
second run is the one that gets killed: its first cell, finished before the kill, is compared with
the first run's for determinism; its resumed end state with the whole first run.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from results import metrics as metrics_module
from results import store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SUITE = """
name = "tiny"
description = "Smoke cells, two epochs: determinism and kill/resume tests."
seeds = [0]

[train]
epochs = 2
batch_size = 32
learning_rate = 5e-3
warmup_epochs = 0.5
patience = 2

[[experiment]]
task = "kws"
dataset = "synth-words"
dataset_options = { profile = "tiny" }
models = [{ preset = "tc-resnet8", depths = [1], residual = [true, false] }]
"""


def _suite(path: Path) -> Path:
    path.write_text(SUITE)
    return path


def _command(suite: Path, out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-u", "-m", "bench", "run", "--suite", str(suite), "--out", str(out),
            "--cache-dir", str(cache), "--quiet", "--no-report"]  # fmt: skip


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow",
            "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip


def _run(suite: Path, out: Path, cache: Path) -> None:
    done = subprocess.run(
        _command(suite, out, cache), cwd=ROOT, env=_env(), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def outcome(run_dir: Path) -> dict:
    """Everything a cell computes that must not depend on the process or on timing: every
    metric except those read off a clock (``MetricSpec.timed``), the loss curve, the confusion
    matrix and the gradient summary."""
    out = {}
    for r in store.read_results(run_dir):
        metrics = {
            k: m.value for k, m in r.metrics.items() if not metrics_module.METRICS[k].timed
        }
        flow = {"init": dict(r.gradient_flow.init), "end": dict(r.gradient_flow.end)}
        out[r.cell.id] = {
            "status": r.status,
            "metrics": metrics,
            "history": dict(r.history),
            "confusion_matrix": r.evaluation["confusion_matrix"],
            "gradient_flow": flow,
        }
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(suite file, corpus cache, the first uninterrupted run)."""
    root = tmp_path_factory.mktemp("tiny")
    suite = _suite(root / "tiny.toml")
    cache = root / "cache"
    _run(suite, root / "a", cache)
    return suite, cache, root / "a"


@pytest.fixture(scope="module")
def killed(tiny, tmp_path_factory):
    """A second run of the same suite, SIGKILLed while training its second cell, then resumed:
    (run directory, the files finished before the kill with their bytes)."""
    suite, cache, _ = tiny
    out = tmp_path_factory.mktemp("killed") / "run"
    proc = subprocess.Popen(
        _command(suite, out, cache), cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        for line in proc.stdout:  # wait until the second cell has started
            lines.append(line)
            if line.startswith("[2/2]") and line.rstrip().endswith("training"):
                break
        else:
            pytest.fail("the run ended before its second cell started:\n" + "".join(lines))
        # Inside the second cell's training: its fit has begun once Keras's TensorBoard callback
        # made the cell's train/ log folder. A fixed sleep raced a fast machine (the 2-epoch cell
        # finished first), so wait for that folder, then kill at once.
        second = lines[-1].split()[1].rstrip(":")
        started = store.tensorboard_dir(out, second) / "train"
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert started.exists(), "the second cell never started training:\n" + "".join(lines)
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    cells = sorted((out / "cells").glob("*.json"))
    assert len(cells) == 1, "SIGKILL came after the second cell finished; the test proves nothing"
    finished = {p.name: p.read_bytes() for p in cells}
    _run(suite, out, cache)
    return out, finished


def test_two_runs_with_the_same_seed_give_identical_metrics(tiny, killed):
    """The first cell of the second run was trained by another process than the first run's."""
    _, _, first = tiny
    second, finished = killed
    a, b = outcome(first), outcome(second)
    assert len(a) == 2 and all(c["status"] == "ok" for c in a.values())
    (name,) = finished
    cell_id = name.removesuffix(".json")
    assert json.dumps(a[cell_id], sort_keys=True) == json.dumps(b[cell_id], sort_keys=True)


def test_sigkill_mid_cell_then_resume_equals_an_uninterrupted_run(tiny, killed):
    _, _, uninterrupted = tiny
    out, finished = killed
    for name, before in finished.items():  # the finished cell is kept untouched
        assert (out / "cells" / name).read_bytes() == before
    assert len(list((out / "cells").glob("*.json"))) == 2
    assert outcome(out) == outcome(uninterrupted)


def test_two_cells_at_once_give_the_metrics_of_one_at_a_time(tiny, tmp_path):
    """``--jobs 2``: both cells train at the same time in two child processes, each on the one
    math thread a one-job run uses too, and every metric not read off a clock is identical."""
    suite, cache, one_at_a_time = tiny
    out = tmp_path / "parallel"
    done = subprocess.run(
        [*_command(suite, out, cache), "--jobs", "2"], cwd=ROOT, env=_env(),
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 at once, 1 thread(s) each" in done.stdout
    a, b = outcome(one_at_a_time), outcome(out)
    assert len(b) == 2 and all(c["status"] == "ok" for c in b.values())
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    def share(run):
        return [(r.environment["threads"], r.environment["jobs"]) for r in store.read_results(run)]

    assert share(out) == [(1, 2), (1, 2)] and share(one_at_a_time) == [(1, 1), (1, 1)]
    # the two trainings overlapped in time (not one child doing both while the other idled)
    first, second = store.read_results(out)
    assert first.started < second.finished and second.started < first.finished
    assert not (out / "claims").exists()  # claims are cleared when the run ends


def test_ctrl_c_stops_every_child_of_a_parallel_run_and_a_rerun_resumes(tiny, tmp_path):
    """SIGINT to ``bench run --jobs 2`` while both cells train: the driver kills its children
    (no result is written after it exits), clears the claims, and a rerun of the same directory
    trains both cells to the uninterrupted run's numbers."""
    suite, cache, uninterrupted = tiny
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [*_command(suite, out, cache), "--jobs", "2"], cwd=ROOT, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if sum(ln.rstrip().endswith(": training") for ln in lines) == 2:
                break
        else:
            pytest.fail("the run ended before both cells started:\n" + "".join(lines))
        ids = [ln.split(":")[0] for ln in lines if ln.rstrip().endswith(": training")]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(
            (store.tensorboard_dir(out, i) / "train").exists() for i in ids
        ):
            time.sleep(0.05)
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert "interrupted: 2 child processes stopped" in "".join(lines) + rest
    assert not (out / "claims").exists()
    assert [pid for pid in workers if _alive(pid)] == []
    assert list((out / "cells").glob("*.json")) == []
    _run(suite, out, cache)
    assert outcome(out) == outcome(uninterrupted)


def _workers(parent: int) -> list[str]:
    """Pids of the ``python -m bench.worker`` children of ``parent`` (only this run's, so other
    runs on the machine cannot make the test fail)."""
    found = []
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc_dir / "cmdline").read_bytes().split(b"\0")
            ppid = int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"bench.worker" in argv:
            found.append(proc_dir.name)
    return found


def _alive(pid: str) -> bool:
    """Whether process ``pid`` still runs (a zombie left for an absent reaper counts as gone)."""
    try:
        state = (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
