"""The adversarial loop is adversarial, denoises, and fusion helps (``000``, ``003``, ``001``)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from affect_tf import degradations, features, losses
from affect_tf.data import latents
from affect_tf.models.adversarial.adversarial_model import copy_matching_weights
from affect_tf.models.adversarial.dilast import DiLaSTConfig
from affect_tf.models.adversarial.sequence import LatentSequenceConfig
from affect_tf.training import adversarial
from affect_tf.training.config import TrainConfig

from tests.models.adversarial_tasks import two_modality_task

SIZE = 32
FRONTEND = dict(image_size=SIZE, generator_filters=8, residual_blocks=3, latent_block=2,
                discriminator_filters=(8, 16, 16, 16), encoder_filters=(8, 8), features=16)


def smooth_images(n, seed=0, size=SIZE):
    """Smooth colour gradients and blobs in [-0.8, 0.8]: easy to tell from noisy versions."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        cx, cy, r = rng.uniform(0.2, 0.8, 3)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.05 + 0.1 * r))
        channels = [rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy + rng.uniform(-1, 1) * blob for _ in range(3)]
        out.append(np.clip(np.stack(channels, -1) * 0.5, -0.8, 0.8))
    return np.asarray(out, "float32")


def image_data(images, batch=8, seed=0):
    rng = np.random.default_rng(seed)
    va = rng.uniform(-1, 1, (len(images), 1, 2)).astype("float32")
    x = {features.FACE: images[:, None]}
    y = {features.TARGETS: va, features.LABEL_MASK: np.ones_like(va)}
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=seed).repeat().batch(batch, drop_remainder=True)


def make_trainer(cfg, lr=1e-3):
    model = cfg.build()
    model(model.config.dummy_inputs())
    trainer = adversarial.LatentAdversarialTrainer(model, TrainConfig(learning_rate=lr, adam_beta_1=0.5))
    trainer.compile_for()
    return model, trainer


def test_generator_gradient_comes_from_discriminator_judgement():
    cfg = DiLaSTConfig(**FRONTEND, lambda_rec=0.0, lambda_p=0.0)  # G's loss = adversarial term only
    model, _ = make_trainer(cfg)
    image = smooth_images(4)

    def generator_grads():
        with tf.GradientTape() as tape:
            critic = model.forward_parts(image, training=True)["critic"]
            loss = losses.constant_target_bce(critic, 1.0)
        return [g.numpy() for g in tape.gradient(loss, model.generator.trainable_variables)]

    first = generator_grads()
    assert max(np.abs(g).max() for g in first) > 0
    head = model.discriminator.critic_head.kernel
    head.assign(-head.numpy())  # D judges the other way round
    second = generator_grads()
    assert max(np.abs(a - b).max() for a, b in zip(first, second)) > 1e-3 * max(np.abs(a).max() for a in first)


def test_discriminator_learns_then_generator_responds():
    model, trainer = make_trainer(DiLaSTConfig(**FRONTEND, lambda_p=0.0))
    data = image_data(smooth_images(32))
    trainer.optimizers["generator"].learning_rate = 0.0  # phase 1: only D learns
    phase1 = trainer.fit(data, epochs=25, steps_per_epoch=1, verbose=0).history
    d_fake, g_adv = np.array(phase1["d_fake"]), np.array(phase1["g_adv"])
    assert d_fake[-5:].mean() < d_fake[:5].mean(), d_fake  # D spots G's outputs better ...
    assert g_adv[-5:].mean() > g_adv[:5].mean(), g_adv  # ... so G's adversarial loss rises
    trainer.optimizers["generator"].learning_rate = 2e-3  # phase 2: G answers
    trainer.optimizers["discriminator"].learning_rate = 0.0
    phase2 = np.array(trainer.fit(data, epochs=15, steps_per_epoch=1, verbose=0).history["g_adv"])
    assert phase2[-5:].mean() < g_adv[-5:].mean(), (g_adv[-5:], phase2)


@pytest.mark.slow
def test_generator_denoises_after_short_training():
    # 300 steps: after 150 the result hung on float round-off (Eigen vs oneDNN kernels)
    keras.utils.set_random_seed(0)
    model, trainer = make_trainer(DiLaSTConfig(**FRONTEND, lambda_rec=5.0), lr=2e-3)
    trainer.fit(image_data(smooth_images(64)), epochs=1, steps_per_epoch=300, verbose=0)
    clean = smooth_images(16, seed=99)
    noisy = degradations.gaussian_noise(clean, 0.25, seed=1)
    denoised = keras.ops.convert_to_numpy(model.generator(noisy)[0])
    noisy_error = np.abs(noisy - clean).mean()
    denoised_error = np.abs(denoised - clean).mean()
    assert denoised_error < noisy_error, (denoised_error, noisy_error)


@pytest.mark.slow
def test_avi_gas_beats_single_modality_des(tmp_path):
    """``001`` §3.4 two-stage run: ZQ latents cached from one set of frozen front ends, then the
    sequence predictors train on them. Each modality carries one dimension, so only the GMU-fused
    model can predict both."""
    sizes = dict(image_size=128, generator_filters=2, residual_blocks=2, latent_block=1,
                 discriminator_filters=(4, 4, 4, 4, 4, 4), encoder_filters=(8, 8, 8), features=16,
                 lstm_units=16, n_states=4)
    both = LatentSequenceConfig(modalities=(features.FACE, features.MEL), fusion="gmu", **sizes)
    keras.utils.set_random_seed(0)
    frontends = both.build()
    frontends(frontends.config.dummy_inputs())
    records = {}
    for split, n_seq, seed in (("train", 24, 0), ("val", 12, 1)):
        x, y = two_modality_task(n_seq, 8, seed)
        records[split] = tmp_path / f"{split}.tfrecord"
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
        assert latents.cache_latents(frontends, data, records[split]) == n_seq
    scores = {}
    for name, modalities, fusion in (("vi_des", (features.FACE,), "none"), ("au_des", (features.MEL,), "none"),
                                     ("avi_gas", both.modalities, "gmu")):
        keras.utils.set_random_seed(1)
        model = both.replace(modalities=modalities, fusion=fusion).build()
        model(model.config.dummy_inputs(frames=8))
        for m in modalities:  # the same frozen front ends for every model
            copy_matching_weights(frontends, model, (f"{m}_generator/", f"{m}_discriminator/"))
        train = latents.latent_dataset(records["train"], modalities, 4, shuffle=True).repeat()
        trainer, _ = adversarial.fit_trainer(adversarial.SequenceTrainer, model, TrainConfig(learning_rate=3e-3, adam_beta_1=0.5),
                                             train, epochs=1, steps=120)
        logs = trainer.evaluate(latents.latent_dataset(records["val"], modalities, 4), return_dict=True, verbose=0)
        scores[name] = {k: float(v) for k, v in logs.items()}  # Keras 3.12 returns tensors here
    print({n: round(s["mean_ccc"], 3) for n, s in scores.items()})
    # each single-modality model learns its own dimension, the fused one both
    assert scores["vi_des"]["valence_ccc"] > 0.8 and scores["au_des"]["arousal_ccc"] > 0.8, scores
    assert scores["avi_gas"]["mean_ccc"] > max(scores["vi_des"]["mean_ccc"], scores["au_des"]["mean_ccc"]) + 0.2, scores
