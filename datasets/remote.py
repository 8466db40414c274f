"""Prepared corpora at an object-store URI (``s3://``, ``gs://``, any fsspec protocol).

A cluster's nodes often share no filesystem but do share a bucket. ``bench data prepare NAME
--out URI`` (or ``$RESDEPTH_PREPARED=URI``, or ``prepared`` of ``datasets.load``) prepares the
corpus in the local cache as always, then ``publish`` uploads the copy's files with its manifest
last, so a reader of the URI never sees a half copy. Every process that opens the URI
(``datasets.prepare.open_prepared``) ``stage``\\ s it once per node into its local cache
(``$RESDEPTH_CACHE/staged/``), manifest last again and under a lock, and streams it from there
like any local copy: ArrayRecord reads by index need a local file, and one download per node
beats one per epoch. The URI's protocol needs its fsspec package installed (``s3fs``,
``gcsfs``, ...); ``file://`` works with fsspec alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from datasets import shards
from datasets.base import DataError


def is_uri(location: object) -> bool:
    """Whether ``location`` names an fsspec URI (``proto://...``) rather than a local path."""
    return isinstance(location, str) and "://" in location


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def _fs(uri: str):
    try:
        import fsspec
    except ImportError as err:  # pragma: no cover - fsspec comes with the base install
        raise DataError(f"{uri}: reading prepared copies from a URI needs fsspec") from err
    try:
        return fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as err:
        raise DataError(
            f"{uri}: no fsspec filesystem for this protocol ({err}); install its package "
            "(s3fs for s3://, gcsfs for gs://, ...)"
        ) from err


def read_manifest(uri: str) -> dict | None:
    """The manifest at ``uri``, or None when no complete copy is there."""
    fs, path = _fs(uri)
    target = join(path, shards.MANIFEST)
    if not fs.exists(target):
        return None
    try:
        manifest = json.loads(fs.cat_file(target))
    except (OSError, json.JSONDecodeError):
        return None
    return manifest if manifest.get("format_version") == shards.FORMAT_VERSION else None


def files_of(manifest: dict) -> list[str]:
    """The files a reader needs of a prepared copy, manifest excluded: each split's index and
    shards (the per-shard metadata serve a resumed prepare only)."""
    out = []
    for split, part in manifest["splits"].items():
        out.append(f"{split}.index.parquet")
        out += [f"{stem}.array_record" for stem in part["shards"]]
    return out


def publish(folder: Path, uri: str, log: Callable[[str], None] = lambda m: None) -> str:
    """Upload the complete local copy ``folder`` to ``uri``, its manifest last; a copy already
    complete there is left as it is. Returns ``uri``."""
    if read_manifest(uri) is not None:
        log(f"already published at {uri}")
        return uri
    manifest = shards.read_manifest(folder)
    if manifest is None:
        raise DataError(f"{folder} is not a complete prepared copy: nothing to publish")
    fs, path = _fs(uri)
    fs.makedirs(path, exist_ok=True)
    for name in files_of(manifest):
        fs.put_file(str(Path(folder) / name), join(path, name))
    fs.put_file(str(Path(folder) / shards.MANIFEST), join(path, shards.MANIFEST))
    log(f"published {len(files_of(manifest)) + 1} files to {uri}")
    return uri


def stage(uri: str, cache: Path) -> Path:
    """A local copy of the prepared corpus at ``uri``, downloaded once into ``cache/staged/``.

    Raises:
        DataError: no complete prepared copy at ``uri``.
    """
    folder = Path(cache) / "staged" / hashlib.sha256(uri.encode()).hexdigest()[:16]
    if shards.read_manifest(folder) is not None:
        return folder
    with shards.locked(folder):
        if shards.read_manifest(folder) is not None:  # another process of this node staged it
            return folder
        manifest = read_manifest(uri)
        if manifest is None:
            raise DataError(
                f"{uri} holds no complete prepared corpus (no readable {shards.MANIFEST}); "
                "run `python -m bench data prepare NAME --out URI`"
            )
        fs, path = _fs(uri)
        for name in files_of(manifest):
            tmp = folder / f".{name}.tmp"
            fs.get_file(join(path, name), str(tmp))
            tmp.replace(folder / name)
        from results.store import write_json

        write_json(folder / shards.MANIFEST, manifest)
    return folder
