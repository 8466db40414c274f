"""Training keyword spotting on precomputed log-mel features equals training on audio.

``train.precompute_features`` computes a cell's features once and trains the model's trunk
(``models.frontend.split``) on them; the model that is evaluated and saved still takes raw
audio. Same seed, same data: the weights after training agree within float32 rounding
(the front end run over the whole split at once, instead of batch by batch inside each step).
"""

import dataclasses
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

import models
from bench import loop
from bench.config import Cell, TrainConfig
from bench.tasks import kws
from datasets.base import SAMPLE_RATE, AudioSplit, KwsData
from models import frontend

LABELS = ("low", "mid", "high")
# After 2 epochs of 4 steps each (AdamW, 3e-3, weights moved by up to 0.14), the largest weight
# differs by at most this much between the two paths; measured: 2.3e-7 (float32 rounding of
# the front end run over other batch shapes).
WEIGHT_ATOL = 1e-5


def _split(n: int, seed: int) -> AudioSplit:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(LABELS)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    freqs = np.array([300.0, 1200.0, 3000.0])[labels] * rng.uniform(0.9, 1.1, n)
    audio = 0.3 * np.sin(2 * np.pi * freqs[:, None] * t) + 0.05 * rng.standard_normal((n, t.size))
    speakers = np.array([f"v{i % 4}" for i in range(n)])
    return AudioSplit(audio.astype(np.float32), labels.astype(np.int32), speakers)


@pytest.fixture(scope="module")
def data() -> KwsData:
    return KwsData("tones", LABELS, _split(48, 0), _split(12, 1), _split(12, 2))


def _cell(precompute: bool) -> Cell:
    train = TrainConfig(
        epochs=2, batch_size=12, warmup_epochs=0.5, patience=5, gradient_interval=2,
        precompute_features=precompute,
    )  # fmt: skip
    return Cell("tones", "kws", "tones", (), "tc-resnet8", 2, 0.5, True, 0, train)


def _train(cell: Cell, data: KwsData) -> loop.Outcome:
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cell.seed)
    return loop.run(kws, cell, data, verbose=0)


@pytest.fixture(scope="module")
def outcomes(data):
    return _train(_cell(False), data), _train(_cell(True), data)


@pytest.mark.parametrize("preset", ["tc-resnet8", "tc-resnet8-peak"])
def test_the_trunk_shares_the_model_and_composes_back_to_it(data, preset):
    """Also with ``PeakNorm``, which belongs to the trunk (it follows ``FEATURES_LAYER``)."""
    keras.utils.set_random_seed(0)
    model = models.build(preset, num_classes=3, depth=2)
    front, trunk = frontend.split(model)
    assert ("peak_norm" in {layer.name for layer in trunk.layers}) == preset.endswith("-peak")
    assert not front.weights  # the front end computes, it learns nothing
    assert [id(w) for w in trunk.weights] == [id(w) for w in model.weights]
    x = data.test.audio[:4]
    np.testing.assert_allclose(trunk(front(x)), model(x), atol=1e-6)
    with pytest.raises(ValueError, match="no log-mel front end"):
        frontend.split(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))


def test_features_are_per_clip_whatever_the_batch(data):
    front, _ = frontend.split(models.build("tc-resnet8", num_classes=3, depth=1))
    feats = kws.features(front, data.train).audio
    assert feats.shape == (48, frontend.frames(SAMPLE_RATE), 40)
    np.testing.assert_allclose(feats[5:7], front(data.train.audio[5:7]), atol=1e-5)


def test_features_are_computed_once_per_corpus(data, monkeypatch):
    front, _ = frontend.split(models.build("tc-resnet8", num_classes=3, depth=1))
    first = kws.features(front, data.val).audio
    calls = []
    monkeypatch.setattr(front, "predict", lambda *a, **k: calls.append(1))
    assert kws.features(front, data.val).audio is first and not calls  # the cache
    copy = dataclasses.replace(data.val, audio=data.val.audio.copy())
    with pytest.raises(TypeError):  # another array, even with equal values: computed anew
        kws.features(front, copy)
    assert calls == [1]
    # the cache does not keep a corpus alive
    gone = np.ones((2, SAMPLE_RATE), np.float32)
    monkeypatch.undo()
    kws.features(front, AudioSplit(gone, np.zeros(2, np.int32), np.array(["a", "b"])))
    ref = weakref.ref(gone)
    del gone
    assert ref() is None


