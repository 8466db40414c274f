"""Speed measurement: FLOP counts against hand counts, step statistics, data wait, latency."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import models
from bench import flops, speed


def _functional(layers, shape):
    inp = keras.Input(shape)
    x = inp
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def test_conv_and_dense_flops_match_hand_counts():
    # 50 frames x 8 channels -> Conv1D(16, 5, stride 2, same): 25 frames x 16, 5*8 MACs each
    # -> DepthwiseConv1D(3, same): 25 x 16, 3 MACs each -> Dense(4) on each of 25 frames.
    model = _functional(
        [
            keras.layers.Conv1D(16, 5, strides=2, padding="same", use_bias=False),
            keras.layers.DepthwiseConv1D(3, padding="same", use_bias=False),
            keras.layers.Dense(4),
        ],
        (50, 8),
    )
    counts = list(flops.per_layer(model, (50, 8)).values())
    assert counts == [2 * 25 * 16 * 5 * 8, 2 * 25 * 16 * 3, 2 * 25 * 4 * 16 + 25 * 4]


def test_a_shared_layer_is_counted_once_per_call():
    # One Conv1D(8, 3, same) on 20 frames x 8 channels, called twice in a chain, then one Dense
    # shared by two branches that are added: each call costs the same, so each counts.
    conv = keras.layers.Conv1D(8, 3, padding="same", use_bias=False, name="conv")
    dense = keras.layers.Dense(8, use_bias=False, name="dense")
    inp = keras.Input((20, 8))
    x = conv(conv(inp))
    out = keras.layers.Add(name="add")([dense(x), dense(keras.layers.ReLU(name="relu")(x))])
    counts = flops.per_layer(keras.Model(inp, out), (20, 8))
    one_conv, one_dense = 2 * 20 * 8 * 3 * 8, 2 * 20 * 8 * 8
    assert counts == {"conv": 2 * one_conv, "dense": 2 * one_dense, "relu": 160, "add": 160}


def test_conv2d_separable_and_elementwise_flops_match_hand_counts():
    # 10x6x3 -> Conv2D(4, 3, valid, bias): 8x4x4 outputs, 27 MACs + 1 bias each;
    # SeparableConv1D on 20x5 with 7 filters, kernel 3, valid: 18 positions.
    conv = _functional([keras.layers.Conv2D(4, 3)], (10, 6, 3))
    assert flops.per_example(conv, (10, 6, 3)) == 8 * 4 * 4 * (2 * 27 + 1)
    sep = _functional([keras.layers.SeparableConv1D(7, 3, use_bias=False)], (20, 5))
    assert flops.per_example(sep, (20, 5)) == 2 * 18 * 5 * 3 + 2 * 18 * 7 * 5
    ew = _functional(
        [keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.Reshape((-1,))],
        (6, 5),
    )
    assert list(flops.per_layer(ew, (6, 5)).values()) == [2 * 30, 30, 0]


def test_res8_block_convs_are_counted_at_the_pooled_resolution():
    # 1 s of audio: 101 frames x 40 mels, pooled (4, 3) -> 25 x 13; every block conv 45 -> 45, 3x3.
    model = models.build("res8", num_classes=12)
    counts = flops.per_layer(model, 16_000)
    assert counts["block1_1_conv"] == 2 * 25 * 13 * 45 * 9 * 45
    assert counts["stem_conv"] == 2 * 101 * 40 * 45 * 9
    assert counts["logits"] == 2 * 45 * 12 + 12
    assert counts["frames_first"] == 0 and counts["log_mel"] > 0
    # longer audio costs proportionally more
    assert flops.per_example(model, 32_000) > 1.9 * flops.per_example(model, 16_000)


def test_every_preset_has_a_flop_count():
    for preset in ("res15", "tc-resnet8", "quartznet-small"):
        head = "ctc" if preset.startswith("quartznet") else "classify"
        model = models.build(preset, num_classes=30, head=head, block="post")
        assert flops.per_example(model, 16_000) > 0


def test_an_unknown_layer_is_refused_not_counted_as_zero():
    model = _functional([keras.layers.LayerNormalization()], (4, 3))
    with pytest.raises(ValueError, match="no FLOP count for layer"):
        flops.per_example(model, (4, 3))


def test_step_summary_drops_warmup_and_reports_compile_apart():
    timer = speed.StepTimer(warmup=2)
    steps = [5.0, 1.5, 1.0, 1.0, 2.0, 1.0]
    t = 0.0
    for s in steps:
        timer.begins.append(t)
        timer.ends.append(t + s)
        t += s + 0.25
    out = timer.summary(batch_size=64)
    assert out["steps"] == 6 and out["warmup_steps"] == 2
    assert out["step_seconds"]["p50"] == 1.0
    assert out["train_samples_per_s"] == 64.0
    assert out["compile_seconds"] == pytest.approx((5.0 - 1.0) + (1.5 - 1.0))


def test_pipeline_wait_is_near_zero_for_a_ready_pipeline_and_large_for_a_slow_one():
    import time

    fast = tf.data.Dataset.from_tensor_slices(np.zeros((30, 4), "float32")).batch(2).prefetch(4)
    assert speed.pipeline_wait(fast, 0.01, batches=8) < 0.5

    def slow_batches():
        for _ in range(10):
            time.sleep(0.05)  # the pipeline needs 50 ms per batch; the step only 5 ms
            yield np.zeros(4, "float32")

    slow = tf.data.Dataset.from_generator(
        slow_batches, output_signature=tf.TensorSpec([4], tf.float32)
    )
    assert speed.pipeline_wait(slow, 0.005, batches=5) > 0.5


def test_a_fit_with_the_timer_times_every_step():
    model = _functional([keras.layers.Dense(3)], (5,))
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((40, 5), "float32"), np.zeros((40, 3), "float32")
    timer = speed.StepTimer()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    model.fit(ds, epochs=2, callbacks=[timer], verbose=0, shuffle=False)
    out = timer.summary(8)
    assert out["steps"] == 10
    assert out["step_seconds"]["p10"] <= out["step_seconds"]["p50"] <= out["step_seconds"]["p90"]


def test_peak_is_measured_once_per_process():
    first = speed.peak_gflops()
    assert first > 0.1  # any CPU of this decade does a float32 matmul faster than 0.1 GFLOP/s
    assert speed.peak_gflops() is first


def test_inference_latency_and_throughput():
    model = _functional([keras.layers.Dense(3)], (5,))
    out = speed.inference(model, np.ones(5, "float32"), batch=16)
    assert 0 < out["latency_ms"]["p50"] <= out["latency_ms"]["p90"]
    assert out["infer_samples_per_s"] > 0


def test_utilization_is_training_flops_over_the_peak():
    # 1 GFLOP forward, 10 samples/s, trained at 3x forward -> 30 GFLOP/s of a 60 GFLOP/s peak
    assert speed.utilization(1e9, 10.0, 60.0) == pytest.approx(0.5)


def test_xla_scope_turns_op_determinism_off_only_for_tensorflow_xla_and_restores_it():
    from tensorflow.python.framework import config as tf_config

    tf.config.experimental.enable_op_determinism()
    with speed.xla_allowed(False) as deterministic:
        assert deterministic and tf_config.is_op_determinism_enabled()
    with speed.xla_allowed(True) as deterministic:
        assert not deterministic and not tf_config.is_op_determinism_enabled()
    assert tf_config.is_op_determinism_enabled()
    with pytest.raises(RuntimeError), speed.xla_allowed(True):
        raise RuntimeError("a failing cell")
    assert tf_config.is_op_determinism_enabled()


@pytest.mark.parametrize("per_call", [1, 2])
def test_the_timer_recovers_each_steps_own_loss_from_keras_running_mean(per_call):
    # Nothing trains (learning rate 0) and batch k's targets sit sqrt(k) from the zero
    # prediction, so step k's own MSE is exactly k; Keras hands each batch's end the running
    # mean (1, 1.5, 2, ...), which the timer must turn back into 1, 2, 3, ...; with two steps
    # per compiled call, into each call's mean (1.5, 3.5, ...). The second epoch is not kept.
    model = _functional([keras.layers.Dense(1, kernel_initializer="zeros")], (1,))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", steps_per_execution=per_call)
    k = np.repeat(np.arange(1, 9, dtype="float32"), 4)
    x, y = np.zeros((32, 1), "float32"), np.sqrt(k)[:, None]
    timer = speed.StepTimer()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    model.fit(ds, epochs=2, callbacks=[timer], verbose=0, shuffle=False)
    expected = np.arange(1, 9, dtype="float64").reshape(-1, per_call).mean(axis=1)
    np.testing.assert_allclose(timer.losses, expected, rtol=1e-5)
