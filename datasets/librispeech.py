"""LibriSpeech (read English audiobooks, 16 kHz FLAC): the real speech-recognition corpus.

Layout, as released on openslr.org: ``SUBSET/SPEAKER/CHAPTER/SPEAKER-CHAPTER-NNNN.flac`` and one
``SPEAKER-CHAPTER.trans.txt`` per chapter, each line ``SPEAKER-CHAPTER-NNNN TRANSCRIPT``. Each of
train/val/test is a list of subset names (any: ``train-clean-100``, ``dev-other``, or a
home-made subset in the same layout). A subset folder is looked for in the data folder, in its
``LibriSpeech/`` folder (as an archive extracts), and in ``*/LibriSpeech/`` (as ``download``
leaves one archive per folder).

Nothing unusable is dropped silently. Skipped and counted in ``AsrData.skipped``, each naming the
file: a FLAC without a transcript line (``no transcript``), an empty transcript, one with
characters outside the CTC alphabet after ``normalize_transcript`` (``out of alphabet``), a
transcript line whose FLAC is missing (``missing audio``), a misnamed FLAC (``bad name``), a
duplicated transcript line, and any file that does not decode (``datasets.audio`` reasons).
Training utterances longer than ``max_seconds`` are not bad data: they are left out and counted
in ``info["too_long"]``; dev and test are never capped.

``plan`` finds the records without decoding; the suite prepares them once into shards
(``datasets.prepare``) and streams them, so no split is ever held in memory (``load`` decodes
into memory for small subsets and tests: ``train-clean-100`` would take about 23 GB).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import NamedTuple

import soundfile as sf

from datasets import download as _download
from datasets import prepare
from datasets.base import (
    AsrData,
    DataError,
    SkipLog,
    normalize_transcript,
    out_of_alphabet,
)
from datasets.prepare import Entry, Plan
from results.errors import UserError

KIND = "asr"
NAME = "librispeech"
SPLITS = ("train", "val", "test")
# Expected length of one utterance (the corpus's segments are at most ~35 s); files outside it
# are skipped and counted (``max_seconds`` leaves out long but valid ones, counted apart).
CLIP_SECONDS_RANGE = (0.1, 60.0)
SUBSETS = (
    "dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360",
    "train-other-500",
)  # fmt: skip

_UTT_RE = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_TRANS_SUFFIX = ".trans.txt"
URL = "https://www.openslr.org/resources/12/{subset}.tar.gz"
# SHA-256 of the openslr archives. openslr.org publishes MD5 sums only; these SHA-256 values are
# the ones torchaudio's LIBRISPEECH dataset and Apple's mlx-data pin for the same files (the two
# agree). Override per subset with $RESDEPTH_LIBRISPEECH_<SUBSET>_URL / _SHA256, e.g.
# RESDEPTH_LIBRISPEECH_DEV_CLEAN_SHA256; a subset without a pinned hash downloads unverified and
# logs its hash.
SHA256 = {
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
}


@dataclasses.dataclass(frozen=True)
class Config:
    """Options of the LibriSpeech loader.

    Attributes:
        train, val, test: subset names (folders in the LibriSpeech layout) pooled into each
            split; a single name is accepted. A subset may serve only one split.
        max_seconds: leave out training utterances longer than this (counted in
            ``info["too_long"]``; dev and test are never capped); ``None`` keeps all.
            LibriSpeech utterances run up to ~35 s.
    """

    train: tuple[str, ...] = ("train-clean-100",)
    val: tuple[str, ...] = ("dev-clean",)
    test: tuple[str, ...] = ("test-clean",)
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for split in SPLITS:
            names = getattr(self, split)
            if isinstance(names, str):
                names = (names,)
            if (
                not isinstance(names, (list, tuple))
                or not names
                or not all(isinstance(n, str) and _is_folder_name(n) for n in names)
            ):
                raise UserError(
                    f"{split} must be a non-empty list of subset folder names (e.g. "
                    f"'train-clean-100'). Received: {split}={getattr(self, split)!r}"
                )
            for name in names:
                if name in seen:
                    raise UserError(
                        f"subset {name!r} is in both {seen[name]} and {split}; a subset may serve "
                        f"one split. Received: {split}={getattr(self, split)!r}"
                    )
                seen[name] = split
            object.__setattr__(self, split, tuple(names))
        value = self.max_seconds
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise UserError(
                f"max_seconds must be a positive number or None. Received: max_seconds={value!r}"
            )


def _is_folder_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


class Utterance(NamedTuple):
    """One usable (audio, transcript) pair found on disk."""

    path: Path
    uid: str
    speaker: str
    text: str


def find_subset(root: Path, subset: str) -> Path:
    """The folder of ``subset`` under ``root`` (see the module docstring for where it looks)."""
    candidates = [root / subset, root / "LibriSpeech" / subset]
    candidates += sorted(root.glob(f"*/LibriSpeech/{subset}"))
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise DataError(
        f"LibriSpeech subset {subset!r} not found under {root} (looked in {subset}/, "
        f"LibriSpeech/{subset}/ and */LibriSpeech/{subset}/); get it with "
        "`python -m bench data download librispeech --dest DIR`"
    )


def _read_transcripts(path: Path, skipped: SkipLog) -> dict[str, str]:
    """``{utterance id: raw text}`` of one ``*.trans.txt``; malformed lines are skipped."""
    found: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        skipped.skip(path, f"unreadable: {err}")
        return found
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        uid, _, text = line.strip().partition(" ")
        if not _UTT_RE.match(uid):
            skipped.skip(path, f"bad line: line {number} does not start with an utterance id")
        elif uid in found:
            skipped.skip(path, f"duplicate: line {number} repeats utterance {uid}")
        else:
            found[uid] = text
    return found


def scan_subset(folder: Path, skipped: SkipLog) -> list[Utterance]:
    """Every usable utterance of one subset folder, in id order; problems go to ``skipped``."""
    transcripts: dict[str, tuple[str, Path]] = {}
    for trans in sorted(folder.rglob(f"*{_TRANS_SUFFIX}")):
        for uid, text in _read_transcripts(trans, skipped).items():
            if uid in transcripts:
                skipped.skip(trans, f"duplicate: {uid} is also in {transcripts[uid][1]}")
            else:
                transcripts[uid] = (text, trans)
    flacs: dict[str, Path] = {}
    for path in skipped.files(sorted(folder.rglob("*.flac")), (".flac",)):
        if not _UTT_RE.match(path.stem):
            skipped.skip(path, "bad name: expected SPEAKER-CHAPTER-NNNN.flac")
        elif path.stem in flacs:
            skipped.skip(path, f"duplicate: same utterance as {flacs[path.stem]}")
        else:
            flacs[path.stem] = path
    usable: list[Utterance] = []
    for uid, path in flacs.items():
        if uid not in transcripts:
            where = path.parent / f"{uid.rsplit('-', 1)[0]}{_TRANS_SUFFIX}"
            skipped.skip(path, f"no transcript: no line for {uid} in {where}")
            continue
        raw, trans = transcripts[uid]
        text = normalize_transcript(raw)
        if not text:
            skipped.skip(path, f"empty transcript: the line for {uid} in {trans} has no text")
            continue
        bad = out_of_alphabet(text)
        if bad:
            skipped.skip(path, f"out of alphabet: {sorted(bad)} in the transcript in {trans}")
            continue
        usable.append(Utterance(path, uid, uid.split("-")[0], text))
    for uid in sorted(set(transcripts) - set(flacs)):
        trans = transcripts[uid][1]
        skipped.skip(trans.parent / f"{uid}.flac", f"missing audio: listed in {trans}")
    return sorted(usable, key=lambda u: u.uid)


def _seconds(path: Path) -> float | None:
    """Duration from the FLAC header, or None when the header cannot be read (then decoding
    reports the problem)."""
    try:
        info = sf.info(str(path))
    except Exception:  # decoding names the file and the reason
        return None
    return info.frames / info.samplerate if info.samplerate else None


def _plan_split(
    root: Path, subsets: tuple[str, ...], cap: float | None, skipped: SkipLog
) -> tuple[list[Entry], int]:
    """Pool ``subsets`` into one split's records; returns them and how many were too long by
    their headers (``prepare`` also leaves out those whose header could not tell)."""
    utts = [u for subset in subsets for u in scan_subset(find_subset(root, subset), skipped)]
    too_long = 0
    if cap is not None:
        kept = []
        for u in utts:
            seconds = _seconds(u.path)
            if seconds is not None and seconds > cap:
                too_long += 1
            else:
                kept.append(u)
        utts = kept
    return [Entry(str(u.path), u.text, u.speaker, u.uid) for u in utts], too_long


def plan(
    config: Config, data_dir: str | os.PathLike | None, splits: tuple[str, ...] = SPLITS
) -> Plan:
    """The records of ``config``'s subsets under ``data_dir``, found without decoding; of the
    ``splits`` named only (the other splits' subsets need not be there).

    ``max_seconds`` caps the training split only: dev and test are scored whole, so figures
    compare with published ones.

    Raises:
        DataError: no folder, a subset not found, or a split with no usable utterance (the
            message names the folders and what was skipped).
    """
    root = _download.data_root(data_dir, NAME)
    wanted = splits
    skipped = SkipLog()
    splits: dict[str, list[Entry]] = {}
    too_long: dict[str, int] = {}
    caps = {split: config.max_seconds if split == "train" else None for split in SPLITS}
    for split in (s for s in SPLITS if s in wanted):
        subsets = getattr(config, split)
        splits[split], too_long[split] = _plan_split(root, subsets, caps[split], skipped)
        if not splits[split]:
            folders = ", ".join(str(find_subset(root, s)) for s in subsets)
            raise DataError(
                f"no usable LibriSpeech utterances for {split} in {folders}: "
                f"{skipped.count} files skipped so far ({skipped.by_reason() or 'none'}), "
                f"{too_long[split]} longer than max_seconds={config.max_seconds}"
            )
    return Plan(
        KIND,
        splits,
        skipped=skipped,
        info={
            "subsets": {split: list(getattr(config, split)) for split in splits},
            "max_seconds": config.max_seconds,
            "max_seconds_applies_to": ["train"],
            "speakers": {split: len({e.speaker for e in part}) for split, part in splits.items()},
            "data_dir": str(root),
        },
        seconds=CLIP_SECONDS_RANGE,
        max_seconds=caps,
        too_long=too_long,
    )


def load(config: Config, data_dir: str | os.PathLike | None, cache_dir=None) -> AsrData:
    """LibriSpeech decoded into memory in this process (``plan`` then decode): for small
    subsets and tests. The suite reads it prepared (``datasets.load``: shards on demand)."""
    del cache_dir
    return prepare.materialize(plan(config, data_dir), NAME)


def source(subset: str) -> _download.Source:
    """Where ``subset`` is downloaded from (``$RESDEPTH_LIBRISPEECH_<SUBSET>_URL`` overrides)."""
    env = "RESDEPTH_LIBRISPEECH_" + re.sub(r"[^A-Za-z0-9]+", "_", subset).upper()
    return _download.Source(
        name=f"librispeech-{subset}",
        url=URL.format(subset=subset),
        sha256=SHA256.get(subset),
        env=env,
    )


def download(dest: Path, subsets: tuple[str, ...] | None = None) -> Path:
    """Download and extract LibriSpeech subsets (default: those of ``Config()``) under ``dest``.

    Each archive is extracted in a folder of its own,
    ``dest/librispeech/<subset with _ for ->/LibriSpeech/<subset>`` (where ``load`` looks), and
    ``dest/librispeech``, the folder to pass as ``--data-dir``, is returned. The default subsets are
    about 7 GB. Hashes: ``SHA256`` (see its comment).
    """
    config = Config()
    subsets = subsets or (*config.train, *config.val, *config.test)
    root = Path(dest).expanduser().resolve() / NAME
    for subset in subsets:
        src = source(subset)
        url, sha256 = src.resolve()
        _download.fetch(url, sha256, root, name=re.sub(r"[^A-Za-z0-9_]+", "_", subset))
    return root
