"""Gradient-flow recording: exact norms, no side effects, and the vanishing-gradient physics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import models
from bench import gradflow

XENT = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def LOSS(x, y, y_pred):  # noqa: N802 - the probe's loss signature
    return XENT(y, y_pred)


def _batch(n=8, samples=4000, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, samples)).astype("float32") * 0.1, rng.integers(0, classes, n)


def test_recorded_norms_equal_an_independent_gradient_tape():
    keras.utils.set_random_seed(0)
    model = models.build("tc-resnet8", num_classes=3, depth=2)
    x, y = _batch()
    probe = gradflow.Probe(model, LOSS, [(x, y)])
    rows = probe.rows(0, probe.tensor_grad_norms())
    with tf.GradientTape() as tape:
        loss = XENT(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    expected: dict[str, float] = {}
    for w, g in zip(model.trainable_weights, grads, strict=True):
        layer = w.path.split("/")[-2]
        expected[layer] = expected.get(layer, 0.0) + float(tf.reduce_sum(g**2))
    got = dict(zip(rows["layer"], rows["grad_norm"], strict=True))
    assert set(got) == set(expected)
    for layer, sq in expected.items():
        assert got[layer] == pytest.approx(np.sqrt(sq), rel=1e-4), layer
    assert set(rows["block"]) == {gradflow.STEM, 1, 2, gradflow.HEAD}


def test_probe_leaves_batch_norm_statistics_alone():
    model = models.build("tc-resnet8", num_classes=3, depth=1)
    before = [np.array(v) for v in model.non_trainable_variables]
    gradflow.Probe(model, LOSS, [_batch()]).tensor_grad_norms()
    for a, v in zip(before, model.non_trainable_variables, strict=True):
        np.testing.assert_array_equal(a, np.array(v))


def _sigmoid_stack(depth: int, residual: bool, width: int = 16) -> keras.Model:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((width,))
    x = inputs
    for i in range(1, depth + 1):
        y = keras.layers.Dense(width, activation="sigmoid", name=f"block{i}_dense")(x)
        x = keras.layers.Add(name=f"block{i}_add")([x, y]) if residual else y
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))


def _block_norms(model) -> np.ndarray:
    rng = np.random.default_rng(2)
    batch = (rng.standard_normal((64, 16)).astype("float32"), rng.integers(0, 2, 64))
    probe = gradflow.Probe(model, LOSS, [batch])
    table = probe.rows(0, probe.tensor_grad_norms())
    return gradflow.block_norms(table, 0).to_numpy()


def test_plain_sigmoid_stack_vanishes_geometrically_and_skips_stop_it():
    plain = _block_norms(_sigmoid_stack(24, residual=False))
    # Each sigmoid layer multiplies the backward signal by at most 1/4 * ||W||: the log-norm
    # falls at a steady rate toward the input (block 1).
    ratios = plain[1:] / plain[:-1]
    assert np.all(ratios > 1.0), "gradient norms must grow from the input toward the output"
    assert plain[-1] / plain[0] > 1e6
    slope = np.polyfit(np.arange(len(plain)), np.log10(plain), 1)[0]
    assert slope > 0.2  # at least 10x per ~5 blocks, steadily
    resid = _block_norms(_sigmoid_stack(24, residual=True))
    # With identity skips the backward signal reaching block 1 is at least the identity path's:
    # the spread over 24 blocks stays within two orders of magnitude instead of six.
    assert resid.max() / resid.min() < 100, "identity skips keep every block's gradient alive"
    assert resid[0] / resid[-1] > 1e4 * plain[0] / plain[-1]


def test_recorder_records_init_and_every_interval_and_summarizes():
    keras.utils.set_random_seed(0)
    model = models.build("tc-resnet8", num_classes=3, depth=3)
    x, y = _batch(n=32)
    model.compile(optimizer="adam", loss=XENT)
    rec = gradflow.Recorder(gradflow.Probe(model, LOSS, [(x[:8], y[:8]), (x[8:16], y[8:16])]), 2)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[rec])
    table = rec.table()
    assert list(table.columns) == list(gradflow.COLUMNS)
    assert sorted(table["step"].unique()) == [0, 2, 4, 6, 8]
    later = table[table["step"] > 0]
    assert (later["update_ratio"] > 0).all()
    assert table[table["step"] == 0]["update_ratio"].isna().all()
    summary = gradflow.summarize(table)
    assert summary["init"]["blocks"] == 3 and summary["steps"] == 8
    assert set(summary["end"]) >= {"first_last_ratio", "log10_slope_per_block", "vanished_fraction"}


def test_with_steps_per_execution_the_interval_and_the_steps_are_training_steps():
    """Four steps per compiled call: the recordings fall at training steps (after the call that
    runs each multiple of the interval), not at multiples of calls; 2 epochs of 8 steps."""
    from bench.train import _Watch

    keras.utils.set_random_seed(0)
    model = models.build("tc-resnet8", num_classes=3, depth=1)
    x, y = _batch(n=32)
    model.compile(optimizer="adam", loss=XENT, steps_per_execution=4)
    rec = gradflow.Recorder(gradflow.Probe(model, LOSS, [(x[:8], y[:8])]), 6)
    watch = _Watch()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[rec, watch])
    # calls run steps 1-4, 5-8 | 9-12, 13-16: multiples of 6 (6, 12) fall in the 2nd and 3rd
    assert sorted(rec.table()["step"].unique()) == [0, 8, 12]
    assert watch._step == 16  # steps, not the 4 calls
