"""Prepare once, stream everywhere: a corpus's source read once into shards plus a manifest.

``prepare(name, options, ...)`` turns a corpus into the layout of ``datasets.shards`` under
``PREPARED_ROOT/<name>/<key>/``, where the key hashes what identifies the result: the corpus
name, its loader options, the source fingerprint (``datasets.fingerprint``) and the format
version. ``open_prepared`` gives the corpus back as the ``KwsData``/``AsrData`` every task
reads, with its audio read from the shards on demand (``shards.Clips``), so every cell, child
process and cluster worker streams the same copy with host memory that does not grow with the
corpus.

Two ways in, one layout out:

- A corpus module with ``plan(config, data_dir, splits) -> Plan`` (the large real corpora: Speech
  Commands, LibriSpeech) says which file becomes which record without decoding anything; the
  shards are then decoded and written by ``workers`` processes, one shard at a time each, so
  memory is one shard per worker whatever the corpus size.
- Any other corpus (small by construction: FSDD, the synthetic ones) is loaded with its
  ``load`` and its arrays written as shards.

A shard becomes visible all at once (``shards.write_shard``) and the manifest is written last,
so a killed prepare resumes with the shards it finished and a reader never accepts a half
copy; preparing the same source again finds the manifest and does nothing. Files that cannot be
used are skipped, named and counted once, in the manifest, and every open reports them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from datasets import remote, shards
from datasets.audio import AudioError, _read_or_error, read_audio
from datasets.base import (
    SAMPLE_RATE,
    AsrData,
    AsrSplit,
    AudioSplit,
    DataError,
    KwsData,
    SkipLog,
    fix_length,
)
from results.errors import UserError

PREPARED_ENV = "RESDEPTH_PREPARED"
SPLITS = ("train", "val", "test")
RECORDS_PER_SHARD = {"kws": 4096, "asr": 512}  # ~128 MB of 1-s int16 clips; ~100 MB of speech


@dataclasses.dataclass(frozen=True)
class Entry:
    """One planned record: the file it is decoded from and what the index says of it.

    ``target`` is the class index (keyword spotting) or the transcript (speech recognition).
    ``cut``: a ``(offset, gain)`` one-clip excerpt of ``path`` scaled by ``gain`` (Speech
    Commands' silence cut from background noise) instead of the whole file.
    """

    path: str
    target: int | str
    speaker: str
    uid: str
    cut: tuple[int, float] | None = None


@dataclasses.dataclass
class Plan:
    """What a corpus's source holds, before anything is decoded.

    Attributes:
        kind: ``"kws"`` (fixed-length clips, integer targets) or ``"asr"`` (utterances).
        splits: the records of each split, in split order.
        labels: class names (keyword spotting).
        skipped: files already refused while scanning (names, missing files, ...).
        info: the corpus's extras for every cell result.
        clip_samples: keyword spotting: every clip centre-cropped or padded to this.
        seconds: a decoded file lasting outside this range is skipped and counted.
        max_seconds: per split, utterances longer than this are left out and counted in
            ``info["too_long"]`` (training caps only: dev and test stay whole).
        too_long: per split, utterances the plan already left out by that cap.
    """

    kind: str
    splits: dict[str, list[Entry]]
    labels: tuple[str, ...] = ()
    skipped: SkipLog = dataclasses.field(default_factory=SkipLog)
    info: dict = dataclasses.field(default_factory=dict)
    clip_samples: int | None = None
    seconds: tuple[float, float] | None = None
    max_seconds: dict[str, float | None] = dataclasses.field(default_factory=dict)
    too_long: dict[str, int] = dataclasses.field(default_factory=dict)


class TooLong(Exception):
    """A planned utterance longer than its split's cap (counted apart, not a bad file)."""


def root(out: str | os.PathLike | None, cache_dir: str | os.PathLike) -> Path:
    """Where prepared corpora are written on this machine: ``out``, else
    ``$RESDEPTH_PREPARED``, else the cache's (the cache's too when that is a URI, from where
    ``prepare`` publishes them)."""
    given = out or os.environ.get(PREPARED_ENV)
    return Path(cache_dir) / "prepared" if not given or remote.is_uri(given) else Path(given)


def uri_root(out: str | os.PathLike | None) -> str | None:
    """The object-store URI prepared corpora are published to (``remote``), or None."""
    given = out or os.environ.get(PREPARED_ENV)
    return str(given) if remote.is_uri(given) else None


def key(name: str, config, source: dict) -> dict:
    """What identifies a prepared copy: corpus, options, source, format version.

    The source is its fingerprint (``datasets.fingerprint``: names and sizes, or a generated
    corpus's cache key) plus, for a real folder, where it is and when its files changed, so
    another tree with the same names and sizes, or files rewritten in place, prepare anew.
    """
    return {
        "name": name,
        "options": dataclasses.asdict(config),
        "fingerprint": source["fingerprint"],
        "source": source.get("data_dir"),
        "modified": _modified(source.get("data_dir")),
        "format_version": shards.FORMAT_VERSION,
    }


def _modified(folder: str | None) -> str | None:
    """A digest of every file's modification time under ``folder`` (None: no folder)."""
    if folder is None or not Path(folder).is_dir():
        return None
    digest = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(os.fsencode(folder))):
        for file in sorted(files):
            path = os.path.join(dirpath, file)
            # a broken link (the loaders skip and name it) counts by the link's own time
            stat = os.stat(path) if os.path.exists(path) else os.lstat(path)
            digest.update(file + str(stat.st_mtime_ns).encode())
    return digest.hexdigest()[:16]


