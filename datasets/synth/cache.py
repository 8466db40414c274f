"""Atomic ``.npz`` files: a generated corpus is written once and read back by later loads.

A reader never sees a half-written file: the arrays go to a temporary file in the same folder,
which then replaces the target (``results.store.atomic_path``, the suite's one atomic write).
Arrays are stored without pickling (strings as unicode arrays, metadata as a JSON string), so
loading needs no ``allow_pickle``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from results.store import atomic_path

META_KEY = "__meta__"


def save(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays`` and the JSON-ready ``meta`` to ``path`` atomically (mode 0o644)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays, **{META_KEY: np.array(json.dumps(meta, sort_keys=True))})


def load(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read back ``(arrays, meta)`` written by ``save``; raises on a missing or damaged file."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files if key != META_KEY}
        meta = json.loads(str(data[META_KEY]))
    return arrays, meta


def package_version(name: str) -> str:
    """Installed version of ``name``, or ``"unknown"``: part of a cache key."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def keyed_path(cache_dir: Path | str, name: str, key: dict) -> Path:
    """``<cache_dir>/<name>/<hash of key>.npz``: one file per distinct generator config."""
    import hashlib

    blob = json.dumps(key, sort_keys=True).encode()
    return Path(cache_dir) / name / f"{hashlib.sha256(blob).hexdigest()[:20]}.npz"


def load_or_make(path: Path, make) -> tuple[dict[str, np.ndarray], dict, bool]:
    """``(arrays, meta, from_cache)``: the cache at ``path``, or ``make()`` saved there first.

    A damaged cache file is rebuilt with a warning naming it, never fatal.
    """
    import warnings

    if path.is_file():
        try:
            arrays, meta = load(path)
            return arrays, meta, True
        except Exception as err:  # noqa: BLE001 - any unreadable cache is rebuilt
            warnings.warn(f"rebuilding damaged cache {path}: {err}", stacklevel=3)
    arrays, meta = make()
    save(path, arrays, meta)
    return arrays, meta, False
