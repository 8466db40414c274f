"""tf.data pipelines over loaded splits: shuffled, batched and prefetched raw audio.

Features are computed inside the model (log-mel front end), so a pipeline only feeds raw clips.
Shuffling is seeded per cell, which with the model seed makes a cell's training reproducible.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from datasets import augment as _augment
from datasets.base import AsrSplit, AudioSplit, encode


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
    audio, labels = tf.constant(split.audio), tf.constant(split.labels)
    ds = tf.data.Dataset.range(len(split))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda i: (tf.gather(audio, i), tf.gather(labels, i)))
    if augment is not None and augment.waveform:
        ds = _augmented(ds, augment, augment_seed + augment.seed, split.audio.shape[1])
    return ds.prefetch(tf.data.AUTOTUNE)


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
    split: AsrSplit, batch_size: int, *, shuffle_seed: int | None = None, buckets: int = 6
) -> tf.data.Dataset:
    """Padded ``({"audio", "length"}, {"labels", "label_length"})`` batches of ``split``.

    Utterances are grouped by length into ``buckets`` buckets (boundaries at length quantiles),
    so a batch pads little; shuffled each epoch (seeded) when ``shuffle_seed`` is set.
    """
    lengths = np.array([len(a) for a in split.audio], dtype=np.int32)
    labels = [encode(t) for t in split.transcripts]
    label_lengths = np.array([len(t) for t in labels], dtype=np.int32)

    def utterances():
        yield from zip(split.audio, lengths, labels, label_lengths, strict=True)

    ds = tf.data.Dataset.from_generator(
        utterances,
        output_signature=(
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.int32),
        ),
    )
    if shuffle_seed is not None:
        ds = ds.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    quantiles = np.quantile(lengths, np.linspace(0, 1, buckets + 1)[1:-1]) if buckets > 1 else []
    boundaries = sorted({int(q) + 1 for q in quantiles})
    ds = ds.bucket_by_sequence_length(
        lambda audio, n, text, m: n,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padding_values=(0.0, 0, 0, 0),
    )
    # Each bucket's size is fixed by the lengths, so the batch count is too, whatever the shuffle.
    per_bucket = np.bincount(np.searchsorted(boundaries, lengths, side="right"))
    batches = int(sum(-(-n // batch_size) for n in per_bucket))
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds.map(_asr_dicts, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _asr_dicts(audio, n, text, m):
    return {"audio": audio, "length": n}, {"labels": text, "label_length": m}