def folder_for(prepared_root: Path, name: str, identity: dict) -> Path:
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return Path(prepared_root) / name / hashlib.sha256(blob).hexdigest()[:16]


def prepare(
    name: str,
    options: dict,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    out: str | os.PathLike | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
    splits: Sequence[str] | None = None,
) -> Path | str:
    """Prepare corpus ``name`` once; returns the folder of its prepared copy (or its URI).

    ``data_dir`` and ``cache_dir`` resolve as for every load (``datasets.data_dir``,
    ``datasets.cache_dir``); ``out`` is where prepared copies live (``root``); an ``out`` that
    is a URI (``s3://...``, ``datasets.remote``) gets the local copy published to it, and the
    URI of the copy is returned instead of the folder. A complete copy for the same key is
    reused as it is (``log`` says so). ``splits``: only these (``bench
    eval`` scoring LibriSpeech test-clean needs neither train-clean-100 nor dev-clean), a copy
    of its own unless the whole corpus is already prepared.
    """
    import datasets

    wanted = wanted_splits(splits)
    config = datasets.make_config(name, options)
    module = datasets.get(name)
    cache = datasets.cache_dir(cache_dir)
    source = datasets.fingerprint(name, options, data_dir)
    identity = key(name, config, source)
    say = log or (lambda message: None)
    whole = folder_for(root(out, cache), name, identity)
    if wanted != SPLITS:
        identity = {**identity, "splits": list(wanted)}
    folder = folder_for(root(out, cache), name, identity)
    candidates = tuple(dict.fromkeys((whole, folder)))  # a whole copy serves any splits
    published = uri_root(out)
    if published:
        for found in candidates:
            uri = remote.join(published, name, found.name)
            if remote.read_manifest(uri) is not None:
                say(f"{name}: already prepared at {uri}")
                return uri
    made = next((f for f in candidates if shards.read_manifest(f)), None)
    if made is not None:
        say(f"{name}: already prepared in {made}")
    else:
        made = folder
        with shards.locked(folder):
            if shards.read_manifest(folder) is not None:  # another process finished it meanwhile
                say(f"{name}: already prepared in {folder}")
            else:
                t0 = time.perf_counter()
                resolved = datasets.data_dir(name, data_dir)
                if hasattr(module, "plan"):
                    plan = module.plan(config, resolved, splits=wanted)
                else:
                    plan = plan_from_memory(module.load(config, resolved, cache))
                plan = dataclasses.replace(plan, splits={s: plan.splits[s] for s in wanted})
                files = _write(plan, folder, shards.cpu_workers(workers), say)
                seconds = time.perf_counter() - t0
                manifest = _manifest(plan, folder, files, identity, source, seconds)
                from results.store import write_json

                write_json(folder / shards.MANIFEST, manifest)
                say(
                    f"{name}: prepared {sum(s['count'] for s in manifest['splits'].values())} "
                    f"records ({manifest['skipped']['count']} skipped) in "
                    f"{manifest['prepare_seconds']:.1f} s into {folder}"
                )
    if published and made.name == whole.name:  # one split's copy serves bench eval here only
        return remote.publish(made, remote.join(published, name, made.name), say)
    return made


