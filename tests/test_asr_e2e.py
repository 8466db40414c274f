"""The ASR task end to end on the tiny synthetic-sentence corpus: CTC training, decoding, WER,
the saved raw-audio model, and the report's section. Budget: about a minute on 2 CPU cores."""

import json
import shutil

import pytest

from bench import evaluate, runner, suite
from results import store

pytestmark = pytest.mark.slow
# Largest last/first epoch CTC training loss a tiny cell may end with (measured 0.56-0.57).
LOSS_RATIO = 0.7

TINY_ASR = {
    "name": "asr-tiny",
    "description": "tests only",
    "seeds": [0],
    "train": {"epochs": 4, "batch_size": 8, "learning_rate": 3e-3, "warmup_epochs": 0.5,
              "patience": 4, "gradient_interval": 4},
    "experiment": [{
        "name": "sentences",
        "task": "asr",
        "dataset": "synth-sentences",
        "dataset_options": {"profile": "tiny"},
        "models": [{"preset": "tc-resnet8-ctc", "depths": [2], "residual": [True, False]}],
    }],
}  # fmt: skip


@pytest.fixture(scope="module")
def asr_run(tmp_path_factory):
    s = suite.parse(TINY_ASR, "asr-tiny")
    run_dir = tmp_path_factory.mktemp("runs") / "asr"
    cache = tmp_path_factory.mktemp("cache")
    summary = runner.run_suite(s, run_dir, cache_dir=cache, verbose=0)
    return s, run_dir, cache, summary


def test_cells_train_decode_and_score(asr_run):
    s, run_dir, _, summary = asr_run
    assert summary.ok, summary.statuses
    for r in store.read_results(run_dir):
        assert r.status == "ok", r.traceback
        m = r.metrics
        for name in ("wer", "cer", "wer_beam", "cer_beam", "wer_lm", "cer_lm", "val_wer"):
            assert m[name].unit == "fraction" and m[name].higher_is_better is False
            assert m[name].value >= 0
        assert r.history["loss"][-1] < r.history["loss"][0], "CTC loss must fall"
        ev = r.evaluation
        assert 0 < len(ev["worst"]) <= 10 and {"reference", "hypothesis"} <= set(ev["worst"][0])
        assert ev["errors"]["reference_words"] > 0
        assert ev["errors_lm"]["reference_words"] == ev["errors"]["reference_words"]
        assert ev["lm_decoder"]["lexicon_from"] == "train" and ev["lm_decoder"]["beam_width"] > 0
        assert r.gradient_flow.init["blocks"] == 2
        # spoken term detection: the tiny grammar's words as queries over the test utterances
        assert m["std_map"].unit == "fraction" and 0 < m["std_map"].value <= 1
        std = r.evaluation["term_detection"]
        assert std["terms"] == len(std["per_term"]) > 0 and std["bounded"] is True
        sp = r.speed  # FLOPs at the mean training length, latency on a median test utterance
        assert sp.flops_per_example > 0 and 0 < sp.utilization < 1
        assert 0 < sp.latency_ms["p50"] <= sp.latency_ms["p90"]
        assert m["data_wait_share"].value == sp.data_wait_share >= 0


def test_cells_learn_measurably(asr_run):
    """The tiny fixture's loss falls. Measured (4 epochs, 48 training sentences): the CTC
    training loss falls to 0.57 (residual, 200 -> 114) and 0.56 (plain, 208 -> 117) of its
    first epoch; ``LOSS_RATIO`` allows 0.70. Its greedy WER stays 1.0 (exactly the all-blank
    model's, checked here); that the recognizer learns words is
    ``test_the_recognizer_spells_words_well_below_an_all_blank_model``."""
    import datasets
    from bench import metrics

    _, run_dir, cache, _ = asr_run
    module = datasets.get("synth-sentences")
    data = module.load(module.Config(profile="tiny"), None, cache)
    refs = list(data.test.transcripts)
    assert metrics.error_rates(refs, [""] * len(refs))["wer"] == 1.0  # all blank
    for r in store.read_results(run_dir):
        loss = r.history["loss"]
        assert loss[-1] <= LOSS_RATIO * loss[0], (r.cell.id, loss)


def test_term_detection_queries_the_training_vocabulary(asr_run):
    import datasets

    _, run_dir, cache, _ = asr_run
    module = datasets.get("synth-sentences")
    data = module.load(module.Config(profile="tiny"), None, cache)
    vocab = set(" ".join(data.train.transcripts).split())
    test_words = set(" ".join(data.test.transcripts).split())
    for r in store.read_results(run_dir):
        std = r.evaluation["term_detection"]
        assert std["terms"] + std["terms_without_relevant"] == len(vocab)
        assert {t["term"] for t in std["per_term"]} == vocab & test_words
        aps = [t["ap"] for t in std["per_term"]]
        assert r.metrics["std_map"].value == pytest.approx(sum(aps) / len(aps))


