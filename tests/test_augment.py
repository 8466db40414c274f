"""Training-time augmentation: off by default (byte-identical batches), seeded and deterministic
when on, each transform doing what it says, SpecAugment only in training, suites typed."""

import dataclasses
import json
import tomllib

import keras
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

import models
from bench import suite
from bench.config import Suite, TrainConfig
from bench.tasks import asr
from datasets import augment as aug
from datasets import pipeline
from datasets.base import SAMPLE_RATE, AudioSplit, DataError

RECIPE = aug.Augment(time_shift_ms=100, noise_prob=0.8, speed=(0.9, 1.0, 1.1))


def _split(n=70, samples=4000, seed=0):
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal((n, samples)) * 0.1).astype(np.float32)
    return AudioSplit(audio, (np.arange(n) % 5).astype(np.int32), np.array(["s"] * n))


def _epoch(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def _before(split, batch_size, shuffle_seed):
    """The pipeline as it was before augmentation existed (8f638e4)."""
    audio, labels = tf.constant(split.audio), tf.constant(split.labels)
    ds = tf.data.Dataset.range(len(split))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda i: (tf.gather(audio, i), tf.gather(labels, i)))
    return ds.prefetch(tf.data.AUTOTUNE)


@pytest.mark.parametrize("augment", [None, aug.Augment(), aug.Augment(time_masks=2)])
def test_default_pipeline_is_byte_identical_to_before(augment):
    split = _split()
    new = pipeline.batches(split, 16, shuffle_seed=3, augment=augment, augment_seed=1)
    old = _before(split, 16, 3)
    for epoch in range(2):  # the reshuffled second epoch too
        for (a, b), (c, d) in zip(_epoch(new), _epoch(old), strict=True):
            assert a.tobytes() == c.tobytes() and b.tobytes() == d.tobytes(), epoch


def test_same_seed_same_batches_each_epoch_new_draws():
    split = _split()
    one = pipeline.batches(split, 16, shuffle_seed=3, augment=RECIPE, augment_seed=7)
    two = pipeline.batches(split, 16, shuffle_seed=3, augment=RECIPE, augment_seed=7)
    first, second = _epoch(one), _epoch(one)
    for (a, y), (b, z) in zip(first, _epoch(two), strict=True):
        assert a.tobytes() == b.tobytes() and np.array_equal(y, z)
    for (a, y), (b, z) in zip(second, _epoch(two), strict=True):  # epoch 2 of both, too
        assert a.tobytes() == b.tobytes() and np.array_equal(y, z)
    assert any(not np.array_equal(a, b) for (a, _), (b, _) in zip(first, second, strict=True))
    other = pipeline.batches(split, 16, shuffle_seed=3, augment=RECIPE, augment_seed=8)
    assert not np.array_equal(_epoch(other)[0][0], first[0][0])
    # labels follow their clips: augmentation changes audio only
    clean = _epoch(pipeline.batches(split, 16, shuffle_seed=3))
    assert all(np.array_equal(y, z) for (_, y), (_, z) in zip(first, clean, strict=True))


