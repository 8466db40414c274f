"""Model families for resdepth: a registry of presets, each a frozen config of one family.

A family is one module exposing ``Config`` (a frozen dataclass with at least ``blocks``,
``width``, ``residual``, ``block`` and ``n_mels``), ``PRESETS`` (name -> Config),
``with_depth(config, blocks)``, ``weight_layers(config)`` and ``encoder(config, audio)`` (raw
audio -> features); families usable for CTC also expose ``output_frames(config, samples)``.
``build`` puts a head on the encoder: pooled ``embedding`` + dense ``logits`` to classify an
utterance, or per-frame ``logits`` for CTC. Adding a family is that module plus one line in
``FAMILIES``. Depth variants are ``dataclasses.replace`` of a preset, never pasted layers.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import sys
from types import ModuleType

from results.errors import UserError

# family name -> module path.
FAMILIES: dict[str, str] = {
    "res2d": "models.res2d",
    "tcresnet": "models.tcresnet",
    "quartznet": "models.quartznet",
}
HEADS = ("classify", "ctc")
MIN_RECURSION_LIMIT = 20_000


def _family_modules() -> dict[str, ModuleType]:
    return {name: importlib.import_module(path) for name, path in FAMILIES.items()}


def presets() -> dict[str, tuple[str, object]]:
    """Every preset: name -> (family name, frozen config)."""
    out: dict[str, tuple[str, object]] = {}
    for family, module in _family_modules().items():
        for name, config in module.PRESETS.items():
            if name in out:
                raise RuntimeError(f"preset {name!r} is defined by two families")
            out[name] = (family, config)
    return out


def preset_names() -> list[str]:
    """All preset names, sorted."""
    return sorted(presets())


def family_of(preset: str) -> ModuleType:
    """The family module that defines ``preset``."""
    family, _ = _lookup(preset)
    return importlib.import_module(FAMILIES[family])


def _lookup(preset: str) -> tuple[str, object]:
    table = presets()
    if preset not in table:
        raise UserError(f"unknown model preset {preset!r}; known: {', '.join(sorted(table))}")
    return table[preset]


def get_config(
    preset: str,
    *,
    depth: int | None = None,
    width: float | None = None,
    residual: bool = True,
    block: str = "post",
):
    """The preset's config with depth (residual blocks), width, skips and block variant applied.

    ``depth=None`` and ``width=None`` keep the preset's own values; ``residual=False`` gives the
    plain counterpart, identical except for the skip connections; ``block`` is one of
    ``models.blocks.VARIANTS``.
    """
    family, config = _lookup(preset)
    module = importlib.import_module(FAMILIES[family])
    if depth is not None:
        config = module.with_depth(config, depth)
    changes: dict = {"residual": residual, "block": block}
    if width is not None:
        changes["width"] = width
    return dataclasses.replace(config, **changes)


def build(
    preset: str,
    *,
    num_classes: int,
    depth: int | None = None,
    width: float | None = None,
    residual: bool = True,
    block: str = "post",
    head: str = "classify",
    name: str | None = None,
    spec_augment: tuple[int, int, int, int] | None = None,
    seed: int = 0,
):
    """Build a model on raw 16 kHz audio ``[batch, samples]``.

    ``spec_augment`` = (time masks, frames each, frequency masks, bins each) puts a seeded
    ``SpecAugment`` layer (training only) after the log-mel front end.

    ``head="classify"``: utterance logits ``[batch, num_classes]`` from the time-pooled
    ``embedding``. ``head="ctc"``: per-frame logits ``[batch, frames, num_classes]`` (characters
    plus the CTC blank) for families with a 1-D encoder.

    Under a mixed dtype policy the log-mel front end and the logits stay float32 (so the softmax,
    CTC and cross-entropy losses are computed in float32); the encoder computes in half precision.
    """
    import keras

    from models.frontend import audio_input, spec_augmenting

    if num_classes < 2:
        raise UserError(f"num_classes must be >= 2. Received: num_classes={num_classes}")
    if head not in HEADS:
        raise UserError(f"head must be one of {HEADS}. Received: head={head!r}")
    config = get_config(preset, depth=depth, width=width, residual=residual, block=block)
    # Keras walks a functional graph recursively, a few frames per layer: a 128-block net has
    # over a thousand layers, more than Python's default recursion limit allows.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), MIN_RECURSION_LIMIT))
    audio = audio_input()
    with spec_augmenting(spec_augment, seed):
        x = family_of(preset).encoder(config, audio)
    rank = len(x.shape)
    if head == "ctc":
        if rank != 3:
            raise UserError(f"preset {preset!r} has a 2-D encoder; CTC needs a 1-D (time) one")
        logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    else:
        pool = (
            keras.layers.GlobalAveragePooling1D
            if rank == 3
            else keras.layers.GlobalAveragePooling2D
        )
        x = pool(name="embedding")(x)
        logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(audio, logits, name=name or preset)


def frames_fn(preset: str, *, depth: int | None = None):
    """``samples -> output frames`` of a CTC model (pure arithmetic, safe inside a graph)."""
    module = family_of(preset)
    if not hasattr(module, "output_frames"):
        raise UserError(f"preset {preset!r} cannot be a CTC encoder")
    return functools.partial(module.output_frames, get_config(preset, depth=depth))


def output_frames(preset: str, samples, *, depth: int | None = None):
    """Frames of a CTC model's output for ``samples`` input samples."""
    return frames_fn(preset, depth=depth)(samples)


def describe(
    preset: str,
    *,
    depth: int | None = None,
    width: float | None = None,
    residual: bool = True,
    block: str = "post",
) -> dict:
    """JSON-ready identity of a model: family, preset, blocks, weight layers, width, skips."""
    family, _ = _lookup(preset)
    config = get_config(preset, depth=depth, width=width, residual=residual, block=block)
    return {
        "family": family,
        "preset": preset,
        "depth": config.blocks,
        "layers": importlib.import_module(FAMILIES[family]).weight_layers(config),
        "width": config.width,
        "residual": config.residual,
        "block": config.block,
    }
