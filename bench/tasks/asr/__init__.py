"""Speech recognition: a CTC model over characters, scored by corpus-level WER and CER.

Each cell trains a per-frame model (``models.build(..., head="ctc")``) with the CTC loss of
``ctc`` (TensorFlow's kernel; ``keras.ops.ctc_loss`` on other backends) on
length-bucketed padded batches, keeps the best weights by validation loss, and decodes the test
set greedily and with beam search (``keras.ops.ctc_decode``). Headline metric: test WER
(greedy); also CER, beam-search WER/CER, the error breakdown and the ten worst utterances, the
WER/CER of a lexicon-constrained beam search with a word trigram (``lexicon``: flashlight-text's
decoder; lexicon and trigram counted on the *training* transcripts only, reported as ``wer_lm``
beside the acoustic-only rates, never instead of them), and spoken term detection
(``term_detection``): the training vocabulary's words as text queries over the test
utterances, scored from the CTC posteriors, as mAP.
"""

from __future__ import annotations

import dataclasses
import time

import jiwer
import keras
import numpy as np

import models
from bench import metrics
from bench.config import Cell
from bench.tasks.asr import ctc, lexicon, term_detection
from bench.tasks.base import Evaluation, Setup, spec_augment_options
from datasets import pipeline
from datasets.base import ALPHABET, AsrData, AsrSplit, clip_lengths, pad_rows, read_clips
from results.metrics import Metric

DATA_KIND = "asr"
HEADLINE = ("wer", "wer_lm", "cer", "std_map", "train_samples_per_s")
# SpecAugment only: the waveform augmentations work on fixed-length clips (``datasets.augment``),
# and length-bucketed utterances would need their lengths and transcripts' alignment kept.
AUGMENTS = frozenset({"spec"})
PRECOMPUTES = False  # variable-length utterances: trains on audio
EVAL_BATCH = 32
BEAM_WIDTH = 16
WORST = 10  # utterances kept for the report's worst-utterance table
PROBE_BATCHES = 2
SHAPE_GRID = 4_000  # samples (0.25 s at 16 kHz): evaluation batch lengths where shapes are fixed
# The lexicon decoder's settings, chosen on the *val* split of a 3-epoch tc-resnet8-ctc (width 2,
# 3 blocks) on synth-sentences: val WER 0.306 (bigram, beam 16) -> 0.250 (bigram, beam 32) ->
# 0.227 (trigram, 32) -> 0.159 (trigram, 128) -> 0.138 (trigram, 256, alpha 1.0, beta 4.0); the
# threshold and character pruning keep 0.140 at a quarter of the time (25 s for 300 utterances).
# Those figures are the pure-Python prefix beam search this replaced; the same settings drive
# flashlight-text's search (threshold and pruning mean the same, alpha weighs ln P, merged
# hypotheses are summed and the LM counts when a word closes, as before) but its beam is 512:
# it keeps a prefix's blank-ending and letter-ending hypotheses as two entries, and at 256 its
# wer_lm on the quick suite's four speech cells was 0.0003-0.0057 above the old search's on the
# same posteriors, at 512 0.005-0.013 below (0.134/0.130/0.233/0.383), still 5x faster.
LM_DECODER = lexicon.Decoder(
    beam_width=512, lm_order=3, alpha=1.0, beta=4.0, threshold=12.0, prune=-7.0
)


def check_model(preset: str) -> None:
    """Refuse, before any training, a preset that cannot be a CTC encoder."""
    models.output_frames(preset, 16_000)


def build(cell: Cell) -> tuple[keras.Model, ctc.CtcModel]:
    """The cell's frame model (with SpecAugment when augmented) and its CTC training wrapper."""
    net = models.build(
        cell.preset,
        num_classes=ctc.NUM_OUTPUTS,
        head="ctc",
        **cell.model_options,
        **spec_augment_options(cell),
    )
    frames = models.frames_fn(cell.preset, depth=cell.depth)
    return net, ctc.CtcModel(net, frames, name=f"{net.name}_ctc")


