"""``bench/benchmarks/asr_eval_scale.py`` at a tiny size, so the benchmark that measures term
detection and the lexicon decoder at test-clean's size cannot rot: its generated posteriors are
those of a model that mostly reads the reference, and the task's code scores them."""

import json


def test_the_benchmark_runs_small_and_its_figures_are_sane(tmp_path, benchmark_script):
    out = tmp_path / "figures.json"
    argv = ["--utterances", "24", "--train-sentences", "300", "--json", str(out)]
    benchmark_script("asr_eval_scale").main(argv)
    figures = json.loads(out.read_text())
    assert figures["utterances"] == figures["lm_utterances"] == 24
    assert 0 < figures["frames"] <= figures["padded_frames"]
    assert figures["terms"] > 10 and 0.5 < figures["std_map"] <= 1.0
    # the model mostly reads the reference; the lexicon and trigram repair part of the rest
    assert 0.1 < figures["wer_greedy"] < 0.8 and figures["wer_lm"] < figures["wer_greedy"]


def test_the_generated_posteriors_are_log_probabilities_spelling_the_reference(benchmark_script):
    import numpy as np

    from bench.tasks.asr import ctc

    bench = benchmark_script("asr_eval_scale")
    rng = np.random.default_rng(0)
    refs = ["the cat", "sat on a mat"]
    logp, lengths = bench.posteriors(rng, refs, np.array([1.0, 2.0]))
    assert logp.shape == (2, 100, ctc.NUM_OUTPUTS) and list(lengths) == [50, 100]
    np.testing.assert_allclose(np.exp(logp[0, :50]).sum(axis=1), 1.0, rtol=1e-5)
    assert (logp[0, 50:] == 0).all()  # padding past the first utterance's end
    bench.MISTAKEN = 0.0
    clean, _ = bench.posteriors(np.random.default_rng(1), refs, np.array([1.0, 2.0]))
    assert ctc.decode(clean, lengths) == refs
