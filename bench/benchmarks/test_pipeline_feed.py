"""What each input pipeline costs per epoch: tf.data (TensorFlow) against the PyDataset of JAX
and PyTorch (pytest-benchmark).

    python -m pytest bench/benchmarks/test_pipeline_feed.py --benchmark-enable

One epoch of 32-clip batches of one-second 16 kHz clips (Speech Commands' shape), and one of
8-utterance length-bucketed batches of 1-6 s utterances, shuffled, through ``tfdata`` and
through ``pydata`` read batch by batch in one thread (Keras's enqueuer runs two such readers
ahead of the step, so a step waits on at most half of this). Weigh the figure against a step's
time: the training loop records each cell's wait as ``speed.data_wait_share``.
"""

from __future__ import annotations

import numpy as np
import pytest

from datasets import pydata, tfdata
from datasets.base import AsrSplit, AudioSplit

CLIPS, SAMPLES, BATCH = 640, 16_000, 32
UTTERANCES, ASR_BATCH = 128, 8


def _clips() -> AudioSplit:
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((CLIPS, SAMPLES)) * 0.1).astype(np.float32)
    return AudioSplit(audio, np.arange(CLIPS, dtype=np.int32), np.array(["s"] * CLIPS))


def _utterances() -> AsrSplit:
    rng = np.random.default_rng(1)
    lengths = rng.integers(16_000, 96_000, UTTERANCES)
    return AsrSplit(
        tuple((rng.standard_normal(n) * 0.1).astype(np.float32) for n in lengths),
        tuple("the quick brown fox" for _ in range(UTTERANCES)),
        tuple("s" for _ in range(UTTERANCES)),
        tuple(f"u{i}" for i in range(UTTERANCES)),
    )


def _pydata_epoch(ds):
    def run():
        out = [ds[i] for i in range(len(ds))]
        ds.on_epoch_end()
        return out

    return run


def _tfdata_epoch(ds):
    return lambda: [b for b in ds]


@pytest.mark.parametrize("pipeline", ["tfdata", "pydata"])
def test_clip_epoch(benchmark, pipeline):
    split = _clips()
    if pipeline == "tfdata":
        run = _tfdata_epoch(tfdata.batches(split, BATCH, shuffle_seed=0))
    else:
        run = _pydata_epoch(pydata.ClipBatches(split, BATCH, 0))
    labels = np.concatenate([np.asarray(y) for _, y in run()])
    assert sorted(labels.tolist()) == list(range(CLIPS))  # a whole epoch, each clip once
    benchmark.group = "pipeline feed: one epoch of 32 one-second clips per batch"
    benchmark.extra_info["batches"] = CLIPS // BATCH
    benchmark.pedantic(run, rounds=20, warmup_rounds=2)


@pytest.mark.parametrize("pipeline", ["tfdata", "pydata"])
def test_utterance_epoch(benchmark, pipeline):
    split = _utterances()
    if pipeline == "tfdata":
        run = _tfdata_epoch(tfdata.asr_batches(split, ASR_BATCH, shuffle_seed=0, buckets=4))
    else:
        run = _pydata_epoch(pydata.AsrBatches(split, ASR_BATCH, shuffle_seed=0, buckets=4))
    batches = run()
    assert sum(int(np.asarray(x["length"]).shape[0]) for x, _ in batches) == UTTERANCES
    benchmark.group = "pipeline feed: one epoch of 8 utterances (1-6 s) per batch"
    benchmark.extra_info["batches"] = len(batches)
    benchmark.pedantic(run, rounds=20, warmup_rounds=2)
