"""The JAX and PyTorch input pipeline (``keras.utils.PyDataset``) and what it shares with tf.data.

A batch must be a pure function of (seed, epoch, position): the same seed gives the same
batches in every process, every epoch is a fresh permutation that holds each clip once, and
reading a batch out of turn (the gradient probe, the data-wait probe) leaves the epoch alone.
The speech-recognition batches are cut by ``AsrLayout.bucketed``, which must cut as tf.data's
``bucket_by_sequence_length`` does (the TensorFlow baselines were made with it).
"""

import numpy as np
import pytest
import tensorflow as tf

from bench import suite
from datasets import augment, pipeline, pydata
from datasets.base import AsrSplit, AudioSplit
from datasets.batching import AsrLayout
from results.errors import UserError


def _clips(n=50, samples=20):
    rng = np.random.default_rng(0)
    return AudioSplit(
        audio=rng.standard_normal((n, samples)).astype(np.float32),
        labels=np.arange(n, dtype=np.int32),  # label = index: a batch's labels are its rows
        speakers=np.array(["s"] * n),
    )


def _utterances(n=40):
    rng = np.random.default_rng(1)
    lengths = rng.integers(800, 9000, n)
    words = ["yes", "no", "up", "down", "left go"]
    return AsrSplit(
        tuple(rng.standard_normal(k).astype(np.float32) for k in lengths),
        tuple(words[i % len(words)] for i in range(n)),
        tuple("s" for _ in range(n)),
        tuple(f"u{i}" for i in range(n)),
    )


def _labels(ds, epoch):
    return [ds.batch(epoch, i)[1].tolist() for i in range(len(ds))]


def test_clip_batches_are_a_pure_function_of_seed_epoch_and_position():
    split = _clips()
    a, b = pydata.ClipBatches(split, 8, 3), pydata.ClipBatches(split, 8, 3)
    assert len(a) == 7
    for epoch in range(3):
        got = _labels(a, epoch)
        assert got == _labels(b, epoch)  # another instance (another process) agrees
        assert sorted(sum(got, [])) == list(range(50))  # every clip once per epoch
        x, y = a.batch(epoch, 2)
        np.testing.assert_array_equal(x, split.audio[y])  # audio and labels stay paired
        assert x.dtype == np.float32
    assert _labels(a, 0) != _labels(a, 1)  # a fresh order each epoch
    assert _labels(a, 0) != _labels(pydata.ClipBatches(split, 8, 4), 0)  # and per seed
    unshuffled = pydata.ClipBatches(split, 8)
    assert sum(_labels(unshuffled, 0), []) == list(range(50))


def test_the_epoch_moves_on_only_at_the_end_of_a_pass():
    ds = pydata.ClipBatches(_clips(), 8, 3)
    first = _labels(ds, 0)
    assert [y.tolist() for _, y in pipeline.take(ds, 2)] == first[:2]
    assert ds.epoch == 0  # reading out of turn left it
    assert [ds[i][1].tolist() for i in range(len(ds))] == first
    ds.on_epoch_end()  # what fit and predict call after each pass
    assert ds.epoch == 1 and ds[0][1].tolist() == _labels(ds, 1)[0]
    unshuffled = pydata.ClipBatches(_clips(), 8)
    unshuffled.on_epoch_end()
    assert unshuffled.epoch == 0
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_endless_views_run_on_into_the_next_epochs():
    ds = pydata.ClipBatches(_clips(), 8, 3)
    want = _labels(ds, 0) + _labels(ds, 1) + _labels(ds, 2)
    endless = pipeline.repeated(ds)
    assert endless.num_batches is None
    assert [endless[i][1].tolist() for i in range(len(want))] == want
    stream = pipeline.forever(ds)
    assert [next(stream)[1].tolist() for _ in range(len(want))] == want
    assert ds.epoch == 0


class _Recorded(pydata.ClipBatches):
    """Clip batches that note which (epoch, position) each read was."""

    def __init__(self, *args):
        super().__init__(*args)
        self.seen = {}

    def __getitem__(self, position):
        batch = super().__getitem__(position)
        self.seen[(self.epoch, position)] = batch[1].tolist()
        return batch


