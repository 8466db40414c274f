"""The ray executor on a local multi-node cluster (``ray.cluster_utils.Cluster``: two worker
nodes, each declaring two GPUs): which node and which visible devices each cell got, the data
locations forwarded to the workers, and every worker reading the one copy the driver prepared."""

import json
import os
from pathlib import Path

import pytest

from bench import executors, runner, suite
from bench.config import Cell, Resources

TESTS = Path(__file__).parent

FOUR_GPU_CELLS = {
    "name": "placement",
    "description": "tests only",
    "seeds": [0, 1],
    "device": "gpu",
    "train": {"epochs": 1, "batch_size": 32, "warmup_epochs": 0},
    "experiment": [{
        "task": "kws",
        "dataset": "synth-words",
        "dataset_options": {"profile": "tiny"},
        "models": [{"preset": "tc-resnet8", "depths": [1], "residual": [True, False]}],
    }],
}  # fmt: skip


def _cell(**changes) -> Cell:
    cell = suite.parse(FOUR_GPU_CELLS, "placement").cells()[0]
    import dataclasses

    return dataclasses.replace(cell, **changes)


@pytest.mark.parametrize(
    ("changes", "resources", "gpus"),
    [
        ({"device": "gpu"}, Resources(), 1),
        ({"device": "gpu", "replicas": 2}, Resources(), 2),
        ({"device": "gpu"}, Resources(num_gpus=0.25), 0.25),  # four cells share a GPU
        ({"device": "auto"}, Resources(num_gpus=0.5), 0.5),
        ({"device": "auto", "replicas": 2}, Resources(num_gpus=0.5), 2),
        ({"device": "cpu"}, Resources(), 0),
        ({"device": "auto"}, Resources(), 0),
    ],
)
def test_a_cells_gpus_follow_from_the_cell(changes, resources, gpus):
    asks = executors.cell_resources(_cell(**changes), resources)
    assert asks == {"num_cpus": 1, "num_gpus": gpus, "memory": None}


class _Probe(executors.RayExecutor):
    def __init__(self, placement: Path, hold: float = 4):
        env = {"PLACEMENT_DIR": str(placement), "PLACEMENT_HOLD": str(hold)}
        super().__init__(runtime_env={"env_vars": env})
        import placement_task

        self.cell_function = placement_task.train_cell


@pytest.fixture
def two_gpu_nodes(monkeypatch):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'resdepth[ray]')")
    import ray
    from ray.cluster_utils import Cluster

    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=2, num_gpus=2) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield [n.node_id for n in nodes]
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.slow
def test_gpu_cells_spread_over_the_nodes_each_seeing_only_its_gpu(
    two_gpu_nodes, tmp_path, monkeypatch
):
    monkeypatch.setenv("RESDEPTH_DATA_DIR_PROBE", str(tmp_path / "somewhere"))
    monkeypatch.setenv("RESDEPTH_PREPARED", str(tmp_path / "shared" / "prepared"))
    placement = tmp_path / "placement"
    placement.mkdir()
    s = suite.parse(FOUR_GPU_CELLS, "placement")
    summary = runner.run_suite(
        s, tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0, executor=_Probe(placement)
    )
    assert summary.statuses == {"error": 4}  # the probe's record: it trains nothing
    seen = {p.stem: json.loads(p.read_text()) for p in placement.glob("*.json")}
    assert sorted(seen) == sorted(c.id for c in s.cells())
    for cell_id, task in seen.items():
        assert len(task["gpu_ids"]) == 1, cell_id  # one GPU per one-replica GPU cell
        assert task["cuda_visible_devices"] == task["gpu_ids"][0], cell_id
        assert task["env"]["RESDEPTH_DATA_DIR_PROBE"] == str(tmp_path / "somewhere")
        assert task["prepared"].startswith(str(tmp_path / "shared" / "prepared"))
        assert task["train_clips"] > 0
    # four cells held at once need both nodes' four GPUs: each (node, GPU) once
    assert {t["node"] for t in seen.values()} == set(two_gpu_nodes)
    assert len({(t["node"], t["gpu_ids"][0]) for t in seen.values()}) == 4
    assert len({t["prepared"] for t in seen.values()}) == 1  # one copy, prepared by the driver
    assert len({t["pid"] for t in seen.values()}) == 4  # a fresh worker per GPU cell


@pytest.mark.slow
def test_every_cell_runs_in_a_fresh_worker(two_gpu_nodes, tmp_path, monkeypatch):
    """Six CPU cells on four CPU slots, so some run after others: none reuses a worker, whose
    memory would carry one cell's host RSS into the next cell's peak."""
    monkeypatch.setenv("RESDEPTH_PREPARED", str(tmp_path / "prepared"))
    placement = tmp_path / "placement"
    placement.mkdir()
    six = {**FOUR_GPU_CELLS, "device": "cpu", "seeds": [0, 1, 2]}
    s = suite.parse(six, "placement")
    summary = runner.run_suite(
        s, tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0,
        executor=_Probe(placement, hold=0.5),
    )  # fmt: skip
    assert summary.statuses == {"error": 6}
    seen = [json.loads(p.read_text()) for p in placement.glob("*.json")]
    assert len(seen) == 6 and all(not t["gpu_ids"] for t in seen)
    assert len({(t["node"], t["pid"]) for t in seen}) == 6


