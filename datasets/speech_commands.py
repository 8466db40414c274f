"""Google Speech Commands v2: one-second 16 kHz recordings of 35 words by thousands of speakers.

Layout (as released, and as ``python -m bench data download speech-commands`` extracts it)::

    ROOT/
      yes/0a7c2a8d_nohash_0.wav ...     one folder per word; files {speaker}_nohash_{n}.wav
      ...
      validation_list.txt               "word/file.wav" lines: the validation split
      testing_list.txt                  "word/file.wav" lines: the test split
      _background_noise_/*.wav          minute-long noise recordings

Every file not in either list is training data; the lists keep each speaker in one split.

Label sets (``Config.labels``):

- ``"12"``: the ten keywords ``yes no up down left right on off stop go`` plus ``_unknown_``
  (recordings of the other 25 words) and ``_silence_`` (one-second cuts of background noise),
  the common benchmark task. As in the TensorFlow reference recipe, each split holds
  ``ceil(unknown_fraction * keywords)`` unknown clips, drawn with ``seed`` from that split's other
  words, and ``ceil(silence_fraction * keywords)`` silence clips. Silence cuts come from disjoint
  parts of every noise file (first 80 % train, next 10 % validation, last 10 % test), scaled by a
  random gain in [0, 1], so no noise sample is shared between splits.
- ``"35"``: all 35 words as classes; no unknown or silence class (the fractions are unused).

Partial trees (a home-made keyword set in this layout, a partial download) load: ``words``
names the class words (for ``"12"`` the keywords; every other folder is unknown), and without
it the label set's words that have a folder are the classes, with a warning naming the missing
ones; ``info`` records both (``words``, ``missing_words``).

Speaker ids are the hash prefix of each file name. Files whose names do not follow the layout,
files that do not decode and files listed in a split list but missing are skipped and counted.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from pathlib import Path

import numpy as np

from datasets import download as _download
from datasets import prepare
from datasets.audio import AUDIO_SUFFIXES, AudioError, read_audio
from datasets.base import CLIP_SAMPLES, SAMPLE_RATE, DataError, KwsData, SkipLog
from datasets.prepare import Entry, Plan
from results.errors import UserError

KIND = "kws"
NAME = "speech-commands"

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
WORDS_35 = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one",
    "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow",
    "yes", "zero",
)  # fmt: skip
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
NOISE_DIR = "_background_noise_"
VAL_LIST = "validation_list.txt"
TEST_LIST = "testing_list.txt"
LABEL_SETS = ("12", "35")
SPLITS = ("train", "val", "test")
# Expected length of one word recording (the corpus's are 1 s or a little shorter); a file
# outside it is skipped and counted. Background noise files are read apart (minutes long).
CLIP_SECONDS_RANGE = (0.05, 2.0)
# Share of every background-noise file that each split cuts its silence from: [start, end).
NOISE_REGIONS = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}
SEPARATOR = "_nohash_"
BAD_NAME = "bad name: expected {speaker}_nohash_{n}.wav"


@dataclasses.dataclass(frozen=True)
class Config:
    """Options of the Speech Commands loader.

    Attributes:
        labels: ``"12"`` (ten keywords + unknown + silence) or ``"35"`` (all words); an integer
            12 or 35 (as ``--set labels=12`` gives) is accepted.
        unknown_fraction: ``"12"`` only: unknown clips per split, as a share of its keyword
            clips; in [0, 1].
        silence_fraction: ``"12"`` only: silence clips per split, as a share of its keyword
            clips; in [0, 1]. 0 needs no ``_background_noise_`` folder.
        words: the word folders that are classes (for ``"12"``: the keywords; every other
            folder is an unknown word); empty: the label set's words that have a folder.
        seed: draws the unknown subset and the silence cuts.
    """

    labels: str = "12"
    words: tuple[str, ...] = ()
    unknown_fraction: float = 0.1
    silence_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        labels = self.labels
        if isinstance(labels, int) and not isinstance(labels, bool):
            labels = str(labels)
        if labels not in LABEL_SETS:
            raise UserError(
                f"labels must be one of {', '.join(repr(s) for s in LABEL_SETS)}. "
                f"Received: labels={self.labels!r}"
            )
        object.__setattr__(self, "labels", labels)
        words = (self.words,) if isinstance(self.words, str) else self.words
        if (
            not isinstance(words, (list, tuple))
            or not all(isinstance(w, str) and w and not w.startswith((".", "_")) for w in words)
            or "/" in "".join(words)
            or len(set(words)) != len(words)
        ):
            raise UserError(
                "words must be a list of distinct word folder names (not starting with '.' "
                f"or '_'). Received: words={self.words!r}"
            )
        object.__setattr__(self, "words", tuple(words))
        for field in ("unknown_fraction", "silence_fraction"):
            value = getattr(self, field)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= 1
            ):
                raise UserError(f"{field} must be a number in [0, 1]. Received: {field}={value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UserError(f"seed must be an integer. Received: seed={self.seed!r}")


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One word recording: ``rel`` is its path relative to the root, as the split lists write it."""

    rel: str
    word: str
    speaker: str


