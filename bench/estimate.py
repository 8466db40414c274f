"""What a suite would cost on an assumed device, without loading a corpus (``run --dry-run``).

For each cell: forward FLOPs per example (``bench.flops`` on the built model at the corpus's
typical example length), the corpus's known training-set size, and the budget's epochs give the
training FLOPs, ``TRAIN_FLOPS_FACTOR`` (3) forward passes per example; the time is that over
``peak × utilization × replicas``. Utilization is an assumption the output states: small speech
convnets reach a modest share of a large GPU's tensor-core peak. Epochs are the budget's
maximum (early stopping can only end sooner) and evaluation is left out, so the time is an upper
bound of the training steps.

Memory (per device): weights, gradients and AdamW's two moments in float32 (16 bytes per
parameter), plus every layer's output for the per-device batch in the compute dtype (what the
backward pass keeps), doubled for workspace and the input pipeline's buffers. A coarse figure,
to say whether a cell fits, not what an allocator reports.
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import numpy as np

import models
from bench import flops
from bench.config import Cell
from bench.speed import TRAIN_FLOPS_FACTOR

SAMPLE_RATE = 16_000
BYTES_PER_PARAM = 16  # float32 weight + gradient + two AdamW moments
ACTIVATION_OVERHEAD = 2.0  # workspace, fragmentation, input buffers


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Known size of a corpus's training split: examples and their typical length."""

    train_examples: int
    samples_per_example: int
    source: str


# Known training-split sizes of the standard corpora, so a dry run needs no download.
CORPORA: dict[tuple[str, str], Corpus] = {
    ("speech-commands", "35"): Corpus(
        84_843, SAMPLE_RATE, "Speech Commands v2 train split (35 words), 1-s clips"
    ),
    ("speech-commands", "12"): Corpus(
        36_923,
        SAMPLE_RATE,
        "Speech Commands v2 train: 30,769 keyword clips + 10% unknown + 10% silence",
    ),
    ("librispeech", "train-clean-100"): Corpus(
        28_539, round(12.69 * SAMPLE_RATE), "LibriSpeech train-clean-100: 28,539 utts, 100.6 h"
    ),
}


@dataclasses.dataclass(frozen=True)
class Estimate:
    cell_id: str
    flops_per_example: float
    params: int
    train_examples: int | None
    epochs: int
    hours: float | None
    memory_gb: float | None


def corpus_of(cell: Cell) -> Corpus | None:
    options = dict(cell.dataset_options)
    if cell.dataset == "speech-commands":
        return CORPORA.get((cell.dataset, str(options.get("labels", "12"))))
    if cell.dataset == "librispeech":
        train = tuple(options.get("train", ("train-clean-100",)))
        return CORPORA.get((cell.dataset, train[0])) if len(train) == 1 else None
    return None


@functools.cache
def _model_figures(preset: str, options: tuple, head: str, samples: int) -> tuple[int, int, int]:
    """(forward FLOPs, trainable parameters, activation elements) per example of one model."""
    kwargs = dict(options)
    classes = 29 if head == "ctc" else 35
    model = models.build(preset, num_classes=classes, head=head, **kwargs)
    params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return flops.per_example(model, samples), params, _activations(model, samples)


def _activations(model: keras.Model, samples: int) -> int:
    """Elements of every layer output for one example (looped blocks counted per copy)."""
    from models.repeat import Repeat

    total = 0

    def counted(layer):
        def call(*args, **kwargs):
            nonlocal total
            out = layer.compute_output_spec(*args, **kwargs)
            n = sum(int(np.prod(t.shape[1:])) for t in keras.tree.flatten(out))
            total += n * (layer.count if isinstance(layer, Repeat) else 1)
            return out

        return call

    model._run_through_graph(
        [keras.KerasTensor((1, samples), dtype="float32")], operation_fn=counted
    )
    return total


def estimate(cell: Cell, peak_tflops: float, utilization: float) -> Estimate:
    corpus = corpus_of(cell)
    samples = corpus.samples_per_example if corpus else SAMPLE_RATE
    head = "ctc" if cell.task == "asr" else "classify"
    fwd, params, acts = _model_figures(
        cell.preset, tuple(sorted(cell.model_options.items())), head, samples
    )
    epochs = cell.train.epochs
    hours = None
    if corpus:
        work = TRAIN_FLOPS_FACTOR * fwd * corpus.train_examples * epochs
        hours = work / (peak_tflops * 1e12 * utilization * cell.replicas) / 3600
    act_bytes = 4 if cell.precision == "float32" else 2
    per_device_batch = -(-cell.train.batch_size // cell.replicas)
    memory = params * BYTES_PER_PARAM + ACTIVATION_OVERHEAD * acts * per_device_batch * act_bytes
    return Estimate(
        cell.id,
        fwd,
        params,
        corpus.train_examples if corpus else None,
        epochs,
        hours,
        memory / 1e9,
    )


def print_plan(cells: list[Cell], peak_tflops: float, memory_gb: float, utilization: float):
    """Print each cell's estimated hours and memory on the assumed device, and the totals."""
    print(
        f"estimate at {peak_tflops:g} TFLOP/s peak x {utilization:.0%} assumed utilization "
        f"(--assume-utilization), {memory_gb:g} GB device memory; training steps only, "
        f"max epochs (early stopping ends sooner); {TRAIN_FLOPS_FACTOR} forward passes per "
        "training example"
    )
    print(
        f"  {'cell':<58} {'GFLOP/ex':>9} {'params':>9} {'examples':>9} {'epochs':>6} "
        f"{'hours':>7} {'mem GB':>7}"
    )
    total, unknown, too_big = 0.0, 0, 0
    for cell in cells:
        e = estimate(cell, peak_tflops, utilization)
        fits = e.memory_gb <= memory_gb
        too_big += not fits
        hours = "n/a" if e.hours is None else f"{e.hours:.3f}"
        if e.hours is None:
            unknown += 1
        else:
            total += e.hours
        examples = "n/a" if e.train_examples is None else f"{e.train_examples:,}"
        print(
            f"  {e.cell_id:<58} {e.flops_per_example / 1e9:>9.3f} {e.params:>9,} "
            f"{examples:>9} {e.epochs:>6} {hours:>7} {e.memory_gb:>7.2f}"
            + ("" if fits else "  > device memory")
        )
    print(
        f"total: {len(cells)} cells, {total:.1f} device-hours estimated"
        + (f" ({unknown} cells of corpora of unknown size not counted)" if unknown else "")
        + (f"; {too_big} cells over {memory_gb:g} GB" if too_big else "; every cell fits")
    )
