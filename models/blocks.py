"""What the families share: the block variants and the learnable residual scale.

Variants of a residual block, selectable per model so a study can show what each buys:

- ``post``: post-activation, the published form of each family (He et al. 2016a).
- ``pre``: pre-activation, normalization and ReLU before each convolution and a clean identity
  path (He et al. 2016b); the network ends with one more normalization and ReLU.
- ``rezero``: the post-activation branch scaled by a learnable scalar initialized at zero, so
  every block starts as the identity (SkipInit, De & Smith 2020; ReZero, Bachlechner et al. 2020).

``residual=False`` removes the skip of any variant; ``rezero`` without a skip would zero the
network, so that combination is refused.
"""

from __future__ import annotations

import keras

from results.errors import UserError

VARIANTS = ("post", "pre", "rezero")


def check_variant(block: str, residual: bool, family: str) -> None:
    """Validate a family config's ``block`` and ``residual`` together, naming the bad value."""
    if block not in VARIANTS:
        raise UserError(f"{family} block must be one of {VARIANTS}. Received: block={block!r}")
    if block == "rezero" and not residual:
        raise UserError(
            f"{family} block='rezero' scales the residual branch and needs residual=True"
        )


@keras.saving.register_keras_serializable(package="resdepth")
class Scale(keras.layers.Layer):
    """Multiplies its input by one learnable scalar, initialized at zero (ReZero/SkipInit)."""

    def build(self, input_shape):
        self.alpha = self.add_weight(shape=(), initializer="zeros", name="alpha")

    def call(self, inputs):
        return inputs * keras.ops.cast(self.alpha, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
