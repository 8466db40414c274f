"""CTC training and decoding on top of any per-frame model (``models.build(..., head="ctc")``).

``CtcModel`` wraps the frame model so Keras ``fit`` can train it with ``keras.ops.ctc_loss``:
inputs are ``{"audio", "length"}`` (padded audio and true sample counts), targets
``{"labels", "label_length"}`` (padded character ids and true lengths). The output lengths come
from the family's ``output_frames``, so padding never counts. Only the inner frame model is saved:
it takes raw audio, like every resdepth model.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from datasets.base import ALPHABET

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
    loss = keras.ops.ctc_loss(
        keras.ops.cast(y["labels"], "int32"),
        y_pred,
        keras.ops.cast(y["label_length"], "int32"),
        out_len,
        mask_index=BLANK,
    )
    return keras.ops.mean(loss)


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
