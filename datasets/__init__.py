"""Corpora for resdepth: a registry from dataset name to its loader module.

A dataset is one module exposing ``Config`` (a frozen dataclass of its options, validated in
``__post_init__``), ``KIND`` (``"kws"`` for keyword spotting, ``"asr"`` for speech recognition)
and ``load(config, data_dir, cache_dir)`` returning ``KwsData`` or ``AsrData`` in memory; a
large corpus also has ``plan(config, data_dir, splits) -> prepare.Plan`` (its records, found without
decoding), so that preparing it never holds it in memory; a downloadable corpus also has
``download(dest) -> Path``. Adding a corpus is that module plus one line here. The suite reads
every corpus prepared (``load`` below, ``datasets.prepare``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from results.errors import UserError

DATA_DIR_ENV = "RESDEPTH_DATA_DIR"
CACHE_ENV = "RESDEPTH_CACHE"

# name -> module path; imported lazily so ``python -m bench --help`` stays fast.
DATASETS: dict[str, str] = {
    "synth-words": "datasets.synth_words",
    "fsdd": "datasets.fsdd",
    "speech-commands": "datasets.speech_commands",
    "synth-sentences": "datasets.synth_sentences",
    "fsdd-digits": "datasets.fsdd_digits",
    "librispeech": "datasets.librispeech",
    "synth-lengths": "datasets.synth_lengths",
}


def get(name: str) -> ModuleType:
    """Return the module of dataset ``name``; a clear error lists the known names."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return importlib.import_module(DATASETS[name])


def cache_dir(given: str | Path | None = None) -> Path:
    """Where corpora are cached: ``given``, else ``$RESDEPTH_CACHE``, else ``~/.cache/resdepth``."""
    if given:
        return Path(given)
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "resdepth")


def data_dir(name: str, given: str | Path | None = None) -> str | None:
    """The folder of real corpus ``name``; the one place data roots are resolved.

    ``$RESDEPTH_DATA_DIR_<NAME>`` (e.g. ``RESDEPTH_DATA_DIR_LIBRISPEECH``) wins, so a suite can
    mix corpora kept in different places; then ``given`` (``--data-dir``); then
    ``$RESDEPTH_DATA_DIR``. None: the corpus needs no folder (synthetic) or has none.
    """
    specific = os.environ.get(f"{DATA_DIR_ENV}_{name.upper().replace('-', '_')}")
    found = specific or given or os.environ.get(DATA_DIR_ENV)
    return str(found) if found else None


def load(
    name: str,
    options: dict,
    given_dir: str | Path | None = None,
    cache=None,
    prepared: str | Path | None = None,
    splits: tuple[str, ...] | None = None,
):
    """Corpus ``name`` with ``options`` (its ``Config``), as the suite reads every corpus:
    prepared once into shards (``datasets.prepare``: on first use, then reused by every cell,
    process and worker) and streamed from them. Data root, cache and the prepared copies'
    location (``prepared``, else ``$RESDEPTH_PREPARED``, else the cache's) are resolved here.
    ``splits``: only these are prepared and read, the others left empty (``bench eval``).
    """
    from datasets import prepare

    folder = prepare.prepare(name, options, given_dir, cache, out=prepared, log=_log, splits=splits)
    return prepare.open_prepared(prepare.local_copy(folder, prepared, cache_dir(cache)), cache)


def _log(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def make_config(name: str, options: dict):
    """Dataset ``name``'s ``Config`` from ``options``; an unknown key is a ValueError naming it
    and the known ones (not Python's ``unexpected keyword argument``)."""
    import dataclasses

    config_cls = get(name).Config
    known = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise UserError(
            f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; "
            f"known: {', '.join(known)}"
        )
    return config_cls(**options)


def fingerprint(name: str, options: dict, given_dir: str | Path | None = None) -> dict:
    """What identifies the corpus ``load`` would produce, without loading it.

    A generated corpus: the hash of its cache key (``Config.key()``: options, generator and
    package versions). A real one: its resolved data folder and a hash of the sorted relative
    file names (bytes, so names that are not UTF-8 count too) and sizes under it.
    """
    import hashlib
    import json

    config = make_config(name, options)
    digest = hashlib.sha256()
    if hasattr(config, "key"):
        digest.update(json.dumps(config.key(), sort_keys=True, default=str).encode())
        return {"data_dir": None, "fingerprint": "key:" + digest.hexdigest()[:16]}
    folder = data_dir(name, given_dir)
    if folder is None or not Path(folder).is_dir():
        return {"data_dir": folder, "fingerprint": "missing", "files": 0}
    root = Path(folder).resolve()
    entries = []
    for dirpath, _, files in os.walk(os.fsencode(root)):
        for file in files:
            full = os.path.join(dirpath, file)
            # a broken link (the loaders skip and name it) counts by its name, size -1
            size = os.path.getsize(full) if os.path.exists(full) else -1
            entries.append((os.path.relpath(full, os.fsencode(root)), size))
    for rel, size in sorted(entries):
        digest.update(rel + b"\0" + str(size).encode() + b"\n")
    fingerprint = "files:" + digest.hexdigest()[:16]
    return {"data_dir": str(root), "fingerprint": fingerprint, "files": len(entries)}
