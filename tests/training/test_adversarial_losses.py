"""The adversarial trainers' loss helpers against numpy."""
import numpy as np
import pytest
from keras import ops

from affect_tf import losses


def value(t):
    return float(ops.convert_to_numpy(t))


def test_constant_target_bce_matches_numpy():
    logits = np.array([-2.0, 0.0, 0.5, 3.0], "float32")
    for target in (0.0, 1.0):
        p = 1.0 / (1.0 + np.exp(-logits))
        expected = -np.mean(target * np.log(p) + (1 - target) * np.log(1 - p))
        assert value(losses.constant_target_bce(logits, target)) == pytest.approx(expected, rel=1e-5)


def test_mean_absolute_error_and_masked_mse_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 4, 2)).astype("float32")
    assert value(losses.mean_absolute_error(a, b)) == pytest.approx(np.abs(a - b).mean(), rel=1e-5)
    mask = (rng.uniform(size=a.shape) > 0.4).astype("float32")
    expected = ((a - b) ** 2)[mask > 0].mean()
    assert value(losses.masked_mse(a, b, mask)) == pytest.approx(expected, rel=1e-5)
    assert value(losses.masked_mse(a, b, np.zeros_like(mask))) == 0.0


def test_masked_sparse_cross_entropy_matches_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 4)).astype("float32")
    labels = np.array([0, 3, 1, 2, 2, 0])
    mask = np.array([1, 1, 0, 1, 0, 1], "float32")
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -log_softmax[np.arange(6), labels][mask > 0].mean()
    assert value(losses.masked_sparse_cross_entropy(labels, logits, mask)) == pytest.approx(expected, rel=1e-5)


def test_aeg_affect_loss_is_000_eq_5():
    """MSE + (1 - COR) + (1 - CCC) per dimension, unweighted here, averaged over V and A."""
    rng = np.random.default_rng(2)
    y, p = rng.uniform(-1, 1, (2, 40, 2)).astype("float32")
    expected = 0.0
    for d in range(2):
        t, q = y[:, d], p[:, d]
        cov = np.mean((t - t.mean()) * (q - q.mean()))
        ccc = 2 * cov / (t.var() + q.var() + (t.mean() - q.mean()) ** 2)
        expected += np.mean((t - q) ** 2) + (1 - np.corrcoef(t, q)[0, 1]) + (1 - ccc)
    got = losses.afc_loss(y, p, balance=False, terms=losses.AEG_AFC_TERMS)
    assert value(got) == pytest.approx(expected / 2, rel=1e-4)


def test_aeg_reconstruction_is_the_cycle_of_000_eq_2():
    import keras

    from affect_tf import features
    from affect_tf.models.adversarial.aeg_cd_sz import AEGCDSZConfig
    from affect_tf.training.adversarial import AEGTrainer
    from affect_tf.training.config import TrainConfig

    cfg = AEGCDSZConfig(image_size=32, generator_filters=2, discriminator_filters=(4, 8, 8, 8),
                        denoise=False, use_audio=False)
    model = cfg.build()
    model(model.config.dummy_inputs())
    x = np.random.default_rng(3).uniform(-1, 1, (2, 1, 32, 32, 3)).astype("float32")
    va = np.zeros((2, 1, 2), "float32")
    twice = model.generator(model.generator(x[:, 0])[0])[0]
    expected = np.abs(x[:, 0] - keras.ops.convert_to_numpy(twice)).mean()
    trainer = AEGTrainer(model, TrainConfig())
    trainer.compile_for()
    logs = trainer.train_step(({features.FACE: x}, {features.TARGETS: va, features.LABEL_MASK: np.ones_like(va)}))
    assert value(logs["rec"]) == pytest.approx(expected, rel=1e-4)
