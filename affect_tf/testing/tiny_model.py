"""A small model that follows the affect_tf.features contract, for the serving tests.

Used until (and beside) the real presets: it reads every feature the serving signature offers,
so shape or normalisation mistakes in the export change its output.
"""
from __future__ import annotations

import keras
import numpy as np

from affect_tf import features as F

MODEL_NAME = F.MODEL_NAME
METADATA = {"preset": "tiny_test_model", "fps": 25.0, "window": 4, "schema_version": 1,
            "training_data": "random-batch-seed0", "metrics": {"ccc_valence": 0.1}}


@keras.saving.register_keras_serializable(package="affect_tf_testing")
class TinyAffectModel(keras.Model):
    """Per-frame pooled face + landmarks + mel + eGeMAPS -> GRU -> (valence, arousal), attention."""

    serving_inputs = (F.FACE, F.LANDMARKS, F.MEL, F.EGEMAPS, F.FACE_MASK, F.AUDIO_MASK)

    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.face_conv = keras.layers.Conv2D(4, 5, strides=4, activation="relu", name="face_conv")
        self.frame_dense = keras.layers.Dense(units, activation="tanh", name="frame_dense")
        self.gru = keras.layers.GRU(units, return_sequences=True, name="gru")
        self.head = keras.layers.Dense(2, activation="tanh", name="head")
        self.attention_head = keras.layers.Dense(1, name="attention_head")

    def call(self, inputs, training=False):
        face = inputs[F.FACE]
        b, t = keras.ops.shape(face)[0], keras.ops.shape(face)[1]
        s = face.shape[2]
        conv = self.face_conv(keras.ops.reshape(face, (-1, s, s, 3)))
        face_vec = keras.ops.reshape(keras.ops.mean(conv, axis=(1, 2)), (b, t, 4))
        face_vec = face_vec * inputs[F.FACE_MASK][..., None]
        lm = keras.ops.reshape(inputs[F.LANDMARKS], (b, t, 2 * F.N_LANDMARKS))
        mel = keras.ops.mean(inputs[F.MEL], axis=-1) / 80.0
        audio = keras.ops.concatenate([mel, inputs[F.EGEMAPS]], axis=-1) * inputs[F.AUDIO_MASK][..., None]
        x = self.frame_dense(keras.ops.concatenate([face_vec, lm, audio], axis=-1))
        h = self.gru(x)
        scores = self.attention_head(h)[..., 0]
        return {F.TARGETS: self.head(h), F.ATTENTION: keras.ops.softmax(scores, axis=-1)}

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def random_batch(batch=2, frames=4, crop_size=F.DEFAULT_CROP_SIZE, seed=0):
    """(client inputs with uint8 faces, model features with faces on [-1, 1], targets)."""
    rng = np.random.default_rng(seed)
    client = {
        F.FACE: rng.integers(0, 256, (batch, frames, crop_size, crop_size, 3), dtype=np.uint8),
        F.LANDMARKS: rng.uniform(-1, 1, (batch, frames, F.N_LANDMARKS, 2)).astype("float32"),
        F.MEL: rng.uniform(-80, 0, (batch, frames, F.N_MELS, F.MEL_FRAMES)).astype("float32"),
        F.EGEMAPS: rng.normal(size=(batch, frames, F.EGEMAPS_DIM)).astype("float32"),
        F.FACE_MASK: (rng.uniform(size=(batch, frames)) > 0.2).astype("float32"),
        F.AUDIO_MASK: np.ones((batch, frames), "float32"),
    }
    model_features = dict(client)
    model_features[F.FACE] = client[F.FACE].astype("float32") / 127.5 - 1.0
    # A target the model can learn: valence follows the mean landmark x, arousal the eGeMAPS mean.
    targets = np.stack([np.tanh(client[F.LANDMARKS][..., 0].mean(-1) * 3),
                        np.tanh(client[F.EGEMAPS].mean(-1))], axis=-1).astype("float32")
    return client, model_features, targets


def train_tiny_model(steps=5, crop_size=F.DEFAULT_CROP_SIZE, seed=0):
    """Build and fit TinyAffectModel for a few steps; returns (model, losses per step)."""
    keras.utils.set_random_seed(seed)
    model = TinyAffectModel()
    _, feats, targets = random_batch(4, 6, crop_size, seed)
    model(feats)
    optimizer = keras.optimizers.Adam(1e-2)
    losses = []
    import tensorflow as tf

    for _ in range(steps):
        with tf.GradientTape() as tape:
            pred = model(feats, training=True)[F.TARGETS]
            loss = keras.ops.mean((pred - targets) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    return model, losses
