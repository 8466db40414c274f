"""What a run directory's cells depend on: ``provenance.json``, written on the first run.

The harness records the suite, each corpus's data folder and fingerprint (a hash of the sorted
file list and sizes of a real data folder, or the cache key of a synthetic corpus), the code
version and the Keras backend; a resume compares them with its own and refuses on a difference
(``differences``), so one report never mixes two corpora silently. The report reads the file
through ``read`` (reports may not import the harness).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from results import store

FILE = "provenance.json"
VERSION = 1
# Keys compared on resume; ``corpora`` maps "dataset options" -> {data_dir, fingerprint}.
COMPARED = ("suite", "corpora", "code_version", "backend")


def path(run_dir: Path) -> Path:
    return Path(run_dir) / FILE


def read(run_dir: Path) -> dict[str, Any] | None:
    """The run's provenance, or None for a run directory written before it was recorded."""
    p = path(run_dir)
    if not p.exists():
        return None
    data = store.read_json(p)
    if not isinstance(data, dict):
        raise store.ResultsError(f"{p}: provenance must be a JSON object")
    return data


def write(run_dir: Path, provenance: dict[str, Any]) -> None:
    store.write_json(path(run_dir), {"provenance_version": VERSION, **provenance})


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences of the compared keys, e.g. ``fsdd: data folder /a -> /b``."""
    out = []
    for key in COMPARED:
        if key == "corpora":
            continue
        if old.get(key) != new.get(key):
            out.append(f"{key.replace('_', ' ')}: {old.get(key)!r} -> {new.get(key)!r}")
    old_c, new_c = old.get("corpora", {}), new.get("corpora", {})
    for name in sorted(set(old_c) | set(new_c)):
        a, b = old_c.get(name, {}), new_c.get(name, {})
        if a.get("data_dir") != b.get("data_dir"):
            out.append(f"{name}: data folder {a.get('data_dir')} -> {b.get('data_dir')}")
        elif a.get("fingerprint") != b.get("fingerprint"):
            out.append(
                f"{name}: corpus fingerprint {a.get('fingerprint')} -> {b.get('fingerprint')} "
                f"({b.get('files', '?')} files now, {a.get('files', '?')} then)"
            )
    return out


def rows(provenance: dict[str, Any] | None) -> list[list[str]]:
    """``[label, value]`` rows for the report's environment table."""
    if not provenance:
        return []
    out = [
        ["code version", str(provenance.get("code_version", "?"))],
        ["run backend", str(provenance.get("backend", "?"))],
    ]
    for name, corpus in sorted(provenance.get("corpora", {}).items()):
        out.append([f"data {name}", str(corpus.get("data_dir") or "synthetic (cache)")])
        out.append([f"fingerprint {name}", str(corpus.get("fingerprint", "?"))])
    return out
