"""2-D residual nets for keyword spotting after Tang & Lin 2018 ("Deep residual learning for
small-footprint keyword spotting"), the honk ``res8``/``res15``/``res26`` models.

A 3x3 stem convolution (optionally average-pooled), then ``blocks`` residual blocks of two 3x3
convolutions, each followed by ReLU then a batch norm without affine terms; the skip is added
before the second batch norm, as in the reference code. ``res15`` dilates its convolutions
(2 ** (i // 3), capped) and ends with one extra convolution outside any block. Global average
pooling and one dense layer give the logits (``models.build``). ``block`` picks the variant
(``models.blocks``); ``post`` is the paper's.
"""

from __future__ import annotations

import dataclasses
import functools

import keras

from models.blocks import Scale, check_variant
from models.frontend import log_mel
from models.repeat import loops, stack
from results.errors import UserError

MAX_DILATION = 16  # res15's largest; deeper variants stay at it instead of growing past the input
BN_MOMENTUM = 0.9  # Keras's spelling of PyTorch's (honk's) default momentum of 0.1


@dataclasses.dataclass(frozen=True)
class Config:
    """One res2d network. ``maps`` is scaled by ``width``; ``blocks`` is the depth."""

    maps: int = 45
    blocks: int = 3
    pool: tuple[int, int] | None = None
    dilation: bool = False
    tail_convs: int = 0
    width: float = 1.0
    residual: bool = True
    block: str = "post"
    n_mels: int = 40

    def __post_init__(self) -> None:
        check_variant(self.block, self.residual, "res2d")
        for field in ("maps", "blocks"):
            if getattr(self, field) < 1:
                raise UserError(f"res2d {field} must be >= 1. Received: {getattr(self, field)}")
        if self.width <= 0:
            raise UserError(f"res2d width must be > 0. Received: width={self.width}")
        if self.tail_convs < 0:
            raise UserError(f"res2d tail_convs must be >= 0. Received: {self.tail_convs}")

    @property
    def channels(self) -> int:
        return max(1, round(self.maps * self.width))


_RES8 = Config(maps=45, blocks=3, pool=(4, 3))
_RES15 = Config(maps=45, blocks=6, dilation=True, tail_convs=1)
_RES26 = Config(maps=45, blocks=12, pool=(2, 2))

PRESETS: dict[str, Config] = {
    "res8": _RES8,
    "res15": _RES15,
    "res26": _RES26,
    "res8-narrow": dataclasses.replace(_RES8, maps=19),
    "res15-narrow": dataclasses.replace(_RES15, maps=19),
    "res26-narrow": dataclasses.replace(_RES26, maps=19),
    # For depth studies up to 128 blocks on a CPU: res8-narrow with an (8, 6) stem pool, so its
    # blocks see 12 x 6 maps of a 1 s clip instead of 25 x 13 (2.3x faster per training step).
    "res8-coarse": dataclasses.replace(_RES8, maps=19, pool=(8, 6)),
}


def with_depth(config: Config, blocks: int) -> Config:
    """The same network with ``blocks`` residual blocks."""
    return dataclasses.replace(config, blocks=blocks)


def weight_layers(config: Config) -> int:
    """Weight layers counted as in the model names: stem + block convs + tail + classifier."""
    return 1 + 2 * config.blocks + config.tail_convs + 1


def _dilation(config: Config, conv_index: int) -> int:
    """Dilation of the ``conv_index``-th (0-based) convolution after the stem."""
    return min(2 ** (conv_index // 3), MAX_DILATION) if config.dilation else 1


def _conv(x, config: Config, conv_index: int, name: str):
    d = _dilation(config, conv_index)
    x = keras.layers.Conv2D(
        config.channels, 3, padding="same", dilation_rate=d, use_bias=False, name=f"{name}_conv"
    )(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _bn(x, name: str):
    # honk's nn.BatchNorm2d(affine=False) keeps PyTorch's momentum of 0.1, which is Keras's 0.9:
    # Keras's default (0.99) leaves 28% of the initial statistics after 128 steps.
    return keras.layers.BatchNormalization(
        center=False, scale=False, momentum=BN_MOMENTUM, name=f"{name}_bn"
    )(x)


def block(x, skip, config: Config, index: int):
    """Residual block ``index`` (1-based): returns (block output, what the next skip carries).

    ``post`` (honk): conv-ReLU-BN, conv-ReLU, add the un-normalized skip, BN. ``pre``:
    BN-ReLU-conv twice and an identity path that is never normalized. ``rezero``: ``post`` with
    the branch scaled by a learnable scalar that starts at zero.
    """
    name = f"block{index}"
    if config.block == "pre":
        y = _pre_conv(x, config, 2 * index - 2, f"{name}_1")
        y = _pre_conv(y, config, 2 * index - 1, f"{name}_2")
        if config.residual:
            y = keras.layers.Add(name=f"{name}_add")([y, x])
        return y, y
    y = _bn(_conv(x, config, 2 * index - 2, f"{name}_1"), f"{name}_1")
    y = _conv(y, config, 2 * index - 1, f"{name}_2")
    if config.residual:
        if config.block == "rezero":
            y = Scale(name=f"{name}_scale")(y)
        y = keras.layers.Add(name=f"{name}_add")([y, skip])
    return _bn(y, f"{name}_2"), y


def _pre_conv(x, config: Config, conv_index: int, name: str):
    x = keras.layers.ReLU(name=f"{name}_relu")(_bn(x, name))
    return keras.layers.Conv2D(
        config.channels,
        3,
        padding="same",
        dilation_rate=_dilation(config, conv_index),
        use_bias=False,
        name=f"{name}_conv",
    )(x)


def _carried_block(carry, index: int, *, config: Config):
    """``block`` on the ``[x, skip]`` pair that ``models.repeat.stack`` carries."""
    return list(block(carry[0], carry[1], config, index))


def encoder(config: Config, audio):
    """Raw 16 kHz audio -> feature maps ``[batch, frames, mels, channels]``."""
    x = log_mel(audio, config.n_mels)
    x = keras.layers.Reshape((-1, config.n_mels, 1), name="add_channel")(x)
    x = keras.layers.Conv2D(config.channels, 3, padding="same", use_bias=False, name="stem_conv")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    if config.pool:
        x = keras.layers.AveragePooling2D(config.pool, name="stem_pool")(x)
    if config.dilation:  # dilation grows with depth: no two blocks are alike
        skip = x
        for i in range(1, config.blocks + 1):
            x, skip = block(x, skip, config, i)
    else:
        carried = functools.partial(_carried_block, config=config)
        x, skip = stack([x, x], carried, 1, config.blocks, loop=loops(config.blocks))
    if config.block == "pre":
        x = keras.layers.ReLU(name="head_relu")(_bn(x, "head"))
    for t in range(config.tail_convs):
        x = _bn(_conv(x, config, 2 * config.blocks + t, f"tail{t + 1}"), f"tail{t + 1}")
    return x
