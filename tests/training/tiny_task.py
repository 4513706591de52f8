"""A tiny model and an in-memory task with a known answer, shared by the training tests."""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from affect_tf import features
from affect_tf.config import ModelConfig, register_config
from affect_tf.models import AffectModel


@register_config
@dataclasses.dataclass(frozen=True)
class TinyGruConfig(ModelConfig):
    units: int = 8

    def input_shapes(self):
        return {features.EGEMAPS: (None, features.EGEMAPS_DIM)}


@keras.saving.register_keras_serializable(package="affect_tf_tests")
class TinyGru(AffectModel):
    def __init__(self, config=None, **kwargs):
        super().__init__(config=config, **kwargs)
        self.proj = keras.layers.Dense(config.units, activation="tanh", name="proj")
        self.gru = keras.layers.GRU(config.units, return_sequences=True, use_cudnn=False, name="gru")
        self.head = keras.layers.Dense(2, dtype="float32", name="head")

    def call(self, inputs, training=False):
        h = self.gru(self.proj(inputs[features.EGEMAPS]), training=training)
        return {features.TARGETS: self.head(h)}


TinyGruConfig.model_class = TinyGru

_W = np.random.default_rng(123).normal(size=(features.EGEMAPS_DIM, 2)).astype("float32") / 3


def task_arrays(n, frames=8, seed=0, missing=0.2):
    """Labels are a fixed smooth function of the current frame's features; some are masked."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, frames, features.EGEMAPS_DIM)).astype("float32")
    y = np.tanh(x @ _W).astype("float32")
    mask = (rng.uniform(size=(n, frames, 2)) > missing).astype("float32")
    y_stored = np.where(mask > 0, y, -5.0).astype("float32")  # masked labels hold a sentinel
    feats = {features.EGEMAPS: x, features.FRAME_MASK: np.ones((n, frames), "float32")}
    labels = {features.TARGETS: y_stored, features.LABEL_MASK: mask}
    return feats, labels, y


def task_dataset(n, frames=8, seed=0, batch=4, **kw):
    feats, labels, _ = task_arrays(n, frames, seed, **kw)
    return tf.data.Dataset.from_tensor_slices((feats, labels)).batch(batch)
