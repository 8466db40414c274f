"""TensorBoard event files for every cell: ``tensorboard --logdir RUN/tensorboard``.

``callback`` writes the per-epoch training and validation loss and metrics
(``RUN/tensorboard/<cell>/train`` and ``.../validation``). ``GradientWriter`` adds the
gradient-flow recorder's per-block gradient L2 norms as they are taken (``.../gradients``): one
scalar per block (``gradient_norm/block_007``) and a histogram over the blocks per recording, at
the training step of the recording, so a deep net's vanishing gradients can be watched live.

With TensorFlow installed both write through ``tf.summary`` (Keras's ``TensorBoard`` callback
adds the learning rate). Without it (a JAX or PyTorch install) they write the same scalars
through the ``tensorboard`` package's own writer, which needs only NumPy; it has no histograms,
so the per-recording histogram is left out there.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import keras
import numpy as np
import pandas as pd


@functools.cache
def has_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def callback(log_dir: Path) -> keras.callbacks.Callback:
    """Epoch-level summaries (no graph, no profiling: cheap on CPU)."""
    if has_tensorflow():
        return keras.callbacks.TensorBoard(
            log_dir=str(log_dir), histogram_freq=0, write_graph=False, update_freq="epoch"
        )
    return EpochScalars(log_dir)


class EpochScalars(keras.callbacks.Callback):
    """Each epoch's logs as ``epoch_<name>`` scalars, ``val_`` ones under ``validation``, as
    Keras's callback names them, through ``tensorboard.summary.Writer`` (no TensorFlow)."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict = {}

    def _writer(self, part: str):
        if part not in self._writers:
            from tensorboard.summary import Writer

            self._writers[part] = Writer(str(self.log_dir / part))
        return self._writers[part]

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            part, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(part).add_scalar(f"epoch_{name}", float(value), step=epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class GradientWriter:
    """Writes each gradient-flow recording (``bench.gradflow`` rows of one step) as summaries."""

    def __init__(self, log_dir: Path) -> None:
        folder = str(Path(log_dir) / "gradients")
        if has_tensorflow():
            import tensorflow as tf

            self._tf = tf
            self._writer = tf.summary.create_file_writer(folder)
        else:
            from tensorboard.summary import Writer

            self._tf = None
            self._writer = Writer(folder)

    def __call__(self, step: int, rows: pd.DataFrame) -> None:
        blocks = rows[rows["block"] >= 1]
        norms = np.sqrt((blocks["grad_norm"] ** 2).groupby(blocks["block"]).sum())
        tags = {f"gradient_norm/block_{int(b):03d}": float(n) for b, n in norms.items()}
        tf = self._tf
        if tf is None:
            for tag, norm in tags.items():
                self._writer.add_scalar(tag, norm, step=int(step))
            self._writer.flush()
            return
        with self._writer.as_default(step=int(step)):
            for tag, norm in tags.items():
                tf.summary.scalar(tag, norm)
            if len(norms):
                tf.summary.histogram("gradient_norm/blocks", norms.to_numpy(dtype=np.float32))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
