"""Speech recognition pieces: CTC decoding with a known answer, WER/CER, padded batches."""

import keras
import numpy as np
import pytest

from bench import metrics
from bench.tasks.asr import ctc
from datasets.base import ALPHABET, AsrSplit, encode
from datasets.pipeline import asr_batches


def _logits(path: str, peak: float = 8.0) -> np.ndarray:
    """Frame logits whose arg-max spells ``path`` ('_' = blank)."""
    out = np.zeros((len(path), ctc.NUM_OUTPUTS), dtype=np.float32)
    for t, ch in enumerate(path):
        out[t, ctc.BLANK if ch == "_" else ALPHABET.index(ch)] = peak
    return out


def test_greedy_and_beam_decode_a_hand_built_sequence():
    # "hello": the double l needs a blank between its two l's; repeats collapse.
    path = "_hh_e_ll_llo__ _wworld_"
    logits = _logits(path)[None]
    lengths = np.array([len(path)], dtype=np.int32)
    assert ctc.decode(logits, lengths) == ["hello world"]
    assert ctc.decode(logits, lengths, beam_width=8) == ["hello world"]


def test_decode_respects_lengths_in_a_padded_batch():
    a, b = _logits("_c_a_t_"), _logits("dd_o_g")
    batch = np.zeros((2, 9, ctc.NUM_OUTPUTS), dtype=np.float32)
    batch[:, :, ctc.BLANK] = 1.0
    batch[0, : len(a)] = a
    batch[1, : len(b)] = b
    batch[1, len(b) :, ALPHABET.index("x")] = 9.0  # garbage after the end must be ignored
    lengths = np.array([len(a), len(b)], dtype=np.int32)
    assert ctc.decode(batch, lengths) == ["cat", "dog"]
    assert ctc.decode(batch, lengths, beam_width=4) == ["cat", "dog"]


def test_beam_search_can_beat_greedy():
    """Two frames: greedy takes blank twice, but 'a' has more total probability mass."""
    p = np.full((2, ctc.NUM_OUTPUTS), 1e-6, dtype=np.float64)
    a = ALPHABET.index("a")
    p[:, ctc.BLANK], p[:, a] = 0.55, 0.45
    logits = np.log(p / p.sum(axis=1, keepdims=True)).astype(np.float32)[None]
    lengths = np.array([2], dtype=np.int32)
    # P("") = .55^2 = .3025; P("a") = .45*.45 + .45*.55 + .55*.45 = .6975
    assert ctc.decode(logits, lengths) == [""]
    assert ctc.decode(logits, lengths, beam_width=4) == ["a"]


def test_error_rates_on_known_strings():
    refs = ["the cat sat on the mat", "hello world"]
    hyps = ["the cat sit on mat", "hello big world"]
    r = metrics.error_rates(refs, hyps)
    # words: 1 substitution (sat->sit), 1 deletion (the), 1 insertion (big) over 8 words
    assert (r["substitutions"], r["deletions"], r["insertions"]) == (1, 1, 1)
    assert r["reference_words"] == 8
    assert r["wer"] == pytest.approx(3 / 8)
    # characters: sat->sit 1 sub, "the " deleted 4, "big " inserted 4; refs have 22+11 chars
    assert r["cer"] == pytest.approx(9 / 33)
    # corpus-level, not the mean of per-utterance rates (which would be (2/6 + 1/2) / 2)
    assert r["wer"] != pytest.approx((2 / 6 + 1 / 2) / 2)


def test_error_rates_with_an_empty_hypothesis():
    r = metrics.error_rates(["one two"], [""])
    assert r["wer"] == 1.0 and r["deletions"] == 2


def test_asr_batches_pad_and_keep_true_lengths():
    rng = np.random.default_rng(0)
    lengths = [1600, 3200, 4000, 8000, 12000, 2500, 7000]
    texts = ["a", "bc", "yes no", "the end", "x y z", "up", "go left"]
    split = AsrSplit(
        tuple(rng.standard_normal(n).astype("float32") for n in lengths),
        tuple(texts),
        tuple("s" for _ in lengths),
        tuple(f"u{i}" for i in range(len(lengths))),
    )
    seen = {}
    for x, y in asr_batches(split, 3, buckets=3):
        audio, n = x["audio"].numpy(), x["length"].numpy()
        labels, m = y["labels"].numpy(), y["label_length"].numpy()
        assert audio.shape[0] == labels.shape[0] <= 3
        for row in range(len(n)):
            assert np.all(audio[row, n[row] :] == 0)
            text = "".join(ALPHABET[i] for i in labels[row, : m[row]])
            seen[text] = int(n[row])
    assert seen == dict(zip(texts, lengths, strict=True))


