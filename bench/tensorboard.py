"""TensorBoard event files for every cell: ``tensorboard --logdir RUN/tensorboard``.

Keras's ``TensorBoard`` callback writes the per-epoch training and validation loss, metrics and
learning rate (``RUN/tensorboard/<cell>/train`` and ``.../validation``). ``GradientWriter`` adds
the gradient-flow recorder's per-block gradient L2 norms as they are taken (``.../gradients``): one
scalar per block (``gradient_norm/block_007``) and a histogram over the blocks per recording, at
the training step of the recording, so a deep net's vanishing gradients can be watched live.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd


def callback(log_dir: Path) -> keras.callbacks.Callback:
    """Keras's epoch-level TensorBoard callback (no graph, no profiling: cheap on CPU)."""
    return keras.callbacks.TensorBoard(
        log_dir=str(log_dir), histogram_freq=0, write_graph=False, update_freq="epoch"
    )


class GradientWriter:
    """Writes each gradient-flow recording (``bench.gradflow`` rows of one step) as summaries."""

    def __init__(self, log_dir: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(Path(log_dir) / "gradients"))

    def __call__(self, step: int, rows: pd.DataFrame) -> None:
        blocks = rows[rows["block"] >= 1]
        norms = np.sqrt((blocks["grad_norm"] ** 2).groupby(blocks["block"]).sum())
        tf = self._tf
        with self._writer.as_default(step=int(step)):
            for block, norm in norms.items():
                tf.summary.scalar(f"gradient_norm/block_{int(block):03d}", float(norm))
            if len(norms):
                tf.summary.histogram("gradient_norm/blocks", norms.to_numpy(dtype=np.float32))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