def _layout_hint(root: Path) -> str:
    return (
        f"is {root} the Speech Commands v2 folder? It should hold one folder per word, "
        f"{VAL_LIST}, {TEST_LIST} and {NOISE_DIR}/ (get it with "
        "`python -m bench data download speech-commands`)"
    )


def _read_list(path: Path, root: Path) -> set[str]:
    if not path.is_file():
        raise DataError(f"missing split list {path}; {_layout_hint(root)}")
    return {
        line.strip().replace("\\", "/")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }


def _scan_word(root: Path, word: str, skipped: SkipLog) -> list[Utterance]:
    """The recordings of one word folder, in name order; misnamed audio files are skipped."""
    out = []
    for path in skipped.files(sorted((root / word).iterdir()), AUDIO_SUFFIXES):
        speaker, sep, rest = path.stem.partition(SEPARATOR)
        if not (sep and speaker and rest.isdigit()):
            skipped.skip(path, BAD_NAME)
            continue
        out.append(Utterance(f"{word}/{path.name}", word, speaker))
    return out


def _silence(
    noises: list[tuple[str, Path, int]], split: str, n: int, rng: np.random.Generator
) -> list[Entry]:
    """``n`` one-second cuts of background noise for ``split`` (from its region of each file),
    each scaled by a gain drawn in [0, 1]: planned records over ``(name, path, samples)``."""
    lo, hi = NOISE_REGIONS[split]
    spans = []
    for name, path, length in noises:
        start, stop = int(lo * length), int(hi * length)
        if stop - start >= CLIP_SAMPLES:
            spans.append((name, path, start, stop))
    if n and not spans:
        raise DataError(
            f"no background-noise file is long enough to cut {split} silence from "
            f"(each needs {CLIP_SAMPLES / (hi - lo) / SAMPLE_RATE:.0f} s); set silence_fraction=0 "
            "to load without a _silence_ class"
        )
    cuts = []
    for number in range(n):
        name, path, start, stop = spans[int(rng.integers(len(spans)))]
        offset = int(rng.integers(start, stop - CLIP_SAMPLES + 1))
        gain = float(np.float32(rng.uniform(0.0, 1.0)))
        source = f"{NOISE_DIR}/{name}"
        cuts.append(Entry(str(path), -1, source, f"{source}#{number}", cut=(offset, gain)))
    return cuts


def _words(config: Config, folders: list[str], root: Path) -> tuple[tuple[str, ...], list[str]]:
    """The words that are classes (the keywords, for 12 labels) and the label set's words
    missing from the tree. ``config.words`` names them (each folder must exist); otherwise
    every word of the label set that has a folder, so a partial tree (a home-made keyword set
    in this layout, a partial download) loads with a warning naming what is missing."""
    standard = KEYWORDS if config.labels == "12" else WORDS_35
    if config.words:
        absent = [w for w in config.words if w not in folders]
        if absent:
            raise DataError(
                f"missing word folder(s) {', '.join(absent)} named in words="
                f"{list(config.words)!r}; {_layout_hint(root)}"
            )
        return config.words, [w for w in standard if w not in config.words]
    present = tuple(w for w in standard if w in folders)
    missing = [w for w in standard if w not in folders]
    if not present:
        raise DataError(
            f"none of the {len(standard)} word folders of labels={config.labels!r} is under "
            f"{root} (name yours with the words option); {_layout_hint(root)}"
        )
    if missing:
        warnings.warn(
            f"{root}: {len(missing)} of the {len(standard)} words of labels={config.labels!r} "
            f"have no folder ({', '.join(missing)}); their {len(present)} present words are the "
            "classes",
            stacklevel=3,
        )
    return present, missing