def test_time_shift_moves_and_zero_fills():
    x = tf.constant(np.arange(1, 11, dtype=np.float32)[None].repeat(3, 0))
    out = aug.time_shift(x, tf.constant([0, 2, -3])).numpy()
    np.testing.assert_array_equal(out[0], np.arange(1, 11))
    np.testing.assert_array_equal(out[1], [0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    np.testing.assert_array_equal(out[2], [4, 5, 6, 7, 8, 9, 10, 0, 0, 0])


def test_speed_one_is_identity_and_faster_is_shorter():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    burst = np.where(np.abs(t - 0.5) < 0.2, tone, 0).astype(np.float32)
    x = tf.constant(np.stack([burst, burst, burst]))
    out = aug.change_speed(x, tf.constant([1.0, 1.25, 0.8])).numpy()
    np.testing.assert_allclose(out[0], burst, atol=1e-6)
    active = [(np.abs(o) > 1e-3).sum() / SAMPLE_RATE for o in out]
    assert active[1] == pytest.approx(0.4 / 1.25, abs=0.01)
    assert active[2] == pytest.approx(0.4 / 0.8, abs=0.01)
    spectrum = np.abs(np.fft.rfft(out[1]))  # the pitch rises with the speed
    assert np.argmax(spectrum) * SAMPLE_RATE / len(out[1]) == pytest.approx(550, abs=3)


def test_noise_is_mixed_at_the_drawn_snr():
    rng = np.random.default_rng(0)
    clean = rng.standard_normal((4, 8000)).astype(np.float32)
    noise = rng.standard_normal((4, 8000)).astype(np.float32) * 3
    snr = tf.constant([0.0, 10.0, 20.0, 10.0])
    mix = tf.constant([True, True, True, False])
    out = aug.mix_at_snr(tf.constant(clean), tf.constant(noise), snr, mix).numpy()
    for i, want in enumerate([0.0, 10.0, 20.0]):
        assert aug.snr_db(clean[i], out[i]) == pytest.approx(want, abs=1e-3)
    np.testing.assert_array_equal(out[3], clean[3])


def test_noise_bank_reads_background_noise_folder(tmp_path):
    folder = tmp_path / "_background_noise_"
    folder.mkdir()
    rng = np.random.default_rng(1)
    sf.write(folder / "white.wav", rng.standard_normal(8000) * 0.1, 8000)  # resampled to 16 kHz
    sf.write(folder / "short.wav", rng.standard_normal(4000) * 0.1, 16000)
    (folder / "README.md").write_text("not audio")
    bank = aug.noise_bank(aug.Augment(noise_prob=1, noise_dir=str(tmp_path)), 0, 20000)
    assert bank.shape == (2, 20000) and bank.dtype == np.float32
    assert np.all(np.abs(bank).max(axis=1) > 0)
    with pytest.raises(DataError, match="no audio files"):
        aug.noise_bank(aug.Augment(noise_prob=1, noise_dir=str(tmp_path / "none")), 0, 100)


def test_synthetic_noise_bank_is_seeded():
    a, b = (aug.noise_bank(aug.Augment(noise_prob=1), 5, 16000) for _ in range(2))
    assert a.shape[0] == 3 and a.tobytes() == b.tobytes()
    assert a.tobytes() != aug.noise_bank(aug.Augment(noise_prob=1), 6, 16000).tobytes()


def test_spec_augment_only_in_training_and_seeded():
    x = np.random.default_rng(0).standard_normal((4, 16000)).astype(np.float32)
    masks = (2, 10, 2, 5)
    outs = []
    for _ in range(2):
        model = models.build("tc-resnet8", num_classes=3, depth=1, spec_augment=masks, seed=4)
        layer = model.get_layer("spec_augment")
        feats = model.get_layer("log_mel_scale").output
        pre = keras.Model(model.input, feats)(x)
        np.testing.assert_array_equal(layer(pre, training=False), pre)
        outs.append(np.asarray(layer(pre, training=True)))
    assert np.array_equal(outs[0], outs[1])
    masked = outs[0] != np.asarray(pre)
    assert 0 < masked.mean() < 0.6
    plain = models.build("tc-resnet8", num_classes=3, depth=1)
    assert "spec_augment" not in [layer.name for layer in plain.layers]


def _suite(train_extra: str = "", exp_extra: str = "", task: str = "kws") -> Suite:
    text = f"""
name = "t"
[train]
epochs = 2
{train_extra}
[[experiment]]
task = "{task}"
dataset = "synth-words"
dataset_options = {{ profile = "tiny" }}
models = [{{ preset = "tc-resnet8", depths = [1] }}]
{exp_extra}
"""
    return suite.parse(tomllib.loads(text), "t.toml")


def test_suite_augment_is_typed_recorded_and_round_trips():
    s = _suite("[train.augment]\ntime_shift_ms = 100\nspeed = [0.9, 1.0, 1.1]\ntime_masks = 1")
    cell = s.cells()[0]
    assert cell.train.augment == aug.Augment(time_shift_ms=100.0, speed=(0.9, 1, 1.1), time_masks=1)
    assert cell.info().train["augment"]["speed"] == (0.9, 1.0, 1.1)  # in every cell record
    again = Suite.from_dict(json.loads(s.to_json()))
    assert again == s and again.to_json() == s.to_json()
    assert _suite().cells()[0].train.augment is None  # off by default


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("time_shift_ms = 'a'", "time_shift_ms must be a number"),
        ("speed = 1.1", "speed must be a list of numbers"),
        ("noise_prob = 2", "noise_prob must be in"),
        ("noise_snr_db = [20, 5]", "noise_snr_db must be"),
        ("time_masks = 1.5", "time_masks must be an integer"),
        ("shift = 1", "unknown key"),
    ],
)
def test_suite_augment_errors_name_the_key(table, message):
    with pytest.raises(ValueError, match=message) as err:
        _suite(f"[train.augment]\n{table}")
    assert "t.toml" in str(err.value)