def local_copy(folder: Path | str, out, cache_dir) -> Path | str:
    """The copy this machine prepared of the published URI ``folder``, when it still has it
    (read as it is: no second copy staged beside it), else ``folder``."""
    if not remote.is_uri(folder):
        return folder
    name, key = str(folder).rstrip("/").rsplit("/", 2)[-2:]  # URI_ROOT/NAME/KEY
    here = root(out, cache_dir) / name / key
    return here if shards.read_manifest(here) is not None else folder


def wanted_splits(splits: Sequence[str] | None) -> tuple[str, ...]:
    """``splits`` in split order (None: all three); an unknown name is a UserError."""
    if splits is None:
        return SPLITS
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown or not splits:
        raise UserError(f"splits must be some of {', '.join(SPLITS)}; got {list(splits)!r}")
    return tuple(s for s in SPLITS if s in splits)


def plan_from_memory(data: KwsData | AsrData) -> Plan:
    """The plan of a corpus already in memory: its arrays become the records as they are."""
    kind = "kws" if isinstance(data, KwsData) else "asr"
    splits = {}
    for split in SPLITS:
        part = getattr(data, split)
        if kind == "kws":
            targets, uids = part.labels.tolist(), [f"{split}/{i}" for i in range(len(part))]
        else:
            targets, uids = list(part.transcripts), list(part.ids)
        splits[split] = [
            _InMemory("", t, str(s), u, audio=a)
            for t, s, u, a in zip(targets, part.speakers, uids, part.audio, strict=True)
        ]
    labels = tuple(getattr(data, "labels", ()))
    return Plan(kind, splits, labels, data.skipped, dict(data.info))


@dataclasses.dataclass(frozen=True)
class _InMemory(Entry):
    """An entry whose samples are already decoded (``plan_from_memory``)."""

    audio: np.ndarray | None = None


@lru_cache(maxsize=8)
def _noise(path: str) -> np.ndarray:
    """A background-noise file, decoded once per process (silence cuts share it)."""
    return read_audio(path)


def decode(entry: Entry, plan: Plan, split: str) -> np.ndarray:
    """The samples of one planned record, as its corpus's loader defines them.

    Raises:
        AudioError: the file cannot be used (skipped and counted).
        TooLong: longer than the split's ``max_seconds`` (left out and counted apart).
    """
    if isinstance(entry, _InMemory):
        return entry.audio
    if entry.cut is not None:
        offset, gain = entry.cut
        return _noise(entry.path)[offset : offset + plan.clip_samples] * np.float32(gain)
    audio = _read_or_error(Path(entry.path), SAMPLE_RATE, plan.seconds)
    if isinstance(audio, AudioError):
        raise audio
    cap = plan.max_seconds.get(split)
    if cap is not None and len(audio) > cap * SAMPLE_RATE:
        raise TooLong(entry.uid)
    return audio if plan.clip_samples is None else fix_length(audio, plan.clip_samples)


