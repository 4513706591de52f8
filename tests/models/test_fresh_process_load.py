"""Every model family's trained ``.keras`` loads in a fresh process: ``affect-tf export`` in a
subprocess after a one-step ``train_and_evaluate`` (the documented train -> export path)."""
from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from affect_tf import features, presets
from affect_tf.models.adversarial import AEGCDSZConfig, DiLaSTConfig, LatentSequenceConfig
from affect_tf.models.cnn_rnn import CnnRnnConfig
from affect_tf.models.cnn_rnn.fusion import ModelLevelFusionConfig
from affect_tf.models.implicit_fusion import ImplicitFusionConfig
from affect_tf.training import TrainConfig, train_and_evaluate

_CNN = dict(crop_size=32, vgg_filters=(4, 4, 8, 8, 8), fc_units=8, rnn_units=4)
_MEL_FRONTEND = dict(generator_filters=2, residual_blocks=1, latent_block=1,
                     discriminator_filters=(2,) * 6, encoder_filters=(2,), features=4)
TINY_FAMILIES = {
    "cnn_rnn": CnnRnnConfig(**_CNN),
    "model_level_fusion": ModelLevelFusionConfig(
        members=(CnnRnnConfig(rnn="single", **_CNN), CnnRnnConfig(**_CNN)), units=4),
    "implicit_fusion": ImplicitFusionConfig(main="audio", alpha=0.5, units=4),
    "aeg_cd_sz": AEGCDSZConfig(image_size=16, generator_filters=2, discriminator_filters=(4, 8, 16)),
    "dilast_mel": DiLaSTConfig(modality=features.MEL, image_size=128, **_MEL_FRONTEND),
    "latent_sequence_mel": LatentSequenceConfig(modalities=(features.MEL,), image_size=128,
                                                lstm_units=4, n_states=2, **_MEL_FRONTEND),
}


def random_dataset(model_config, batch=2, frames=2, seed=0):
    """Random features of the config's shapes (mel in dB) with random labels, all frames real."""
    rng = np.random.default_rng(seed)
    feats = {k: rng.uniform(-1, 1, v.shape).astype("float32")
             for k, v in model_config.dummy_inputs(batch, frames).items()}
    if features.MEL in feats:
        feats[features.MEL] = feats[features.MEL] * 40 - 40
    for mask in (features.FACE_MASK, features.AUDIO_MASK, features.FRAME_MASK):
        feats[mask] = np.ones((batch, frames), "float32")
    targets = rng.uniform(-1, 1, (batch, frames, 2)).astype("float32")
    labels = {features.TARGETS: targets, features.LABEL_MASK: np.ones_like(targets)}
    return tf.data.Dataset.from_tensors((feats, labels))


@pytest.mark.slow
def test_every_family_exports_in_a_fresh_process(tmp_path):
    models = []
    for name, model_config in TINY_FAMILIES.items():
        config = TrainConfig(model=model_config, epochs=1, steps_per_epoch=1, batch_size=2, window=2,
                             early_stopping_patience=0, tensorboard=False)
        result = train_and_evaluate(config, tmp_path / name, random_dataset(model_config))
        models.append((name, result.keras_path))
        keras.backend.clear_session()
    # One fresh interpreter exports them all: nothing but the CLI's own imports registers classes.
    script = ("import sys\nfrom affect_tf.cli import main\nbase, *pairs = sys.argv[1:]\n"
              "for name, path in zip(pairs[::2], pairs[1::2]):\n"
              "    assert main(['export', path, base + '/' + name]) == 0, name\n")
    argv = [str(tmp_path / "exported")] + [arg for name, path in models for arg in (name, path)]
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, _ in models:
        assert list((tmp_path / "exported" / name).glob("*/saved_model.pb")), name
