"""Search back ends: exact top-k against a full sort, FAISS against exact, recall@k by hand."""

import numpy as np
import pytest

from bench import retrieval, search


def unit(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    return retrieval.normalize(np.random.default_rng(seed).standard_normal((n, dim)))


def test_exact_top_k_matches_a_full_sort_across_query_batches(monkeypatch):
    monkeypatch.setattr(search, "QUERY_BATCH", 7)  # several batches, one ragged
    x, q = unit(200), unit(30, seed=1)
    scores, ids = search.build("exact", x).search(q, 10)
    full = q @ x.T
    want = np.argsort(-full, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(ids, want)
    np.testing.assert_allclose(scores, np.take_along_axis(full, want, axis=1), rtol=1e-6)


def test_exact_ties_rank_by_id_and_k_is_capped_by_the_collection():
    x = np.array([[1, 0], [0, 1], [1, 0]], np.float32)
    scores, ids = search.build("exact", x).search(np.array([[1, 0]], np.float32), 5)
    assert ids.tolist() == [[0, 2, 1]] and scores[0, 0] == scores[0, 1] == 1.0


def test_recall_at_k_by_hand():
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    found = np.array([[3, 2, 9], [-1, -1, 6]])
    assert search.recall_at_k(found, truth, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_bad_input_and_unknown_backend_are_refused():
    with pytest.raises(ValueError, match="shape"):
        search.build("exact", np.zeros(4))
    with pytest.raises(ValueError, match="unknown search back end"):
        search.build("annoy", unit(4))


def test_ivf_defaults_leave_most_cells_unvisited():
    assert search.ivf_lists(1_000_000) == 1000
    assert search.ivf_lists(100) == 2  # >= 39 training points per cell
    assert search.ivf_probes(1000) == 16 and search.ivf_probes(12) == 3
    assert search.ivf_probes(2) == 1


def test_compare_without_faiss_reports_exact_only(monkeypatch):
    monkeypatch.setattr(search, "has_faiss", lambda: False)
    assert search.available() == ["exact"]
    out = search.compare(unit(50), unit(5, seed=2))
    assert list(out["backends"]) == ["exact"] and "ivf_recall_at_k" not in out
    assert out["backends"]["exact"]["queries_per_s"] > 0
    with pytest.raises(ImportError, match="faiss-cpu"):
        search.build("faiss-ivf", unit(50))


faiss_only = pytest.mark.skipif(
    not search.has_faiss(), reason="faiss-cpu not installed (pip install 'resdepth[faiss]')"
)


@faiss_only
def test_faiss_flat_equals_exact():
    x, q = unit(300), unit(20, seed=1)
    _, exact = search.build("exact", x).search(q, 10)
    scores, flat = search.build("faiss-flat", x).search(q, 10)
    assert search.recall_at_k(flat, exact, 10) == 1.0
    np.testing.assert_allclose(scores, np.sort(q @ x.T, axis=1)[:, ::-1][:, :10], rtol=1e-5)


@faiss_only
def test_faiss_ivf_is_approximate_but_exact_when_every_cell_is_probed():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 16))
    noise = 0.3 * rng.standard_normal((2000, 16))
    x = retrieval.normalize(centres[rng.integers(0, 20, 2000)] + noise)
    q = x[:50]
    _, exact = search.build("exact", x).search(q, 10)
    index = search.build("faiss-ivf", x, nlist=20)
    assert index.index.nprobe == search.ivf_probes(20) == 5
    _, ivf = index.search(q, 10)
    assert 0.5 < search.recall_at_k(ivf, exact, 10) <= 1.0
    _, everything = search.build("faiss-ivf", x, nlist=20, nprobe=20).search(q, 10)
    assert search.recall_at_k(everything, exact, 10) == 1.0
    out = search.compare(x, q)
    assert set(out["backends"]) == {"exact", "faiss-flat", "faiss-ivf"}
    assert 0.0 < out["ivf_recall_at_k"] <= 1.0 and out["backends"]["faiss-ivf"]["index_bytes"] > 0
