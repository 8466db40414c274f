"""Transfer: a cell starts from another cell's trained encoder (every layer but the classifier
head, by name), then fine-tunes; the source is resolved from a path, a run and cell, or an earlier
experiment of the same run, and recorded in the cell."""

import dataclasses
import tomllib

import keras
import numpy as np
import pytest

import models
from bench import runner, suite, transfer
from datasets.base import DataError
from results import store

rng = np.random.default_rng(0)
AUDIO = rng.standard_normal((8, 16000)).astype(np.float32)


def _pretrained(tmp_path, classes=4, depth=2):
    """A tiny model trained a few steps (weights away from their initial values), saved."""
    keras.utils.set_random_seed(1)
    model = models.build("tc-resnet8", num_classes=classes, depth=depth)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(AUDIO, np.arange(8) % classes, epochs=2, verbose=0)
    path = tmp_path / "pre.keras"
    model.save(path)
    return model, path


def test_encoder_weights_are_loaded_and_the_head_is_fresh(tmp_path):
    source, path = _pretrained(tmp_path)
    keras.utils.set_random_seed(2)
    target = models.build("tc-resnet8", num_classes=10, depth=2)
    head_before = [w.copy() for w in target.get_layer("logits").get_weights()]
    loaded = transfer.load_encoder(target, path)
    for layer in target.layers:
        if not layer.weights or layer.name == "logits":
            continue
        theirs_all = source.get_layer(layer.name).get_weights()
        for mine, theirs in zip(layer.get_weights(), theirs_all, strict=True):
            np.testing.assert_array_equal(mine, theirs, err_msg=layer.name)
    for mine, before in zip(target.get_layer("logits").get_weights(), head_before, strict=True):
        np.testing.assert_array_equal(mine, before)
    assert loaded["loaded_layers"] > 5 and loaded["fresh_layers"] == []
    assert loaded["head"] == ["logits"] and loaded["source"] == str(path)
    # the same embedding of the same audio: the encoder really is the pretrained one
    embed = keras.Model(target.input, target.get_layer("embedding").output)
    ref = keras.Model(source.input, source.get_layer("embedding").output)
    np.testing.assert_allclose(embed(AUDIO[:2]), ref(AUDIO[:2]), atol=1e-5)


def test_deeper_target_keeps_new_blocks_fresh_and_shape_mismatch_fails(tmp_path):
    _, path = _pretrained(tmp_path, depth=1)
    deeper = models.build("tc-resnet8", num_classes=3, depth=2)
    loaded = transfer.load_encoder(deeper, path)
    assert loaded["fresh_layers"] and all(n.startswith("block") for n in loaded["fresh_layers"])
    wider = models.build("tc-resnet8", num_classes=3, depth=1, width=1.5)
    with pytest.raises(ValueError, match="has weights"):
        transfer.load_encoder(wider, path)


def test_resolve_forms(tmp_path):
    s = suite.parse(
        tomllib.loads(
            """
[[experiment]]
name = "pre"
task = "kws"
dataset = "synth-words"
models = [{ preset = "tc-resnet8", depths = [1], residual = [true] }]
[[experiment]]
name = "fine"
task = "kws"
dataset = "synth-words"
train = { init_from = "@pre" }
models = [{ preset = "tc-resnet8", depths = [1], residual = [true] }]
"""
        ),
        "t.toml",
    )
    pre, fine = s.cells()
    run = tmp_path / "run"
    with pytest.raises(DataError, match="no saved model"):
        transfer.resolve(fine, run)
    store.model_path(run, pre.id).parent.mkdir(parents=True)
    store.model_path(run, pre.id).write_bytes(b"x")
    assert transfer.resolve(fine, run) == store.model_path(run, pre.id)
    other = dataclasses.replace(fine.train, init_from=f"{run}:{pre.id}")
    assert transfer.resolve(dataclasses.replace(fine, train=other), tmp_path) == (
        store.model_path(run, pre.id)
    )
    path = dataclasses.replace(fine.train, init_from=str(store.model_path(run, pre.id)))
    assert transfer.resolve(dataclasses.replace(fine, train=path), tmp_path).is_file()
    assert transfer.resolve(pre, run) is None
    bad = dataclasses.replace(fine.train, init_from="somewhere")
    with pytest.raises(DataError, match="RUN_DIR:CELL_ID"):
        transfer.resolve(dataclasses.replace(fine, train=bad), run)


@pytest.mark.slow
def test_pretrain_then_fine_tune_in_one_run(tmp_path):
    """A tiny pretraining cell, then a fine-tune on other words, augmented, from its encoder."""
    s = suite.parse(
        tomllib.loads(
            """
name = "transfer"
[train]
epochs = 2
batch_size = 32
warmup_epochs = 0.5
[[experiment]]
name = "pre"
task = "kws"
dataset = "synth-words"
dataset_options = { profile = "tiny" }
models = [{ preset = "tc-resnet8", depths = [1], residual = [true] }]
[[experiment]]
name = "fine"
task = "kws"
dataset = "synth-words"
dataset_options = { profile = "tiny", words = ["up", "down", "go"] }
models = [{ preset = "tc-resnet8", depths = [1], residual = [true] }]
[experiment.train]
init_from = "@pre"
augment = { time_shift_ms = 50, noise_prob = 0.5, time_masks = 1, time_mask_frames = 5 }
"""
        ),
        "t.toml",
    )
    summary = runner.run_suite(s, tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0)
    assert summary.ok, summary.statuses
    fine = store.read_results(tmp_path / "run")
    fine = next(r for r in fine if r.cell.experiment == "fine")
    assert fine.cell.train["init_from"] == "@pre"
    assert fine.cell.train["augment"]["time_shift_ms"] == 50
    moved = fine.evaluation["transfer"]
    assert moved["loaded_layers"] > 5 and moved["source"].endswith(
        "kws-pre-tc-resnet8-d1-res-s0.keras"
    )
    assert fine.speed.data_wait_share is not None and fine.speed.data_wait_share < 0.5
    saved = keras.saving.load_model(store.model_path(tmp_path / "run", fine.cell.id))
    assert saved.output.shape[-1] == 3
