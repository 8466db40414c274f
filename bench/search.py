"""Nearest-neighbour search over L2-normalized embeddings: exact cosine by default, FAISS optional.

Every back end answers the same two calls over a collection of unit vectors (cosine similarity =
inner product): ``add(vectors)`` then ``search(queries, k) -> (scores, ids)``, best first.

Back ends (``BACKENDS``):
    * ``exact``: batched matrix products in numpy plus a partial sort per query batch; no extra
      dependency, exact by construction. The default, and what retrieval metrics are computed with.
    * ``faiss-flat``: FAISS ``IndexFlatIP``, also exact (BLAS inside FAISS), for comparison.
    * ``faiss-ivf``: FAISS ``IndexIVFFlat`` (inverted lists over k-means cells, inner product):
      approximate, for large collections; ``nlist`` cells (default ~sqrt(n)), ``nprobe`` of them
      visited per query (default 16, at most a quarter of the cells, so a small collection is not
      searched exhaustively and recall against exact search stays a real measurement).

FAISS comes from the optional dependency ``faiss-cpu`` (``pip install resdepth[faiss]``);
``available()`` lists the back ends this environment can build, so callers never fail on its
absence.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import time
from collections.abc import Callable

import numpy as np

from results.errors import UserError

QUERY_BATCH = 256  # queries per matrix product, at most
SCORE_BUDGET = 1 << 25  # scores per matrix product (128 MB float32 + the partial sort's ids)
IVF_NPROBE = 16  # cells visited per query, at most a quarter of them (``ivf_probes``)
IVF_TRAIN_PER_LIST = 39  # FAISS warns below 39 training points per list


def has_faiss() -> bool:
    """Whether the optional ``faiss-cpu`` package is importable."""
    return importlib.util.find_spec("faiss") is not None


class ExactIndex:
    """Exact cosine search: scores by batched matrix products, top-k by partial sort."""

    name = "exact"

    def __init__(self, dim: int):
        self.dim = dim
        self.vectors = np.zeros((0, dim), np.float32)

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.concatenate([self.vectors, _as_matrix(vectors, self.dim)])

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """All similarities ``[n_queries, n_items]``, for metrics that rank the whole collection."""
        return _as_matrix(queries, self.dim) @ self.vectors.T

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` scores and ids per query, best first (ties by lower id)."""
        q = _as_matrix(queries, self.dim)
        k = min(k, len(self.vectors))
        scores = np.empty((len(q), k), np.float32)
        ids = np.empty((len(q), k), np.int64)
        rows = max(1, min(QUERY_BATCH, SCORE_BUDGET // max(len(self.vectors), 1)))
        for start in range(0, len(q), rows):
            sims = q[start : start + rows] @ self.vectors.T
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            top = np.take_along_axis(sims, part, axis=1)
            order = np.lexsort((part, -top), axis=1)
            ids[start : start + len(sims)] = np.take_along_axis(part, order, axis=1)
            scores[start : start + len(sims)] = np.take_along_axis(top, order, axis=1)
        return scores, ids


class FaissIndex:
    """A FAISS inner-product index (flat or IVF) behind the same ``add``/``search`` calls."""

    def __init__(
        self, dim: int, kind: str = "flat", nlist: int | None = None, nprobe: int | None = None
    ):
        import faiss

        if kind not in ("flat", "ivf"):
            raise ValueError(f"FAISS index kind must be 'flat' or 'ivf'. Received: kind={kind!r}")
        self.dim, self.kind, self.nlist, self.nprobe = dim, kind, nlist, nprobe
        self.name = f"faiss-{kind}"
        self._faiss = faiss
        self.index = faiss.IndexFlatIP(dim) if kind == "flat" else None

    def add(self, vectors: np.ndarray) -> None:
        x = _as_matrix(vectors, self.dim)
        if self.index is None:  # IVF: train the coarse quantizer on the first vectors added
            nlist = self.nlist or ivf_lists(len(x))
            quantizer = self._faiss.IndexFlatIP(self.dim)
            self.index = self._faiss.IndexIVFFlat(
                quantizer, self.dim, nlist, self._faiss.METRIC_INNER_PRODUCT
            )
            self.index.cp.min_points_per_centroid = 1  # small collections: no warning spam
            self.index.train(x)
            self.index.nprobe = (
                ivf_probes(nlist) if self.nprobe is None else max(1, min(self.nprobe, nlist))
            )
            self._quantizer = quantizer  # the IVF index does not own it
        self.index.add(x)

    @property
    def nbytes(self) -> int:
        """Bytes of the serialized index (vectors, ids and, for IVF, the centroids)."""
        return int(self._faiss.serialize_index(self.index).nbytes) if self.index else 0

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.index.ntotal)
        scores, ids = self.index.search(_as_matrix(queries, self.dim), k)
        return scores, ids


def ivf_lists(n: int) -> int:
    """Default IVF cells for ``n`` vectors: ~sqrt(n), with >= 39 training points per cell."""
    return max(1, min(round(math.sqrt(n)), n // IVF_TRAIN_PER_LIST))


def ivf_probes(nlist: int, nprobe: int = IVF_NPROBE) -> int:
    """Default cells visited per query: ``nprobe``, at most a quarter of ``nlist`` (and >= 1)."""
    return max(1, min(nprobe, nlist // 4))


BACKENDS: dict[str, Callable[..., object]] = {
    "exact": ExactIndex,
    "faiss-flat": lambda dim, **kw: FaissIndex(dim, "flat", **kw),
    "faiss-ivf": lambda dim, **kw: FaissIndex(dim, "ivf", **kw),
}


def available() -> list[str]:
    """The back ends this environment can build (FAISS ones need ``faiss-cpu``)."""
    return [b for b in BACKENDS if b == "exact" or has_faiss()]


def build(backend: str, vectors: np.ndarray, **options):
    """An index of ``backend`` over ``vectors`` (unit rows), ready to search."""
    if backend not in BACKENDS:
        raise UserError(f"unknown search back end {backend!r}; known: {', '.join(BACKENDS)}")
    if backend != "exact" and not has_faiss():
        raise ImportError(
            f"search back end {backend!r} needs faiss-cpu: pip install 'resdepth[faiss]'"
        )
    vectors = _as_matrix(vectors)
    index = BACKENDS[backend](vectors.shape[1], **options)
    index.add(vectors)
    return index


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean over queries of |found top-k ∩ true top-k| / k (ids; -1 = no result)."""
    found, truth = np.asarray(found)[:, :k], np.asarray(truth)[:, :k]
    hits = [len(set(f[f >= 0]) & set(t)) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits) / truth.shape[1]) if len(hits) else float("nan")


@dataclasses.dataclass(frozen=True)
class Timing:
    """One back end's search over a query set: throughput and what the index holds."""

    backend: str
    queries_per_s: float
    build_seconds: float
    index_bytes: int
    ids: np.ndarray = dataclasses.field(repr=False)


def time_backend(
    backend: str, collection: np.ndarray, queries: np.ndarray, k: int = 10, **options
) -> Timing:
    """Build ``backend`` over ``collection`` and answer ``queries`` once, timing each part."""
    t0 = time.perf_counter()
    index = build(backend, collection, **options)
    t1 = time.perf_counter()
    _, ids = index.search(queries, k)
    t2 = time.perf_counter()
    return Timing(backend, len(queries) / max(t2 - t1, 1e-9), t1 - t0, index.nbytes, ids)


def compare(collection: np.ndarray, queries: np.ndarray, k: int = 10) -> dict:
    """Queries/s of every available back end, and recall@k of IVF against exact search."""
    timings = {b: time_backend(b, collection, queries, k) for b in available()}
    out = {
        "collection": len(collection),
        "queries": len(queries),
        "k": k,
        "backends": {
            b: {
                "queries_per_s": t.queries_per_s,
                "build_seconds": t.build_seconds,
                "index_bytes": t.index_bytes,
            }
            for b, t in timings.items()
        },
    }
    if "faiss-ivf" in timings:
        out["ivf_recall_at_k"] = recall_at_k(timings["faiss-ivf"].ids, timings["exact"].ids, k)
    return out


def _as_matrix(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    """A C-contiguous float32 ``[n, dim]`` matrix (FAISS needs exactly that)."""
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise ValueError(f"expected a [n, {dim or 'dim'}] matrix. Received: shape={x.shape}")
    return x
