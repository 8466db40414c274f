"""Speech-recognition evaluation at LibriSpeech size: spoken term detection and the lexicon +
n-gram decoder on a test-clean-size split, without the corpus or a trained model.

    python bench/benchmarks/asr_eval_scale.py [--utterances 2620] [--lm-utterances N] [--json F]

It generates what evaluation sees: a training text of train-clean-100's size (28,539 sentences
at LibriSpeech's 2.7 words/s and utterance lengths, about 970k words over a Zipf vocabulary of
20,000 made-up words chained by a sparse bigram, so an n-gram has something to learn) and a
test split of test-clean's size (2,620 utterances, lengths as ``synth_lengths.test_seconds``)
whose frame log-posteriors are those of a CTC model reading the reference at QuartzNet's frame
rate: one peaked frame per character and one or two blanks after it, a share of characters
mistaken for another, Gaussian noise on every logit. Then it times, on the task's own code and
settings:

* ``term_detection.detect`` over the training vocabulary's 1,000 most frequent words (as the
  ASR task does), and its mAP;
* ``asr.lm_transcripts`` (trigram counted on the training text, ``asr.LM_DECODER``) over the
  first ``--lm-utterances`` test utterances (all by default), its WER and the greedy WER.

Run it on two checkouts to compare code (``PYTHONPATH=OLD_CHECKOUT python
bench/benchmarks/asr_eval_scale.py ...``): the generated data depend only on the seed.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import time

import numpy as np

TEST_UTTERANCES = 2_620  # test-clean
TRAIN_SENTENCES = 28_539  # train-clean-100
VOCABULARY = 20_000
FRAMES_PER_SECOND = 50  # QuartzNet: 10 ms hop, stride 2
MISTAKEN = 0.12  # share of characters whose peak is another character


def words(rng: np.random.Generator, n: int = VOCABULARY) -> list[str]:
    """``n`` distinct made-up words of 1-10 letters, the short ones the frequent ones."""
    out: dict[str, None] = {}
    while len(out) < n:
        size = int(np.clip(rng.poisson(1.0 + 5.0 * len(out) / n) + 1, 1, 10))
        out.setdefault("".join(rng.choice(list(string.ascii_lowercase), size)), None)
    return list(out)


def text(rng: np.random.Generator, vocab: list[str], count: int, seconds: np.ndarray) -> list[str]:
    """``count`` sentences of about 2.7 words/s: each word follows its predecessor's few usual
    successors half the time, else a Zipf draw over the whole vocabulary."""
    zipf = np.cumsum(1.0 / np.arange(1, len(vocab) + 1))
    zipf /= zipf[-1]
    successors = np.searchsorted(zipf, rng.random((len(vocab), 4)))
    out = []
    for i in range(count):
        n = max(1, round(2.7 * seconds[i]))
        fresh = np.searchsorted(zipf, rng.random(n))
        draws, picks = rng.random(n), rng.integers(0, 4, n)
        seq = [int(fresh[0])]
        for k in range(1, n):
            seq.append(int(successors[seq[-1], picks[k]] if draws[k] < 0.5 else fresh[k]))
        out.append(" ".join(vocab[w] for w in seq))
    return out


def posteriors(rng: np.random.Generator, refs: list[str], seconds: np.ndarray):
    """``[n, frames, classes]`` float32 log-posteriors of a model reading ``refs``, and lengths."""
    from bench.tasks.asr import ctc
    from datasets.base import ALPHABET

    lengths = np.maximum((seconds * FRAMES_PER_SECOND).astype(np.int64), [2 * len(r) for r in refs])
    out = np.zeros((len(refs), lengths.max(), ctc.NUM_OUTPUTS), np.float32)
    for i, ref in enumerate(refs):
        target = np.full(lengths[i], ctc.BLANK)  # characters evenly spread, blanks between
        target[np.arange(len(ref)) * lengths[i] // len(ref)] = [ALPHABET.index(c) for c in ref]
        logits = rng.normal(0.0, 1.0, (lengths[i], ctc.NUM_OUTPUTS))
        mistaken = (rng.random(lengths[i]) < MISTAKEN) & (target != ctc.BLANK)
        peak = np.where(mistaken, rng.integers(0, ctc.BLANK, lengths[i]), target)
        logits[np.arange(lengths[i]), peak] += 6.0
        logits[np.arange(lengths[i]), target] += 3.0
        logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        out[i, : lengths[i]] = logits
    return out, lengths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", type=int, default=TEST_UTTERANCES)
    parser.add_argument("--train-sentences", type=int, default=TRAIN_SENTENCES)
    parser.add_argument("--lm-utterances", type=int, default=None, help="default: all")
    parser.add_argument("--skip", choices=["terms", "lm"], action="append", default=[])
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)

    import jiwer

    from bench.tasks import asr
    from bench.tasks.asr import ctc, term_detection
    from datasets import synth_lengths
    from datasets.base import AsrData, AsrSplit

    rng = np.random.default_rng(20261203)
    vocab = words(rng)
    train_text = text(
        rng, vocab, args.train_sentences, synth_lengths.train_seconds(rng, args.train_sentences)
    )
    seconds = synth_lengths.test_seconds(rng, args.utterances)
    refs = text(rng, vocab, args.utterances, seconds)
    t0 = time.perf_counter()
    logp, lengths = posteriors(rng, refs, seconds)
    figures = {
        "utterances": args.utterances,
        "test_hours": round(float(seconds.sum()) / 3600, 2),
        "frames": int(lengths.sum()),
        "padded_frames": int(logp.shape[0] * logp.shape[1]),
        "train_words": sum(len(s.split()) for s in train_text),
        "generate_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(figures), flush=True)
    if "terms" not in args.skip:
        terms = term_detection.vocabulary(train_text)
        t0 = time.perf_counter()
        std = term_detection.detect(logp, lengths, refs, terms, ctc.BLANK)
        figures["terms"] = std["terms"]
        figures["std_s"] = round(time.perf_counter() - t0, 2)
        figures["std_map"] = round(std["map"], 6)
        print(json.dumps({k: figures[k] for k in ("terms", "std_s", "std_map")}), flush=True)
    if "lm" not in args.skip:
        n = args.lm_utterances or args.utterances

        def split(texts):
            k = len(texts)
            return AsrSplit((np.zeros(1, np.float32),) * k, tuple(texts), ("s",) * k, ("u",) * k)

        data = AsrData("generated", split(train_text), split(refs[:1]), split(refs[:n]))
        greedy = ctc.decode(logp[:n], lengths[:n])
        t0 = time.perf_counter()
        hyps = asr.lm_transcripts(data, (logp[:n], lengths[:n]), asr.LM_DECODER)
        figures["lm_utterances"] = n
        figures["lm_s"] = round(time.perf_counter() - t0, 2)
        figures["wer_greedy"] = round(jiwer.wer(refs[:n], greedy), 6)
        figures["wer_lm"] = round(jiwer.wer(refs[:n], hyps), 6)
        keys = ("lm_utterances", "lm_s", "wer_greedy", "wer_lm")
        print(json.dumps({k: figures[k] for k in keys}), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
