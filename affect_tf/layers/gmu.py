"""Gated multimodal unit (``001`` §3.2, eq. 5-8; Arevalo et al. 2017)."""
from __future__ import annotations

import keras
from keras import layers, ops

PROJECTIONS = ("elementwise", "dense")


@keras.saving.register_keras_serializable(package="affect_tf")
class GatedMultimodalUnit(layers.Layer):
    """Fuses a visual and a sound feature tensor with a learnt gate.

    ``zg = sigmoid(W_zg [x_v; x_s])`` (eq. 6, on the last axis: a 1x1 convolution on 2-D latent
    maps) and the output is ``zg * h_v + (1 - zg) * h_s`` (eq. 5). ``h_v``, ``h_s`` (eq. 7-8):

    * ``projection="elementwise"`` (default), as eq. 7-8 write them, ``h_v = tanh(W_v ⊙ x_v)``:
      one weight per entry of the input (``W_v`` has the shape of one ZQ map, H x W x C), no bias;
      ``units`` must equal the input channels. The weights start at one (``h_v = tanh(x_v)``):
      Glorot's scale for an H x W x C tensor (about 0.1) shrinks the signal tenfold and the
      AVi-GaS recipe test fell from 0.94 to 0.40 mean CCC with it. This is the reading that puts AVi-GaS above AVi-CaS
      in ``001`` Table 11 (issue 24; docs/models_adversarial.md, "Parameter counts").
    * ``projection="dense"``: ``h_v = tanh(W_v x_v + b_v)`` on the last axis (Arevalo et al.'s
      dense GMU; the model before issue 24).

    ``call([x_v, x_s])`` returns ``(fused, gate)``; the gate values lie in (0, 1).
    """

    def __init__(self, units: int, projection: str = "elementwise", **kwargs):
        super().__init__(**kwargs)
        if projection not in PROJECTIONS:
            raise ValueError(f"GMU projection {projection!r}: expected one of {PROJECTIONS}")
        self.units = units
        self.projection = projection
        if projection == "dense":
            self.visual = layers.Dense(units, activation="tanh", name="visual")
            self.sound = layers.Dense(units, activation="tanh", name="sound")
        self.gate = layers.Dense(units, activation="sigmoid", name="gate")

    def build(self, input_shapes):
        v_shape, s_shape = input_shapes
        if self.projection == "dense":
            self.visual.build(v_shape)
            self.sound.build(s_shape)
        else:
            for name, shape in (("visual", v_shape), ("sound", s_shape)):
                if shape[-1] != self.units:
                    raise ValueError(f"elementwise GMU: the {name} input has {shape[-1]} channels, units is {self.units}")
                setattr(self, f"{name}_kernel", self.add_weight(shape=tuple(shape[1:]), initializer="ones",
                                                                name=f"{name}_kernel"))
        self.gate.build((*v_shape[:-1], v_shape[-1] + s_shape[-1]))

    def call(self, inputs):
        x_v, x_s = inputs
        gate = self.gate(ops.concatenate([x_v, x_s], axis=-1))
        if self.projection == "dense":
            h_v, h_s = self.visual(x_v), self.sound(x_s)
        else:
            h_v, h_s = ops.tanh(self.visual_kernel * x_v), ops.tanh(self.sound_kernel * x_s)
        return gate * h_v + (1.0 - gate) * h_s, gate

    def compute_output_shape(self, input_shapes):
        shape = (*input_shapes[0][:-1], self.units)
        return shape, shape

    def get_config(self):
        return {**super().get_config(), "units": self.units, "projection": self.projection}
