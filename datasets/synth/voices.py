"""The voice identities of the synthetic corpus and their speaker-disjoint split.

A voice identity is an eSpeak NG English language voice (an accent) combined with a voice
variant (a speaker: pitch, formants, breathiness, synthesizer type), spelled the way
``espeak_SetVoiceByName`` takes it, e.g. ``"en-gb-scotland+f3"``. Identities, not clips, are split
between train, val and test, so the test split is spoken only by voices never heard in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from results.errors import UserError

# English accents bundled with eSpeak NG (en-Shaw is a spelling system, not an accent).
LANGUAGES: tuple[str, ...] = (
    "en",
    "en-us",
    "en-us-nyc",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)

# Variants under espeak-ng-data/voices/!v that sound like a person; the robotic, echoing and
# novelty variants (robosoft*, UniRobot, Demonic, RicishayMax*, fast, ...) are left out.
VARIANTS: tuple[str, ...] = (
    # male-ish
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8",
    "croak", "whisper", "klatt", "klatt2", "klatt3", "klatt4",
    "Alex", "Andy", "Denis", "Gene", "Jacky", "Mike", "Storm", "adam", "benjamin", "david", "ed",
    "edward", "grandpa", "gustave", "iven3", "kaukovalta", "marcelo", "michel", "paul", "quincy",
    "rob", "robert", "travis", "victor",
    # female-ish
    "f1", "f2", "f3", "f4", "f5",
    "Alicia", "Andrea", "Annie", "anika", "aunty", "belinda", "grandma", "linda", "shelby",
    "steph", "whisperf",
)  # fmt: skip

# Share of identities per split (train gets the rest).
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
SPLITS = ("train", "val", "test")
# Mixed into the seed so the identity split draws a stream of its own.
_SPLIT_STREAM = 0x5EED_0001


def available(data_path: Path) -> tuple[str, ...]:
    """Every ``language+variant`` identity whose files exist in ``data_path`` (espeak-ng-data).

    Checking the files keeps the corpus working if a future wheel drops a voice; the identity list
    (and with it the split) is then recorded in the corpus info.
    """
    lang_files = {p.name.lower() for p in (data_path / "lang").rglob("*") if p.is_file()}
    variant_dir = data_path / "voices" / "!v"
    variant_files = {p.name for p in variant_dir.iterdir()} if variant_dir.is_dir() else set()
    languages = [lang for lang in LANGUAGES if lang in lang_files]
    variants = [v for v in VARIANTS if v in variant_files]
    return tuple(f"{lang}+{v}" for lang in languages for v in variants)


def split(identities: tuple[str, ...], seed: int) -> dict[str, tuple[str, ...]]:
    """Split ``identities`` into disjoint train/val/test tuples (~70/15/15), fixed by ``seed``."""
    n = len(identities)
    n_val = max(1, round(n * VAL_FRACTION))
    n_test = max(1, round(n * TEST_FRACTION))
    if n - n_val - n_test < 1:
        raise UserError(f"need at least 3 voice identities to split, found {n}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_STREAM]))
    order = [identities[i] for i in rng.permutation(n)]
    parts = {
        "test": order[:n_test],
        "val": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
    return {name: tuple(sorted(parts[name])) for name in SPLITS}
