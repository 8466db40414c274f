"""How a split is cut into batches, with no framework: the part both input pipelines share.

``datasets.pipeline`` feeds the batches through tf.data on TensorFlow and through a
``keras.utils.PyDataset`` on the other backends (``datasets.pydata``); both read clips and pad
utterances the same way, from here.

- ``clip_batch``: the fixed-length clips and labels at some indices, from memory or shards.
- ``AsrLayout``: a speech-recognition split's length buckets (boundaries at length quantiles),
  its batch count, and the padding of one batch of utterances and transcripts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from datasets.base import AsrSplit, AudioSplit, clip_lengths, encode, pad_rows, read_clips


def clip_batch(split: AudioSplit, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(audio [n, samples] float32, labels [n])`` of the clips at ``indices``, in that order."""
    audio = split.audio
    clips = audio.batch(indices) if hasattr(audio, "batch") else audio[indices]
    return np.asarray(clips, np.float32), split.labels[indices]


@dataclasses.dataclass(frozen=True)
class AsrLayout:
    """The length buckets of one split at one batch size, and how its batches are padded.

    Utterances are grouped by length into ``buckets`` buckets (boundaries at length quantiles),
    so a batch pads little. Each bucket's size is fixed by the lengths, so the batch count is too,
    whatever the shuffle.
    """

    lengths: np.ndarray  # samples per utterance, int32
    labels: tuple[np.ndarray, ...]  # encoded transcripts
    label_lengths: np.ndarray  # int32
    boundaries: tuple[int, ...]  # a length < boundaries[k] falls in bucket k (or an earlier one)
    batch_size: int

    @classmethod
    def of(cls, split: AsrSplit, batch_size: int, buckets: int = 6) -> AsrLayout:
        lengths = np.asarray(clip_lengths(split.audio), dtype=np.int32)
        labels = tuple(encode(t) for t in split.transcripts)
        qs = np.linspace(0, 1, buckets + 1)[1:-1]
        quantiles = np.quantile(lengths, qs) if buckets > 1 and len(lengths) else []
        return cls(
            lengths=lengths,
            labels=labels,
            label_lengths=np.array([len(t) for t in labels], dtype=np.int32),
            boundaries=tuple(sorted({int(q) + 1 for q in quantiles})),
            batch_size=batch_size,
        )

    def bucket(self, indices) -> np.ndarray:
        """The bucket of each utterance at ``indices``."""
        return np.searchsorted(self.boundaries, self.lengths[indices], side="right")

    @property
    def batches(self) -> int:
        per_bucket = np.bincount(self.bucket(np.arange(len(self.lengths))))
        return int(sum(-(-n // self.batch_size) for n in per_bucket))

    def upper(self, bucket: int) -> int:
        """The longest utterance bucket ``bucket`` can hold."""
        if bucket < len(self.boundaries):
            return self.boundaries[bucket] - 1
        return int(self.lengths.max(initial=0))

    def pad(self, split: AsrSplit, indices: np.ndarray, fixed_shapes: bool = False):
        """``(audio, lengths, labels, label_lengths)`` of one batch, zero-padded at the end.

        Padded to the batch's longest utterance and transcript; with ``fixed_shapes`` to its
        bucket's longest possible utterance and the split's longest transcript, so every batch
        of a bucket has one shape (a backend that compiles one program per input shape, JAX,
        compiles one per bucket). The padding is outside every length, so the loss is the same.
        """
        indices = np.asarray(indices)
        width = label_width = 0
        if fixed_shapes and len(indices):
            width = self.upper(int(self.bucket(indices).max()))
            label_width = int(self.label_lengths.max(initial=0))
        audio = pad_rows(read_clips(split.audio, indices), np.float32, width=width)
        text = pad_rows([self.labels[int(i)] for i in indices], np.int32, width=label_width)
        return audio, self.lengths[indices], text, self.label_lengths[indices]

    def bucketed(self, order: np.ndarray) -> list[np.ndarray]:
        """``order`` cut into batches the way ``tf.data``'s ``bucket_by_sequence_length`` does:
        each utterance joins its bucket's open batch, a full batch is emitted at once, and the
        partly filled batches follow at the end, bucket by bucket."""
        open_: dict[int, list[int]] = {}
        out: list[np.ndarray] = []
        for i, b in zip(order.tolist(), self.bucket(order).tolist(), strict=True):
            rows = open_.setdefault(b, [])
            rows.append(i)
            if len(rows) == self.batch_size:
                out.append(np.array(rows, np.int64))
                open_[b] = []
        out.extend(np.array(open_[b], np.int64) for b in sorted(open_) if open_[b])
        return out
