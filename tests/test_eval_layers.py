"""``bench eval`` loads every model a suite can save, in a fresh process: the project's own
layers (SpecAugment, PeakNorm, looped blocks) are registered before the model is read, whatever
the task (a speech-recognition model with SpecAugment once failed: 'Could not locate class')."""

import subprocess
import sys
from pathlib import Path

import pytest

import models

ROOT = Path(__file__).resolve().parents[1]

CASES = [
    # speech recognition with SpecAugment (the quick suite's ASR cells)
    ("tc-resnet8-ctc", {"head": "ctc", "num_classes": 29, "spec_augment": (2, 8, 1, 4)}),
    # keyword spotting: peak-normalized features, SpecAugment, and looped deep blocks (Repeat)
    ("tc-resnet8-peak", {"num_classes": 10}),
    ("tc-resnet8", {"num_classes": 35, "spec_augment": (2, 10, 2, 5)}),
    ("tc-resnet8", {"num_classes": 35, "depth": 16}),
]


@pytest.mark.parametrize(
    ("preset", "options"), CASES, ids=["asr-specaugment", "kws-peak", "kws-specaugment", "kws-d16"]
)
def test_a_saved_model_with_the_projects_layers_loads_in_a_fresh_process(
    preset, options, tmp_path
):
    path = tmp_path / "m.keras"
    models.build(preset, **options).save(path)
    code = f"import pathlib, bench.evaluate as e; e._load_model(pathlib.Path({str(path)!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
