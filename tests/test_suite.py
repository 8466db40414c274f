"""Suites: every shipped suite parses and expands; bad suites fail up front, naming the value."""

import pytest

from bench import suite


@pytest.mark.parametrize("name", suite.suite_names())
def test_shipped_suites_parse_and_expand(name):
    s = suite.load(name)
    cells = s.cells()
    assert cells, name
    ids = [c.id for c in cells]
    assert len(ids) == len(set(ids)), "cell ids must be unique"
    for cell in cells:
        assert cell.id.startswith(f"{cell.task}-{cell.experiment}-{cell.preset}")


def test_full_suite_expands_to_the_expected_grid():
    s = suite.load("full")
    # sc12: 3 res presets + 4 tcresnet depths + 1 preset = 8 models x 2 kinds; sc35: 2 x 2;
    # LibriSpeech: quartznet 5x5/10x5/15x5 x 2 kinds; 3 seeds
    assert len(s.cells()) == (8 * 2 + 2 * 2 + 3 * 2) * 3
    assert {c.dataset for c in s.cells()} == {"speech-commands", "librispeech"}
    asr = [c for c in s.cells() if c.task == "asr"]
    assert {c.preset for c in asr} == {"quartznet-5x5", "quartznet-10x5", "quartznet-15x5"}
    assert all(c.train.epochs == 100 for c in asr)


def test_quick_suite_is_a_seeded_depth_ladder_to_16_blocks_with_rezero_at_the_top():
    cells = [c for c in suite.load("quick").cells() if c.task == "kws"]
    assert {c.dataset for c in cells} == {"synth-words"}
    points = {(c.depth, c.residual, c.block) for c in cells}
    depths = sorted({c.depth for c in cells})
    assert depths[0] == 1 and depths[-1] >= 16 and len(depths) >= 3
    for depth in depths:
        assert {(depth, True, "post"), (depth, False, "post")} <= points
    assert (depths[-1], True, "rezero") in points
    for point in points:
        seeds = {c.seed for c in cells if (c.depth, c.residual, c.block) == point}
        assert len(seeds) >= 3, point


def test_gradflow_suite_trains_both_families_at_every_depth_for_every_variant():
    cells = suite.load("gradflow").cells()
    depths = {2, 4, 8, 16, 32, 64, 128}
    for preset in ("tc-resnet8", "res8-coarse"):
        for variant in ((False, "post"), (True, "post"), (True, "pre"), (True, "rezero")):
            trained = {
                c.depth
                for c in cells
                if c.task == "kws" and c.preset == preset and (c.residual, c.block) == variant
            }
            assert trained == depths, (preset, variant)


def test_quick_suite_compares_residual_and_plain_asr_at_two_depths():
    cells = [c for c in suite.load("quick").cells() if c.task == "asr"]
    assert {c.dataset for c in cells} == {"synth-sentences"}
    assert {(c.depth, c.residual) for c in cells} == {(1, True), (1, False), (3, True), (3, False)}
    assert {c.preset for c in cells} == {"quartznet-small"}
    assert all(c.train.augment.spec_augment for c in cells)
    assert {c.seed for c in cells} == {0}  # the experiment's own seeds, not the suite's three


def test_an_experiment_may_name_its_own_seeds_and_they_round_trip():
    import json

    from bench.config import Suite

    data = {
        **BASE,
        "seeds": [0, 1],
        "experiment": [
            BASE["experiment"][0],
            {**BASE["experiment"][0], "name": "one", "seeds": [7]},
        ],
    }
    s = suite.parse(data, "t.toml")
    seeds = {e: {c.seed for c in s.cells() if c.experiment == e} for e in ("synth-words", "one")}
    assert seeds == {"synth-words": {0, 1}, "one": {7}}
    assert "seeds" not in json.loads(s.to_json())["experiments"][0]  # the suite's: left out
    assert Suite.from_dict(json.loads(s.to_json())) == s
    for bad in ([], [-1], ["1"], 3):
        with pytest.raises(ValueError, match="seeds"):
            suite.parse(_with(seeds=bad), "t.toml")


BASE = {
    "name": "t",
    "experiment": [
        {
            "task": "kws",
            "dataset": "synth-words",
            "models": [{"preset": "tc-resnet8", "depths": [1]}],
        }
    ],
}


def _with(**changes):
    exp = {**BASE["experiment"][0], **changes}
    return {**BASE, "experiment": [exp]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**BASE, "sedes": [0]}, "unknown key"),
        (_with(task="nope"), "unknown task 'nope'"),
        (_with(dataset="nope"), "unknown dataset 'nope'"),
        (_with(models=[{"preset": "res9000"}]), "res9000"),
        (_with(models=[{"preset": "tc-resnet8", "depths": [0]}]), "depths=\\[0\\]"),
        (_with(models=[{"preset": "tc-resnet8", "width": -1}]), "width=-1"),
        (_with(train={"epochs": 0}), "epochs=0"),
        (_with(train={"epoch": 3}), "unknown key"),
        (_with(models=[]), "lists no models"),
    ],
)
def test_bad_suites_fail_naming_the_value(data, message):
    with pytest.raises(ValueError, match=message):
        suite.parse(data, "test.toml")


def test_bad_dataset_option_fails_up_front():
    with pytest.raises(ValueError, match="no_such_option"):
        suite.parse(_with(dataset_options={"no_such_option": 1}), "test.toml")
