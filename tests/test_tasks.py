"""The task interface: every registered task satisfies it, and a new task is one module plus one
registry line — registered here, it trains end to end through the one loop, untouched."""

import pytest

from bench import runner, suite, tasks
from bench.tasks.base import Task, members
from results import store


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_every_registered_task_satisfies_the_protocol(name):
    task = tasks.get(name)
    assert isinstance(task, Task)
    assert task.DATA_KIND in ("kws", "asr")
    assert task.HEADLINE and all(isinstance(m, str) for m in task.HEADLINE)


def test_a_module_missing_part_of_the_interface_is_refused_by_name(monkeypatch):
    monkeypatch.setitem(tasks.TASKS, "broken", "bench.tasks.base")  # a module, not a task
    with pytest.raises(TypeError, match="DATA_KIND"):
        tasks.get("broken")
    assert "setup" in members() and "evaluate_saved" in members()


TINY = {
    "name": "tiny-task",
    "description": "tests only",
    "seeds": [0],
    "train": {"epochs": 2, "batch_size": 32, "warmup_epochs": 0, "gradient_interval": 2},
    "experiment": [{
        "task": "loudness",
        "dataset": "synth-words",
        "dataset_options": {"profile": "tiny"},
        "models": [{"preset": "tc-resnet8", "depths": [1], "residual": [True]}],
    }],
}  # fmt: skip


@pytest.mark.slow
def test_a_new_task_is_one_module_and_one_registry_line(monkeypatch, tmp_path):
    monkeypatch.setitem(tasks.TASKS, "loudness", "tiny_task")  # tests/tiny_task.py
    s = suite.parse(TINY, "tiny-task")
    summary = runner.run_suite(s, tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0)
    (r,) = store.read_results(tmp_path / "run")
    assert summary.ok, r.traceback
    assert r.cell.task == "loudness" and 0 <= r.metrics["accuracy"].value <= 1
    assert r.evaluation == {"n_examples": r.dataset.sizes["test"]}
    # what the loop adds for every task: training, speed, gradient flow, TensorBoard, the model
    assert {"val_accuracy", "train_loss", "params", "latency_p50_ms"} <= set(r.metrics)
    assert r.speed.flops_per_example > 0 and r.gradient_flow.init["blocks"] == 1
    assert len(r.history["loss"]) == 2
    assert store.model_path(tmp_path / "run", r.cell.id).is_file()
    assert any((store.tensorboard_dir(tmp_path / "run", r.cell.id) / "train").iterdir())
