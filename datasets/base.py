"""Data containers shared by every corpus: what a loader returns and what it skipped.

Every keyword-spotting corpus (synthetic, FSDD, Speech Commands, ...) is loaded into the same
shape: fixed-length 16 kHz float32 clips with integer labels and speaker ids, split into
train/val/test. Files that could not be used are never dropped silently: they go into a
``SkipLog`` that the cell result carries into the report.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections import Counter

import numpy as np

from results.errors import UserError

SAMPLE_RATE = 16_000
CLIP_SECONDS = 1.0
CLIP_SAMPLES = int(SAMPLE_RATE * CLIP_SECONDS)


class DataError(UserError):
    """A dataset that cannot be used at all (missing folder, nothing decodable, bad layout)."""


def display_name(path: object) -> str:
    """A path as printable text: bytes that are not UTF-8 shown escaped (``\\xff``)."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def is_utf8_name(path: object) -> bool:
    """Whether a path's bytes are valid UTF-8 (zip archives from other systems may not be)."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclasses.dataclass
class SkipLog:
    """Files a loader skipped, with the reason for each; counted in every cell result."""

    entries: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def skip(self, path: object, reason: str) -> None:
        """Record a skipped file and warn with its name, so nothing is dropped silently."""
        name = display_name(path)
        self.entries.append((name, reason))
        warnings.warn(f"skipped {name}: {reason}", stacklevel=2)

    def files(self, paths, suffixes) -> list:
        """The regular files among ``paths`` with one of ``suffixes`` (lower case), in order.

        A link whose target is missing is skipped and named ("broken link"), not dropped
        without a word; folders and other suffixes are not audio files and are passed over.
        """
        out = []
        for path in paths:
            if path.suffix.lower() not in suffixes:
                continue
            if path.is_symlink() and not path.exists():
                self.skip(path, f"broken link: its target {os.readlink(path)} does not exist")
            elif path.is_file():
                out.append(path)
        return out

    @property
    def count(self) -> int:
        return len(self.entries)

    def by_reason(self) -> dict[str, int]:
        return dict(Counter(reason.split(":")[0] for _, reason in self.entries))

    def summary(self) -> dict:
        """JSON-ready summary: total, counts per reason, and the first files named."""
        return {
            "count": self.count,
            "by_reason": self.by_reason(),
            "files": [{"file": f, "reason": r} for f, r in self.entries[:50]],
        }


@dataclasses.dataclass(frozen=True)
class AudioSplit:
    """One split of a classification corpus: ``audio[i]`` is a clip, ``labels[i]`` its class.

    Attributes:
        audio: float32 array ``[n, CLIP_SAMPLES]`` at 16 kHz, roughly in [-1, 1].
        labels: int32 array ``[n]`` indexing ``KwsData.labels``.
        speakers: array ``[n]`` of speaker or voice ids (str), for speaker-aware splits.
    """

    audio: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.audio)
        if len(self.labels) != n or len(self.speakers) != n:
            raise UserError(
                f"AudioSplit arrays differ in length: audio={n}, labels={len(self.labels)}, "
                f"speakers={len(self.speakers)}"
            )

    def __len__(self) -> int:
        return len(self.audio)


@dataclasses.dataclass(frozen=True)
class KwsData:
    """A loaded keyword-spotting corpus: class names, three splits, and what was skipped."""

    name: str
    labels: tuple[str, ...]
    train: AudioSplit
    val: AudioSplit
    test: AudioSplit
    skipped: SkipLog = dataclasses.field(default_factory=SkipLog)
    info: dict = dataclasses.field(default_factory=dict)
    # Splits not prepared, left empty: ``bench eval`` reads only the split it scores
    # (``datasets.prepare.prepare(splits=...)``); nothing trains on such a corpus.
    absent: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            if len(getattr(self, split)) == 0 and split not in self.absent:
                raise DataError(f"dataset {self.name!r} has an empty {split} split")

    def summary(self) -> dict:
        """Sizes, labels and skip counts for the cell result."""
        return {
            "name": self.name,
            "labels": list(self.labels),
            "sizes": {s: len(getattr(self, s)) for s in ("train", "val", "test")},
            "skipped": self.skipped.summary(),
            **self.info,
        }


def check_counts(config: object, names: tuple[str, ...]) -> None:
    """Each named field of a dataset ``Config`` must be an integer >= 0 (``True`` is not one)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"Config.{name} must be an integer >= 0, got {value!r}")


