"""Keyword spotting: classify a 1-s clip into one of the corpus's words.

Headline metric: top-1 test accuracy; also macro-F1, test loss and the confusion matrix of the
best (early-stopped) weights.
"""

from __future__ import annotations

import dataclasses
import weakref

import keras
import numpy as np

import models
from bench import metrics, retrieval, search
from bench.config import Cell
from bench.tasks.base import Evaluation, Setup, spec_augment_options
from datasets.base import AudioSplit, DataError, KwsData
from datasets.pipeline import batches
from models import frontend
from results.metrics import Metric

DATA_KIND = "kws"
HEADLINE = ("accuracy", "macro_f1", "qbe_map", "train_samples_per_s")
AUGMENTS = frozenset({"waveform", "spec"})  # waveform in the pipeline, SpecAugment in the model
PRECOMPUTES = True  # train.precompute_features: the trunk trains on features computed once
EVAL_BATCH = 256
EMBEDDING_LAYER = "embedding"  # the pooled features before the classifier
PROBE_BATCHES = 4  # fixed training batches the gradient-flow probe averages over at init
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def probe_batches(data: KwsData, batch_size: int, seed: int) -> list[tuple[np.ndarray, ...]]:
    """A seeded, fixed sample of training batches for the gradient-flow probe."""
    rng = np.random.default_rng(seed)
    n = min(len(data.train), PROBE_BATCHES * batch_size)
    idx = np.sort(rng.choice(len(data.train), n, replace=False))
    return [
        (data.train.audio[idx[i : i + batch_size]], data.train.labels[idx[i : i + batch_size]])
        for i in range(0, n, batch_size)
    ]


def build(cell: Cell, data: KwsData) -> keras.Model:
    """The cell's model, sized for the corpus's classes (with SpecAugment when augmented)."""
    return models.build(
        cell.preset,
        num_classes=len(data.labels),
        **cell.model_options,
        **spec_augment_options(cell),
    )


def check_model(preset: str) -> None:
    """Every preset has a classifier head: nothing to refuse."""


def setup(cell: Cell, data: KwsData) -> Setup:
    """The classifier, shuffled training batches, cross-entropy and the probe's batches.

    With ``train.precompute_features`` the log-mel features of the training and validation
    clips are computed once, here, and ``fit`` trains the model's trunk on them
    (``models.frontend.split``: the same layers and weights); the served model, evaluated on
    test and saved, still takes raw audio.
    """
    cfg = cell.train
    model = build(cell, data)
    front, trained, fed = None, model, data
    if cfg.precompute_features:
        front, trained = frontend.split(model)
        fed = dataclasses.replace(
            data, train=features(front, data.train), val=features(front, data.val)
        )
    return Setup(
        model=trained,
        served=model,
        train=batches(
            fed.train,
            cfg.batch_size,
            shuffle_seed=cell.seed,
            **({"augment": cfg.augment, "augment_seed": cell.seed} if cfg.augment else {}),
        ),
        val=batches(fed.val, EVAL_BATCH),
        steps_per_epoch=int(np.ceil(len(data.train) / cfg.batch_size)),
        loss=LOSS,
        metrics=["accuracy"],
        probe_loss=lambda x, y, p: LOSS(y, p),
        probe_batches=probe_batches(fed, cfg.batch_size, cell.seed),
        example=data.test.audio[0],
        samples=data.test.audio.shape[1],
        front_end=front,
    )


# Features of the splits of the corpus in memory: (id of its audio array, mel bins) -> (a weak
# reference to that array, its features). The runner shares one loaded corpus between its
# cells, so every cell of a corpus after the first reuses them; the weak reference tells a
# reused id from the same array and does not keep a corpus the runner has let go of alive.
_FEATURES: dict[tuple[int, int], tuple[weakref.ref, np.ndarray]] = {}
_FEATURES_KEPT = 4  # train and val of one corpus, at two mel settings


def features(front: keras.Model, split: AudioSplit) -> AudioSplit:
    """``split`` with its clips replaced by their log-mel features ``[n, frames, mels]``.

    The front end has no weights and treats every clip alone (``models.frontend``), so these
    are the features the model would compute from each clip inside a training step. Computed
    once per corpus in memory and process (``_FEATURES``), and the same for every cell.
    """
    key = (id(split.audio), int(front.output.shape[-1]))
    cached = _FEATURES.get(key)
    if cached is None or cached[0]() is not split.audio:
        feats = np.asarray(front.predict(batches(split, EVAL_BATCH), verbose=0))
        _FEATURES[key] = cached = (weakref.ref(split.audio), feats.astype(np.float32, copy=False))
        while len(_FEATURES) > _FEATURES_KEPT:
            _FEATURES.pop(next(iter(_FEATURES)))
    return AudioSplit(cached[1], split.labels, split.speakers)