def test_saved_model_gives_the_same_wer(asr_run, tmp_path, monkeypatch):
    _, run_dir, cache, _ = asr_run
    r = store.read_results(run_dir)[0]
    path = store.model_path(run_dir, r.cell.id)
    again = evaluate.evaluate_saved(path, "synth-sentences", None, {"profile": "tiny"},
                                    cache_dir=cache)  # fmt: skip
    assert again["metrics"]["wer"]["value"] == pytest.approx(r.metrics["wer"].value)
    assert again["metrics"]["std_map"]["value"] == pytest.approx(r.metrics["std_map"].value)
    # the sidecar keeps the training text: only the test split was read, the lexicon decoder
    # and the term list counted on the training text as in the cell
    assert again["splits_read"] == ["test"]
    if "wer_lm" in r.metrics:
        assert again["metrics"]["wer_lm"]["value"] == pytest.approx(r.metrics["wer_lm"].value)
    assert again["term_detection"]["terms"] == r.evaluation["term_detection"]["terms"]
    # scoring the training split reads its audio, not the sidecar's text alone
    from bench.tasks import asr

    scored = []
    real = asr.scores
    monkeypatch.setattr(
        asr, "scores", lambda net, data, *a, **k: scored.append(data) or real(net, data, *a, **k)
    )
    on_train = evaluate.evaluate_saved(path, "synth-sentences", None, {"profile": "tiny"},
                                       split="train", cache_dir=cache)  # fmt: skip
    assert on_train["splits_read"] == ["train"]
    assert on_train["n_examples"] == r.dataset.sizes["train"]
    assert min(len(a) for a in scored[0].train.audio) > 0
    # a sidecar from before it kept the text: the training split is read for it
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    del meta["train_transcripts"]
    old = tmp_path / path.name
    shutil.copy(path, old)
    old.with_suffix(".json").write_text(json.dumps(meta))
    before = evaluate.evaluate_saved(old, "synth-sentences", None, {"profile": "tiny"},
                                     cache_dir=cache)  # fmt: skip
    assert before["splits_read"] == ["train", "test"]
    assert before["metrics"] == again["metrics"]


def test_report_has_the_asr_section(asr_run):
    from reports import html

    _, run_dir, _, _ = asr_run
    text = html.write_report(run_dir).read_text()
    assert 'id="asr"' in text and "WER beam" in text and "worst test utterances" in text
    assert "Spoken term detection mAP against depth" in text and "hardest of" in text
    assert "Spoken term detection precision-recall of the best" in text


def test_same_seed_gives_the_same_asr_cell(asr_run, tmp_path):
    """A second run of one cell (the CTC kernel included) repeats the first to the bit."""
    _, run_dir, cache, _ = asr_run
    again = dict(TINY_ASR, experiment=[dict(TINY_ASR["experiment"][0])])
    again["experiment"][0]["models"] = [
        {"preset": "tc-resnet8-ctc", "depths": [2], "residual": [True]}
    ]
    runner.run_suite(suite.parse(again, "asr-tiny"), tmp_path / "again", cache_dir=cache, verbose=0)
    (second,) = store.read_results(tmp_path / "again")
    first = next(r for r in store.read_results(run_dir) if r.cell.id == second.cell.id)
    assert second.history == first.history
    for name in ("wer", "cer", "wer_beam", "wer_lm", "std_map"):
        assert second.metrics[name].value == first.metrics[name].value, name


SMALL_ASR = {
    "name": "asr-small",
    "description": "tests only: enough sentences that a small CTC model learns words",
    "seeds": [0],
    "train": {"epochs": 12, "batch_size": 16, "learning_rate": 3e-3, "warmup_epochs": 0.5,
              "patience": 12, "gradient_interval": 50},
    "experiment": [{
        "name": "sentences",
        "task": "asr",
        "dataset": "synth-sentences",
        "dataset_options": {"profile": "small"},
        "models": [{"preset": "tc-resnet8-ctc", "width": 2.0, "depths": [2],
                    "residual": [True]}],
    }],
}  # fmt: skip
# An all-blank model scores WER and CER 1.0 exactly (every reference word deleted); a model that
# emits random characters scores at least that (substitutions and insertions). Measured for
# SMALL_ASR (600 sentences of the 20-word grammar, 12 epochs, ~20 s): greedy WER 0.545, CER
# 0.353. The bounds leave room for another CPU's rounding, and none for a model that does not
# spell words.
MAX_LEARNED_WER = 0.8
MAX_LEARNED_CER = 0.6


def test_the_recognizer_spells_words_well_below_an_all_blank_model(tmp_path):
    import datasets
    from bench import metrics

    s = suite.parse(SMALL_ASR, "asr-small")
    cache = tmp_path / "cache"
    summary = runner.run_suite(s, tmp_path / "run", cache_dir=cache, verbose=0)
    (r,) = store.read_results(tmp_path / "run")
    assert summary.ok, r.traceback
    data = datasets.load("synth-sentences", {"profile": "small"}, None, cache)
    refs = list(data.test.transcripts)
    blank = metrics.error_rates(refs, [""] * len(refs))
    assert blank["wer"] == blank["cer"] == 1.0
    assert r.metrics["wer"].value <= MAX_LEARNED_WER, r.metrics["wer"]
    assert r.metrics["cer"].value <= MAX_LEARNED_CER, r.metrics["cer"]
