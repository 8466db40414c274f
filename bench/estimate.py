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

Host memory per cell and, per corpus, the one-off prepare (``datasets.prepare``: its time and
its size on disk) are the figures measured on corpora of the real layouts and sizes
(``bench/benchmarks/corpus_scale.py``, 2-core CPU): a cell streams its prepared corpus, so its
host memory does not grow with the corpus, and preparing decodes at a rate per core.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import keras
import numpy as np

import models
from bench import flops
from bench.config import Cell
from bench.speed import TRAIN_FLOPS_FACTOR

SAMPLE_RATE = 16_000
BYTES_PER_PARAM = 16  # float32 weight + gradient + two AdamW moments
ACTIVATION_OVERHEAD = 2.0  # workspace, fragmentation, input buffers
# Prepare's decode rate, seconds of audio per second per core (bench/benchmarks/corpus_scale.py
# prepare, 2 workers on a 2-core CPU): one-second WAV clips of a Speech-Commands-v2-size tree;
# FLAC utterances of a 10 h LibriSpeech-layout tree.
WAV_RATE = 806.0
FLAC_RATE = 1035.0


# Peak host RSS of one cell streaming a prepared corpus (GB), measured with
# ``bench/benchmarks/corpus_scale.py cell`` (res8 one epoch on a Speech-Commands-v2-size tree;
# tc-resnet8-ctc about 100 steps on 1 h and 10 h LibriSpeech-layout trees: 2.7 and 2.2 GB).
HOST_GB = {"kws": 1.7, "asr": 2.8}


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Known size of a corpus: its training split's examples and their typical length, and
    what preparing it reads (every split's files and hours) at its measured decode rate."""

    train_examples: int
    samples_per_example: int
    source: str
    files: int
    hours: float
    audio_seconds_per_core_s: float  # prepare's decode rate (WAV or FLAC)
    classes: int  # the head's outputs: labels of a classifier, characters + blank for CTC

    def prepare_minutes(self, cores: int) -> float:
        return self.hours * 3600 / (self.audio_seconds_per_core_s * cores) / 60

    @property
    def prepared_gb(self) -> float:
        """int16 PCM of every split (ArrayRecord and index overhead are small)."""
        return self.hours * 3600 * SAMPLE_RATE * 2 / 1e9


# Known training-split sizes of the standard corpora, so a dry run needs no download.
CORPORA: dict[tuple[str, str], Corpus] = {
    ("speech-commands", "35"): Corpus(
        84_843,
        SAMPLE_RATE,
        "Speech Commands v2 train split (35 words), 1-s clips",
        105_829,
        105_829 / 3600,
        WAV_RATE,
        35,
    ),
    ("speech-commands", "12"): Corpus(
        36_923,
        SAMPLE_RATE,
        "Speech Commands v2 train: 30,769 keyword clips + 10% unknown + 10% silence",
        46_300,  # the keyword clips of every split, 10% unknown and 10% silence cuts
        46_300 / 3600,
        WAV_RATE,
        12,  # 10 keywords, _unknown_, _silence_
    ),
    ("librispeech", "train-clean-100"): Corpus(
        28_539,
        round(12.69 * SAMPLE_RATE),
        "LibriSpeech train-clean-100: 28,539 utts, 100.6 h",
        28_539 + 2_703 + 2_620,  # and dev-clean, test-clean
        100.6 + 5.4 + 5.4,
        FLAC_RATE,
        29,
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
    host_gb: float | None = None


def corpus_of(cell: Cell) -> Corpus | None:
    options = dict(cell.dataset_options)
    if cell.dataset == "speech-commands":
        return CORPORA.get((cell.dataset, str(options.get("labels", "12"))))
    if cell.dataset == "librispeech":
        train = tuple(options.get("train", ("train-clean-100",)))
        return CORPORA.get((cell.dataset, train[0])) if len(train) == 1 else None
    return None


CTC_CLASSES = 29  # 28 characters and the blank (bench.tasks.asr.ctc)
DEFAULT_CLASSES = 35  # a corpus the table does not know: the largest keyword set


@functools.cache
def _model_figures(
    preset: str, options: tuple, head: str, samples: int, classes: int
) -> tuple[int, int, int]:
    """(forward FLOPs, trainable parameters, activation elements) per example of one model."""
    kwargs = dict(options)
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
    classes = corpus.classes if corpus else (CTC_CLASSES if head == "ctc" else DEFAULT_CLASSES)
    fwd, params, acts = _model_figures(
        cell.preset, tuple(sorted(cell.model_options.items())), head, samples, classes
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
        HOST_GB.get(cell.task),
    )


def print_plan(cells: list[Cell], peak_tflops: float, memory_gb: float, utilization: float):
    """Print each cell's estimated hours and memory on the assumed device, and the totals."""
    print(
        f"estimate at {peak_tflops:g} TFLOP/s peak x {utilization:.0%} assumed utilization "
        f"(--assume-utilization), {memory_gb:g} GB device memory; training steps only, "
        f"max epochs (early stopping ends sooner); {TRAIN_FLOPS_FACTOR} forward passes per "
        "training example"
    )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    seen = []
    for cell in cells:
        corpus = corpus_of(cell)
        if corpus is not None and corpus not in seen:
            seen.append(corpus)
            print(
                f"  corpus {corpus.source}: prepared once, {corpus.files:,} files, "
                f"{corpus.hours:.1f} h, about {corpus.prepared_gb:.1f} GB of int16 shards, "
                f"about {corpus.prepare_minutes(cores):.1f} min to prepare on this machine's "
                f"{cores} cores (measured decode rate)"
            )
    print(
        f"  {'cell':<58} {'GFLOP/ex':>9} {'params':>9} {'examples':>9} {'epochs':>6} "
        f"{'hours':>7} {'mem GB':>7} {'host GB':>7}"
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
            f"{examples:>9} {e.epochs:>6} {hours:>7} {e.memory_gb:>7.2f} "
            + (f"{e.host_gb:>7.1f}" if e.host_gb else f"{'n/a':>7}")
            + ("" if fits else "  > device memory")
        )
    print(
        f"total: {len(cells)} cells, {total:.1f} device-hours estimated"
        + (f" ({unknown} cells of corpora of unknown size not counted)" if unknown else "")
        + (f"; {too_big} cells over {memory_gb:g} GB" if too_big else "; every cell fits")
    )
