"""Temporal-convolution residual nets after Choi et al. 2019 ("Temporal convolution for
real-time keyword spotting on mobile devices"): TC-ResNet8/14 and their 1.5x-wide forms.

Log-mel features are treated as a 1-D sequence with the mel bins as channels. A 3-tap stem
convolution, then residual blocks of two 9-tap convolutions in three stages of (24, 32, 48)
channels times ``width``; the first block of each stage halves time with stride 2 and carries
a 1x1 projection shortcut (conv, BN, ReLU). ``blocks`` are spread over the stages as evenly as
possible, so 3 blocks is TC-ResNet8 and 6 is TC-ResNet14. ``residual=False`` removes the
identity and projection shortcuts and nothing else. ``block`` picks the variant
(``models.blocks``); ``post`` is the paper's. ``peak_norm`` (preset ``tc-resnet8-peak``) feeds the
net features relative to each mel bin's peak in the clip (``models.frontend.PeakNorm``).
"""

from __future__ import annotations

import dataclasses
import functools

import keras

from models.blocks import Scale, check_variant
from models.frontend import frames, log_mel
from models.repeat import loops, stack
from results.errors import UserError


@dataclasses.dataclass(frozen=True)
class Config:
    """One TC-ResNet. Channels are ``stem`` and ``stages`` times ``width``."""

    stem: int = 16
    stages: tuple[int, ...] = (24, 32, 48)
    blocks: int = 3
    kernel: int = 9
    width: float = 1.0
    residual: bool = True
    block: str = "post"
    n_mels: int = 40
    strides: tuple[int, ...] = (2, 2, 2)  # time stride of each stage's first block
    peak_norm: bool = False  # features relative to each bin's peak (models.frontend.PeakNorm)

    def __post_init__(self) -> None:
        check_variant(self.block, self.residual, "tcresnet")
        if self.blocks < 1:
            raise UserError(f"tcresnet blocks must be >= 1. Received: blocks={self.blocks}")
        if self.width <= 0:
            raise UserError(f"tcresnet width must be > 0. Received: width={self.width}")
        if not self.stages or len(self.strides) != len(self.stages):
            raise UserError(
                f"tcresnet needs one stride per stage. Received: stages={self.stages}, "
                f"strides={self.strides}"
            )

    def scaled(self, channels: int) -> int:
        return max(1, round(channels * self.width))

    def stage_blocks(self) -> list[int]:
        """Blocks per stage: ``blocks`` spread evenly, earlier stages taking the remainder."""
        n = len(self.stages)
        return [self.blocks // n + (1 if i < self.blocks % n else 0) for i in range(n)]


_TC8 = Config(blocks=3)
_TC14 = Config(blocks=6)

PRESETS: dict[str, Config] = {
    "tc-resnet8": _TC8,
    # As a CTC encoder: only the first stage strides, so frames stay 20 ms apart.
    "tc-resnet8-ctc": dataclasses.replace(_TC8, strides=(2, 1, 1)),
    # Level- and microphone-invariant features, for voices and recordings never heard (FSDD).
    "tc-resnet8-peak": dataclasses.replace(_TC8, peak_norm=True),
    "tc-resnet14": _TC14,
    "tc-resnet8-1.5": dataclasses.replace(_TC8, width=1.5),
    "tc-resnet14-1.5": dataclasses.replace(_TC14, width=1.5),
}


def with_depth(config: Config, blocks: int) -> Config:
    """The same network with ``blocks`` residual blocks."""
    return dataclasses.replace(config, blocks=blocks)


def weight_layers(config: Config) -> int:
    """Weight layers as the paper counts them: stem + two convs per block + classifier."""
    return 1 + 2 * config.blocks + 1


def _conv_bn(x, channels: int, kernel: int, stride: int, name: str):
    x = keras.layers.Conv1D(
        channels, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    return keras.layers.BatchNormalization(name=f"{name}_bn")(x)


def _bn_relu(x, name: str):
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _conv(x, channels: int, kernel: int, stride: int, name: str):
    return keras.layers.Conv1D(
        channels, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)


def block(x, channels: int, stride: int, config: Config, index: int):
    """Residual block ``index`` (1-based) in ``config.block``'s variant; stride 2 opens a stage."""
    name = f"block{index}"
    project = stride != 1 or x.shape[-1] != channels
    if config.block == "pre":
        x = _bn_relu(x, f"{name}_0")
        y = _conv(x, channels, config.kernel, stride, f"{name}_1")
        y = _conv(_bn_relu(y, f"{name}_1"), channels, config.kernel, 1, f"{name}_2")
        if not config.residual:
            return y
        skip = _conv(x, channels, 1, stride, f"{name}_proj") if project else x
        return keras.layers.Add(name=f"{name}_add")([y, skip])
    y = _conv_bn(x, channels, config.kernel, stride, f"{name}_1")
    y = keras.layers.ReLU(name=f"{name}_1_relu")(y)
    y = _conv_bn(y, channels, config.kernel, 1, f"{name}_2")
    if config.residual:
        if config.block == "rezero":
            y = Scale(name=f"{name}_scale")(y)
        skip = x
        if project:
            skip = _conv_bn(x, channels, 1, stride, f"{name}_proj")
            skip = keras.layers.ReLU(name=f"{name}_proj_relu")(skip)
        y = keras.layers.Add(name=f"{name}_add")([y, skip])
    return keras.layers.ReLU(name=f"{name}_2_relu")(y)


def _same_block(x, index: int, *, channels: int, config: Config):
    return block(x, channels, 1, config, index)


def encoder(config: Config, audio):
    """Raw 16 kHz audio -> per-frame features ``[batch, frames / time stride, channels]``."""
    x = log_mel(audio, config.n_mels, peak_norm=config.peak_norm)
    x = keras.layers.Conv1D(
        config.scaled(config.stem), 3, padding="same", use_bias=False, name="stem_conv"
    )(x)
    index = 0
    stages = zip(config.stages, config.strides, config.stage_blocks(), strict=True)
    for channels, stride, count in stages:
        if not count:
            continue
        # The stage's first block strides and projects; the rest are identical (maybe looped).
        x = block(x, config.scaled(channels), stride, config, index + 1)
        same = functools.partial(_same_block, channels=config.scaled(channels), config=config)
        x = stack(x, same, index + 2, count - 1, loop=loops(config.blocks))
        index += count
    if config.block == "pre":
        x = _bn_relu(x, "head")
    return x


def output_frames(config: Config, samples):
    """Encoder frames for ``samples`` input samples (ints or integer tensors)."""
    n = frames(samples)
    for stride, count in zip(config.strides, config.stage_blocks(), strict=True):
        if count:
            n = (n + stride - 1) // stride
    return n
