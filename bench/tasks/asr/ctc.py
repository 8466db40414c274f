"""CTC training and decoding on top of any per-frame model (``models.build(..., head="ctc")``).

``CtcModel`` wraps the frame model so Keras ``fit`` can train it with the CTC loss (TensorFlow's
C++ kernel on the TensorFlow backend, ``keras.ops.ctc_loss`` on the others): inputs are
``{"audio", "length"}`` (padded audio and true sample counts), targets ``{"labels",
"label_length"}`` (padded character ids and true lengths). The output lengths come from the
family's ``output_frames``, so padding never counts. Only the inner frame model is saved: it
takes raw audio, like every resdepth model.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from datasets.base import ALPHABET, clip_lengths, encode
from results.errors import UserError

BLANK = len(ALPHABET)  # the CTC blank is the last output
NUM_OUTPUTS = len(ALPHABET) + 1


class CtcModel(keras.Model):
    """Trains ``net`` (audio -> frame logits) with CTC; ``frames(samples)`` gives output lengths."""

    def __init__(self, net: keras.Model, frames: Callable, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.frames = frames

    def call(self, inputs, training=None):
        return self.net(inputs["audio"], training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ctc_loss(x, y, y_pred, self.frames)


def ctc_loss(x, y, y_pred, frames: Callable):
    """Mean over the batch of the per-utterance CTC loss (nats)."""
    out_len = keras.ops.cast(frames(keras.ops.cast(x["length"], "int32")), "int32")
    labels = keras.ops.cast(y["labels"], "int32")
    label_len = keras.ops.cast(y["label_length"], "int32")
    if keras.backend.backend() == "tensorflow":
        loss = _tf_kernel_ctc_loss(labels, y_pred, label_len, out_len)
    else:
        loss = keras.ops.ctc_loss(labels, y_pred, label_len, out_len, mask_index=BLANK)
    return keras.ops.mean(loss)


def _tf_kernel_ctc_loss(labels, logits, label_length, logit_length):
    """``keras.ops.ctc_loss`` on TensorFlow's C++ CTC kernel: the same loss and gradient.

    Keras hands TensorFlow dense labels, which ``tf.nn.ctc_loss`` computes as a scan over time
    in graph ops with its gradient: 158 ms for a batch of 32 x 116 frames on a 2-core CPU,
    against 8.7 ms for the kernel, which takes sparse labels. A width-2 tc-resnet8-ctc training
    step fell from 319 to 79 ms (3 blocks) and from 178 to 35 ms (1 block). The kernel wants the
    blank last, as ``BLANK`` is, and has no XLA lowering (ASR cells never compile with XLA: op
    determinism is on). An utterance with too few frames for its transcript (one per character,
    plus a blank between repeated ones) has probability 0: its loss is infinite here, where Keras
    gives a large finite number and the kernel alone would refuse the batch (more characters
    than frames) or, with ``ignore_longer_outputs_than_inputs``, zero it. ``check_alignable``
    keeps such utterances out of training.
    """
    import tensorflow as tf

    mask = tf.sequence_mask(label_length, tf.shape(labels)[1])
    sparse = tf.SparseTensor(
        tf.where(mask), tf.boolean_mask(labels, mask), tf.shape(labels, out_type=tf.int64)
    )
    loss = tf.compat.v1.nn.ctc_loss(
        sparse,
        tf.cast(logits, "float32"),
        logit_length,
        ignore_longer_outputs_than_inputs=True,
        time_major=False,
    )
    repeats = tf.reduce_sum(
        tf.cast((labels[:, 1:] == labels[:, :-1]) & mask[:, 1:], "int32"), axis=1
    )
    feasible = label_length + repeats <= logit_length
    return tf.where(feasible, loss, tf.constant(float("inf")))


def frames_needed(ids) -> int:
    """Frames the shortest CTC alignment of ``ids`` takes: one per character, plus a blank
    between two equal characters."""
    ids = list(ids)
    return len(ids) + sum(a == b for a, b in zip(ids, ids[1:], strict=False))


def check_alignable(split, frames: Callable, name: str) -> None:
    """Refuse, before training, utterances with fewer output frames than their transcript needs
    (their CTC loss is infinite): a ``ValueError`` naming how many and which."""
    n = np.asarray(frames(np.asarray(clip_lengths(split.audio), dtype=np.int64)))
    short = [i for i, text in enumerate(split.transcripts) if frames_needed(encode(text)) > n[i]]
    if short:
        ids = ", ".join(split.ids[i] for i in short[:5])
        raise UserError(
            f"{len(short)} {name} utterance(s) have fewer output frames than their transcript "
            f"needs, so CTC cannot align them (e.g. {ids}); use a model with less time stride"
        )


def to_text(ids) -> str:
    """Character ids (negative = padding) -> text, outer spaces stripped, inner collapsed."""
    return " ".join("".join(ALPHABET[i] for i in ids if 0 <= i < BLANK).split())


def decode(logits: np.ndarray, lengths: np.ndarray, beam_width: int = 0) -> list[str]:
    """Greedy (``beam_width=0``) or beam-search CTC decoding of a batch of frame logits."""
    strategy = "beam_search" if beam_width else "greedy"
    kwargs = {"beam_width": beam_width} if beam_width else {}
    decoded, _ = keras.ops.ctc_decode(
        logits, lengths, strategy=strategy, mask_index=BLANK, **kwargs
    )
    best = np.asarray(keras.ops.convert_to_numpy(decoded[0]))
    return [to_text(row) for row in best]
