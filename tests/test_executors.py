"""Executors: the suite's ``[resources]``, the registry, the progress display, and cells on a
local Ray instance — the same metrics as the local executor, a killed worker's cell retried or
recorded as ``error`` while the others finish, and a rerun into the same run directory that
completes the sweep."""

import io
import os
import tomllib
from pathlib import Path

import pytest

from bench import executors, runner, suite, tasks
from bench.config import Resources
from bench.progress import Progress
from results import store
from results.metrics import is_timed

TESTS = Path(__file__).parent


def _two_cell_smoke() -> dict:
    """The smoke suite cut to one depth (residual and plain): two cells, seconds each."""
    data = tomllib.loads((suite.SUITES_DIR / "smoke.toml").read_text())
    data["experiment"][0]["models"][0]["depths"] = [1]
    return data


def test_resources_table_is_parsed_validated_and_defaults_to_one_cpu():
    data = _two_cell_smoke()
    assert suite.parse(data, "smoke").resources == Resources(num_cpus=1, num_gpus=0, memory=None)
    data["resources"] = {"num_cpus": 2, "num_gpus": 0.5, "memory": 2**30}
    assert suite.parse(data, "smoke").resources == Resources(2, 0.5, 2**30)
    data["resources"] = {"cpus": 2}
    with pytest.raises(ValueError, match=r"\[resources\].*cpus"):
        suite.parse(data, "smoke")
    data["resources"] = {"num_cpus": 0}
    with pytest.raises(ValueError, match="num_cpus must be > 0"):
        suite.parse(data, "smoke")


def test_default_resources_leave_suite_json_as_before_so_old_runs_resume():
    plain = suite.parse(_two_cell_smoke(), "smoke")
    assert "resources" not in plain.to_json()
    data = {**_two_cell_smoke(), "resources": {"num_cpus": 2}}
    asked = suite.parse(data, "smoke")
    assert type(asked).from_dict(__import__("json").loads(asked.to_json())) == asked


def test_executor_registry_by_name():
    assert isinstance(executors.get("local"), executors.LocalExecutor)
    with pytest.raises(ValueError, match="unknown executor 'slurm'"):
        executors.get("slurm")
    with pytest.raises(ValueError, match="--address is for --executor ray"):
        executors.get("local", address="auto")


def test_cli_refuses_an_address_without_ray_and_names_the_missing_extra(monkeypatch, capsys):
    from bench import cli

    assert cli.main(["run", "--suite", "smoke", "--address", "auto", "--dry-run"]) == 2
    assert "--address is for --executor ray only" in capsys.readouterr().err
    monkeypatch.setattr(executors.importlib.util, "find_spec", lambda name: None)
    assert cli.main(["run", "--suite", "smoke", "--executor", "ray", "--dry-run"]) == 2
    assert "pip install 'resdepth[ray]'" in capsys.readouterr().err


def test_progress_is_a_tqdm_bar_on_a_terminal():
    out = io.StringIO()
    bar = Progress(2, stream=out, live=True)
    bar.started()
    bar.finished(type("R", (), {"status": "diverged"})())
    bar.close()
    assert "1/2" in out.getvalue() and "1 failed" in out.getvalue()
    assert "progress:" not in out.getvalue()


def test_progress_is_plain_lines_off_a_terminal():
    out = io.StringIO()
    bar = Progress(3, stream=out)
    assert not bar.live
    bar.started(2)
    ok = type("R", (), {"status": "ok"})()
    bad = type("R", (), {"status": "error"})()
    bar.finished(ok)
    bar.finished(bad)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("progress: 0/3 done, 2 running, 0 failed, elapsed 0:00, ETA ?")
    assert lines[-1].startswith("progress: 2/3 done, 0 running, 1 failed, elapsed")
    assert "ETA ?" not in lines[-1]


def test_returned_files_cannot_leave_the_run_directory(tmp_path):
    with pytest.raises(ValueError, match="leaves the run directory"):
        executors.write_returned(tmp_path, {"files": {"../evil": b"x"}, "result": {}})


# ---- on a local Ray instance ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    """A two-CPU Ray instance on this machine whose workers can import ``tests/`` modules."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'resdepth[ray]')")
    with pytest.MonkeyPatch.context() as mp:
        path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
        mp.setenv("PYTHONPATH", path)  # workers inherit it from the raylet
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield ray
        finally:
            ray.shutdown()


def _comparable(result) -> dict:
    return {n: m.value for n, m in result.metrics.items() if not is_timed(n)}


