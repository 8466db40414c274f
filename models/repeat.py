"""Identical consecutive residual blocks run as one loop over stacked weights.

Why: a graph of 128 unrolled blocks takes a minute or more to trace and optimize on a CPU, and
the optimizer then updates its ~800 weight tensors one by one. ``Repeat`` keeps one copy of the
block as a template model and stacks the weights of all copies on a leading axis; its call is a
``keras.ops.scan`` over the copies (on TensorFlow a ``tf.while_loop`` bounded by the copy count,
which XLA can compile), so the graph, the trace time and the optimizer's tensor count stay those
of one block whatever the depth. It is the same network: copy ``i`` computes exactly
what the unrolled block ``first + i`` would with the same weights (tested), and every copy is
initialized independently, as its own layers would be.

``stack`` is what a family calls, with ``loop=loops(config.blocks)``: nets of ``LOOP_MIN`` blocks
or more loop every run of identical blocks; shallower ones, every published preset among them,
keep their plain layer-per-layer graph. The template's layers are named for block 0
(``block0_...``); ``layer_name`` maps them to the block each copy stands for
(``block{first + i}_...``), so the gradient-flow tables of a looped model have the same rows as
an unrolled one.
"""

from __future__ import annotations

import keras
import numpy as np

LOOP_MIN = 16  # nets of at least this many blocks loop; the published presets have at most 12
TEMPLATE_INDEX = 0  # the block index the template's layer names carry