def plan(
    config: Config, data_dir: str | os.PathLike | None, splits: tuple[str, ...] = SPLITS
) -> Plan:
    """Which recording becomes which record of which split (of ``splits`` only), per
    ``config``, decoding only the background noise (the silence cuts need its lengths);
    ``datasets.prepare`` decodes the rest.

    Raises:
        DataError: no folder, not the Speech Commands layout (missing lists or word folders),
            or no background noise to cut silence from.
    """
    root = _download.data_root(data_dir, NAME)
    skipped = SkipLog()
    val_list = _read_list(root / VAL_LIST, root)
    test_list = _read_list(root / TEST_LIST, root)
    folders = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )
    required, missing = _words(config, folders, root)
    if config.labels == "12":
        unknown_words = [w for w in folders if w not in required]
        ignored: list[str] = []
    else:
        unknown_words = []
        ignored = [w for w in folders if w not in required]
    used = set(required) | set(unknown_words)

    utterances = [u for word in sorted(used) for u in _scan_word(root, word, skipped)]
    present = {u.rel for u in utterances}
    for list_name, listed in ((VAL_LIST, val_list), (TEST_LIST, test_list)):
        for rel in sorted(listed - present):
            if rel.split("/", 1)[0] in used and not (root / rel).is_file():
                skipped.skip(root / rel, f"missing: listed in {list_name} but not found")

    names = (*required, UNKNOWN, SILENCE) if config.labels == "12" else required
    index = {name: i for i, name in enumerate(names)}
    by_split: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
    for u in utterances:
        split = "test" if u.rel in test_list else "val" if u.rel in val_list else "train"
        by_split[split].append(u)

    noises: list[tuple[str, Path, int]] = []
    if config.labels == "12" and config.silence_fraction > 0:
        noise_dir = root / NOISE_DIR
        if not noise_dir.is_dir():
            raise DataError(
                f"missing {noise_dir}, needed for the _silence_ class; {_layout_hint(root)} "
                "(or set silence_fraction=0)"
            )
        for path in skipped.files(sorted(noise_dir.iterdir()), AUDIO_SUFFIXES):
            try:
                noises.append((path.stem, path, len(read_audio(path))))
            except AudioError as err:
                skipped.skip(path, err.reason)

    # Which recordings each split uses: all keyword ones, and (12 labels) a seeded unknown subset.
    wanted, splits = splits, {}
    for i, split in enumerate(SPLITS):
        if split not in wanted:
            continue  # the same seeds for the others: ``i`` is the split's place in SPLITS
        words = [u for u in by_split[split] if u.word in required]
        keyword_count = len(words)
        pool = [u for u in by_split[split] if u.word not in required]
        n_unknown = min(len(pool), math.ceil(config.unknown_fraction * len(words)))
        if config.labels == "12" and n_unknown:
            rng = np.random.default_rng([config.seed, i, 1])
            picks = np.sort(rng.choice(len(pool), size=n_unknown, replace=False))
            words += [pool[j] for j in picks]
        splits[split] = [
            Entry(str(root / u.rel), index.get(u.word, index.get(UNKNOWN, -1)), u.speaker, u.rel)
            for u in sorted(words, key=lambda u: u.rel)
        ]
        if config.labels == "12":
            n_silence = math.ceil(config.silence_fraction * keyword_count)
            rng = np.random.default_rng([config.seed, i, 2])
            cuts = _silence(noises, split, n_silence, rng)
            splits[split] += [dataclasses.replace(c, target=index[SILENCE]) for c in cuts]
    if not any(splits.values()):
        raise DataError(
            f"no usable Speech Commands recordings under {root} "
            f"({skipped.count} files skipped: {skipped.by_reason() or 'none'}); "
            f"{_layout_hint(root)}"
        )
    return Plan(
        KIND,
        splits,
        labels=names,
        skipped=skipped,
        info={
            "label_set": config.labels,
            "words": list(required),
            "words_from": "suite" if config.words else "present folders",
            "missing_words": missing,
            "unknown_words": unknown_words,
            "ignored_folders": ignored,
            "noise_files": [name for name, _, _ in noises],
            "data_dir": str(root),
        },
        clip_samples=CLIP_SAMPLES,
        seconds=CLIP_SECONDS_RANGE,
    )


def load(config: Config, data_dir: str | os.PathLike | None, cache_dir=None) -> KwsData:
    """Speech Commands decoded into memory in this process (``plan`` then decode).

    The suite reads it prepared instead (``datasets.load``: shards read on demand);
    ``cache_dir`` is accepted for the common loader signature.
    """
    del cache_dir
    return prepare.materialize(plan(config, data_dir), NAME)


def download(dest: Path) -> Path:
    """Download (2.4 GB) and extract Speech Commands v0.02 under ``dest``; returns the folder to
    pass as ``--data-dir``. URL and hash: ``datasets.download.SPEECH_COMMANDS`` (overridable with
    ``$RESDEPTH_SPEECH_COMMANDS_URL`` / ``$RESDEPTH_SPEECH_COMMANDS_SHA256``)."""
    return _download.fetch_source(_download.SPEECH_COMMANDS, dest, name="speech_commands_v0_02")