def setup(cell: Cell, data: AsrData) -> Setup:
    """The frame model in its CTC wrapper, length-bucketed batches and the probe's batches.

    Utterances too short for their transcript are refused here (``ctc.check_alignable``).
    """
    cfg = cell.train
    net, model = build(cell)
    for split in ("train", "val"):
        ctc.check_alignable(getattr(data, split), model.frames, split)
    # Steps come from the lengths (asr_batches' cardinality), with no pass over the audio. An
    # earlier version counted them with a full pass, which used up the first shuffled order;
    # one order is discarded instead (indices only), so the probe and training see the orders
    # they always did and the committed baselines' metrics stay as they were.
    fixed = fixed_shapes()
    train_ds = pipeline.asr_batches(
        data.train, cfg.batch_size, shuffle_seed=cell.seed, skip_orders=1, fixed_shapes=fixed
    )
    steps = pipeline.steps(train_ds)
    probe = pipeline.take(train_ds, PROBE_BATCHES)
    model(probe[0][0])  # build the wrapper's variables before the gradient probe reads them
    lengths = clip_lengths(data.test.audio)
    return Setup(
        model=model,
        served=net,
        train=train_ds,
        val=pipeline.asr_batches(data.val, EVAL_BATCH, fixed_shapes=fixed),
        steps_per_epoch=steps,
        loss=None,  # the wrapper adds the CTC loss
        metrics=None,
        probe_loss=lambda x, y, p: ctc.ctc_loss(x, y, p, model.frames),
        probe_batches=probe,
        example=data.test.audio[int(np.argsort(lengths)[len(lengths) // 2])],  # median length
        samples=int(np.mean(clip_lengths(data.train.audio))),
    )


def evaluate(setup: Setup, data: AsrData, split: str = "test") -> Evaluation:
    """``scores`` of the trained frame model, with every decoder and term detection."""
    return scores(setup.served, data, split, frames=setup.model.frames)


def validation_metrics(setup: Setup, data: AsrData, history) -> dict[str, Metric]:
    """Greedy WER of the best weights on validation."""
    val = scores(
        setup.served,
        data,
        "val",
        frames=setup.model.frames,
        beam_width=0,
        terms=False,
        lm_decoder=None,
    )
    return {"val_wer": Metric.of("val_wer", val.metrics["wer"].value)}


def fixed_shapes() -> bool:
    """Whether batches are padded to few shapes: JAX compiles one program per input shape, so
    a batch padded to its own longest utterance would compile anew at almost every step (the
    tiny corpus's second epoch took 9.1 s instead of 0.3 s; TensorFlow's graphs take any
    length)."""
    return keras.backend.backend() == "jax"


def padded_batches(split: AsrSplit):
    """``(indices, padded audio, sample counts)`` over ``split``, shortest first (less padding);
    with ``fixed_shapes``, padded to a multiple of ``SHAPE_GRID`` samples."""
    order = np.argsort(clip_lengths(split.audio), kind="stable")
    grid = SHAPE_GRID if fixed_shapes() else 1
    for start in range(0, len(order), EVAL_BATCH):
        idx = order[start : start + EVAL_BATCH]
        clips = read_clips(split.audio, idx)
        width = -(-max(len(c) for c in clips) // grid) * grid
        yield idx, pad_rows(clips, width=width), np.array([len(c) for c in clips], dtype=np.int32)


def _frame_logits(net: keras.Model, batch: np.ndarray) -> np.ndarray:
    """The net's frame logits of a padded batch: compiled where shapes are fixed, else eager."""
    if fixed_shapes():
        return np.asarray(net.predict_on_batch(batch))
    return keras.ops.convert_to_numpy(net(batch, training=False))


def transcribe(net: keras.Model, split: AsrSplit, frames, beam_width: int = 0) -> list[str]:
    """Decode every utterance of ``split`` in input order (batches padded, lengths respected)."""
    texts: dict[int, str] = {}
    for idx, batch, n in padded_batches(split):
        logits = _frame_logits(net, batch)
        lengths = np.minimum(np.asarray(frames(n)), logits.shape[1]).astype(np.int32)
        for i, text in zip(idx, ctc.decode(logits, lengths, beam_width), strict=True):
            texts[int(i)] = text
    return [texts[i] for i in range(len(split))]


def log_posteriors(net: keras.Model, split: AsrSplit, frames) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame log-posteriors ``[n, frames, classes]`` (float32, zero-padded) and frame counts."""
    parts, lengths = {}, np.zeros(len(split), np.int64)
    for idx, batch, n in padded_batches(split):
        logp = keras.ops.convert_to_numpy(keras.ops.log_softmax(_frame_logits(net, batch), axis=-1))
        frames_n = np.minimum(np.asarray(frames(n)), logp.shape[1])
        for row, i in enumerate(idx):
            parts[int(i)], lengths[i] = logp[row, : frames_n[row]], frames_n[row]
    out = np.zeros((len(split), max(lengths.max(), 1), ctc.NUM_OUTPUTS), np.float32)
    for i, part in parts.items():
        out[i, : len(part)] = part
    return out, lengths


def spoken_terms(net: keras.Model, data: AsrData, split: str, *, frames, posteriors=None) -> dict:
    """Spoken term detection on ``split``: the training vocabulary as queries, mAP over terms."""
    part: AsrSplit = getattr(data, split)
    logp, lengths = posteriors or log_posteriors(net, part, frames)
    terms = term_detection.vocabulary(data.train.transcripts)
    return term_detection.detect(logp, lengths, part.transcripts, terms, ctc.BLANK)


def lm_transcripts(
    data: AsrData, posteriors: tuple[np.ndarray, np.ndarray], decoder: lexicon.Decoder
) -> list[str]:
    """Lexicon + n-gram decoding of one split's posteriors; both counted on ``data.train``."""
    lm = lexicon.NgramLM(data.train.transcripts, order=decoder.lm_order)
    logp, lengths = posteriors
    return lexicon.decode_batch(logp, lengths, lm, ALPHABET, ctc.BLANK, decoder)


def scores(
    net: keras.Model,
    data: AsrData,
    split: str = "test",
    *,
    frames,
    beam_width: int = BEAM_WIDTH,
    terms: bool = True,
    lm_decoder: lexicon.Decoder | None = LM_DECODER,
) -> dict:
    """WER/CER (greedy, and beam search when ``beam_width``), the worst utterances, the WER/CER
    of the lexicon + n-gram decoder when ``lm_decoder`` and, when ``terms``, spoken term
    detection mAP (``std_map``) with its per-term detail."""
    part: AsrSplit = getattr(data, split)
    refs = list(part.transcripts)
    greedy = transcribe(net, part, frames)
    rates = metrics.error_rates(refs, greedy)
    values = {"wer": Metric.of("wer", rates["wer"]), "cer": Metric.of("cer", rates["cer"])}
    result = {
        "errors": rates,
        "split": split,
        "n_examples": len(part),
        "worst": worst_utterances(part, greedy),
    }
    if beam_width:
        beam = metrics.error_rates(refs, transcribe(net, part, frames, beam_width))
        values.update(
            wer_beam=Metric.of("wer_beam", beam["wer"]), cer_beam=Metric.of("cer_beam", beam["cer"])
        )
        result["errors_beam"] = beam
        result["beam_width"] = beam_width
    missing = lexicon.available() if lm_decoder else None
    if missing:  # no flashlight-text wheel for this Python: left out, by name
        result["lm_decoder"] = {"skipped": missing}
        lm_decoder = None
    posteriors = log_posteriors(net, part, frames) if (terms or lm_decoder) else None
    if lm_decoder:
        t0 = time.perf_counter()
        with_lm = metrics.error_rates(refs, lm_transcripts(data, posteriors, lm_decoder))
        values.update(
            wer_lm=Metric.of("wer_lm", with_lm["wer"]), cer_lm=Metric.of("cer_lm", with_lm["cer"])
        )
        result["errors_lm"] = with_lm
        result["lm_decoder"] = {
            **dataclasses.asdict(lm_decoder),
            "lexicon_from": "train",
            "seconds": round(time.perf_counter() - t0, 3),
        }
    if terms:
        std = spoken_terms(net, data, split, frames=frames, posteriors=posteriors)
        if np.isfinite(std["map"]):
            values["std_map"] = Metric.of("std_map", std["map"])
        result["term_detection"] = std
    return Evaluation(values, result)


def worst_utterances(part: AsrSplit, hypotheses: list[str], n: int = WORST) -> list[dict]:
    """The ``n`` utterances with the highest WER: id, speaker, reference, hypothesis, WER."""
    rows = [
        {
            "id": part.ids[i],
            "speaker": part.speakers[i],
            "reference": ref,
            "hypothesis": hyp,
            "wer": float(jiwer.wer(ref, hyp)),
        }
        for i, (ref, hyp) in enumerate(zip(part.transcripts, hypotheses, strict=True))
    ]
    return sorted(rows, key=lambda r: -r["wer"])[:n]


def evaluate_saved(model: keras.Model, data: AsrData, meta, split: str = "test") -> Evaluation:
    """WER/CER of a saved CTC model on ``split``; output lengths from its cell's preset; the
    lexicon, n-gram and term list from the training transcripts its sidecar keeps (a sidecar
    written before it kept them: from ``data.train``)."""
    cell = meta["cell"]
    frames = models.frames_fn(cell["preset"], depth=cell["depth"])
    if "train_transcripts" in meta and split != "train":  # scoring train reads its audio
        data = dataclasses.replace(data, train=text_only(meta["train_transcripts"]))
    return scores(model, data, split, frames=frames)


def sidecar(data: AsrData) -> dict:
    """The training transcripts: ``bench eval`` counts the lexicon, the n-gram and the term
    list on them, as the cell did, without the training audio (LibriSpeech's train-clean-100:
    about 5 MB of text against 6 GB of audio)."""
    return {"train_transcripts": list(data.train.transcripts)}


def eval_splits(meta, split: str) -> tuple[str, ...]:
    """The scored split; the training split too for a sidecar without its transcripts."""
    return (split,) if "train_transcripts" in meta else ("train", split)


def text_only(transcripts) -> AsrSplit:
    """A split of transcripts alone (empty audio): the training text a sidecar keeps, for the
    decoder's lexicon and n-gram and the term list, never trained or scored on."""
    n = len(transcripts)
    empty = np.zeros(0, np.float32)
    return AsrSplit(
        (empty,) * n, tuple(transcripts), ("",) * n, tuple(f"train/{i}" for i in range(n))
    )
