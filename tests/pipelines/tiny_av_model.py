"""A tiny audio-visual model for the pipeline tests: pooled face crop + eGeMAPS -> GRU -> (V, A).

Small enough to train in seconds on CPU; it sees the cues the synthetic drop puts in the face
(brightness, mouth) and the audio (pitch, loudness). The pipeline under test is the same for a
paper preset; only the training time differs.
"""
import dataclasses

import keras

from affect_tf import features
from affect_tf.config import ModelConfig, register_config
from affect_tf.models import AffectModel


@register_config
@dataclasses.dataclass(frozen=True)
class TinyAvConfig(ModelConfig):
    units: int = 16
    crop_size: int = 96
    face_pool: int = 24  # crop -> (crop / face_pool)^2 x 3 mean colours

    def input_shapes(self):
        s = self.crop_size
        return {features.FACE: (None, s, s, 3), features.EGEMAPS: (None, features.EGEMAPS_DIM)}


@keras.saving.register_keras_serializable(package="affect_tf_tests")
class TinyAv(AffectModel):
    def __init__(self, config=None, **kwargs):
        super().__init__(config=config, **kwargs)
        self.pool = keras.layers.TimeDistributed(keras.layers.AveragePooling2D(config.face_pool), name="pool")
        self.flat = keras.layers.TimeDistributed(keras.layers.Flatten(), name="flat")
        self.face = keras.layers.Dense(config.units, activation="tanh", name="face")
        self.audio = keras.layers.Dense(config.units, activation="tanh", name="audio")
        self.gru = keras.layers.GRU(config.units, return_sequences=True, name="gru")
        self.head = keras.layers.Dense(2, dtype="float32", name="head")

    def call(self, inputs, training=False):
        face = self.face(self.flat(self.pool(inputs[features.FACE])))
        audio = self.audio(inputs[features.EGEMAPS])
        h = self.gru(keras.ops.concatenate([face, audio], axis=-1), training=training)
        return {features.TARGETS: self.head(h)}


TinyAvConfig.model_class = TinyAv
