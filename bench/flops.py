"""Forward-pass FLOPs per example, counted from each layer's input and output shapes.

A multiply-add is two FLOPs. The functional graph is walked with concrete shapes for one example
of ``samples`` input samples (the models take variable-length audio, so the shapes of the built
model have no time length), and each layer is counted by its type:

- convolutions (``Conv1D``/``Conv2D``, grouped too): ``2 * outputs * kernel_size * in/groups``;
  depthwise: ``2 * outputs * kernel_size``; separable: depthwise plus pointwise; bias adds one
  per output;
- ``Dense``: ``2 * inputs * units`` per position, plus bias;
- element-wise layers (batch norm as scale and shift: 2 per element; ReLU, Add, Rescaling,
  pooling) by their elements;
- ``MelSpectrogram``: framing and windowing, a real FFT (``2.5 N log2 N``), power, the mel matrix
  product and the log.

Layers that only move data (reshape, permute, input) cost nothing. A layer of any other type
raises, so a new layer is counted on purpose rather than silently as zero.
"""

from __future__ import annotations

import math

import keras
import numpy as np

FREE = (
    keras.layers.InputLayer,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.Flatten,
    keras.layers.Dropout,
    keras.layers.Identity,
)


def _prod(shape) -> int:
    return int(np.prod([d for d in shape if d is not None], dtype=np.int64))


def _elements(shape) -> int:
    """Elements of one example: the shape without its batch axis."""
    return _prod(shape[1:])


def _conv(layer, in_shape, out_shape) -> int:
    kernel = _prod(layer.kernel_size)
    out = _elements(out_shape)
    in_ch = in_shape[-1] if layer.data_format == "channels_last" else in_shape[1]
    groups = getattr(layer, "groups", 1)
    macs = out * kernel * (in_ch // groups)
    return 2 * macs + (out if layer.use_bias else 0)


def _depthwise(layer, in_shape, out_shape) -> int:
    out = _elements(out_shape)
    return 2 * out * _prod(layer.kernel_size) + (out if layer.use_bias else 0)


def _separable(layer, in_shape, out_shape) -> int:
    in_ch = in_shape[-1] if layer.data_format == "channels_last" else in_shape[1]
    out = _elements(out_shape)
    positions = out // layer.filters
    depthwise = 2 * positions * in_ch * layer.depth_multiplier * _prod(layer.kernel_size)
    pointwise = 2 * out * in_ch * layer.depth_multiplier
    return depthwise + pointwise + (out if layer.use_bias else 0)


def _dense(layer, in_shape, out_shape) -> int:
    out = _elements(out_shape)
    return 2 * out * in_shape[-1] + (out if layer.use_bias else 0)


def _mel(layer, in_shape, out_shape) -> int:
    frames = out_shape[-1]  # the layer returns [batch, mels, frames]
    n_fft = layer.fft_length
    bins = n_fft // 2 + 1
    window = layer.sequence_length
    fft = 2.5 * n_fft * math.log2(n_fft)  # a real FFT: half a complex radix-2 FFT's 5 N log2 N
    per_frame = window + fft + 3 * bins + 2 * bins * layer.num_mel_bins + 2 * layer.num_mel_bins
    return int(frames * per_frame)


def _pool(layer, in_shape, out_shape) -> int:
    return _elements(out_shape) * _prod(layer.pool_size)


def _per_element(factor: int, of: str = "out"):
    def count(layer, in_shape, out_shape) -> int:
        return factor * _elements(in_shape if of == "in" else out_shape)

    return count


# Most specific first: SeparableConv and DepthwiseConv are not Conv subclasses, but keep the order
# meaningful anyway.
COUNTERS = (
    ((keras.layers.SeparableConv1D, keras.layers.SeparableConv2D), _separable),
    ((keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D), _depthwise),
    ((keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D), _conv),
    ((keras.layers.Dense,), _dense),
    ((keras.layers.MelSpectrogram,), _mel),
    ((keras.layers.BatchNormalization,), _per_element(2)),
    ((keras.layers.ReLU, keras.layers.Activation), _per_element(1)),
    ((keras.layers.Rescaling,), _per_element(2)),
    ((keras.layers.AveragePooling1D, keras.layers.AveragePooling2D), _pool),
    ((keras.layers.MaxPooling1D, keras.layers.MaxPooling2D), _pool),
    (
        (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D),
        _per_element(1, "in"),
    ),
)


def layer_flops(layer, in_shapes: list[tuple], out_shape: tuple) -> int:
    """FLOPs of one call of ``layer`` for one example (shapes include a batch axis of 1)."""
    if isinstance(layer, FREE):
        return 0
    if isinstance(layer, keras.layers.Add):
        return (len(in_shapes) - 1) * _elements(out_shape)
    for types, count in COUNTERS:
        if isinstance(layer, types):
            return int(count(layer, in_shapes[0], out_shape))
    if type(layer).__name__ == "Scale":  # models.blocks.Scale: one multiply per element
        return _elements(out_shape)
    if type(layer).__name__ == "PeakNorm":  # models.frontend.PeakNorm: a max and a subtraction
        return 2 * _elements(out_shape)
    if type(layer).__name__ == "SpecAugment":  # models.frontend: the identity at inference
        return 0
    raise ValueError(
        f"no FLOP count for layer {layer.name!r} of type {type(layer).__name__}; "
        "add it to bench.flops.COUNTERS"
    )


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def per_layer(model: keras.Model, example: int | tuple[int, ...]) -> dict[str, int]:
    """Forward FLOPs of each layer of a functional ``model`` on one example, summed over its calls.

    Args:
        model: a functional model with one input.
        example: the shape of one example without the batch axis; an int is raw audio of that
            many samples.

    The graph is run symbolically from an input of shape ``(1, *example)``, node by node as Keras
    itself runs it (``Function._run_through_graph``, the walk behind ``compute_output_spec``), so
    the count follows the model's real strides, paddings and pools, and a layer called more than
    once (a shared layer) is counted once per call. A looped stack of blocks
    (``models.repeat.Repeat``) counts its block model once per copy.
    """
    (inp,) = model.inputs
    example = (int(example),) if isinstance(example, (int, np.integer)) else tuple(example)
    return _walk(model, [keras.KerasTensor((1, *example), dtype=inp.dtype)])


def _walk(model: keras.Model, inputs: list) -> dict[str, int]:
    from models.repeat import Repeat

    counts: dict[str, int] = {}

    def counted(layer):
        def call(*args, **kwargs):
            out = layer.compute_output_spec(*args, **kwargs)
            flat = keras.tree.flatten((args, kwargs))
            ins = [t for t in flat if isinstance(t, keras.KerasTensor)]
            if isinstance(layer, Repeat):
                flops = layer.count * sum(_walk(layer.template, ins).values())
            else:
                (first_out, *_) = keras.tree.flatten(out)
                in_shapes = [tuple(t.shape) for t in ins]
                flops = layer_flops(layer, in_shapes, tuple(first_out.shape))
            counts[layer.name] = counts.get(layer.name, 0) + flops
            return out

        return call

    model._run_through_graph(inputs, operation_fn=counted)
    return counts


def per_example(model: keras.Model, example: int | tuple[int, ...]) -> int:
    """Forward FLOPs of ``model`` for one example (``example``: see ``per_layer``)."""
    return int(sum(per_layer(model, example).values()))
