"""LibriSpeech's shapes without its speech (``synth-lengths``): utterances for timing only.

What a speech-recognition step costs depends on how long its utterances are (the padded batch
and the CTC lattice grow with them), not on what they say. This corpus gives a timing cell
(``bench gpu-check``) utterances with LibriSpeech's length distribution and transcripts of
LibriSpeech's length, made in a second, nothing downloaded:

- lengths: train utterances about as train-clean-100's (mean 12.7 s, 1.5-24.5 s), val and test
  about as test-clean's (mean about 7.4 s, up to 35 s); the draws ``train_seconds`` and
  ``test_seconds`` are shared with the corpus-scale benchmark's generated LibriSpeech tree;
- audio: seeded noise under a tone (what real audio costs to read and pad);
- transcripts: about 2.7 words a second, drawn from a small vocabulary.

The words do not match the audio: a model can learn the blank and the characters' frequencies,
so its CTC loss falls over the first steps (what ``gpu-check`` checks), and nothing more. Never
score a recognizer on it. The ``tiny`` profile keeps the distributions' shape at an eighth of
their lengths, so the same cells run on a CPU in the tests.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from datasets.base import SAMPLE_RATE, AsrData, AsrSplit, SkipLog, check_counts
from results.errors import UserError

KIND = "asr"
NAME = "synth-lengths"
GENERATOR_VERSION = 1  # bump when the audio or transcripts change for the same Config
CLIP_SECONDS_RANGE = (0.0, 35.0)  # generated: test-clean's longest
WORDS_PER_SECOND = 2.7  # LibriSpeech's speaking rate, about
VOCABULARY = (
    "the", "of", "and", "to", "a", "in", "he", "that", "was", "it", "his", "her", "with", "as",
    "had", "for", "you", "she", "not", "but", "said", "which", "they", "would", "there",
)  # fmt: skip


def train_seconds(rng: np.random.Generator, size=None):
    """Utterance lengths (s) about as LibriSpeech train-clean-100's: 12.7 +- 3.5, in 1.5-24.5."""
    return np.clip(rng.normal(12.7, 3.5, size), 1.5, 24.5)


def test_seconds(rng: np.random.Generator, size=None):
    """Utterance lengths (s) about as test-clean's: a gamma of mean 7.4 s, in 1.3-35."""
    return np.clip(rng.gamma(2.0, 3.7, size), 1.3, 35.0)


@dataclasses.dataclass(frozen=True)
class Profile:
    """Utterances per split, and the factor applied to every drawn length."""

    train: int
    val: int
    test: int
    scale: float = 1.0

    def sizes(self) -> dict[str, int]:
        return {"train": self.train, "val": self.val, "test": self.test}


PROFILES: dict[str, Profile] = {
    # gpu-check's: 512 training utterances (1.8 h, 0.4 GB as float32) cycled through for the
    # timed steps; test sets the latency example's length (test-clean's median, about 6 s).
    "librispeech": Profile(train=512, val=16, test=64),
    # The tests' (on a CPU): the same draws at an eighth of the length (1.6 s on average).
    "tiny": Profile(train=48, val=8, test=8, scale=0.125),
}


@dataclasses.dataclass(frozen=True)
class Config:
    """Options of the generated corpus; all of them decide the audio.

    Attributes:
        profile: a key of ``PROFILES`` (``"librispeech"`` or ``"tiny"``).
        seed: fixes lengths, audio and transcripts.
    """

    profile: str = "librispeech"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise UserError(
                f"Config.profile: unknown profile {self.profile!r}; known: {', '.join(PROFILES)}"
            )
        check_counts(self, ("seed",))

    def key(self) -> dict:
        """What decides the corpus (the prepared copy's identity)."""
        profile = PROFILES[self.profile]
        return {"generator": GENERATOR_VERSION, "profile": self.profile, "seed": self.seed,
                "sizes": profile.sizes(), "scale": profile.scale}  # fmt: skip


def _split(config: Config, name: str, index: int) -> AsrSplit:
    profile = PROFILES[config.profile]
    rng = np.random.default_rng([config.seed, index])
    draw = train_seconds if name == "train" else test_seconds
    seconds = draw(rng, profile.sizes()[name]) * profile.scale
    audio, texts = [], []
    for k, s in enumerate(seconds):
        n = max(1, int(s * SAMPLE_RATE))
        t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
        tone = 0.2 * np.sin(2 * np.pi * (150 + 10 * (k % 20)) * t)
        clip = 0.03 * rng.standard_normal(n).astype(np.float32) + tone.astype(np.float32)
        audio.append(np.clip(clip, -1, 1).astype(np.float32))
        words = rng.choice(VOCABULARY, max(1, int(s * WORDS_PER_SECOND)))
        texts.append(" ".join(words))
    n = len(audio)
    return AsrSplit(
        audio=tuple(audio),
        transcripts=tuple(texts),
        speakers=tuple(f"{name}-{k % 8}" for k in range(n)),
        ids=tuple(f"{name}-{k:05d}" for k in range(n)),
    )


def load(config: Config, data_dir: object, cache_dir: object) -> AsrData:
    """The corpus of ``config``, generated in memory (a second at the ``librispeech`` profile;
    ``datasets.load`` keeps it prepared like any corpus). ``data_dir`` and ``cache_dir`` are
    not used."""
    del data_dir, cache_dir
    splits = {name: _split(config, name, i) for i, name in enumerate(("train", "val", "test"))}
    info = {
        "profile": config.profile,
        "seed": config.seed,
        "mean_seconds": {
            name: round(float(np.mean([len(a) for a in split.audio])) / SAMPLE_RATE, 3)
            for name, split in splits.items()
        },
        "note": "timing only: the transcripts do not match the audio",
    }
    return AsrData(name=NAME, **splits, skipped=SkipLog(), info=info)
