"""Free Spoken Digit Dataset (FSDD): recorded English digits 0-9, 8 kHz WAV, any set of speakers.

Layout: files named ``{digit}_{speaker}_{take}.wav`` (e.g. ``7_jackson_32.wav``) anywhere under the
data folder, so the folder itself, its ``recordings/`` subfolder or an extracted release archive
all work. Audio files with other names are skipped and counted; other files (README, scripts) are
not audio and are ignored. Clips are resampled to 16 kHz and centre-cropped or zero-padded to one
second (the longest FSDD takes, about 2.3 s, lose their edges; most are under 1 s).

Splits (``Config.split``):

- ``"official"``: the dataset's own rule, takes 0-4 of every digit and speaker are the test set,
  the rest train. Validation is a fixed ~``val_fraction`` of the training files chosen by a hash
  of each file's name (and ``seed``), so it does not depend on file order or location.
- ``"speaker"``: held-out speakers. ``test_speakers`` lists them; empty means the alphabetically
  first speaker found (``george`` in both the five-speaker copy and the published six-speaker
  release), a choice that does not change when speakers are added later in the alphabet.
  Validation is the hash-chosen ~``val_fraction`` of the other speakers' files, so it measures
  training progress; the test set alone measures generalization to a new voice.

Decoding is not cached: the 2,500 files of the five-speaker copy decode and resample in about a
second with a thread pool, and a cache would only add staleness risk. ``cache_dir`` is accepted
for the common loader signature.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from datasets import download as _download
from datasets.audio import AUDIO_SUFFIXES, load_clips, stack
from datasets.base import AudioSplit, DataError, KwsData, SkipLog
from results.errors import UserError

KIND = "kws"
NAME = "fsdd"
LABELS = tuple(str(d) for d in range(10))
SPLITS = ("official", "speaker")
TEST_TAKES = range(0, 5)  # the official rule: takes 0-4 are the test set
# Expected length of one recording (the five-speaker copy: 0.14-2.28 s); a file outside it (a
# ten-minute recording among the digits) is skipped and counted, never cropped to a "digit".
CLIP_SECONDS_RANGE = (0.05, 5.0)

_NAME_RE = re.compile(r"^([0-9])_([^_]+)_([0-9]+)$")
BAD_NAME = "bad name: expected {digit}_{speaker}_{take}.wav"


@dataclasses.dataclass(frozen=True)
class Config:
    """Options of the FSDD loader.

    Attributes:
        split: ``"official"`` (takes 0-4 are test) or ``"speaker"`` (held-out speakers are test).
        test_speakers: speaker split only: the held-out test speakers; empty = the alphabetically
            first speaker found. A single name is accepted as a one-speaker tuple.
        val_fraction: share of the training candidates put in validation, chosen by a hash of
            each file name; in (0, 0.5].
        seed: salts that hash, giving another fixed validation subset.
    """

    split: str = "official"
    test_speakers: tuple[str, ...] = ()
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise UserError(
                f"split must be one of {', '.join(repr(s) for s in SPLITS)}. "
                f"Received: split={self.split!r}"
            )
        speakers = self.test_speakers
        if isinstance(speakers, str):
            speakers = (speakers,)
        if not isinstance(speakers, (list, tuple)) or not all(
            isinstance(s, str) and s and "_" not in s for s in speakers
        ):
            raise UserError(
                "test_speakers must be a list of speaker names (non-empty, no '_'). "
                f"Received: test_speakers={self.test_speakers!r}"
            )
        if len(set(speakers)) != len(speakers):
            raise UserError(f"test_speakers has duplicates. Received: test_speakers={speakers!r}")
        object.__setattr__(self, "test_speakers", tuple(speakers))
        if speakers and self.split != "speaker":
            raise UserError(
                "test_speakers applies only to split='speaker'. "
                f"Received: test_speakers={self.test_speakers!r} with split={self.split!r}"
            )
        if (
            isinstance(self.val_fraction, bool)
            or not isinstance(self.val_fraction, (int, float))
            or not 0 < self.val_fraction <= 0.5
        ):
            raise UserError(
                f"val_fraction must be a number in (0, 0.5]. Received: val_fraction="
                f"{self.val_fraction!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UserError(f"seed must be an integer. Received: seed={self.seed!r}")


class Recording(NamedTuple):
    """One FSDD file and what its name says."""

    path: Path
    digit: int
    speaker: str
    take: int

    @property
    def name(self) -> str:
        return f"{self.digit}_{self.speaker}_{self.take}"


def scan(root: Path, skipped: SkipLog) -> list[Recording]:
    """All FSDD recordings under ``root`` in name order; misnamed audio files and second copies of
    a recording (same name in another folder) go to ``skipped``."""
    audio_files = sorted(
        skipped.files(root.rglob("*"), AUDIO_SUFFIXES), key=lambda p: (p.name, str(p))
    )
    found: dict[str, Recording] = {}
    for path in audio_files:
        match = _NAME_RE.match(path.stem)
        if not match:
            skipped.skip(path, BAD_NAME)
            continue
        rec = Recording(path, int(match[1]), match[2], int(match[3]))
        if rec.name in found:
            skipped.skip(path, f"duplicate: same recording as {found[rec.name].path}")
            continue
        found[rec.name] = rec
    return sorted(found.values(), key=lambda r: (r.speaker, r.digit, r.take))


def _unit_hash(text: str) -> float:
    """A stable number in [0, 1) from ``text`` (not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def _pick_val(candidates: list[Recording], config: Config) -> set[str]:
    """Names of the ~``val_fraction`` of ``candidates`` chosen by hash; at least one when there
    are two or more candidates, so a tiny corpus still gets a validation split."""
    scores = {r.name: _unit_hash(f"{config.seed}:{r.name}") for r in candidates}
    chosen = {name for name, score in scores.items() if score < config.val_fraction}
    if not chosen and len(scores) >= 2:
        chosen = {min(scores, key=scores.get)}
    return chosen


def _split(recs: list[Recording], clips: list[np.ndarray]) -> AudioSplit:
    return AudioSplit(
        audio=stack(clips),
        labels=np.array([r.digit for r in recs], np.int32),
        speakers=np.array([r.speaker for r in recs], dtype=str),
    )


def load(config: Config, data_dir: str | os.PathLike | None, cache_dir=None) -> KwsData:
    """Load FSDD from ``data_dir`` into train/val/test splits per ``config``.

    Raises:
        DataError: no folder, nothing usable in it, or test speakers that are not there.
    """
    del cache_dir  # decoding is fast enough uncached (see the module docstring)
    root = _download.data_root(data_dir, NAME)
    skipped = SkipLog()
    recs = scan(root, skipped)
    decoded = load_clips([r.path for r in recs], skipped, seconds=CLIP_SECONDS_RANGE)
    usable = [(r, c) for r, c in zip(recs, decoded, strict=True) if c is not None]
    if not usable:
        raise DataError(
            f"no usable FSDD recordings under {root}: {len(recs)} named files decoded, "
            f"{skipped.count} files skipped ({skipped.by_reason() or 'none'}); expected WAV files "
            "named {digit}_{speaker}_{take}.wav (get them with "
            "`python -m bench data download fsdd`)"
        )
    speakers = sorted({r.speaker for r, _ in usable})

    if config.split == "official":
        test_speakers: tuple[str, ...] = ()
        is_test = {r.name for r, _ in usable if r.take in TEST_TAKES}
    else:
        test_speakers = held_out_speakers(config.test_speakers, speakers, root)
        is_test = {r.name for r, _ in usable if r.speaker in test_speakers}
    is_val = _pick_val([r for r, _ in usable if r.name not in is_test], config)

    parts: dict[str, tuple[list[Recording], list[np.ndarray]]] = {
        "train": ([], []),
        "val": ([], []),
        "test": ([], []),
    }
    for rec, clip in usable:
        key = "test" if rec.name in is_test else "val" if rec.name in is_val else "train"
        parts[key][0].append(rec)
        parts[key][1].append(clip)
    return KwsData(
        name=NAME,
        labels=LABELS,
        train=_split(*parts["train"]),
        val=_split(*parts["val"]),
        test=_split(*parts["test"]),
        skipped=skipped,
        info={
            "split": config.split,
            "speakers": speakers,
            "test_speakers": list(test_speakers),
            "data_dir": str(root),
        },
    )


def download(dest: Path) -> Path:
    """Download and extract the FSDD v1.0.10 release archive under ``dest``; returns the folder
    to pass as ``--data-dir``. URL and hash: ``datasets.download.FSDD`` (overridable with
    ``$RESDEPTH_FSDD_URL`` / ``$RESDEPTH_FSDD_SHA256``)."""
    return _download.fetch_source(_download.FSDD, dest, name="fsdd")


def held_out_speakers(
    requested: tuple[str, ...], speakers: list[str], root: os.PathLike
) -> tuple[str, ...]:
    """The test speakers of a held-out-speaker split: ``requested``, or the alphabetically first
    speaker; a clear error when one is missing or none would be left for training."""
    test_speakers = tuple(requested) or (speakers[0],)
    missing = [s for s in test_speakers if s not in speakers]
    if missing:
        raise DataError(
            f"test speaker(s) {', '.join(missing)} not found under {root}; "
            f"speakers there: {', '.join(speakers)}"
        )
    if set(test_speakers) >= set(speakers):
        raise DataError(
            f"split='speaker' needs a speaker left for training, but all of {speakers} "
            f"under {root} are test speakers"
        )
    return test_speakers
