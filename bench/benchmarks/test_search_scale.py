"""Search at scale: 1,000,000 random unit embeddings, 1,000 queries, exact vs FAISS flat and IVF.

A benchmark, not a test (the machine is shared: no speed is asserted). Run it with
``python -m pytest bench/benchmarks/test_search_scale.py --benchmark-enable`` (pytest-benchmark);
each result's ``extra_info`` holds queries/s, build seconds, index bytes, the process's peak
RSS and, for IVF, recall@10 against exact search. The embedding size is read from the quick
suite's model (``tc-resnet8``'s ``embedding`` layer), so the collection matches what QbE searches.

Random unit vectors have no cluster structure, the hardest case for IVF: its recall here is a
floor, not what trained embeddings get.

Before timing, each back end's answers are checked (``check_answers``): ids in range and distinct
per query, each score the true cosine of its id, best first, and, for the exact back ends, the
same top-``K`` scores as a brute-force NumPy search, so a broken index fails instead of timing.
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np
import pytest

from bench import retrieval, search

N_ITEMS = int(os.environ.get("RESDEPTH_SCALE_ITEMS", 1_000_000))  # smaller for a dry run
N_QUERIES = 1_000
K = 10
PRESET = "tc-resnet8"  # the quick suite's model


def embedding_size(preset: str = PRESET) -> int:
    """Width of the preset's ``embedding`` layer (the vector QbE searches)."""
    import models

    model = models.build(preset, num_classes=35)
    return int(model.get_layer("embedding").output.shape[-1])


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture(scope="module")
def data():
    dim = embedding_size()
    rng = np.random.default_rng(0)
    collection = retrieval.normalize(rng.standard_normal((N_ITEMS, dim), dtype=np.float32))
    queries = retrieval.normalize(rng.standard_normal((N_QUERIES, dim), dtype=np.float32))
    _, truth = search.build("exact", collection).search(queries, K)
    return {"dim": dim, "collection": collection, "queries": queries, "truth": truth}


def _built(data, backend: str, **options) -> tuple[object, float]:
    t0 = time.perf_counter()
    index = search.build(backend, data["collection"], **options)
    return index, time.perf_counter() - t0


CHECKED_QUERIES = 20


def check_answers(data, index, exact: bool) -> None:
    """Fail unless ``index`` answers the first queries correctly (see the module docstring)."""
    q = data["queries"][:CHECKED_QUERIES]
    scores, ids = index.search(q, K)
    assert ids.shape == scores.shape == (len(q), K)
    assert ((ids >= 0) & (ids < N_ITEMS)).all(), "ids out of range"
    assert all(len(set(row)) == K for row in ids.tolist()), "an id returned twice for a query"
    true = np.einsum("qd,qkd->qk", q, data["collection"][ids])
    np.testing.assert_allclose(scores, true, atol=1e-4, err_msg="scores are not the cosines")
    assert (np.diff(scores, axis=1) <= 1e-6).all(), "results not ordered best first"
    if exact:
        brute = -np.sort(-(q @ data["collection"].T), axis=1)[:, :K]
        np.testing.assert_allclose(scores, brute, atol=1e-4, err_msg="not the true top-k")


def _run(benchmark, data, index, build_s: float) -> None:
    """Time ``index`` answering the queries; record speed, memory and recall@10 vs exact."""
    check_answers(data, index, exact=index.name != "faiss-ivf")
    _, ids = benchmark.pedantic(index.search, args=(data["queries"], K), rounds=3, iterations=1)
    timed = benchmark.stats  # None with --benchmark-disable (CI runs the checks, not the clock)
    benchmark.extra_info.update(
        backend=index.name,
        embedding_size=data["dim"],
        items=N_ITEMS,
        queries=N_QUERIES,
        queries_per_s=N_QUERIES / timed.stats.mean if timed else None,
        build_seconds=build_s,
        index_bytes=index.nbytes,
        peak_rss_bytes=peak_rss_bytes(),
        recall_at_10=search.recall_at_k(ids, data["truth"], K),
    )
    if index.name == "faiss-ivf":
        benchmark.extra_info.update(nlist=index.index.nlist, nprobe=index.index.nprobe)
    print(f"\n{benchmark.extra_info}")


def test_exact(benchmark, data):
    _run(benchmark, data, *_built(data, "exact"))


needs_faiss = pytest.mark.skipif(not search.has_faiss(), reason="faiss-cpu not installed")


@needs_faiss
def test_faiss_flat(benchmark, data):
    _run(benchmark, data, *_built(data, "faiss-flat"))


@pytest.fixture(scope="module")
def ivf(data):
    return _built(data, "faiss-ivf")  # sqrt(n) = 1000 cells, trained once for both probes


@needs_faiss
@pytest.mark.parametrize("nprobe", [16, 64])
def test_faiss_ivf(benchmark, data, ivf, nprobe):
    index, build_s = ivf
    index.index.nprobe = nprobe
    _run(benchmark, data, index, build_s)
