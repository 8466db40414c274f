"""Looped blocks (``models.repeat``) are the unrolled network, only run as one loop.

Each check builds a deep net both ways, copies the unrolled weights into the looped one's stacks,
and compares what the suite measures: outputs, batch-norm statistics after a training call,
per-layer gradient norms, FLOPs, parameters, and a save/load round trip.
"""

import keras
import numpy as np
import pytest

import models
from bench import flops, gradflow
from models import repeat

XENT = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
CASES = [
    ("tc-resnet8", {"width": 0.5, "depth": 16}),  # 6/5/5 per stage: 5/4/4 looped after each first
    ("res8-narrow", {"depth": 16}),
    ("res8-narrow", {"depth": 16, "block": "pre"}),
    ("tc-resnet8", {"width": 0.5, "depth": 16, "block": "rezero"}),
]


def _pair(preset: str, options: dict, monkeypatch) -> tuple[keras.Model, keras.Model]:
    """(looped, unrolled) with the unrolled weights copied into the looped stacks."""
    looped = models.build(preset, num_classes=3, **options)
    with monkeypatch.context() as m:
        m.setattr(repeat, "LOOP_MIN", 10**6)
        unrolled = models.build(preset, num_classes=3, **options)
    by_path = {v.path: v for v in unrolled.weights}
    rng = np.random.default_rng(0)
    for v in unrolled.weights:  # non-trivial values everywhere, the ReZero scales included
        v.assign(np.asarray(v) + 0.05 * rng.standard_normal(v.shape).astype("float32"))
    for layer in looped.layers:
        if isinstance(layer, repeat.Repeat):
            for j, stacked in enumerate(layer.stacked):
                weight = layer.template.weights[j].path.split("/")[-1]
                copies = [by_path[f"{layer.layer_name(j, c)}/{weight}"] for c in range(layer.count)]
                stacked.assign(np.stack([np.asarray(v) for v in copies]))
        else:
            for v in layer.weights:
                v.assign(by_path[v.path])
    return looped, unrolled


def _batch(n=4, classes=3):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 16000)).astype("float32") * 0.1, rng.integers(0, classes, n)


@pytest.mark.parametrize(("preset", "options"), CASES, ids=lambda c: str(c))
def test_looped_blocks_compute_the_unrolled_network(preset, options, monkeypatch):
    looped, unrolled = _pair(preset, options, monkeypatch)
    assert any(isinstance(layer, repeat.Repeat) for layer in looped.layers)
    assert looped.count_params() == unrolled.count_params()
    x, y = _batch()
    np.testing.assert_allclose(looped(x), unrolled(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        looped(x, training=True), unrolled(x, training=True), rtol=1e-5, atol=1e-5
    )
    # The training call moved every copy's batch-norm statistics as the unrolled layers' moved.
    np.testing.assert_allclose(looped(x), unrolled(x), rtol=1e-4, atol=1e-5)

    loss = lambda x, y, p: XENT(y, p)  # noqa: E731
    a = gradflow.Probe(looped, loss, [(x, y)])
    b = gradflow.Probe(unrolled, loss, [(x, y)])
    rows_a, rows_b = a.rows(0, a.tensor_grad_norms()), b.rows(0, b.tensor_grad_norms())
    assert list(rows_a["layer"]) == list(rows_b["layer"])
    assert list(rows_a["depth"]) == list(rows_b["depth"])
    np.testing.assert_allclose(rows_a["grad_norm"], rows_b["grad_norm"], rtol=1e-3)
    np.testing.assert_allclose(rows_a["weight_norm"], rows_b["weight_norm"], rtol=1e-5)
    assert flops.per_example(looped, 16000) == flops.per_example(unrolled, 16000)


@pytest.mark.parametrize("block", ["post", "rezero"])
def test_a_looped_model_saves_and_loads(tmp_path, block):
    model = models.build("tc-resnet8", num_classes=3, depth=16, width=0.5, block=block)
    x, _ = _batch()
    model(x, training=True)  # every copy's batch-norm statistics move, each differently
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again(x), model(x))


def test_each_copy_starts_from_its_own_random_weights():
    model = models.build("res8-narrow", num_classes=3, depth=16)
    (loop,) = [layer for layer in model.layers if isinstance(layer, repeat.Repeat)]
    kernel = np.asarray(loop.stacked[0])
    assert kernel.shape[0] == 16
    assert len({kernel[i].tobytes() for i in range(16)}) == 16


def test_nets_below_loop_min_blocks_stay_unrolled():
    for depth, looped in ((repeat.LOOP_MIN - 1, False), (repeat.LOOP_MIN, True)):
        model = models.build("tc-resnet8", num_classes=3, depth=depth)
        assert any(isinstance(layer, repeat.Repeat) for layer in model.layers) is looped


def test_published_presets_stay_unrolled():
    for name in models.preset_names():
        head = "ctc" if name.endswith("-ctc") else "classify"
        model = models.build(name, num_classes=3, head=head)
        assert not any(isinstance(layer, repeat.Repeat) for layer in model.layers), name


def test_a_looped_net_trains_the_same_twice_from_one_seed():
    x, y = _batch(n=8)

    def losses():
        keras.utils.set_random_seed(3)
        model = models.build("res8-narrow", num_classes=3, depth=16, width=0.5)
        model.compile(optimizer="adam", loss=XENT)
        return [float(model.train_on_batch(x, y)) for _ in range(3)], model.get_weights()

    (a, wa), (b, wb) = losses(), losses()
    assert a == b
    for u, v in zip(wa, wb, strict=True):
        np.testing.assert_array_equal(u, v)


def test_a_looped_net_runs_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.build("res8-narrow", num_classes=3, depth=16, width=0.5)
        x, _ = _batch()
        model(x, training=True)
        assert np.isfinite(np.asarray(model(x), dtype="float32")).all()
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_a_looped_net_trains_under_xla():
    """``jit_compile=True`` (XLA, as on a GPU) compiles the loop's gradient and trains the same
    network: Keras's own TensorFlow ``scan`` is an unbounded loop that XLA refused to compile."""
    from bench.speed import xla_allowed

    x, y = _batch(n=4)

    def losses(jit: bool) -> list[float]:
        keras.utils.set_random_seed(5)
        model = models.build("tc-resnet8", num_classes=3, depth=16, width=0.5)
        assert any(isinstance(layer, repeat.Repeat) for layer in model.layers)
        model.compile(optimizer="adam", loss=XENT, jit_compile=jit)
        assert model.jit_compile is jit  # Keras falls back silently under op determinism
        return [float(model.train_on_batch(x, y)) for _ in range(2)]

    with xla_allowed(True):  # op determinism off, as for the suite's XLA cells
        xla = losses(True)
    np.testing.assert_allclose(xla, losses(False), rtol=1e-3)
