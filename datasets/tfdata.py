"""The tf.data input pipelines (TensorFlow backend): shuffled, batched, prefetched raw audio.

Features are computed inside the model (log-mel front end), so a pipeline only feeds raw clips.
Shuffling is seeded per cell, which with the model seed makes a cell's training reproducible.

Every pipeline shuffles and batches *indices* and reads each batch's clips in one step: from
an array in memory (``tf.gather``) or from a prepared corpus's shards (``shards.Clips``,
read in parallel ``tf.numpy_function`` calls, in order), so host memory holds the index and a
few batches, never the corpus. Both give the same batches for the same seed. Use them through
``datasets.pipeline``, which picks this or ``datasets.pydata`` by backend.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from datasets import augment as _augment
from datasets.base import AsrSplit, AudioSplit
from datasets.batching import AsrLayout


def batches(
    split: AudioSplit,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    augment: _augment.Augment | None = None,
    augment_seed: int = 0,
) -> tf.data.Dataset:
    """``(audio, label)`` batches of ``split``; shuffled each epoch when ``shuffle_seed`` is set.

    The pipeline shuffles and batches clip indices and gathers each batch's clips in one op, so
    the shuffle buffer holds integers rather than a copy of every clip: a batch costs one gather
    instead of ``batch_size`` trips through the buffer. The order is the one a shuffle of the
    clips themselves gives with the same seed (the permutation does not depend on the elements).

    With ``augment`` (its waveform part: speed, time shift, noise), each batch is augmented on
    the fly with stateless ops seeded from ``augment_seed + augment.seed``: the same seeds give
    the same batches; every epoch draws anew. Without it the pipeline is exactly as before.
    """
    labels = tf.constant(split.labels)
    ds = tf.data.Dataset.range(len(split))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    read = _reader(split.audio)
    ds = ds.batch(batch_size).map(
        lambda i: (read(i), tf.gather(labels, i)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if augment is not None and augment.waveform:
        ds = _augmented(ds, augment, augment_seed + augment.seed, split.audio.shape[1])
    return ds.prefetch(tf.data.AUTOTUNE)


def _reader(audio) -> Callable[[tf.Tensor], tf.Tensor]:
    """``indices -> clips`` as a tf.data op: a gather from memory, or a read from shards."""
    if isinstance(audio, np.ndarray):
        constant = tf.constant(audio)
        return lambda i: tf.gather(constant, i)
    shape = [None, *audio.shape[1:]]

    def read(i):
        out = tf.numpy_function(audio.batch, [i], tf.float32, stateful=False)
        out.set_shape(shape)
        return out

    return read


def _augmented(ds: tf.data.Dataset, augment: _augment.Augment, seed: int, samples: int):
    """``ds`` with ``augment`` applied per batch, a new stateless seed for every batch."""
    noise = _augment.noise_bank(augment, seed, samples) if augment.noise_prob > 0 else None
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    apply = _augment.batch_fn(augment, noise)
    ds = tf.data.Dataset.zip((ds, seeds)).map(
        lambda batch, s: apply(batch[0], batch[1], s),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds


def asr_batches(
    split: AsrSplit,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    buckets: int = 6,
    skip_orders: int = 0,
    fixed_shapes: bool = False,
) -> tf.data.Dataset:
    """Padded ``({"audio", "length"}, {"labels", "label_length"})`` batches of ``split``.

    Utterances are grouped by length into ``buckets`` buckets (boundaries at length quantiles),
    so a batch pads little; shuffled each epoch (seeded) when ``shuffle_seed`` is set. The
    bucketing runs on indices (``bucket_by_sequence_length``); each batch's audio and labels are
    then read and padded to its longest utterance in one step. ``skip_orders`` shuffled orders
    are drawn and discarded first (indices only, no audio read), so the first epoch gets the
    order that many passes over the dataset would have left.

    With ``fixed_shapes`` every batch of a bucket has the same shape: its audio padded to the
    bucket's longest possible utterance and its labels to the split's longest transcript, so a
    backend that compiles one program per input shape (JAX) compiles one per bucket instead of
    one per batch. The padding is outside every length, so the loss is the same; only the
    frames the padding adds differ (the model pads its features at the end either way).
    """
    layout = AsrLayout.of(split, batch_size, buckets)
    ds = tf.data.Dataset.range(len(split))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
        for _ in range(skip_orders):  # the datasets built on ``ds`` share its seed generator
            for _ in ds:
                pass
    length_of = tf.constant(layout.lengths)
    ds = ds.bucket_by_sequence_length(
        lambda i: tf.gather(length_of, i),
        bucket_boundaries=list(layout.boundaries),
        bucket_batch_sizes=[batch_size] * (len(layout.boundaries) + 1),
    )
    ds = ds.apply(tf.data.experimental.assert_cardinality(layout.batches))

    def pad(indices: np.ndarray):
        return layout.pad(split, indices, fixed_shapes)

    def read(i):
        audio, n, text, m = tf.numpy_function(
            pad, [i], (tf.float32, tf.int32, tf.int32, tf.int32), stateful=False
        )
        audio.set_shape([None, None])
        text.set_shape([None, None])
        n.set_shape([None])
        m.set_shape([None])
        return {"audio": audio, "length": n}, {"labels": text, "label_length": m}

    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