class _CtrlC:
    """A progress display whose user presses Ctrl-C once the cells have started."""

    def __init__(self, placement: Path, started: int):
        self.placement, self.started = placement, started

    def set_running(self, n):
        if len(list(self.placement.glob("*.json"))) >= self.started:
            raise KeyboardInterrupt

    def finished(self, result):
        raise AssertionError(f"no cell should finish: {result.id}")

    def skipped(self, result):
        pass


@pytest.mark.slow
def test_ctrl_c_kills_the_running_cells_and_starts_no_more(two_gpu_nodes, tmp_path, monkeypatch):
    """Ctrl-C while four long cells run on four CPU slots and two wait: the four workers are
    killed (ray.cancel with force), the two waiting never start, nothing is written as done,
    and the interrupt reaches the caller (the CLI turns it into exit 130)."""
    import time

    monkeypatch.setenv("RESDEPTH_PREPARED", str(tmp_path / "prepared"))
    placement = tmp_path / "placement"
    placement.mkdir()
    s = suite.parse({**FOUR_GPU_CELLS, "device": "cpu", "seeds": [0, 1, 2]}, "placement")
    with pytest.raises(KeyboardInterrupt):
        runner.run_suite(
            s, tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0,
            executor=_Probe(placement, hold=120), progress=_CtrlC(placement, 4),
        )  # fmt: skip
    pids = [json.loads(p.read_text())["pid"] for p in placement.glob("*.json")]
    assert len(pids) == 4
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.5)
    assert not any(_alive(p) for p in pids), "a cancelled cell's worker still runs"
    time.sleep(3)
    assert len(list(placement.glob("*.json"))) == 4  # the waiting cells never started
    assert not list((tmp_path / "run" / "cells").glob("*.json"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie is dead


TRANSFER_PAIR = {
    "name": "transfer",
    "description": "tests only",
    "seeds": [0],
    "train": {"epochs": 1, "batch_size": 32, "warmup_epochs": 0},
    "experiment": [
        {
            "name": "pre",
            "task": "kws",
            "dataset": "synth-words",
            "dataset_options": {"profile": "tiny"},
            "models": [{"preset": "tc-resnet8", "depths": [1], "residual": [True]}],
        },
        {
            "name": "fine",
            "task": "kws",
            "dataset": "synth-words",
            "dataset_options": {"profile": "tiny", "words": ["up", "down", "go"]},
            "train": {"init_from": "@pre"},
            "models": [{"preset": "tc-resnet8", "depths": [1], "residual": [True]}],
        },
    ],
}


@pytest.mark.slow
def test_experiment_transfer_on_the_cluster_and_from_a_resumed_run(
    two_gpu_nodes, tmp_path, monkeypatch
):
    """``init_from = "@pre"`` under Ray: the fine-tune's task waits for the pretraining task
    and gets its model (the two may run on different nodes, each in its own temporary run
    directory); rerun with the pretraining cell already done, the model comes from the run
    directory, and the fine-tune repeats its metrics. The prepared corpora live at a URI
    (fsspec's ``file://``, the code path of ``s3://``): each worker stages them from there."""
    from results import store
    from results.metrics import is_timed

    monkeypatch.setenv("RESDEPTH_PREPARED", f"file://{tmp_path / 'bucket'}")
    monkeypatch.setenv("RESDEPTH_CACHE", str(tmp_path / "node-cache"))  # the workers' caches
    s = suite.parse(TRANSFER_PAIR, "transfer")
    run, cache = tmp_path / "run", tmp_path / "cache"
    first = runner.run_suite(s, run, cache_dir=cache, verbose=0, executor=executors.RayExecutor())
    assert first.statuses == {"ok": 2}, first.statuses
    fine = next(r for r in store.read_results(run) if r.cell.experiment == "fine")
    moved = fine.evaluation["transfer"]
    assert moved["loaded_layers"] > 5
    assert moved["source"] == "models/kws-pre-tc-resnet8-d1-res-s0.keras"  # not the worker's
    assert not list((run / "models").glob("*.tmp*"))
    prepared = fine.dataset.extra["prepared"]
    assert prepared["uri"].startswith(f"file://{tmp_path / 'bucket'}/synth-words/")
    assert prepared["path"].startswith(str(tmp_path / "node-cache" / "staged"))
    store.cell_path(run, fine.id).unlink()  # only the fine-tune is left to run
    again = runner.run_suite(s, run, cache_dir=cache, verbose=0, executor=executors.RayExecutor())
    assert again.statuses == {"ok": 2} and again.resumed == 1, again  # resumed count as ok
    redone = next(r for r in store.read_results(run) if r.cell.experiment == "fine")
    assert redone.evaluation["transfer"] == moved

    def untimed(r):
        return {k: m.value for k, m in r.metrics.items() if not is_timed(k)}

    assert untimed(redone) == untimed(fine)