def fix_length(audio: np.ndarray, n: int = CLIP_SAMPLES) -> np.ndarray:
    """Centre-crop or zero-pad a 1-D clip to exactly ``n`` samples."""
    if len(audio) >= n:
        start = (len(audio) - n) // 2
        return audio[start : start + n]
    pad = n - len(audio)
    return np.pad(audio, (pad // 2, pad - pad // 2))


def pad_rows(rows, dtype=np.float32, empty_width: int = 0, width: int = 0) -> np.ndarray:
    """Rows (clips, label ids) zero-padded at the end into one ``[n, longest]`` array, at least
    ``width`` wide; with no rows, ``[0, max(empty_width, width)]``."""
    longest = max((len(r) for r in rows), default=empty_width)
    out = np.zeros((len(rows), max(longest, width)), dtype)
    for k, row in enumerate(rows):
        out[k, : len(row)] = row
    return out


def read_clips(audio, indices) -> list[np.ndarray]:
    """The clips at ``indices``: one read per shard from a prepared split, else from memory."""
    if hasattr(audio, "read"):
        return audio.read(indices)
    return [audio[int(i)] for i in indices]


def clip_lengths(audio) -> np.ndarray:
    """Sample counts of a split's clips, without reading shards (``Clips.lengths``)."""
    if hasattr(audio, "lengths"):
        return audio.lengths
    return np.array([len(a) for a in audio], dtype=np.int64)


# ---- speech recognition -----------------------------------------------------------------------

# Output characters of every CTC model: index i is ALPHABET[i]; the CTC blank is len(ALPHABET).
ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"


def normalize_transcript(text: str) -> str:
    """Lower-case, collapse whitespace; the caller checks ``out_of_alphabet`` afterwards."""
    return " ".join(text.lower().split())


def out_of_alphabet(text: str) -> set[str]:
    """Characters of ``text`` that no CTC model can emit."""
    return set(text) - set(ALPHABET)


def encode(text: str) -> np.ndarray:
    """Transcript -> int32 label ids (``ALPHABET`` indices)."""
    bad = out_of_alphabet(text)
    if bad:
        raise ValueError(f"characters outside the alphabet: {sorted(bad)} in {text!r}")
    return np.array([ALPHABET.index(c) for c in text], dtype=np.int32)


@dataclasses.dataclass(frozen=True)
class AsrSplit:
    """One split of a speech-recognition corpus: variable-length utterances and transcripts.

    Attributes:
        audio: ``n`` float32 1-D arrays at 16 kHz (lengths differ).
        transcripts: ``n`` normalized transcripts over ``ALPHABET``.
        speakers: ``n`` speaker or voice ids (str).
        ids: ``n`` utterance ids (file or generated name), for the worst-utterance table.
    """

    audio: tuple[np.ndarray, ...]
    transcripts: tuple[str, ...]
    speakers: tuple[str, ...]
    ids: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.audio)
        for name in ("transcripts", "speakers", "ids"):
            if len(getattr(self, name)) != n:
                got = len(getattr(self, name))
                raise ValueError(f"AsrSplit arrays differ in length: audio={n}, {name}={got}")
        for text, uid in zip(self.transcripts, self.ids, strict=True):
            if not text or out_of_alphabet(text):
                raise ValueError(f"utterance {uid}: transcript {text!r} is empty or not normalized")

    def __len__(self) -> int:
        return len(self.audio)


@dataclasses.dataclass(frozen=True)
class AsrData:
    """A loaded speech-recognition corpus: three splits of (audio, transcript), skipped files."""

    name: str
    train: AsrSplit
    val: AsrSplit
    test: AsrSplit
    skipped: SkipLog = dataclasses.field(default_factory=SkipLog)
    info: dict = dataclasses.field(default_factory=dict)
    # Splits not prepared, left empty: ``bench eval`` reads only the split it scores
    # (``datasets.prepare.prepare(splits=...)``); nothing trains on such a corpus.
    absent: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            if len(getattr(self, split)) == 0 and split not in self.absent:
                raise DataError(f"dataset {self.name!r} has an empty {split} split")

    def summary(self) -> dict:
        """Sizes, hours of audio and skip counts for the cell result."""
        return {
            "name": self.name,
            "alphabet": ALPHABET,
            "sizes": {s: len(getattr(self, s)) for s in ("train", "val", "test")},
            "hours": {
                s: round(float(clip_lengths(getattr(self, s).audio).sum()) / SAMPLE_RATE / 3600, 4)
                for s in ("train", "val", "test")
            },
            "skipped": self.skipped.summary(),
            **self.info,
        }
