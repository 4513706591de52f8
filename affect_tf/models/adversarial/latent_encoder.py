"""Quadrant, ZQ conditioning and the combiner/predictor on ZQ (``003`` eq. 3, ``001`` eq. 3)."""
from __future__ import annotations

import keras
from keras import layers, ops


def quadrant(va):
    """Circumplex quadrant of (valence, arousal) around the centre of the [-1, 1] scale:
    0 = V high A high, 1 = V low A high, 2 = both low, 3 = V high A low (``003`` §3.1)."""
    v_high = ops.cast(va[..., 0] >= 0.0, "float32")
    a_high = ops.cast(va[..., 1] >= 0.0, "float32")
    return a_high * (1.0 - v_high) + (1.0 - a_high) * (2.0 + v_high)


def estimated_quadrant(logits):
    """The quadrant D estimates: the arg-max of its four quadrant logits (``003`` eq. 2), as float."""
    return ops.cast(ops.argmax(logits, axis=-1), "float32")


def zq(z, q):
    """ZQ: z (N, H, W, C) with one constant plane holding the quadrant q (N,) appended."""
    plane = ops.ones_like(z[..., :1]) * ops.reshape(ops.cast(q, z.dtype), (-1, 1, 1, 1))
    return ops.concatenate([z, plane], axis=-1)


@keras.saving.register_keras_serializable(package="affect_tf")
class LatentEncoder(layers.Layer):
    """enc_P of the predictor: 4x4 stride-2 convs with LeakyReLU(0.01) over the ZQ map, then a
    fully connected layer to one feature vector per frame (``001`` eq. 3, ``003`` eq. 3)."""

    def __init__(self, filters=(64, 128, 256), features: int = 256, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(filters)
        self.features = features
        self.convs = [layers.Conv2D(f, 4, 2, padding="same", name=f"conv{i + 1}")
                      for i, f in enumerate(self.filters)]
        self.flatten = layers.Flatten(name="flatten")
        self.dense = layers.Dense(features, name="dense")

    def build(self, input_shape):
        shape = (None, *input_shape[1:])
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.dense.build((None, shape[1] * shape[2] * shape[3]))

    def call(self, x):
        for conv in self.convs:
            x = ops.leaky_relu(conv(x), 0.01)
        return ops.leaky_relu(self.dense(self.flatten(x)), 0.01)

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters), "features": self.features}
