"""Gated multimodal unit (``001`` §3.2, eq. 5-8; Arevalo et al. 2017)."""
from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="affect_tf")
class GatedMultimodalUnit(layers.Layer):
    """Fuses a visual and a sound feature tensor with a learnt gate.

    ``h_v = tanh(W_v x_v)``, ``h_s = tanh(W_s x_s)``, ``zg = sigmoid(W_zg [x_v; x_s])`` and the
    output is ``zg * h_v + (1 - zg) * h_s`` (eq. 5-8). The weights act on the last axis, so on
    2-D latent maps (..., H, W, C) the unit is applied at every position (1x1 convolutions).
    ``call([x_v, x_s])`` returns ``(fused, gate)``; the gate values lie in (0, 1).
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.visual = layers.Dense(units, activation="tanh", name="visual")
        self.sound = layers.Dense(units, activation="tanh", name="sound")
        self.gate = layers.Dense(units, activation="sigmoid", name="gate")

    def build(self, input_shapes):
        v_shape, s_shape = input_shapes
        self.visual.build(v_shape)
        self.sound.build(s_shape)
        self.gate.build((*v_shape[:-1], v_shape[-1] + s_shape[-1]))

    def call(self, inputs):
        x_v, x_s = inputs
        gate = self.gate(ops.concatenate([x_v, x_s], axis=-1))
        fused = gate * self.visual(x_v) + (1.0 - gate) * self.sound(x_s)
        return fused, gate

    def compute_output_shape(self, input_shapes):
        shape = (*input_shapes[0][:-1], self.units)
        return shape, shape

    def get_config(self):
        return {**super().get_config(), "units": self.units}
