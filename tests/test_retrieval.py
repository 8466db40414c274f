"""Retrieval metrics against hand-computed rankings: ties, empty relevance, perfect ranking."""

import math

import numpy as np
import pytest

from bench import retrieval


def test_average_precision_by_hand():
    # ranking: R N R N R -> precisions at hits 1/1, 2/3, 3/5
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    rel = np.array([1, 0, 1, 0, 1], bool)
    assert retrieval.average_precision(scores, rel) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_perfect_ranking_has_ap_one_and_worst_by_hand():
    scores = np.array([5.0, 4.0, 3.0, 2.0])
    assert retrieval.average_precision(scores, np.array([1, 1, 0, 0], bool)) == 1.0
    # relevant items last: precisions 1/3 and 2/4
    worst = retrieval.average_precision(scores, np.array([0, 0, 1, 1], bool))
    assert worst == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_ties_form_one_rank_and_storage_order_does_not_matter():
    # top two tied (one relevant, one not), then a relevant item:
    # at the tie: recall 1/2, precision 1/2; then recall 2/2, precision 2/3
    scores = np.array([0.9, 0.9, 0.5])
    a = retrieval.average_precision(scores, np.array([1, 0, 1], bool))
    b = retrieval.average_precision(scores, np.array([0, 1, 1], bool))
    assert a == b == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_query_without_relevant_items_is_nan_and_left_out_of_the_mean():
    assert math.isnan(retrieval.average_precision(np.array([1.0, 0.5]), np.zeros(2, bool)))
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1]], np.float32)
    out = retrieval.query_by_example(emb, np.array(["a", "a", "b"]))
    assert out["queries_without_relevant"] == 1  # "b" has no other "b"
    assert out["queries"] == 2 and out["map"] == 1.0 and out["p_at_1"] == 1.0


def test_query_by_example_perfect_and_speaker_independent():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 8))
    labels = np.repeat(np.arange(3), 4)
    speakers = np.tile(["s1", "s2"], 6)
    emb = centers[labels] + 0.01 * rng.standard_normal((12, 8))
    out = retrieval.query_by_example(emb, labels, speakers)
    assert out["map"] == pytest.approx(1.0) and out["p_at_1"] == 1.0 and out["r_at_10"] == 1.0
    si = retrieval.query_by_example(emb, labels, speakers, exclude_same_speaker=True)
    assert si["map"] == pytest.approx(1.0) and si["queries"] == 12


def test_speaker_independent_search_removes_the_query_speaker():
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    labels, speakers = ["a", "a", "b", "b"], ["s1", "s1", "s2", "s2"]
    assert retrieval.query_by_example(emb, labels, speakers)["map"] == 1.0
    si = retrieval.query_by_example(emb, labels, speakers, exclude_same_speaker=True)
    assert si["queries"] == 0 and si["queries_without_relevant"] == 4 and math.isnan(si["map"])


def test_speaker_independent_needs_speakers():
    with pytest.raises(ValueError, match="speakers"):
        retrieval.query_by_example(np.eye(2), [0, 0], exclude_same_speaker=True)


def test_interpolated_precision_by_hand():
    # ranking R N R N: steps (recall, precision) = (.5, 1), (.5, .5), (1, 2/3), (1, .5)
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    rel = np.array([1, 0, 1, 0], bool)
    got = retrieval.interpolated_precision(scores, rel, np.array([0.0, 0.5, 0.6, 1.0]))
    np.testing.assert_allclose(got, [1.0, 1.0, 2 / 3, 2 / 3])
    # a tie of one relevant and one not at the top: one step at recall 1, precision 1/2
    tied = retrieval.interpolated_precision(np.array([1.0, 1.0]), np.array([1, 0], bool))
    np.testing.assert_allclose(tied, 0.5)
    assert np.isnan(retrieval.interpolated_precision(scores, np.zeros(4, bool))).all()


def test_query_by_example_pr_curve_is_one_for_a_perfect_ranking():
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    curve = retrieval.query_by_example(emb, ["a", "a", "b", "b"])["pr_curve"]
    assert curve["recall"][0] == 0.0 and curve["recall"][-1] == 1.0
    assert curve["precision"] == [1.0] * len(retrieval.RECALL_LEVELS)


def test_query_by_example_with_ties_by_hand():
    # query 0 sees items 1 (same label) and 2 (other label) at the same cosine: AP 1/2
    emb = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], np.float32)
    out = retrieval.query_by_example(emb, ["a", "a", "b", "b"])
    # queries 0, 1: tie of 2 (one relevant) then nothing: AP 1/2; query 2 ("b"): the other "b"
    # ranks last behind two ties -> AP 1/3; query 3: its "b" is tied with two "a"s -> AP 1/3
    assert out["queries"] == 4 and out["map"] == pytest.approx((0.5 + 0.5 + 1 / 3 + 1 / 3) / 4)


def _one_query_at_a_time(emb, labels, speakers, k, exclude_same_speaker):
    """The per-query loop the batched metrics replaced, kept as the reference."""
    e = retrieval.normalize(emb)
    sims = e @ e.T
    aps, p1s, rks, curves = [], [], [], []
    for q in range(len(e)):
        keep = np.arange(len(e)) != q
        if exclude_same_speaker:
            keep &= speakers != speakers[q]
        rel = labels[keep] == labels[q]
        if not rel.any():
            continue
        scores = sims[q, keep]
        order = np.argsort(-scores, kind="stable")
        aps.append(retrieval.average_precision(scores, rel))
        p1s.append(float(rel[order[0]]))
        rks.append(rel[order[:k]].sum() / rel.sum())
        curves.append(retrieval.interpolated_precision(scores, rel))
    return np.mean(aps), np.mean(p1s), np.mean(rks), len(aps), np.mean(curves, axis=0)


@pytest.mark.parametrize("exclude_same_speaker", [False, True])
@pytest.mark.parametrize(("seed", "k"), [(0, 5), (1, 5), (2, 400)])  # k=400: more than all items
def test_batched_query_by_example_matches_one_query_at_a_time(
    exclude_same_speaker, seed, k, monkeypatch
):
    # Random clustered embeddings, quantized so that many scores tie exactly; a small batch so
    # that queries span several batches.
    monkeypatch.setattr(retrieval, "QUERY_BATCH", 37)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, 150)
    speakers = rng.integers(0, 5, 150)
    emb = np.round(rng.standard_normal((6, 4))[labels] + rng.standard_normal((150, 4)), 0)
    emb[:3] = emb[3]  # exact duplicates: ties at the top of some rankings
    ref_map, ref_p1, ref_rk, ref_n, ref_curve = _one_query_at_a_time(
        emb, labels, speakers, k, exclude_same_speaker
    )
    out = retrieval.query_by_example(
        emb, labels, speakers, k=k, exclude_same_speaker=exclude_same_speaker
    )
    assert out["queries"] == ref_n and out["queries_without_relevant"] == 150 - ref_n
    assert out["map"] == pytest.approx(ref_map, rel=1e-12)
    assert out["p_at_1"] == ref_p1 and out[f"r_at_{k}"] == pytest.approx(ref_rk, rel=1e-12)
    assert out["pr_curve"]["precision"] == ref_curve.round(4).tolist()
