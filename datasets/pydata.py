"""The input pipelines of the JAX and PyTorch backends: ``keras.utils.PyDataset``, no TensorFlow.

The same batches as ``datasets.tfdata`` in kind (clips and labels; length-bucketed, padded
utterances), cut by ``datasets.batching``, but shuffled with NumPy: epoch ``e`` of a split
shuffled with seed ``s`` takes the permutation of ``numpy.random.default_rng([s, e])``, so a
batch is a pure function of (seed, epoch, position). Keras's data adapters feed it on every
backend; two reader threads (``PyDataset(workers=2)``, Keras's ordered enqueuer) read and pad
the next batches while a step runs, in order, so the same seed gives the same batches.

The epoch moves on in ``on_epoch_end``, which Keras calls after each pass of ``fit`` or
``predict``; ``batch(epoch, i)`` reads any batch without moving it (the gradient probe's fixed
batches, the data-wait probe).
"""

from __future__ import annotations

import itertools

import keras
import numpy as np

from datasets.base import AsrSplit, AudioSplit
from datasets.batching import AsrLayout, clip_batch

READERS = 2  # threads reading ahead of the training step
QUEUE = 8  # batches read ahead at most


def _order(n: int, seed: int | None, epoch: int) -> np.ndarray:
    if seed is None:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


class _Batches(keras.utils.PyDataset):
    """Batches by position in the current epoch; subclasses say what a batch of indices is."""

    def __init__(self, n: int, shuffle_seed: int | None, first_epoch: int = 0) -> None:
        super().__init__(workers=READERS, use_multiprocessing=False, max_queue_size=QUEUE)
        self.n = n
        self.shuffle_seed = shuffle_seed
        self.epoch = first_epoch
        self._plans: dict[int, tuple[np.ndarray, ...]] = {}

    def plan(self, epoch: int) -> list[np.ndarray]:
        """The indices of every batch of ``epoch``, in order."""
        raise NotImplementedError

    def read(self, indices: np.ndarray):
        raise NotImplementedError

    def _plan(self, epoch: int) -> tuple[np.ndarray, ...]:
        """``plan(epoch)``, kept for this epoch and the one before (reader threads may still be
        finishing it when the next begins)."""
        plans = self._plans
        if epoch not in plans:
            plans[epoch] = tuple(self.plan(epoch))
            for old in [e for e in plans if e < epoch - 1]:
                plans.pop(old, None)
        return plans[epoch]

    def __len__(self) -> int:
        return len(self._plan(self.epoch))

    def batch(self, epoch: int, position: int):
        """Batch ``position`` of ``epoch``."""
        return self.read(self._plan(epoch)[position])

    def __getitem__(self, position: int):
        if not 0 <= position < len(self):
            raise IndexError(position)
        return self.batch(self.epoch, position)

    def on_epoch_end(self) -> None:
        if self.shuffle_seed is not None:
            self.epoch += 1

    def forever(self):
        """Batches epoch after epoch from the current one, without moving the epoch."""
        epoch = self.epoch
        while True:
            for position in range(len(self._plan(epoch))):
                yield self.batch(epoch, position)
            epoch += 1 if self.shuffle_seed is not None else 0

    def repeated(self) -> keras.utils.PyDataset:
        """An endless view (``num_batches`` None) for ``fit(steps_per_epoch=...)``."""
        return _Endless(self)


class _Endless(keras.utils.PyDataset):
    def __init__(self, source: _Batches) -> None:
        super().__init__(workers=READERS, use_multiprocessing=False, max_queue_size=QUEUE)
        self.source = source

    @property
    def num_batches(self):
        return None

    def forever(self):
        return (self[i] for i in itertools.count())

    def __getitem__(self, index: int):
        epoch, per = self.source.epoch, len(self.source)
        step = 1 if self.source.shuffle_seed is not None else 0
        return self.source.batch(epoch + step * (index // per), index % per)


class ClipBatches(_Batches):
    """``(audio, label)`` batches of fixed-length clips."""

    def __init__(self, split: AudioSplit, batch_size: int, shuffle_seed: int | None = None):
        super().__init__(len(split), shuffle_seed)
        self.split = split
        self.batch_size = batch_size

    def plan(self, epoch: int) -> list[np.ndarray]:
        order = _order(self.n, self.shuffle_seed, epoch)
        return [order[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]

    def read(self, indices: np.ndarray):
        return clip_batch(self.split, indices)


class AsrBatches(_Batches):
    """``({"audio", "length"}, {"labels", "label_length"})`` length-bucketed padded batches."""

    def __init__(
        self,
        split: AsrSplit,
        batch_size: int,
        *,
        shuffle_seed: int | None = None,
        buckets: int = 6,
        skip_orders: int = 0,
        fixed_shapes: bool = False,
    ) -> None:
        super().__init__(len(split), shuffle_seed, first_epoch=skip_orders)
        self.split = split
        self.layout = AsrLayout.of(split, batch_size, buckets)
        self.fixed_shapes = fixed_shapes

    def plan(self, epoch: int) -> list[np.ndarray]:
        return self.layout.bucketed(_order(self.n, self.shuffle_seed, epoch))

    def read(self, indices: np.ndarray):
        audio, n, text, m = self.layout.pad(self.split, indices, self.fixed_shapes)
        return {"audio": audio, "length": n}, {"labels": text, "label_length": m}
