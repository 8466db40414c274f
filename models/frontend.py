"""The log-mel front end shared by every family, inside the model so saved models take raw audio.

``keras.layers.MelSpectrogram``'s ``top_db`` clip is relative to the loudest value of the whole
batch, which would make one clip's features depend on its batch-mates; ``NO_CLIP_DB`` disables it
(``min_power`` already floors the log at -100 dB, far above ``-NO_CLIP_DB``).
The fixed rescaling maps typical log-power values (about -100..+40 dB) to roughly unit range.
The front end computes in float32 whatever the global dtype policy (an FFT and a log of power
in float16 lose the quiet bins); the encoder's first layer casts its output to its own dtype.
"""

from __future__ import annotations

import keras

from datasets.base import SAMPLE_RATE

FEATURES_LAYER = "log_mel_scale"  # the front end's last layer: its output is the features
HOP = 160  # 10 ms
WINDOW = 480  # 30 ms
FFT = 512
NO_CLIP_DB = 1e9


def log_mel(audio, n_mels: int = 40):
    """Raw audio ``[batch, samples]`` -> log-mel features ``[batch, frames, n_mels]``."""
    x = keras.layers.MelSpectrogram(
        fft_length=FFT,
        sequence_stride=HOP,
        sequence_length=WINDOW,
        window="hann",
        sampling_rate=SAMPLE_RATE,
        num_mel_bins=n_mels,
        min_freq=20.0,
        max_freq=SAMPLE_RATE / 2,
        power_to_db=True,
        top_db=NO_CLIP_DB,
        dtype="float32",
        name="log_mel",
    )(audio)
    x = keras.layers.Permute((2, 1), dtype="float32", name="frames_first")(x)
    return keras.layers.Rescaling(
        scale=1 / 40, offset=1.0, dtype="float32", name=FEATURES_LAYER
    )(x)


def frames(samples):
    """Log-mel frames of ``samples`` samples (the STFT is centred: one frame per hop, plus one)."""
    return samples // HOP + 1


def audio_input(name: str = "audio"):
    """A variable-length raw-audio input (16 kHz float32)."""
    return keras.Input(shape=(None,), dtype="float32", name=name)


def split(model):
    """``(front end, trunk)`` of a model built on raw audio, sharing its layers and weights.

    The front end maps raw audio to the log-mel features (it has no weights); the trunk maps
    the features to the model's outputs. Training the trunk on precomputed features trains
    ``model`` itself, which still takes raw audio (``trunk(front_end(audio)) == model(audio)``).

    Raises:
        ValueError: ``model`` has no log-mel front end (no layer named ``FEATURES_LAYER``).
    """
    try:
        features = model.get_layer(FEATURES_LAYER).output
    except ValueError as err:
        raise ValueError(
            f"model {model.name!r} has no log-mel front end (layer {FEATURES_LAYER!r})"
        ) from err
    front = keras.Model(model.input, features, name=f"{model.name}_front_end")
    trunk = keras.Model(features, model.output, name=f"{model.name}_trunk")
    return front, trunk
