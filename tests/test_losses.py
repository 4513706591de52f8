import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from affect_tf import losses


def np_weighted_terms(x, y, w):
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    vx, vy = np.average((x - mx) ** 2, weights=w), np.average((y - my) ** 2, weights=w)
    cov = np.cov(x, y, aweights=w, bias=True)[0, 1]
    rmse = np.sqrt(np.average((x - y) ** 2, weights=w))
    pcc = cov / np.sqrt(vx * vy)
    ccc = 2 * cov / (vx + vy + (mx - my) ** 2)
    icc = 2 * cov / (vx + vy)
    return rmse + (1 - pcc) + (1 - ccc) + (1 - icc)


def np_balance_weights(y, n_bins=10):
    bins = np.clip(np.floor((y + 1) / 2 * n_bins), 0, n_bins - 1).astype(int)
    counts = np.bincount(bins, minlength=n_bins)
    occupied = (counts > 0).sum()
    return len(y) / (occupied * counts[bins])


def value(t):
    return float(ops.convert_to_numpy(t))


def test_ccc_loss_hand_case():
    # valence: x = 2y on y = 1..4 -> ccc 0.4 (see test_metrics); arousal predicted exactly -> 1.
    y = np.stack([[1.0, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]], -1)[None]
    x = np.stack([[2.0, 4, 6, 8], [0.1, 0.2, 0.3, 0.4]], -1)[None]
    assert value(losses.ccc_loss(y, x)) == pytest.approx(1 - (0.4 + 1.0) / 2, abs=1e-5)


def test_balance_weights_hand_case():
    # 4 samples in bin 0 and 1 in bin 9: two occupied bins, each gets total weight 5/2.
    y = np.array([-0.95, -0.95, -0.91, -0.99, 0.99], "float32")
    w = ops.convert_to_numpy(losses.balance_weights(y, np.ones(5, "float32")))
    assert np.allclose(w, [0.625, 0.625, 0.625, 0.625, 2.5])
    assert np.allclose(w, np_balance_weights(y))


@pytest.mark.parametrize("seed", range(3))
def test_afc_loss_against_numpy(seed):
    rng = np.random.default_rng(seed)
    y = np.clip(rng.normal(0.3, 0.4, (8, 25, 2)), -1, 1).astype("float32")
    x = (0.7 * y + rng.normal(0, 0.2, y.shape)).astype("float32")
    want = np.mean(
        [
            np_weighted_terms(x[..., d].ravel(), y[..., d].ravel(), np_balance_weights(y[..., d].ravel()))
            for d in range(2)
        ]
    )
    assert value(losses.afc_loss(y, x, balance="inverse_frequency")) == pytest.approx(want, abs=1e-4)
    unbalanced = np.mean(
        [np_weighted_terms(x[..., d].ravel(), y[..., d].ravel(), np.ones(200)) for d in range(2)]
    )
    assert value(losses.afc_loss(y, x, balance="none")) == pytest.approx(unbalanced, abs=1e-4)


def test_afc_loss_per_class_hand_case():
    # 001 eq. 14-18 / 000 eq. 5-8 by hand: class 0 holds labels -0.95, -0.85 predicted +0.05 each
    # (rmse 0.05, pcc 1, ccc 0.005 / 0.0075 = 2/3, icc 1); class 7 holds 0.5 predicted 0.7 (rmse
    # 0.2, one sample: every correlation 0). Weights k_i / N = 2/3 and 1/3.
    y = np.array([[-0.95, -0.85, 0.5]] * 2, "float32").T[None]
    x = np.array([[-0.9, -0.8, 0.7]] * 2, "float32").T[None]
    class0, class7 = 0.05 + 0 + 1 / 3 + 0, 0.2 + 1 + 1 + 1
    assert value(losses.afc_loss(y, x)) == pytest.approx(2 / 3 * class0 + 1 / 3 * class7, abs=1e-4)  # float32 variances
    aeg0, aeg7 = 0.05 + 0 + 1 / 3, 0.2 + 1 + 1  # 000 eq. 6 is a root mean square
    assert value(losses.afc_loss(y, x, terms=losses.AEG_AFC_TERMS)) == pytest.approx(
        2 / 3 * aeg0 + 1 / 3 * aeg7, abs=1e-4)
    with pytest.raises(ValueError, match="per_class"):
        losses.afc_loss(y, x, balance="bins")


@pytest.mark.parametrize("balance", ["inverse_frequency", "none"])
def test_afc_loss_is_zero_for_perfect_prediction_and_respects_mask(balance):
    rng = np.random.default_rng(4)
    y = rng.uniform(-1, 1, (2, 30, 2)).astype("float32")
    assert value(losses.afc_loss(y, y, balance=balance)) == pytest.approx(0.0, abs=1e-4)
    mask = np.ones((2, 30), "float32")
    mask[:, 20:] = 0
    x = y.copy()
    x[:, 20:] = 100.0  # garbage where labels are missing
    assert value(losses.afc_loss(y, x, mask=mask, balance=balance)) == pytest.approx(0.0, abs=1e-4)
    assert value(losses.ccc_loss(y, x, mask=mask)) == pytest.approx(0.0, abs=1e-5)


def test_afc_loss_per_class_respects_mask():
    # per class, a perfect prediction is not 0 (a one-sample class has correlations 0), so the
    # masked batch is compared with the same loss on the valid frames alone
    rng = np.random.default_rng(4)
    y = rng.uniform(-1, 1, (2, 30, 2)).astype("float32")
    x = (y + rng.normal(0, 0.1, y.shape)).astype("float32")
    mask = np.ones((2, 30), "float32")
    mask[:, 20:] = 0
    garbage = x.copy()
    garbage[:, 20:] = 100.0
    assert value(losses.afc_loss(y, garbage, mask=mask)) == pytest.approx(
        value(losses.afc_loss(y[:, :20], x[:, :20])), abs=1e-5)


@pytest.mark.parametrize("loss", [losses.ccc_loss, losses.afc_loss])
def test_gradients_finite_on_constant_predictions(loss):
    y = tf.constant(np.random.default_rng(5).uniform(-1, 1, (2, 10, 2)), tf.float32)
    for pred in (tf.zeros((2, 10, 2)), tf.fill((2, 10, 2), 0.5)):
        x = tf.Variable(pred)
        with tf.GradientTape() as tape:
            value_ = loss(y, x)
        grad = tape.gradient(value_, x)
        assert np.isfinite(value_.numpy()) and np.all(np.isfinite(grad.numpy()))
        assert np.any(grad.numpy() != 0)  # a constant start still gets a direction
    # constant labels and constant predictions: defined, finite value
    with tf.GradientTape() as tape:
        x = tf.Variable(tf.zeros((2, 10, 2)))
        v = loss(tf.zeros((2, 10, 2)), x)
    assert np.isfinite(v.numpy()) and np.all(np.isfinite(tape.gradient(v, x).numpy()))
