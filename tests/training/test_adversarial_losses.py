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