def test_training_on_features_gives_the_weights_training_on_audio_gives(outcomes):
    on_audio, on_features = outcomes
    a, b = on_audio.model.get_weights(), on_features.model.get_weights()
    assert len(a) == len(b) and on_audio.timing.steps == on_features.timing.steps == 8
    worst = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))
    assert worst < WEIGHT_ATOL, worst
    keras.utils.set_random_seed(0)
    init = models.build("tc-resnet8", num_classes=3, depth=2, width=0.5).get_weights()
    assert max(float(np.abs(x - y).max()) for x, y in zip(a, init, strict=True)) > 0.01
    for name in ("accuracy", "val_accuracy"):
        assert on_audio.metrics[name].value == pytest.approx(on_features.metrics[name].value)
    assert on_audio.evaluation["predicted"] == on_features.evaluation["predicted"]
    # the gradient-flow probe ran on the features: the same per-layer norms
    ga, gb = on_audio.tables["gradflow"], on_features.tables["gradflow"]
    assert list(ga["layer"]) == list(gb["layer"]) and len(ga) > 0
    np.testing.assert_allclose(gb["grad_norm"], ga["grad_norm"], rtol=1e-4, atol=1e-6)


def test_the_saved_model_still_takes_raw_audio(outcomes, data, tmp_path):
    _, on_features = outcomes
    model = on_features.model
    assert model.input.shape == (None, None) and model.get_layer(frontend.FEATURES_LAYER)
    path = tmp_path / "cell.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=False)
    np.testing.assert_allclose(
        loaded.predict(data.test.audio, verbose=0), model.predict(data.test.audio, verbose=0),
        atol=1e-5,
    )  # fmt: skip


def test_the_flag_is_typed_off_by_default_and_on_in_the_main_job():
    from bench import suite

    assert TrainConfig().precompute_features is False  # opt-in: a suite turns it on
    kws = [e for e in suite.load("quick").experiments if e.task == "kws"]
    assert kws and all(e.train.precompute_features for e in kws)
    with pytest.raises(ValueError, match="precompute_features must be true or false"):
        dataclasses.replace(TrainConfig(), precompute_features="yes")


def test_timing_cells_time_the_whole_model_on_audio(data):
    from bench.tasks import timing

    keras.utils.set_random_seed(0)
    s = timing.setup(_cell(True), data)
    assert s.model is s.served and s.model.input.shape == (None, None)
    x, _ = next(iter(s.train))
    assert x.shape[1:] == (SAMPLE_RATE,)


def test_utilization_leaves_out_the_front_end_that_training_no_longer_runs(outcomes):
    from bench import flops, speed

    on_audio, on_features = outcomes
    model = on_features.model
    whole = flops.per_example(model, SAMPLE_RATE)
    front, _ = frontend.split(model)
    trunk = whole - flops.per_example(front, SAMPLE_RATE)
    assert 0 < trunk < whole and on_features.speed.flops_per_example == whole
    for outcome, counted in ((on_audio, whole), (on_features, trunk)):
        s = outcome.speed
        expected = speed.utilization(counted, s.train_samples_per_s, s.peak_gflops)
        assert s.utilization == pytest.approx(expected)


def test_precomputed_features_refuse_waveform_augmentation_but_not_specaugment():
    from datasets.augment import Augment

    with pytest.raises(ValueError, match="waveform augmentation"):
        TrainConfig(precompute_features=True, augment=Augment(time_shift_ms=100.0))
    spec = Augment(time_masks=2, time_mask_frames=10)  # in the model, after the features
    assert TrainConfig(precompute_features=True, augment=spec).augment == spec
