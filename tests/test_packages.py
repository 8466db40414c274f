"""The top-level ``datasets`` package is ours, not Hugging Face's, when run from the checkout."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_datasets_is_the_project_package():
    import datasets

    assert Path(datasets.__file__).resolve().parent == ROOT / "datasets"
    assert "synth-words" in datasets.DATASETS


def test_models_and_bench_are_the_project_packages():
    import bench
    import models

    assert Path(models.__file__).resolve().parent == ROOT / "models"
    assert Path(bench.__file__).resolve().parent == ROOT / "bench"
