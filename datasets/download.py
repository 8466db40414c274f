"""Downloading real corpora: ``keras.utils.get_file`` with the hash checked and clear errors.

``fetch(url, sha256, dest_dir)`` downloads an archive into ``dest_dir``, checks its SHA-256,
extracts it and returns the extracted folder. Notes on ``keras.utils.get_file`` (Keras 3.15) that
shape this wrapper:

- With ``extract=True`` and a ``fname`` without a dot, the archive is saved as
  ``<cache_dir>/<cache_subdir>/<fname>_archive`` and extracted into ``.../<fname>``, and that
  folder is returned. (A ``fname`` with a dot is cut at the first dot: ``"v1.0.10.tar.gz"``
  would extract to ``v1_extracted``; so names here never hold dots.)
- It re-extracts the archive on every call; a marker file written after a complete extraction
  lets ``fetch`` return at once on later calls without hashing gigabytes again.
- When ``cache_dir`` is not writable it silently falls back to ``/tmp/.keras``; ``fetch`` checks
  the folder first and fails instead.
- A hash mismatch is a ``ValueError`` that leaves the bad file in place; ``fetch`` deletes it and
  raises ``DownloadError`` with the expected and actual hashes.

Sources are module constants. Each can be overridden with environment variables (tests serve a
generated archive from a local HTTP server this way, and a user can point at a mirror):
``RESDEPTH_<NAME>_URL`` and ``RESDEPTH_<NAME>_SHA256`` (``NAME`` = ``FSDD`` or
``SPEECH_COMMANDS``). A hash pinned here belongs to the URL pinned here: overriding the URL alone
drops the pinned hash (set the ``_SHA256`` variable too to keep the check).

A source without a published hash (``sha256=None``) is downloaded unverified with a logged warning
that prints the archive's actual SHA-256, so it can be recorded and pinned afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import urllib.parse
import warnings
from pathlib import Path

from results.errors import UserError
from results.store import write_atomic

log = logging.getLogger(__name__)

MARKER = ".resdepth-download.json"


class DownloadError(UserError):
    """A download that failed or did not match its hash (the CLI prints it as ``error: ...``)."""


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a corpus comes from: its archive URL, the archive's SHA-256 (if published), and the
    environment-variable prefix that overrides both."""

    name: str
    url: str
    sha256: str | None
    env: str

    def resolve(self) -> tuple[str, str | None]:
        """``(url, sha256)`` after applying ``$<env>_URL`` and ``$<env>_SHA256``."""
        url, sha256 = self.url, self.sha256
        env_url = os.environ.get(f"{self.env}_URL", "").strip()
        env_hash = os.environ.get(f"{self.env}_SHA256", "").strip()
        if env_url:
            url, sha256 = env_url, None  # the pinned hash is for the pinned URL only
        if env_hash:
            sha256 = None if env_hash.lower() == "none" else env_hash
        return url, sha256


# Free Spoken Digit Dataset, the GitHub archive of release tag v1.0.10. No SHA-256 of this archive
# is published (TFDS pins only v1.0.9), and GitHub-generated archives are not promised to be
# byte-stable, so none is pinned: the first download logs its hash; pin it with
# RESDEPTH_FSDD_SHA256 to check later downloads.
FSDD = Source(
    name="fsdd",
    url="https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz",
    sha256=None,
    env="RESDEPTH_FSDD",
)

# Google Speech Commands v0.02 (2.4 GB). SHA-256 as listed in TensorFlow Datasets' url_checksums
# (speech_commands.txt), together with its size, 2,428,923,189 bytes.
SPEECH_COMMANDS = Source(
    name="speech-commands",
    url="http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
    sha256="af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
    env="RESDEPTH_SPEECH_COMMANDS",
)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _default_name(url: str) -> str:
    """A dot-free local name from the URL's last path part: ``v1.0.10.tar.gz`` -> ``v1_0_10``."""
    base = os.path.basename(urllib.parse.urlsplit(url).path) or "download"
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar", ".zip", ".gz"):
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_") or "download"


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _write_marker(folder: Path, payload: dict) -> None:
    """Write the completion marker atomically."""
    write_atomic(folder / MARKER, json.dumps(payload, indent=2) + "\n")


