"""The input pipeline of every task, on every Keras backend: batches of raw audio.

Features are computed inside the model (log-mel front end), so a pipeline only feeds raw clips.
Shuffling is seeded per cell, which with the model seed makes a cell's training reproducible.

On TensorFlow the batches come from tf.data (``datasets.tfdata``, the pipeline the committed
baselines were made with); on JAX and PyTorch from a ``keras.utils.PyDataset``
(``datasets.pydata``), so neither needs TensorFlow installed. Both cut the same batches
(``datasets.batching``) but shuffle with their own generators: a cell's metrics are
reproducible on each backend, not across them. The helpers below work on either kind, so the
harness never asks which one it holds.
"""

from __future__ import annotations

import itertools

import keras

from datasets import augment as _augment
from datasets.base import AsrSplit, AudioSplit
from results.errors import UserError


def _tf_data() -> bool:
    return keras.backend.backend() == "tensorflow"


def batches(
    split: AudioSplit,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    augment: _augment.Augment | None = None,
    augment_seed: int = 0,
):
    """``(audio, label)`` batches of ``split``; shuffled each epoch when ``shuffle_seed`` is set.

    ``augment``'s waveform part (speed, time shift, noise) exists as tf.data ops only: on
    another backend it is refused by name (``UserError``); SpecAugment is a layer and works
    everywhere.
    """
    if _tf_data():
        from datasets import tfdata

        extra = {"augment": augment, "augment_seed": augment_seed} if augment else {}
        return tfdata.batches(split, batch_size, shuffle_seed=shuffle_seed, **extra)
    if augment is not None and augment.waveform:
        raise UserError(waveform_refusal(keras.backend.backend()))
    from datasets import pydata

    return pydata.ClipBatches(split, batch_size, shuffle_seed)


def waveform_refusal(backend: str) -> str:
    return (
        "train.augment's waveform part (time_shift_ms, noise_prob, speed) runs as tf.data ops "
        f"and needs the tensorflow backend; this cell runs on {backend}. Use SpecAugment "
        "(time_masks, freq_masks) there, or backends = ['tensorflow']"
    )


def asr_batches(
    split: AsrSplit,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    buckets: int = 6,
    skip_orders: int = 0,
    fixed_shapes: bool = False,
):
    """Length-bucketed padded ``({"audio", "length"}, {"labels", "label_length"})`` batches.

    ``skip_orders`` shuffled orders are skipped first (the first epoch gets the order that many
    passes would have left); ``fixed_shapes`` pads every batch of a bucket to one shape
    (``datasets.batching.AsrLayout.pad``).
    """
    options = {
        "shuffle_seed": shuffle_seed,
        "buckets": buckets,
        "skip_orders": skip_orders,
        "fixed_shapes": fixed_shapes,
    }
    if _tf_data():
        from datasets import tfdata

        return tfdata.asr_batches(split, batch_size, **options)
    from datasets import pydata

    return pydata.AsrBatches(split, batch_size, **options)


def steps(ds) -> int:
    """Batches per epoch, without reading any."""
    if isinstance(ds, keras.utils.PyDataset):
        return len(ds)
    return int(ds.cardinality())


def take(ds, n: int) -> list:
    """The first ``n`` batches of the next epoch (tf.data: a pass that uses up one of its
    shuffled orders; PyDataset: read without moving the epoch)."""
    if isinstance(ds, keras.utils.PyDataset):
        return [ds.batch(ds.epoch, i) for i in range(min(n, len(ds)))]
    return list(itertools.islice(ds, n))


def repeated(ds):
    """``ds`` without end, epoch after epoch (``fit`` with ``steps_per_epoch``)."""
    if isinstance(ds, keras.utils.PyDataset):
        return ds.repeated()
    return ds.repeat()


def forever(ds):
    """An iterator over ``ds``'s batches, epoch after epoch, that leaves a PyDataset's epoch."""
    if isinstance(ds, keras.utils.PyDataset):
        return ds.forever()
    return iter(ds.repeat())