def test_fit_reads_every_epoch_in_its_order_through_the_keras_adapter():
    """Keras's data adapter (reader threads, queue) delivers the planned batches, a whole epoch
    per pass, and moves the epoch after each (``fit`` also ends one when it starts: its reset,
    after TensorFlow's adapter has peeked at a batch for its signature)."""
    import keras

    ds = _Recorded(_clips(), 8, 3)
    inputs = keras.Input((20,))
    model = keras.Model(inputs, keras.layers.Dense(50)(inputs))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ds, epochs=2, verbose=0)
    trained = [ds.epoch - 2, ds.epoch - 1]
    assert trained[0] >= 0
    plans = {e: _labels(pydata.ClipBatches(_clips(), 8, 3), e) for e in range(ds.epoch)}
    for epoch in trained:  # every batch of both passes, each from its own epoch's order
        assert [ds.seen[(epoch, i)] for i in range(len(ds))] == plans[epoch]
    assert all(rows == plans[e][i] for (e, i), rows in ds.seen.items())


def test_asr_layout_cuts_as_tf_data_buckets_by_length():
    split = _utterances()
    layout = AsrLayout.of(split, batch_size=4, buckets=3)
    order = np.random.default_rng(5).permutation(len(split))
    ours = layout.bucketed(order)
    length_of = tf.constant(layout.lengths)
    theirs = tf.data.Dataset.from_tensor_slices(order).bucket_by_sequence_length(
        lambda i: tf.gather(length_of, i),
        bucket_boundaries=list(layout.boundaries),
        bucket_batch_sizes=[4] * (len(layout.boundaries) + 1),
    )
    assert [b.tolist() for b in ours] == [b.numpy().tolist() for b in theirs]
    assert len(ours) == layout.batches
    for rows in ours:  # one bucket per batch, so a batch pads little
        assert len(set(layout.bucket(rows).tolist())) == 1


def test_asr_batches_match_tf_data_without_a_shuffle():
    split = _utterances()
    ours = pydata.AsrBatches(split, 4, buckets=3)
    from datasets import tfdata

    theirs = list(tfdata.asr_batches(split, 4, buckets=3))
    assert len(ours) == len(theirs) == pipeline.steps(ours)
    for i, (x, y) in enumerate(theirs):
        a, b = ours[i]
        for key in ("audio", "length"):
            np.testing.assert_array_equal(a[key], x[key].numpy())
        for key in ("labels", "label_length"):
            np.testing.assert_array_equal(b[key], y[key].numpy())


def test_asr_skip_orders_start_at_a_later_epoch_and_fixed_shapes_pad_per_bucket():
    split = _utterances()
    later = pydata.AsrBatches(split, 4, shuffle_seed=2, buckets=3, skip_orders=2)
    fresh = pydata.AsrBatches(split, 4, shuffle_seed=2, buckets=3)
    assert later.epoch == 2
    assert [later[i][1]["labels"].tolist() for i in range(3)] == [
        fresh.batch(2, i)[1]["labels"].tolist() for i in range(3)
    ]
    fixed = pydata.AsrBatches(split, 4, shuffle_seed=2, buckets=3, fixed_shapes=True)
    shapes = {}
    for i in range(len(fixed)):
        x, y = fixed[i]
        bucket = int(fixed.layout.bucket(fixed._plan(0)[i])[0])
        shapes.setdefault(bucket, set()).add((x["audio"].shape[1], y["labels"].shape[1]))
    assert all(len(s) == 1 for s in shapes.values())  # one shape per bucket


def test_waveform_augment_is_refused_off_tensorflow_by_name(monkeypatch):
    waveform = augment.Augment(time_shift_ms=100)
    monkeypatch.setattr(pipeline, "_tf_data", lambda: False)
    with pytest.raises(UserError, match="time_shift_ms.*tensorflow backend"):
        pipeline.batches(_clips(), 8, shuffle_seed=0, augment=waveform)
    spec_only = augment.Augment(time_masks=2)  # SpecAugment is a layer: fine everywhere
    assert isinstance(pipeline.batches(_clips(), 8, augment=spec_only), pydata.ClipBatches)
    table = {
        "name": "s",
        "seeds": [0],
        "experiment": [{
            "name": "e", "task": "kws", "dataset": "synth-words", "backends": ["jax"],
            "train": {"augment": {"time_shift_ms": 100}},
            "models": [{"preset": "tc-resnet8", "depths": [1]}],
        }],
    }  # fmt: skip
    with pytest.raises(UserError, match="needs the tensorflow backend; this cell runs on jax"):
        suite.parse(table, "t")