def test_encode_rejects_characters_outside_the_alphabet():
    with pytest.raises(ValueError, match="alphabet"):
        encode("caf\u00e9")


def test_asr_batches_know_their_batch_count():
    rng = np.random.default_rng(1)
    lengths = rng.integers(800, 9000, 23)
    split = AsrSplit(
        tuple(np.zeros(n, "float32") for n in lengths),
        tuple("a" for _ in lengths),
        tuple("s" for _ in lengths),
        tuple(str(i) for i in range(len(lengths))),
    )
    ds = asr_batches(split, 4, shuffle_seed=0, buckets=4)
    assert int(ds.cardinality()) == sum(1 for _ in ds)


def test_ctc_loss_on_the_tensorflow_kernel_equals_keras_ctc_loss():
    """Same loss and gradient as ``keras.ops.ctc_loss`` (dense labels), repeats and padding
    included. An utterance too short for its transcript has probability 0: infinite loss here,
    where Keras's dense path gives a large finite number; its gradient is zero, the others'
    finite."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    batch, frames, width = 6, 20, 9
    logits = tf.constant(rng.normal(size=(batch, frames, ctc.NUM_OUTPUTS)), tf.float32)
    labels = rng.integers(1, ctc.BLANK, size=(batch, width)).astype("int32")
    labels[0, 1:4] = labels[0, 0]  # repeats need a blank between them
    label_len = np.array([9, 1, 4, 7, 9, 5], "int32")
    out_frames = np.array([20, 3, 11, 20, 10, 16], "int32")  # row 4: 9 characters, 10 frames
    labels[4, :] = 3  # ... but all repeated: 17 frames needed, so infeasible
    padded = np.where(np.arange(width) < label_len[:, None], labels, 0)  # 0 pads, as in batches

    def per_utterance(fn):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = fn(logits)
        return loss.numpy(), tape.jacobian(loss, logits).numpy()  # [b, b, frames, classes]

    ours = per_utterance(lambda p: ctc._tf_kernel_ctc_loss(padded, p, label_len, out_frames))
    theirs = per_utterance(
        lambda p: keras.ops.ctc_loss(labels, p, label_len, out_frames, mask_index=ctc.BLANK)
    )
    ok = [0, 1, 2, 3, 5]
    assert np.isinf(ours[0][4]) and theirs[0][4] > 10 * theirs[0][ok].max()
    np.testing.assert_allclose(ours[0][ok], theirs[0][ok], rtol=1e-5)
    np.testing.assert_allclose(ours[1][ok], theirs[1][ok], atol=1e-5)
    assert np.isfinite(ours[1]).all() and not ours[1][4].any()
    # ctc_loss (the training loss) is the batch mean of the same per-utterance losses.
    feasible = {"labels": padded[ok], "label_length": label_len[ok]}
    mean = ctc.ctc_loss({"length": out_frames[ok]}, feasible, logits.numpy()[ok], lambda n: n)
    assert float(mean) == pytest.approx(float(np.mean(theirs[0][ok])), rel=1e-5)


def test_utterances_too_short_for_their_transcript_are_refused_before_training():
    assert ctc.frames_needed(encode("a")) == 1
    assert ctc.frames_needed(encode("hello")) == 6  # "ll" needs a blank between
    split = AsrSplit(
        audio=(np.zeros(1000, np.float32), np.zeros(100, np.float32)),
        transcripts=("hello", "hello"),
        speakers=("a", "b"),
        ids=("long", "short"),
    )
    ctc.check_alignable(split, lambda n: n // 10, "train")  # 100 and 10 frames: both fit
    with pytest.raises(ValueError, match=r"1 train utterance.*short"):
        ctc.check_alignable(split, lambda n: n // 20, "train")  # 5 frames for "hello": no