def fetch(
    url: str,
    sha256: str | None,
    dest_dir: str | os.PathLike,
    *,
    extract: bool = True,
    name: str | None = None,
) -> Path:
    """Download ``url`` into ``dest_dir``, check its SHA-256 and (by default) extract it.

    Args:
        url: the archive's URL (http, https or file).
        sha256: the expected hex SHA-256 of the downloaded file, or None to skip the check
            (logged as a warning with the actual hash).
        dest_dir: folder to download into; created if missing, must be writable.
        extract: extract a tar/zip archive into ``dest_dir/<name>`` and return that folder;
            otherwise return the downloaded file ``dest_dir/<name>``.
        name: local name without dots; default derived from the URL.

    Returns:
        The extracted folder (``extract=True``) or the downloaded file.

    Raises:
        DownloadError: the download failed, its hash did not match (the file is deleted), the
            destination is not writable, or an archive could not be extracted.
    """
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if not _SHA256_RE.match(sha256):
            raise UserError(f"sha256 must be 64 hex digits or None. Received: sha256={sha256!r}")
    name = name or _default_name(url)
    if extract and "." in name:
        raise UserError(f"name must not contain a dot when extracting. Received: name={name!r}")
    dest = Path(dest_dir).expanduser().resolve()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create download folder {dest}: {err}") from err
    if not os.access(dest, os.W_OK):
        raise DownloadError(f"download folder {dest} is not writable")

    target = dest / name
    marker = _read_marker(target) if extract else None
    if marker and marker.get("url") == url and sha256 in (None, marker.get("sha256")):
        log.info("%s already downloaded and extracted in %s", url, target)
        return target

    if extract:
        # An older or different download may be extracted here: drop its marker first, so an
        # interrupted extraction of this one never looks complete.
        (target / MARKER).unlink(missing_ok=True)
    archive = dest / (f"{name}_archive" if extract else name)
    if sha256 is None:
        log.warning(
            "no sha256 pinned for %s: the download is not verified (its hash is logged after)",
            url,
        )
    import keras  # imported here: it loads a backend, which `python -m bench --help` need not

    try:
        with warnings.catch_warnings():
            # keras only warns when the file is no archive; the check below raises instead
            warnings.filterwarnings("ignore", message="Could not extract archive")
            result = keras.utils.get_file(
                fname=name,
                origin=url,
                file_hash=sha256,
                hash_algorithm="sha256",
                cache_dir=str(dest),
                cache_subdir=".",
                extract=extract,
            )
    except ValueError as err:
        if sha256 is not None and "hash does not match" in str(err) and archive.exists():
            actual = sha256_of(archive)
            archive.unlink()
            raise DownloadError(
                f"sha256 mismatch for {url}: expected {sha256}, got {actual}; the file was "
                "deleted. The download is corrupt or the source changed; retry, or if you trust "
                "the new file set the expected hash with the RESDEPTH_*_SHA256 variable"
            ) from None
        raise DownloadError(f"could not download {url}: {err}") from err
    except Exception as err:  # keras raises a bare Exception for HTTP and URL errors
        raise DownloadError(f"could not download {url} into {dest}: {err}") from err

    result = Path(result)
    actual = sha256 if sha256 is not None else sha256_of(archive)
    if sha256 is None:
        log.warning(
            "downloaded %s unverified; its sha256 is %s (pin it to check later downloads)",
            url,
            actual,
        )
    if not extract:
        return result
    if not result.is_dir() or not any(result.iterdir()):
        raise DownloadError(
            f"{url} is not a tar or zip archive that could be extracted ({archive})"
        )
    _write_marker(result, {"url": url, "sha256": actual, "archive": archive.name})
    return result


def single_root(folder: Path) -> Path:
    """The one folder inside ``folder`` when an archive wraps everything in a top-level folder
    (as GitHub archives do: ``free-spoken-digit-dataset-1.0.10/``), else ``folder`` itself."""
    entries = [p for p in folder.iterdir() if p.name != MARKER]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder


def fetch_source(source: Source, dest_dir: str | os.PathLike, *, name: str | None = None) -> Path:
    """``fetch`` a ``Source`` (after its environment overrides) and unwrap a single top folder."""
    url, sha256 = source.resolve()
    return single_root(fetch(url, sha256, dest_dir, name=name or source.name.replace("-", "_")))


def data_root(data_dir: str | os.PathLike | None, dataset: str) -> Path:
    """The existing folder ``data_dir`` of a real corpus, or a ``DataError`` that says how to
    get it (``python -m bench data download NAME``)."""
    from datasets.base import DataError

    how = (
        f"download it with `python -m bench data download {dataset} --dest DIR` and pass the "
        "folder it prints as --data-dir (or set $RESDEPTH_DATA_DIR)"
    )
    if data_dir is None or str(data_dir) == "":
        raise DataError(
            f"dataset {dataset!r} reads a real corpus but no data folder was given; {how}"
        )
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        origin, fix = _origin(dataset, data_dir)
        raise DataError(
            f"data folder {root} (from {origin}) for dataset {dataset!r} {what}; {fix or how}"
        )
    return root


def _origin(dataset: str, data_dir) -> tuple[str, str | None]:
    """Where a data folder came from (``datasets.data_dir``'s order), and how to fix a stale
    variable: a per-corpus variable wins over --data-dir, which surprises."""
    generic = "RESDEPTH_DATA_DIR"  # datasets.DATA_DIR_ENV
    specific = f"{generic}_{dataset.upper().replace('-', '_')}"
    if os.environ.get(specific) == str(data_dir):
        return (
            f"${specific}, which wins over --data-dir and ${generic}",
            f"set ${specific} to the corpus folder or unset it",
        )
    if os.environ.get(generic) == str(data_dir):
        return f"--data-dir or ${generic}", None
    return "--data-dir", None
