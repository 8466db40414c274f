"""Suites run the recipes they claim: the ``fsdd`` suite's held-out-speaker experiments train
exactly as the ``fsdd-speakers`` recipes whose measured figures its comments and the README
quote (same preset, depths, kinds, training budget, early stopping and transfer source), so a
drift in either suite fails here."""

import dataclasses

import pytest

from bench import suite

# fsdd experiment -> the fsdd-speakers experiment whose recipe it claims (one fold of it)
CLAIMED = {
    "fsdd-speaker": "peak-transfer",
    "fsdd-speaker-scratch": "scratch",
    "synth-pretrain": "synth-pretrain",
}


def _experiments(name: str) -> dict:
    return {e.name: e for e in suite.load(name).experiments}


@pytest.mark.parametrize("ours, theirs", sorted(CLAIMED.items()))
def test_fsdd_held_out_speaker_trains_the_measured_recipe(ours, theirs):
    fsdd, measured = _experiments("fsdd"), _experiments("fsdd-speakers")
    mine = fsdd[ours]
    # a fold experiment is NAME-SPEAKER; each fold has the same recipe, so take the first
    recipe = measured.get(theirs) or next(
        e for n, e in measured.items() if n.startswith(f"{theirs}-")
    )
    assert mine.train == recipe.train, (ours, theirs)
    assert (mine.task, mine.dataset) == (recipe.task, recipe.dataset)
    # the models are the recipe's, or a subset of its kinds (the scratch reference: residual)
    for spec in mine.models:
        match = [m for m in recipe.models if m.preset == spec.preset and m.block == spec.block]
        assert match, f"{ours}: preset {spec.preset} is not in {theirs}"
        assert set(spec.depths) == set(match[0].depths), ours
        assert set(spec.residual) <= set(match[0].residual), ours
    if dict(recipe.dataset_options).get("split") == "speaker":
        assert dict(mine.dataset_options)["split"] == "speaker"


def test_the_held_out_recipe_neither_stops_early_nor_starts_from_scratch():
    """What the figures rest on, stated once more so that changing both suites alike shows."""
    held_out = _experiments("fsdd")["fsdd-speaker"].train
    assert held_out.patience >= held_out.epochs == 30
    assert held_out.init_from == "@synth-pretrain"
    assert (
        dataclasses.replace(held_out, init_from=None)
        == _experiments("fsdd")["fsdd-speaker-scratch"].train
    )
