"""Cost per batch of the training pipeline with and without augmentation (pytest-benchmark).

    python -m pytest bench/benchmarks/test_augment_cost.py --benchmark-enable

One epoch of 32-clip batches of one-second clips through ``datasets.pipeline.batches``: plain,
each waveform transform alone and the ``fsdd-speakers`` recipe (speed, shift, noise), so a
change to ``datasets/augment.py`` can be weighed against the model's step time (the training
loop records the data-wait share of every cell as ``speed.data_wait_share``).
"""

from __future__ import annotations

import numpy as np
import pytest

from datasets.augment import Augment
from datasets.base import AudioSplit
from datasets.pipeline import batches

CLIPS, SAMPLES, BATCH = 640, 16_000, 32
RECIPES = {
    "plain": None,
    "shift": Augment(time_shift_ms=100),
    "speed": Augment(speed=(0.9, 1.0, 1.1)),
    "noise": Augment(noise_prob=0.8),
    "speed+shift+noise": Augment(time_shift_ms=100, noise_prob=0.8, speed=(0.9, 1.0, 1.1)),
}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_pipeline_batch_cost(benchmark, recipe):
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((CLIPS, SAMPLES)) * 0.1).astype(np.float32)
    split = AudioSplit(audio, np.zeros(CLIPS, np.int32), np.array(["s"] * CLIPS))
    ds = batches(split, BATCH, shuffle_seed=0, augment=RECIPES[recipe], augment_seed=0)
    first = next(iter(ds))[0].numpy()
    assert first.shape == (BATCH, SAMPLES) and np.isfinite(first).all()
    benchmark.group = "pipeline: one epoch of 32-clip batches"
    benchmark.extra_info["batches"] = CLIPS // BATCH
    benchmark.pedantic(lambda: [None for _ in ds], rounds=3, warmup_rounds=1)