def _chunks(plan: Plan) -> list[tuple[str, int, int, list[Entry]]]:
    """Every shard to write: ``(split, index, count, entries)``, the same for the same plan."""
    size = RECORDS_PER_SHARD[plan.kind]
    out = []
    for split in _present(plan.splits):
        entries = plan.splits[split]
        count = max(1, -(-len(entries) // size))
        for i in range(count):
            out.append((split, i, count, entries[i * size : (i + 1) * size]))
    return out


def decode_entries(
    entries: list[Entry], plan: Plan, split: str
) -> tuple[list[tuple[Entry, np.ndarray]], list[tuple[str, str]], int]:
    """Decode planned records in order, in a thread pool (libsndfile and soxr release the GIL).

    Returns the kept ``(entry, samples)`` pairs, the skipped ``(path, reason)`` and how many
    were longer than the split's cap.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(entry: Entry) -> np.ndarray | Exception:
        try:
            return decode(entry, plan, split)
        except (AudioError, TooLong) as err:
            return err

    with ThreadPoolExecutor(min(8, (os.cpu_count() or 1) + 2)) as pool:
        results = list(pool.map(one, entries))
    kept, skipped, too_long = [], [], 0
    for entry, result in zip(entries, results, strict=True):
        if isinstance(result, TooLong):
            too_long += 1
        elif isinstance(result, AudioError):
            skipped.append((entry.path, result.reason))
        else:
            kept.append((entry, result))
    return kept, skipped, too_long


def write_one(plan: Plan, folder: Path, split: str, index: int, count: int, entries) -> str:
    """Decode ``entries`` and write them as one shard (what each worker process runs)."""
    kept, skipped, too_long = decode_entries(entries, plan, split)
    rows = [{"target": e.target, "speaker": e.speaker, "id": e.uid} for e, _ in kept]
    stem = shards.shard_name(split, index, count)
    extra = {"skipped": skipped, "too_long": too_long}
    shards.write_shard(folder, stem, [audio for _, audio in kept], rows, extra)
    return stem


def _write(plan: Plan, folder: Path, workers: int, say) -> dict[str, list[dict]]:
    """Write every shard not already complete; returns each shard's metadata, in order."""
    for stale in folder.glob(".*.tmp*"):  # a killed prepare's half-written files (we hold the lock)
        stale.unlink()
    todo = []
    done: dict[str, dict] = {}
    for split, i, count, entries in _chunks(plan):
        stem = shards.shard_name(split, i, count)
        found = shards.read_shard_meta(folder, stem)
        if found is None:
            todo.append((split, i, count, entries))
        else:
            done[stem] = found
    if done:
        say(f"resuming: {len(done)} shard(s) already written in {folder}")
    in_memory = any(isinstance(e, _InMemory) for c in todo for e in c[3])
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="shard", desc="prepare", disable=None, leave=False)
    if workers <= 1 or len(todo) <= 1 or in_memory:
        for chunk in todo:
            write_one(plan, folder, *chunk)
            bar.update()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # no fork of a TensorFlow process
        rules = dataclasses.replace(plan, splits={}, skipped=SkipLog(), info={})
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=context) as pool:
            for future in [pool.submit(write_one, rules, folder, *chunk) for chunk in todo]:
                future.result()
                bar.update()
    bar.close()
    files: dict[str, list[dict]] = {split: [] for split in _present(plan.splits)}
    for split, i, count, _ in _chunks(plan):
        stem = shards.shard_name(split, i, count)
        files[split].append({**shards.read_shard_meta(folder, stem), "stem": stem})
    return files


def _manifest(plan: Plan, folder: Path, files, identity, source, seconds: float) -> dict:
    """Write each split's index and return the manifest (written last by ``prepare``)."""
    import pandas as pd

    skipped = SkipLog(list(plan.skipped.entries))
    too_long = dict(plan.too_long)
    splits = {}
    for split in _present(plan.splits):
        frames = []
        for number, meta in enumerate(files[split]):
            rows = meta["rows"]
            for path, reason in meta["skipped"]:
                skipped.skip(path, reason)  # named once, here, and kept in the manifest
            frames.append(
                pd.DataFrame(
                    {
                        "target": [r["target"] for r in rows],
                        "speaker": [r["speaker"] for r in rows],
                        "id": [r["id"] for r in rows],
                        "samples": np.array([r["samples"] for r in rows], np.int64),
                        "dtype": [r["dtype"] for r in rows],
                        "shard": np.full(len(rows), number, np.int32),
                        "position": np.arange(len(rows), dtype=np.int64),
                    }
                )
            )
            too_long[split] = too_long.get(split, 0) + meta["too_long"]
        index = pd.concat(frames, ignore_index=True)
        if plan.kind == "kws":
            index["target"] = index["target"].astype(np.int32)
        from results.store import atomic_path

        with atomic_path(folder / f"{split}.index.parquet") as tmp:
            index.to_parquet(tmp, index=False)
        splits[split] = {
            "count": len(index),
            "hours": round(float(index["samples"].sum()) / SAMPLE_RATE / 3600, 4),
            "shards": [meta["stem"] for meta in files[split]],
        }
    check_usable(plan, identity["name"], {s: v["count"] for s, v in splits.items()}, skipped)
    info = dict(plan.info)
    if plan.max_seconds:
        info["too_long"] = {split: too_long.get(split, 0) for split in splits}
    return {
        "format_version": shards.FORMAT_VERSION,
        "kind": plan.kind,
        "name": identity["name"],
        "labels": list(plan.labels),
        "options": identity["options"],
        "source": source,
        "splits": splits,
        "skipped": {**skipped.summary(), "all": skipped.entries},
        "info": info,
        "prepare_seconds": round(seconds, 3),
        "bytes": shards.size_on_disk(folder),
    }


