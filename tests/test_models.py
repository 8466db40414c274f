"""Model families: published parameter counts, depth/width/skip variants, raw-audio front end."""

import keras
import numpy as np
import pytest

import models

# Parameter counts from the papers' tables (12 classes): Tang & Lin 2018, Table 1;
# Choi et al. 2019, Table 1. QuartzNet (Kriman et al. 2020, Table 2) with 29 outputs (28
# characters + CTC blank) below. Presets made up here for a CPU have no published count.
UNPUBLISHED = {"quartznet-small", "tc-resnet8-ctc", "res8-coarse", "tc-resnet8-peak"}
QUARTZNET_PARAMS = {"quartznet-5x5": 6_700_000, "quartznet-10x5": 12_800_000,
                    "quartznet-15x5": 18_900_000}  # fmt: skip
PAPER_PARAMS = {
    "res8": 110_000,
    "res8-narrow": 19_900,
    "res15": 238_000,
    "res15-narrow": 42_600,
    "res26": 438_000,
    "res26-narrow": 78_400,
    "tc-resnet8": 66_000,
    "tc-resnet14": 137_000,
    "tc-resnet8-1.5": 145_000,
    "tc-resnet14-1.5": 305_000,
}


def trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("preset", sorted(PAPER_PARAMS))
def test_parameter_count_matches_paper(preset):
    model = models.build(preset, num_classes=12)
    assert trainable(model) == pytest.approx(PAPER_PARAMS[preset], rel=0.02)


@pytest.mark.parametrize("preset", sorted(QUARTZNET_PARAMS))
def test_quartznet_parameter_count_matches_paper(preset):
    model = models.build(preset, num_classes=29, head="ctc")
    assert trainable(model) == pytest.approx(QUARTZNET_PARAMS[preset], rel=0.02)


def test_every_preset_has_a_paper_count():
    assert set(models.preset_names()) == set(PAPER_PARAMS) | set(QUARTZNET_PARAMS) | UNPUBLISHED


def test_res8_coarse_is_res8_narrow_on_coarser_maps():
    """Same weights as res8-narrow; its blocks see 12 x 6 maps of a 1 s clip, not 25 x 13."""
    coarse, narrow = (models.build(p, num_classes=12) for p in ("res8-coarse", "res8-narrow"))
    assert trainable(coarse) == trainable(narrow)
    clip = np.zeros((1, 16_000), "float32")
    for model, maps in ((coarse, (12, 6)), (narrow, (25, 13))):
        stem = keras.Model(model.input, model.get_layer("stem_pool").output)
        assert tuple(stem(clip).shape[1:3]) == maps


@pytest.mark.parametrize("preset", ["quartznet-small", "tc-resnet8-ctc"])
def test_ctc_head_gives_frames_and_output_frames_predicts_them(preset):
    model = models.build(preset, num_classes=29, head="ctc", depth=2)
    for samples in (8_000, 16_000, 24_321):
        out = model(np.zeros((1, samples), "float32"))
        assert out.shape[-1] == 29
        assert out.shape[1] == models.output_frames(preset, samples, depth=2)


def test_ctc_head_refuses_a_2d_encoder():
    with pytest.raises(ValueError, match="CTC"):
        models.build("res8", num_classes=29, head="ctc")


def _head(preset: str) -> tuple[str, int]:
    """A preset's natural head: CTC over 29 outputs for QuartzNet and ``*-ctc``, else 5 classes."""
    if preset.endswith("-ctc") or models.describe(preset)["family"] == "quartznet":
        return "ctc", 29
    return "classify", 5


@pytest.mark.parametrize("preset", models.preset_names())
def test_plain_differs_only_in_skips(preset):
    """Every preset (all of ``models.preset_names()``), at its own depth: ``residual=False``
    drops the skip additions and projection shortcuts and nothing else, and both nets run one
    forward pass on a short clip. Kept cheap: 0.5 s of audio, one call each (about 7 s for all
    16 presets on 2 cores, most of it the three published QuartzNets)."""
    head, classes = _head(preset)
    res = models.build(preset, num_classes=classes, head=head)
    plain = models.build(preset, num_classes=classes, head=head, residual=False)
    res_layers = {layer.name for layer in res.layers}
    plain_layers = {layer.name for layer in plain.layers}
    assert plain_layers <= res_layers
    extra = res_layers - plain_layers
    assert extra, "the residual model must have skip layers"
    assert all("_add" in n or "_proj" in n for n in extra), extra
    assert not any("_add" in layer.name for layer in plain.layers)
    clip = np.random.default_rng(0).standard_normal((1, 8_000)).astype("float32")
    for model in (res, plain):
        out = np.asarray(model(clip, training=False))
        assert out.shape[0] == 1 and out.shape[-1] == classes and np.isfinite(out).all()


@pytest.mark.parametrize("preset", ["res8-narrow", "tc-resnet8"])
def test_depth_sets_block_count_and_names(preset):
    for depth in (1, 2, 5):
        model = models.build(preset, num_classes=4, depth=depth)
        blocks = {n.split("_")[0] for n in (layer.name for layer in model.layers)}
        assert {f"block{i}" for i in range(1, depth + 1)} <= blocks
        assert f"block{depth + 1}" not in blocks
        assert models.describe(preset, depth=depth)["depth"] == depth


