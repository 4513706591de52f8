"""Every adversarial preset through the shared harness; a few training steps of every model kind
with shrunk configs (``000``, ``003``, ``001``)."""
import numpy as np
import pytest

from affect_tf import features, presets
from affect_tf.models.adversarial.aeg_cd_sz import AEGCDSZConfig
from affect_tf.models.adversarial.adversarial_presets import CURRICULUM
from affect_tf.models.adversarial.dilast import DiLaSTConfig
from affect_tf.models.adversarial.sequence import LatentSequenceConfig

from tests import model_harness

# one preset per model kind runs by default; the rest (same classes, other sizes/flags) are slow
FAST = ["aeg_cd_sz", "vi_de", "anclaf_sa_8", "avi_gas"]
OTHERS = ["disc", "aeg_cd", "anclaf", "vi", "au", "au_de", "vi_des", "au_des", "avi_cas"]
OTHERS += [f"anclaf_s_{n}" for n in CURRICULUM] + [f"anclaf_sa_{n}" for n in CURRICULUM if n != 8]
PRESETS = FAST + [pytest.param(n, marks=pytest.mark.slow) for n in OTHERS]

TINY_FRONTEND = dict(image_size=32, generator_filters=4, residual_blocks=3, latent_block=2,
                     discriminator_filters=(4, 8, 8, 8), encoder_filters=(8, 8), features=16)


def tiny(name):
    cfg = presets.get_preset(name).config
    if isinstance(cfg, AEGCDSZConfig):
        return cfg.replace(image_size=32, generator_filters=2, discriminator_filters=(4, 8, 8, 8))
    modalities = cfg.modalities if isinstance(cfg, LatentSequenceConfig) else (cfg.modality,)
    sizes = dict(TINY_FRONTEND)
    if features.MEL in modalities:  # the mel "image" is 128x128 by contract
        sizes.update(image_size=128, discriminator_filters=(4, 8, 8, 8, 8, 8))
    if isinstance(cfg, LatentSequenceConfig):
        return cfg.replace(**sizes, lstm_units=8)
    return cfg.replace(**sizes)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_passes_harness(name, tmp_path):
    """Paper-size model: shapes, finite outputs, config round trip, inference save/load."""
    train, infer = model_harness.check_preset(name, tmp_path, batch=1, frames=2)
    assert infer <= train


def test_inference_model_drops_only_the_critic_head():
    model = presets.get_preset("vi_de").build()
    model(model.config.dummy_inputs())
    inference = model.inference_model()
    assert model.count_params() - inference.count_params() == 512 * 9 + 1  # 3x3 conv 512 -> 1
    x = model_harness.random_inputs(model.config, 1, 2)
    np.testing.assert_allclose(inference(x)[features.TARGETS], model(x)[features.TARGETS], atol=1e-6)


def _batches(cfg, batch=2, frames=2, n=3, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = model_harness.random_inputs(cfg, batch, frames, seed=int(rng.integers(1 << 30)))
        y = {features.TARGETS: rng.uniform(-1, 1, (batch, frames, 2)).astype("float32"),
             features.LABEL_MASK: np.ones((batch, frames, 2), "float32")}
        out.append((x, y))
    return out


@pytest.mark.parametrize("name", ["aeg_cd_sz", "vi_de", "avi_gas"] + [
    pytest.param(n, marks=pytest.mark.slow) for n in ("disc", "aeg_cd", "au", "anclaf_s_2", "anclaf_sa_4", "avi_cas")])
def test_few_training_steps_without_nan(name, mixed_precision=False):
    import tensorflow as tf

    from affect_tf.training import adversarial, registry
    from affect_tf.training.config import TrainConfig

    cfg = tiny(name)
    model = cfg.build()
    model(model.config.dummy_inputs())
    trainer_cls = registry.trainer_class(cfg)
    data = tf.data.Dataset.from_generator(lambda: iter(_batches(cfg)), output_signature=(
        {k: tf.TensorSpec((2, 2, *v[1:]), tf.float32) for k, v in cfg.input_shapes().items()},
        {k: tf.TensorSpec((2, 2, 2), tf.float32) for k in (features.TARGETS, features.LABEL_MASK)}))
    before = {v.path: np.array(v) for v in model.trainable_variables}
    trainer, history = adversarial.fit_trainer(
        trainer_cls, model, TrainConfig(learning_rate=1e-3, mixed_precision=mixed_precision), data)
    for key, values in history.items():
        assert np.all(np.isfinite(values)), (key, values)
    for network, variables in trainer.networks().items():  # every network takes its steps
        assert any(not np.array_equal(before[v.path], np.array(v)) for v in variables), network
    out = model(_batches(cfg, n=1)[0][0])
    assert np.all(np.isfinite(np.asarray(out[features.TARGETS])))


def test_loss_scaled_training_steps_update_every_network():
    """Under mixed precision each optimizer scales its loss: the scaled gradients must reach it
    (scaling a loss after the tape stopped recording gave none, so nothing trained)."""
    test_few_training_steps_without_nan("aeg_cd_sz", mixed_precision=True)