@pytest.mark.slow
def test_ray_gives_the_local_executors_metrics_cell_by_cell(ray_cluster, tmp_path):
    s = suite.parse(_two_cell_smoke(), "smoke")
    cache = tmp_path / "cache"
    local = runner.run_suite(s, tmp_path / "local", cache_dir=cache, verbose=0)
    remote = runner.run_suite(
        s, tmp_path / "ray", cache_dir=cache, verbose=0, executor=executors.get("ray")
    )
    assert local.ok and remote.ok and remote.statuses["ok"] == 2
    by_local = {r.id: r for r in store.read_results(tmp_path / "local")}
    by_ray = {r.id: r for r in store.read_results(tmp_path / "ray")}
    assert sorted(by_local) == sorted(by_ray) == sorted(c.id for c in s.cells())
    for cell_id, r in by_ray.items():
        assert _comparable(r) == _comparable(by_local[cell_id]), cell_id
        assert r.history == by_local[cell_id].history, cell_id
        # the files came back from the worker and were written here
        assert store.model_path(tmp_path / "ray", cell_id).is_file()
        assert store.model_path(tmp_path / "ray", cell_id).with_suffix(".json").is_file()
        assert all((tmp_path / "ray" / rel).is_file() for rel in r.tables.values())
        assert any(store.tensorboard_dir(tmp_path / "ray", cell_id).rglob("events.*"))


DOOMED = {
    "name": "doomed",
    "description": "tests only",
    "seeds": [0],
    "train": {"epochs": 1, "batch_size": 32, "warmup_epochs": 0, "gradient_interval": 2},
    "experiment": [{
        "task": "doomed",
        "dataset": "synth-words",
        "dataset_options": {"profile": "tiny"},
        "models": [{"preset": "tc-resnet8", "depths": [1, 2], "residual": [True]}],
    }],
}  # fmt: skip


class _Doomed(executors.RayExecutor):
    """Ray executor whose cells run ``tests/doomed_task.py``: one cell's worker dies once."""

    def __init__(self, marker: Path, doomed: str, max_retries: int):
        env = {"DOOMED_MARKER": str(marker), "DOOMED_CELL": doomed}
        super().__init__(max_retries=max_retries, runtime_env={"env_vars": env})
        import doomed_task

        self.cell_function = doomed_task.train_cell


@pytest.fixture
def doomed_suite(monkeypatch):
    monkeypatch.setitem(tasks.TASKS, "doomed", "tiny_task")
    s = suite.parse(DOOMED, "doomed")
    return s, s.cells()[0].id


@pytest.mark.slow
def test_a_killed_worker_is_recorded_as_error_others_finish_and_a_rerun_completes(
    ray_cluster, doomed_suite, tmp_path
):
    s, doomed = doomed_suite
    run, marker = tmp_path / "run", tmp_path / "killed"
    first = runner.run_suite(
        s, run, cache_dir=tmp_path / "cache", verbose=0, executor=_Doomed(marker, doomed, 0)
    )
    assert marker.exists()  # the doomed cell's worker did die
    assert first.statuses == {"ok": 1, "error": 1}
    failed = store.read_result(store.cell_path(run, doomed))
    assert failed.status == "error" and "1 attempt" in failed.error
    assert "died" in failed.error.lower() or "crash" in failed.error.lower(), failed.error
    again = runner.run_suite(
        s, run, cache_dir=tmp_path / "cache", verbose=0, executor=_Doomed(marker, doomed, 0)
    )
    assert again.ok and again.resumed == 1 and again.statuses == {"ok": 2}
    assert store.model_path(run, doomed).is_file()


@pytest.mark.slow
def test_a_killed_worker_is_retried_by_ray(ray_cluster, doomed_suite, tmp_path):
    s, doomed = doomed_suite
    marker = tmp_path / "killed"
    summary = runner.run_suite(
        s, tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0,
        executor=_Doomed(marker, doomed, 1),
    )  # fmt: skip
    assert marker.exists() and summary.ok and summary.statuses == {"ok": 2}


@pytest.mark.slow
def test_a_fine_tune_whose_transfer_source_died_names_it(ray_cluster, monkeypatch, tmp_path):
    """The source cell's worker dies (no retry): the fine-tune, whose task waited on it, is
    recorded as an error that names its source, not as a death of its own."""
    monkeypatch.setitem(tasks.TASKS, "doomed", "tiny_task")
    pair = {
        **DOOMED,
        "experiment": [
            {**DOOMED["experiment"][0], "name": "pre", "models": [
                {"preset": "tc-resnet8", "depths": [1], "residual": [True]}]},
            {**DOOMED["experiment"][0], "name": "fine", "train": {"init_from": "@pre"},
             "models": [{"preset": "tc-resnet8", "depths": [1], "residual": [True]}]},
        ],
    }  # fmt: skip
    s = suite.parse(pair, "doomed")
    pre, fine = s.cells()
    run = tmp_path / "run"
    summary = runner.run_suite(
        s, run, cache_dir=tmp_path / "cache", verbose=0,
        executor=_Doomed(tmp_path / "killed", pre.id, 0),
    )  # fmt: skip
    assert summary.statuses == {"error": 2}
    error = store.read_result(store.cell_path(run, fine.id)).error
    assert error.startswith(f"its transfer source {pre.id} did not finish"), error