def test_augment_refused_for_a_task_without_it():
    with pytest.raises(ValueError, match=r"does not apply train.augment's \['waveform'\]"):
        _suite("[train.augment]\ntime_shift_ms = 10", task="timing")


def _asr_suite(augment: str) -> Suite:
    text = f"""
name = "t"
[train]
epochs = 2
[train.augment]
{augment}
[[experiment]]
task = "asr"
dataset = "synth-sentences"
models = [{{ preset = "quartznet-small", depths = [1] }}]
"""
    return suite.parse(tomllib.loads(text), "t.toml")


def test_asr_takes_spec_augment_and_refuses_waveform_augmentation():
    cell = _asr_suite("time_masks = 2\ntime_mask_frames = 10\nfreq_masks = 2\nfreq_mask_bins = 5")
    net, _ = asr.build(cell.cells()[0])
    layer = net.get_layer("spec_augment")
    feats = np.random.default_rng(0).normal(size=(2, 50, 40)).astype("float32")
    assert np.array_equal(np.asarray(layer(feats, training=False)), feats)
    assert not np.array_equal(np.asarray(layer(feats, training=True)), feats)
    with pytest.raises(ValueError, match=r"does not apply train.augment's \['waveform'\]"):
        _asr_suite("time_masks = 2\ntime_mask_frames = 10\nspeed = [0.9, 1.1]")


def test_a_task_that_trains_on_audio_refuses_precomputed_features():
    """A suite's [train] is inherited: precompute_features there must not silently pass to
    speech recognition, which would record it and train on audio."""
    with pytest.raises(ValueError, match="does not train on precomputed features"):
        suite.parse(
            tomllib.loads(
                'name = "t"\n[train]\nprecompute_features = true\n[[experiment]]\n'
                'task = "asr"\ndataset = "synth-sentences"\n'
                'models = [{ preset = "quartznet-small", depths = [1] }]\n'
            ),
            "t.toml",
        )
    assert _suite("precompute_features = true").cells()[0].train.precompute_features


def test_train_config_takes_augment_from_json():
    cfg = TrainConfig(epochs=2, augment={"time_shift_ms": 5.0, "speed": [1.1]})
    assert cfg.augment == aug.Augment(time_shift_ms=5.0, speed=(1.1,))
    assert dataclasses.replace(cfg).augment == cfg.augment


def _train_once(seed: int) -> list[np.ndarray]:
    keras.utils.set_random_seed(seed)
    recipe = aug.Augment(
        time_shift_ms=50,
        noise_prob=0.5,
        speed=(0.9, 1.1),
        time_masks=2,
        time_mask_frames=8,
        freq_masks=1,
        freq_mask_bins=4,
    )
    model = models.build(
        "tc-resnet8", num_classes=5, depth=1, spec_augment=recipe.spec_augment, seed=seed
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = pipeline.batches(_split(n=48), 16, shuffle_seed=seed, augment=recipe, augment_seed=seed)
    model.fit(ds, epochs=2, verbose=0, shuffle=False)
    return model.get_weights()


def test_augmented_training_is_deterministic():
    tf.config.experimental.enable_op_determinism()
    a, b, c = _train_once(0), _train_once(0), _train_once(1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