def test_tcresnet_depths_3_and_6_are_the_published_nets():
    assert models.get_config("tc-resnet8", depth=6) == models.get_config("tc-resnet14")
    assert models.describe("tc-resnet14")["layers"] == 14
    assert models.describe("res15")["layers"] == 15
    assert models.describe("res26")["layers"] == 26


def test_width_scales_channels():
    narrow = models.build("tc-resnet8", num_classes=4, width=0.5)
    wide = models.build("tc-resnet8", num_classes=4, width=2.0)
    assert narrow.get_layer("block1_1_conv").filters == 12
    assert wide.get_layer("block1_1_conv").filters == 48


def test_raw_audio_in_logits_out_and_batch_independent():
    """The front end is inside the model, and a clip's output does not depend on its batch."""
    model = models.build("res8-narrow", num_classes=7)
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((3, 16_000)) * np.array([[0.01], [0.3], [1.0]])).astype("float32")
    together = np.asarray(model(audio, training=False))
    alone = np.asarray(model(audio[:1], training=False))
    assert together.shape == (3, 7)
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-4, atol=1e-5)


def test_unknown_preset_and_bad_values_are_named():
    with pytest.raises(ValueError, match="res9"):
        models.build("res9", num_classes=3)
    with pytest.raises(ValueError, match="blocks"):
        models.build("res8", num_classes=3, depth=0)
    with pytest.raises(ValueError, match="width"):
        models.build("tc-resnet8", num_classes=3, width=-1.0)
    with pytest.raises(ValueError, match="num_classes"):
        models.build("tc-resnet8", num_classes=1)


def test_saved_model_round_trip(tmp_path):
    import keras

    model = models.build("tc-resnet8", num_classes=3, depth=2)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    audio = np.random.default_rng(1).standard_normal((2, 16_000)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(audio)), np.asarray(loaded(audio)), rtol=1e-5)


@pytest.mark.parametrize("preset", ["res8-narrow", "tc-resnet8"])
@pytest.mark.parametrize("block", ["pre", "rezero"])
def test_block_variants_build_and_plain_drops_only_skips(preset, block):
    res = models.build(preset, num_classes=4, depth=3, block=block)
    assert models.describe(preset, depth=3, block=block)["block"] == block
    audio = np.random.default_rng(0).standard_normal((2, 16_000)).astype("float32")
    assert np.all(np.isfinite(np.asarray(res(audio))))
    if block == "pre":
        plain = models.build(preset, num_classes=4, depth=3, block=block, residual=False)
        extra = {la.name for la in res.layers} - {la.name for la in plain.layers}
        assert extra and all("_add" in n or "_proj" in n for n in extra), extra


def test_rezero_blocks_start_as_identity():
    """With the branch scale at zero, every block passes its (normalized) input through."""
    model = models.build("tc-resnet8", num_classes=4, depth=6, block="rezero")
    scales = [w for w in model.trainable_weights if "scale" in w.path]
    assert len(scales) == 6 and all(float(np.asarray(w)) == 0.0 for w in scales)
    probe = keras_model_upto(model, "block6_add")  # block6 has an identity skip
    inputs = keras_model_upto(model, "block5_2_relu")
    audio = np.random.default_rng(0).standard_normal((2, 16_000)).astype("float32")
    np.testing.assert_allclose(np.asarray(probe(audio)), np.asarray(inputs(audio)), atol=1e-6)


def keras_model_upto(model, layer):
    import keras

    return keras.Model(model.input, model.get_layer(layer).output)


def test_rezero_needs_skips_and_unknown_variant_is_named():
    with pytest.raises(ValueError, match="rezero"):
        models.build("res8", num_classes=3, block="rezero", residual=False)
    with pytest.raises(ValueError, match="bottleneck"):
        models.build("res8", num_classes=3, block="bottleneck")


def test_rezero_model_saves_and_loads(tmp_path):
    import keras

    model = models.build("res8-narrow", num_classes=3, depth=2, block="rezero")
    model.save(tmp_path / "r.keras")
    loaded = keras.saving.load_model(tmp_path / "r.keras")
    assert [w.path for w in loaded.trainable_weights] == [w.path for w in model.trainable_weights]


def test_peak_norm_cancels_the_recording_level_and_survives_saving(tmp_path):
    """``tc-resnet8-peak`` gives the same outputs for a clip at half its level (a gain is a
    constant per mel bin in the log domain, which ``PeakNorm`` removes); ``tc-resnet8``, the same
    weights without it, does not. The saved model keeps the layer and its outputs."""
    clip = 0.1 * np.random.default_rng(0).standard_normal((2, 8_000)).astype("float32")
    outs = {}
    for preset in ("tc-resnet8", "tc-resnet8-peak"):
        keras.utils.set_random_seed(0)
        model = models.build(preset, num_classes=5, depth=2)
        outs[preset] = [np.asarray(model(x, training=False)) for x in (clip, 0.5 * clip)]
    assert trainable(model) == trainable(models.build("tc-resnet8", num_classes=5, depth=2))
    loud, quiet = outs["tc-resnet8-peak"]
    np.testing.assert_allclose(quiet, loud, atol=1e-4)
    assert np.abs(outs["tc-resnet8"][1] - outs["tc-resnet8"][0]).max() > 1e-2
    assert model.get_layer("peak_norm")
    model.save(tmp_path / "p.keras")
    loaded = keras.saving.load_model(tmp_path / "p.keras")
    np.testing.assert_allclose(np.asarray(loaded(clip, training=False)), loud, atol=1e-5)
