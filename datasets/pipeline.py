"""tf.data pipelines over loaded splits: shuffled, batched and prefetched raw audio.

Features are computed inside the model (log-mel front end), so a pipeline only feeds raw clips.
Shuffling is seeded per cell, which with the model seed makes a cell's training reproducible.
"""

from __future__ import annotations

import tensorflow as tf

from datasets.base import AudioSplit


def batches(
    split: AudioSplit, batch_size: int, *, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """``(audio, label)`` batches of ``split``; shuffled each epoch when ``shuffle_seed`` is set."""
    ds = tf.data.Dataset.from_tensor_slices((split.audio, split.labels))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
