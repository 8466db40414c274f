"""``python -m bench`` on an install without TensorFlow: the backend is chosen, not failed on."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import default_backend

ROOT = Path(__file__).resolve().parents[1]
WITHOUT_TENSORFLOW = Path(__file__).parent / "without_tensorflow"


def _env(tmp_path, keras_json=None, **extra):
    if keras_json is not None:
        (tmp_path / "keras.json").write_text(json.dumps(keras_json))
    return {"KERAS_HOME": str(tmp_path), **extra}


def test_a_named_or_installed_backend_is_left_alone(tmp_path):
    everything = {"tensorflow", "jax", "torch"}.__contains__
    env = _env(tmp_path, KERAS_BACKEND="torch")
    assert default_backend.choose(env, lambda name: False) is None
    assert env["KERAS_BACKEND"] == "torch"
    env = _env(tmp_path)  # no keras.json: Keras would take TensorFlow, which is installed
    assert default_backend.choose(env, everything) is None and "KERAS_BACKEND" not in env
    env = _env(tmp_path, {"backend": "torch"})  # the user's keras.json, installed
    assert default_backend.choose(env, {"torch"}.__contains__) is None


def test_without_tensorflow_jax_then_torch_is_chosen(tmp_path):
    env = _env(tmp_path)
    assert default_backend.choose(env, {"jax", "torch"}.__contains__) == "jax"
    assert env["KERAS_BACKEND"] == "jax"
    # the keras.json Keras writes on its first import names tensorflow: not installed here
    env = _env(tmp_path, {"backend": "tensorflow", "floatx": "float32"})
    assert default_backend.choose(env, {"torch"}.__contains__) == "torch"
    env = _env(tmp_path)
    assert default_backend.choose(env, lambda name: False) is None  # Keras's own error stands
    assert "KERAS_BACKEND" not in env


def test_the_command_line_runs_without_tensorflow_and_no_backend_named(tmp_path):
    """A child that cannot import TensorFlow, with no ``$KERAS_BACKEND`` and Keras's written
    ``keras.json``: ``bench run --dry-run`` (which imports Keras and the suite) works."""
    if not any(map(default_backend._installed, default_backend.FALLBACKS)):
        pytest.skip("neither jax nor torch is installed (tox -e backends, or tox -e notf)")
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(KERAS_HOME=str(tmp_path), PYTHONPATH=str(WITHOUT_TENSORFLOW))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--suite", "smoke", "--dry-run"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "suite smoke: 4 cells" in done.stdout


def test_no_backend_at_all_or_a_named_missing_one_is_one_sentence_not_an_import_error(tmp_path):
    nothing = lambda name: False  # noqa: E731
    env = _env(tmp_path)
    assert default_backend.choose(env, nothing) is None
    assert default_backend.unavailable(env, nothing).startswith(
        "no Keras backend is installed (TensorFlow, JAX or PyTorch)"
    )
    named = _env(tmp_path, KERAS_BACKEND="torch")
    assert default_backend.unavailable(named, {"jax"}.__contains__) == (
        "KERAS_BACKEND names the torch backend, which is not installed here"
    )
    assert default_backend.unavailable(named, {"torch"}.__contains__) is None
    assert default_backend.unavailable(_env(tmp_path), {"tensorflow"}.__contains__) is None


def test_the_command_line_names_a_missing_backend_and_exits_2(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "openvino", "KERAS_HOME": str(tmp_path)}
    if default_backend.unavailable(env) is None:
        pytest.skip("openvino is installed here")
    done = subprocess.run([sys.executable, "-m", "bench", "list"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: KERAS_BACKEND names the openvino backend, which is not installed here"
    )