def validation_metrics(setup: Setup, data: KwsData, history) -> dict[str, Metric]:
    """The best validation accuracy of the epochs (early stopping restored that epoch's)."""
    return {"val_accuracy": Metric.of("val_accuracy", max(history["val_accuracy"]))}


def evaluate(setup: Setup, data: KwsData, split: str = "test") -> Evaluation:
    """``scores`` of the trained classifier."""
    return scores(setup.served, data, split)


def scores(model: keras.Model, data: KwsData, split: str = "test") -> Evaluation:
    """Accuracy, macro-F1, loss, confusion matrix and query-by-example retrieval on ``split``."""
    part = getattr(data, split)
    embed = keras.Model(model.input, [model.get_layer(EMBEDDING_LAYER).output, model.output])
    embeddings, logits = embed.predict(batches(part, EVAL_BATCH), verbose=0)
    pred = np.argmax(logits, axis=-1)
    cm = metrics.confusion_matrix(part.labels, pred, len(data.labels))
    loss = LOSS(part.labels, logits)
    qbe = retrieval.query_by_example(embeddings, part.labels, part.speakers)
    qbe_si = retrieval.query_by_example(
        embeddings, part.labels, part.speakers, exclude_same_speaker=True
    )
    unit = retrieval.normalize(embeddings)
    speed = search.compare(unit, unit, k=10)  # every test item queries the whole test set
    values = {
        "accuracy": metrics.accuracy(cm),
        "macro_f1": metrics.macro_f1(cm),
        "test_loss": float(loss),
        **{f"qbe_{k}": qbe[k] for k in ("map", "p_at_1", "r_at_10")},
        **{f"qbe_si_{k}": qbe_si[k] for k in ("map", "p_at_1", "r_at_10")},
        **{
            f"qbe_qps_{b.replace('-', '_')}": t["queries_per_s"]
            for b, t in speed["backends"].items()
        },
    }
    if "ivf_recall_at_k" in speed:
        values["qbe_ivf_recall_at_10"] = speed["ivf_recall_at_k"]
    return Evaluation(
        metrics={k: Metric.of(k, v) for k, v in values.items() if np.isfinite(v)},
        details={
            "labels": list(data.labels),
            "confusion_matrix": cm.tolist(),
            "retrieval": {
                "layer": EMBEDDING_LAYER,
                "search": "exact cosine",
                "queries": qbe["queries"],
                "queries_without_relevant": qbe["queries_without_relevant"],
                "si_queries": qbe_si["queries"],
                "si_queries_without_relevant": qbe_si["queries_without_relevant"],
                "pr_curve": qbe["pr_curve"],
                "si_pr_curve": qbe_si["pr_curve"],
                "per_query_ap": qbe["per_query_ap"],
                "si_per_query_ap": qbe_si["per_query_ap"],
                "search_speed": speed,
            },
            "split": split,
            "n_examples": len(part),
            # per-example outcomes, in test order: bootstrap intervals (results.noise)
            "target": part.labels.tolist(),
            "predicted": pred.tolist(),
        },
    )


def evaluate_saved(model: keras.Model, data: KwsData, meta, split: str = "test") -> Evaluation:
    """Metrics of a saved model on ``split``, its labels matched to the dataset's by name."""
    relabeled, unknown = _relabel(data, meta["labels"], split)
    result = scores(model, relabeled, split)
    return Evaluation(result.metrics, {**result.details, "dropped_unknown_label": unknown})


def sidecar(data: KwsData) -> dict:
    """Nothing beyond the labels every sidecar holds."""
    return {}


def eval_splits(meta, split: str) -> tuple[str, ...]:
    """Only the scored split."""
    return (split,)


def _relabel(data: KwsData, labels: list[str], split: str) -> tuple[KwsData, int]:
    """Map the dataset's labels onto the model's by name; examples of unknown labels are dropped
    and counted (a model cannot be scored on classes it never had)."""
    part: AudioSplit = getattr(data, split)
    index = {name: i for i, name in enumerate(labels)}
    mapping = np.array([index.get(name, -1) for name in data.labels])
    new = mapping[part.labels]
    keep = new >= 0
    if not keep.any():
        raise DataError(
            f"none of the dataset's labels {list(data.labels)} is known to the model {labels}"
        )
    sub = AudioSplit(
        part.audio.take(np.flatnonzero(keep), axis=0),
        new[keep].astype(np.int32),
        part.speakers[keep],
    )
    relabeled = KwsData(data.name, tuple(labels), sub, sub, sub, data.skipped, data.info)
    return relabeled, int((~keep).sum())
