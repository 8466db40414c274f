"""QuartzNet BxR after Kriman et al. 2020: 1-D time-channel separable convolutions for CTC ASR.

A separable stem convolution (stride 2), then ``blocks`` residual blocks in five stages of
(channels, kernel); each block repeats ``repeat`` times a depthwise convolution, a pointwise
convolution, batch norm and ReLU, and its input, projected by a pointwise convolution and batch
norm, is added before the last ReLU. Three more convolutions (separable dilated, two pointwise)
end in per-frame character logits. 15x5 is 15 blocks of 5 repeats; depth variants spread
``blocks`` evenly over the stages, so 5/10/15 blocks give the published 5x5/10x5/15x5.
``residual=False`` removes the block shortcuts and nothing else.
"""

from __future__ import annotations

import dataclasses

import keras

from models.blocks import Scale, check_variant
from models.frontend import frames, log_mel
from results.errors import UserError


@dataclasses.dataclass(frozen=True)
class Config:
    """One QuartzNet. Channels are scaled by ``width``; ``blocks`` is the depth."""

    stem: tuple[int, int] = (256, 33)  # channels, kernel (stride 2)
    stages: tuple[tuple[int, int], ...] = ((256, 33), (256, 39), (512, 51), (512, 63), (512, 75))
    head: tuple[int, int, int] = (512, 87, 1024)  # C2 channels, C2 kernel (dilation 2), C3
    blocks: int = 15
    repeat: int = 5
    n_mels: int = 64
    width: float = 1.0
    residual: bool = True
    block: str = "post"

    def __post_init__(self) -> None:
        check_variant(self.block, self.residual, "quartznet")
        if self.block == "pre":
            raise UserError("quartznet has no pre-activation variant; use block='post'")
        for field in ("blocks", "repeat"):
            if getattr(self, field) < 1:
                raise UserError(
                    f"quartznet {field} must be >= 1. Received: {getattr(self, field)}"
                )
        if self.width <= 0:
            raise UserError(f"quartznet width must be > 0. Received: width={self.width}")

    def scaled(self, channels: int) -> int:
        return max(1, round(channels * self.width))

    def stage_blocks(self) -> list[int]:
        """Blocks per stage: ``blocks`` spread evenly, earlier stages taking the remainder."""
        n = len(self.stages)
        return [self.blocks // n + (1 if i < self.blocks % n else 0) for i in range(n)]


_Q15 = Config()

PRESETS: dict[str, Config] = {
    "quartznet-15x5": _Q15,
    "quartznet-10x5": dataclasses.replace(_Q15, blocks=10),
    "quartznet-5x5": dataclasses.replace(_Q15, blocks=5),
    # Small enough to train on a 2-core CPU in minutes: same structure, narrow and short kernels.
    "quartznet-small": Config(
        stem=(96, 11),
        stages=((96, 11), (96, 13), (128, 15), (128, 17), (160, 19)),
        head=(160, 21, 256),
        blocks=5,
        repeat=2,
        n_mels=40,
    ),
}

TIME_STRIDE = 2  # the stem halves time; nothing else strides


def with_depth(config: Config, blocks: int) -> Config:
    """The same network with ``blocks`` residual blocks."""
    return dataclasses.replace(config, blocks=blocks)


def weight_layers(config: Config) -> int:
    """Convolution layers as the paper counts them: stem, blocks x repeats, three head convs."""
    return 1 + config.blocks * config.repeat + 3


def output_frames(config: Config, samples):
    """Encoder frames for ``samples`` input samples (ints or integer tensors)."""
    return (frames(samples) + TIME_STRIDE - 1) // TIME_STRIDE


def _separable(x, channels, kernel, name, stride=1, dilation=1, relu=True):
    x = keras.layers.DepthwiseConv1D(
        kernel,
        strides=stride,
        dilation_rate=dilation,
        padding="same",
        use_bias=False,
        name=f"{name}_dw",
    )(x)
    x = keras.layers.Conv1D(channels, 1, use_bias=False, name=f"{name}_pw")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def block(x, channels: int, kernel: int, config: Config, index: int):
    """Residual block ``index`` (1-based): ``repeat`` separable sub-blocks and a shortcut."""
    name = f"block{index}"
    y = x
    for r in range(1, config.repeat + 1):
        y = _separable(y, channels, kernel, f"{name}_{r}", relu=r < config.repeat)
    if config.residual:
        if config.block == "rezero":
            y = Scale(name=f"{name}_scale")(y)
        skip = keras.layers.Conv1D(channels, 1, use_bias=False, name=f"{name}_proj_conv")(x)
        skip = keras.layers.BatchNormalization(name=f"{name}_proj_bn")(skip)
        y = keras.layers.Add(name=f"{name}_add")([y, skip])
    return keras.layers.ReLU(name=f"{name}_{config.repeat}_relu")(y)


def encoder(config: Config, audio):
    """Raw 16 kHz audio -> per-frame features ``[batch, frames / 2, C3 channels]``."""
    x = log_mel(audio, config.n_mels)
    x = _separable(x, config.scaled(config.stem[0]), config.stem[1], "stem", stride=TIME_STRIDE)
    index = 0
    for (channels, kernel), count in zip(config.stages, config.stage_blocks(), strict=True):
        for _ in range(count):
            index += 1
            x = block(x, config.scaled(channels), kernel, config, index)
    c2, k2, c3 = config.head
    x = _separable(x, config.scaled(c2), k2, "head_1", dilation=2)
    x = keras.layers.Conv1D(config.scaled(c3), 1, use_bias=False, name="head_2_conv")(x)
    x = keras.layers.BatchNormalization(name="head_2_bn")(x)
    return keras.layers.ReLU(name="head_2_relu")(x)