def check_usable(plan: Plan, name: str, counts: dict[str, int], skipped: SkipLog) -> None:
    """Refuse, naming the folder and what was skipped, a corpus left with an empty split
    after decoding."""
    empty = [split for split in SPLITS if split in counts and not counts[split]]
    if empty:
        where = f" under {plan.info['data_dir']}" if plan.info.get("data_dir") else ""
        raise DataError(
            f"no usable recordings of {name}{where} for its {', '.join(empty)} split(s): "
            f"{skipped.count} files skipped ({skipped.by_reason() or 'none'})"
        )


def open_prepared(folder: str | os.PathLike, cache_dir=None) -> KwsData | AsrData:
    """A prepared copy as the corpus its loader would give, audio read from the shards; a URI
    (``datasets.remote``) is staged into this node's cache first (``cache_dir``, else
    ``datasets.cache_dir``'s), once."""
    uri = str(folder) if remote.is_uri(folder) else None
    if uri:
        import datasets

        folder = remote.stage(uri, datasets.cache_dir(cache_dir))
    folder = Path(folder)
    manifest = shards.read_manifest(folder)
    if manifest is None:
        raise DataError(
            f"{folder} is not a complete prepared corpus (no readable {shards.MANIFEST} of "
            f"format version {shards.FORMAT_VERSION}); run `python -m bench data prepare`"
        )
    parts = {}
    absent = tuple(s for s in SPLITS if s not in manifest["splits"])
    for split in absent:
        parts[split] = (
            AudioSplit(np.zeros((0, 0), np.float32), np.zeros(0, np.int32), np.zeros(0, str))
            if manifest["kind"] == "kws"
            else AsrSplit((), (), (), ())
        )
    for split in _present(manifest["splits"]):
        index = shards.open_index(folder, split)
        audio = shards.clips(folder, manifest, split, index)
        speakers = index["speaker"].to_numpy().astype(str)
        if manifest["kind"] == "kws":
            parts[split] = AudioSplit(audio, index["target"].to_numpy(np.int32), speakers)
        else:
            parts[split] = AsrSplit(
                audio,
                tuple(index["target"].tolist()),
                tuple(speakers.tolist()),
                tuple(index["id"].tolist()),
            )
    skipped = SkipLog([tuple(e) for e in manifest["skipped"]["all"]])
    info = {
        **manifest["info"],
        "prepared": {
            "path": str(folder),
            "format_version": manifest["format_version"],
            **({"uri": uri} if uri else {}),
        },
    }
    if manifest["kind"] == "kws":
        return KwsData(
            manifest["name"],
            tuple(manifest["labels"]),
            **parts,
            skipped=skipped,
            info=info,
            absent=absent,
        )
    return AsrData(manifest["name"], **parts, skipped=skipped, info=info, absent=absent)


def _present(splits) -> list[str]:
    """The split names among ``splits`` (a plan's or a manifest's), in split order."""
    return [s for s in SPLITS if s in splits]


def materialize(plan: Plan, name: str) -> KwsData | AsrData:
    """A plan decoded into memory in this process (small corpora and tests; no shards)."""
    from datasets.audio import stack

    skipped = SkipLog(list(plan.skipped.entries))
    parts, too_long = {}, {}
    for split in SPLITS:
        kept, bad, long = decode_entries(plan.splits[split], plan, split)
        for path, reason in bad:
            skipped.skip(path, reason)
        too_long[split] = plan.too_long.get(split, 0) + long
        if plan.kind == "kws":
            parts[split] = AudioSplit(
                stack([a for _, a in kept], plan.clip_samples),
                np.array([e.target for e, _ in kept], np.int32),
                np.array([e.speaker for e, _ in kept], dtype=str),
            )
        else:
            parts[split] = AsrSplit(
                tuple(a for _, a in kept),
                tuple(e.target for e, _ in kept),
                tuple(e.speaker for e, _ in kept),
                tuple(e.uid for e, _ in kept),
            )
    check_usable(plan, name, {split: len(parts[split]) for split in SPLITS}, skipped)
    info = dict(plan.info)
    if plan.max_seconds:
        info["too_long"] = too_long
    if plan.kind == "kws":
        return KwsData(name, plan.labels, **parts, skipped=skipped, info=info)
    return AsrData(name, **parts, skipped=skipped, info=info)
