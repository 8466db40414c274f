"""Data-parallel cells on a CPU-only host: one cell over two devices trains like one device.

TensorFlow: two logical CPU devices (``tf.config.set_logical_device_configuration`` must run
before TensorFlow initialises its devices, so in a child process) under
``tf.distribute.MirroredStrategy``. JAX: ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
in a child process, under ``keras.distribution.DataParallel``. Both go through
``bench.devices.running``, as the loop does.

The tolerance: the per-step losses over ``STEPS`` steps (SGD, fixed batches, no shuffle) of the
two-replica run equal the one-device run within ``RTOL`` relative. The replicas each compute half
the global batch and the gradients are summed across them, so the sums run in another order:
float32 rounding, growing slowly with the steps, is all that may differ. The model has no batch
normalization: Keras's ``BatchNormalization`` normalizes over each replica's half batch (not
synchronized), which changes the function itself, not only the rounding.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = 6
RTOL = 1e-4

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    if keras.backend.backend() == "tensorflow":
        from bench import devices
        assert devices.split_cpu(2)
    from bench import devices

    def run(replicas):
        keras.utils.set_random_seed(0)
        placement = devices.place("cpu", replicas)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64 * STEPS, 16000)).astype("float32")
        y = rng.integers(0, 4, size=64 * STEPS)
        with devices.running(placement, "float32"):
            audio = keras.Input((16000,))
            h = keras.layers.Reshape((100, 160))(audio)
            h = keras.layers.Conv1D(16, 3, activation="relu")(h)
            h = keras.layers.GlobalAveragePooling1D()(h)
            model = keras.Model(audio, keras.layers.Dense(4)(h))
            model.compile(
                optimizer=keras.optimizers.SGD(0.1),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            losses = []
            cb = keras.callbacks.LambdaCallback(
                on_train_batch_end=lambda b, logs: losses.append(float(logs["loss"]))
            )
            model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
        # Keras logs the running mean of the epoch; the step losses from it:
        steps = [losses[0]] + [
            (k + 1) * losses[k] - k * losses[k - 1] for k in range(1, len(losses))
        ]
        return {"devices": list(placement.names), "losses": steps}

    print("RESULT" + json.dumps({"one": run(1), "two": run(2)}))
    """
).replace("STEPS", str(STEPS))


def _child(backend: str, extra_env: dict) -> dict:
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **extra_env,
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
    return json.loads(line[len("RESULT") :])


def _assert_same_trajectory(result: dict) -> None:
    one, two = result["one"], result["two"]
    assert len(one["devices"]) == 1 and len(two["devices"]) == 2
    assert len(one["losses"]) == len(two["losses"]) == STEPS
    assert one["losses"][0] > one["losses"][-1], "the loss should fall over the steps"
    for a, b in zip(one["losses"], two["losses"], strict=True):
        assert b == pytest.approx(a, rel=RTOL)


@pytest.mark.slow
def test_tensorflow_mirrored_two_logical_cpus_matches_one_device():
    result = _child("tensorflow", {})
    assert all("CPU" in d for d in result["two"]["devices"])
    _assert_same_trajectory(result)


@pytest.mark.slow
def test_jax_data_parallel_two_host_devices_matches_one_device():
    pytest.importorskip("jax", reason="jax is not installed (pip install -e '.[jax]')")
    result = _child("jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    _assert_same_trajectory(result)


TINY_SUITE = """
name = "tiny-r2"
seeds = [0]
replicas = 2
[train]
epochs = 2
batch_size = 32
warmup_epochs = 0
gradient_interval = 2
[[experiment]]
task = "kws"
dataset = "synth-words"
dataset_options = { profile = "tiny" }
models = [ { preset = "tc-resnet8", depths = [1], residual = [true] } ]
"""


@pytest.mark.slow
def test_a_replicated_cell_trains_through_the_cli_with_its_gradient_probe(tmp_path):
    """``bench run`` splits the CPU before TensorFlow starts; the loop trains under the
    strategy and the gradient probe reads the mirrored weights."""
    from results import store

    (tmp_path / "tiny.toml").write_text(TINY_SUITE)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
           "RESDEPTH_CACHE": str(tmp_path / "cache")}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--suite", str(tmp_path / "tiny.toml"),
         "--out", str(tmp_path / "run"), "-q", "--no-report"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    (r,) = store.read_results(tmp_path / "run")
    assert out.returncode == 0 and r.ok, (r.error, r.traceback, out.stderr[-2000:])
    assert r.cell.id.endswith("-r2") and r.speed.device_count == 2
    assert len(r.speed.device_names) == 2 and r.speed.device == "cpu"
    assert r.gradient_flow.init["blocks"] == 1 and r.gradient_flow.steps > 0
    assert 0 <= r.metrics["accuracy"].value <= 1
