"""Corpora for resdepth: a registry from dataset name to its loader module.

A dataset is one module exposing ``Config`` (a frozen dataclass of its options, validated in
``__post_init__``), ``KIND`` (``"kws"`` for keyword spotting, ``"asr"`` for speech recognition)
and ``load(config, data_dir, cache_dir)`` returning ``KwsData`` or ``AsrData``; a downloadable
corpus also has ``download(dest) -> Path``. Adding a corpus is that module plus one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

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
