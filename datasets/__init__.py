"""Corpora for resdepth: a registry from dataset name to its loader module.

A dataset is one module exposing ``Config`` (a frozen dataclass of its options, validated in
``__post_init__``), ``KIND`` (``"kws"`` for keyword spotting, ``"asr"`` for speech recognition)
and ``load(config, data_dir, cache_dir)`` returning ``KwsData`` or ``AsrData``; a downloadable
corpus also has ``download(dest) -> Path``. Adding a corpus is that module plus one line here.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

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
}


def get(name: str) -> ModuleType:
    """Return the module of dataset ``name``; a clear error lists the known names."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
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


def load(name: str, options: dict, given_dir: str | Path | None = None, cache=None):
    """Load corpus ``name`` with ``options`` (its ``Config``), data root and cache resolved here."""
    module = get(name)
    return module.load(module.Config(**options), data_dir(name, given_dir), cache_dir(cache))