class _Untracked:
    """Hides the template from Keras's attribute tracking: ``call`` never reads its weights
    (they only seed copy 0's initial values)."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model


@keras.saving.register_keras_serializable(package="resdepth")
class Repeat(keras.layers.Layer):
    """``count`` copies of a shape-preserving block model, applied in sequence by a loop.

    Args:
        block: a functional model mapping its inputs (one tensor, or a list of tensors such as
            ``[x, skip]``) to outputs of the same shapes; layer names ``block0_...``.
        count: how many copies.
        first: the block index (1-based, in the whole network) of copy 0.
    """

    def __init__(self, block: keras.Model, count: int, first: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if count < 1 or first < 1:
            raise ValueError(f"Repeat needs count >= 1 and first >= 1. Received: {count}, {first}")
        self._template = _Untracked(block)
        self.count = count
        self.first = first

    @property
    def template(self) -> keras.Model:
        return self._template.model

    def build(self, input_shape) -> None:
        block = self.template
        # Fresh copies draw fresh initial weights from the seeded global generator (loading a
        # saved model builds too, then overwrites them: count - 1 clones, seconds at 128 blocks).
        copies = [block] + [keras.models.clone_model(block) for _ in range(self.count - 1)]
        trainable = {id(v) for v in block.trainable_weights}
        # ``call`` hands the stacks to ``stateless_call`` in ``block.weights`` order split into
        # trainable and not: that must be the order of its trainable/non-trainable variables.
        order = [id(v) for v in block.weights]
        expected = [id(v) for v in [*block.trainable_variables, *block.non_trainable_variables]]
        if sorted(order, key=expected.index) != expected:
            raise ValueError(f"Repeat cannot stack block {block.name!r}: unexpected weight order")
        self.stacked = []
        for j, v in enumerate(block.weights):
            w = self.add_weight(
                shape=(self.count, *v.shape),
                initializer="zeros",
                trainable=id(v) in trainable,
                # State (batch-norm statistics) stays float32 under mixed precision, as in
                # BatchNormalization, so the loop can write back what the block computes.
                autocast=id(v) in trainable,
                name=v.path.replace("/", "__"),  # no "/" (Keras) nor "." (PyTorch)
            )
            w.assign(np.stack([keras.ops.convert_to_numpy(c.weights[j]) for c in copies]))
            self.stacked.append(w)
        self._learned_ix = [i for i, v in enumerate(block.weights) if id(v) in trainable]
        self._state_ix = [i for i, v in enumerate(block.weights) if id(v) not in trainable]

    def call(self, inputs, training=None):
        block = self.template
        weights = [self.stacked[i].value for i in self._learned_ix]
        state = [self.stacked[i].value for i in self._state_ix]

        def step(carry, xs):
            h, state = carry
            i, weights = xs
            own = [s[i] for s in state]
            h, new = block.stateless_call(weights, own, h, training=training)
            # Write copy i's new state (batch-norm statistics) into its row; keras.ops.scan
            # requires per-step outputs shaped like the carry, so the state rides in the carry.
            hot = keras.ops.one_hot(i, self.count)
            state = [
                keras.ops.stop_gradient(
                    s + keras.ops.reshape(hot, (-1,) + (1,) * (len(s.shape) - 1)) * (n - s)
                )
                for s, n in zip(state, new, strict=True)
            ]
            return (h, state), None

        if keras.backend.backend() == "tensorflow":
            out, state = self._tf_loop(step, inputs, state, weights)
        else:
            (out, state), _ = keras.ops.scan(
                step, (inputs, state), (keras.ops.arange(self.count), weights)
            )
        if training:
            for i, s in zip(self._state_ix, state, strict=True):
                self.stacked[i].assign(s)
        return out

    def _tf_loop(self, step, inputs, state, weights):
        """``keras.ops.scan`` as a ``tf.while_loop`` bounded by ``maximum_iterations``.

        Keras's TensorFlow ``scan`` leaves the loop unbounded, and the gradient of an unbounded
        loop cannot be compiled by XLA ("XLA compilation requires a fixed tensor list size"):
        with ``jit_compile=True`` (on a GPU, say) every looped net failed to train. The same
        steps, in the same order, on the same weights.
        """
        import tensorflow as tf

        def body(i, h, state):
            (h, state), _ = step((h, state), (i, [w[i] for w in weights]))
            return i + 1, h, state

        _, out, state = tf.while_loop(
            lambda i, h, state: i < self.count,
            body,
            (tf.constant(0), inputs, state),
            maximum_iterations=self.count,
        )
        return out, state

    def compute_output_shape(self, input_shape):
        return input_shape

    def layer_name(self, weight: int, copy: int) -> str:
        """The unrolled layer name of stacked weight ``weight``'s copy ``copy``."""
        name = self.template.weights[weight].path.split("/")[-2]
        prefix = f"block{TEMPLATE_INDEX}_"
        if not name.startswith(prefix):
            raise ValueError(f"Repeat template layer {name!r} is not named {prefix}...")
        return f"block{self.first + copy}_{name[len(prefix) :]}"

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "block": keras.saving.serialize_keras_object(self.template),
            "count": self.count,
            "first": self.first,
        }

    @classmethod
    def from_config(cls, config: dict) -> Repeat:
        config = dict(config)
        config["block"] = keras.saving.deserialize_keras_object(config["block"])
        return cls(**config)


def loops(blocks: int) -> bool:
    """Whether a net of ``blocks`` residual blocks runs its identical blocks as loops."""
    return blocks >= LOOP_MIN


def stack(inputs, block_fn, first: int, count: int, *, loop: bool):
    """Apply ``count`` identical blocks numbered from ``first``: unrolled, or one ``Repeat``.

    ``block_fn(inputs, index)`` builds block ``index`` on ``inputs`` (a tensor or a list such as
    ``[x, skip]``) and returns outputs of the same structure and shapes.
    """
    if not loop or count < 2:
        for index in range(first, first + count):
            inputs = block_fn(inputs, index)
        return inputs
    name = f"blocks{first}to{first + count - 1}"
    specs = [keras.Input(t.shape[1:], dtype=t.dtype) for t in _as_list(inputs)]
    template_in = specs if isinstance(inputs, (list, tuple)) else specs[0]
    template = keras.Model(template_in, block_fn(template_in, TEMPLATE_INDEX), name=f"{name}_block")
    return Repeat(template, count, first, name=name)(inputs)


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]
