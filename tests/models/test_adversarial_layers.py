"""GMU, state attention LSTM and quadrant/ZQ against independent references (``001``, ``003``)."""
import numpy as np
import keras
import pytest
from keras import ops

from affect_tf.layers import GatedMultimodalUnit, StateAttentionLSTM
from affect_tf.models.adversarial.latent_encoder import quadrant, zq


def test_gmu_gate_in_open_unit_interval_and_matches_equations():
    rng = np.random.default_rng(0)
    x_v = rng.normal(0, 3, (4, 5, 6)).astype("float32")
    x_s = rng.normal(0, 3, (4, 5, 7)).astype("float32")
    gmu = GatedMultimodalUnit(3, "dense")
    fused, gate = (ops.convert_to_numpy(t) for t in gmu([x_v, x_s]))
    assert gate.shape == fused.shape == (4, 5, 3)
    assert np.all(gate > 0) and np.all(gate < 1)
    (wv, bv), (ws, bs), (wz, bz) = [(l.kernel.numpy(), l.bias.numpy()) for l in (gmu.visual, gmu.sound, gmu.gate)]
    z = 1 / (1 + np.exp(-(np.concatenate([x_v, x_s], -1) @ wz + bz)))
    ref = z * np.tanh(x_v @ wv + bv) + (1 - z) * np.tanh(x_s @ ws + bs)
    np.testing.assert_allclose(fused, ref, atol=1e-5)
    np.testing.assert_allclose(gate, z, atol=1e-6)


def test_elementwise_gmu_is_eq_5_to_8_as_written():
    # h_v = tanh(W_v ⊙ x_v): one weight per entry of a (5, 3) map, no bias
    rng = np.random.default_rng(1)
    x_v, x_s = rng.normal(0, 2, (2, 4, 5, 3, 3)).astype("float32")
    gmu = GatedMultimodalUnit(3)
    fused, gate = (ops.convert_to_numpy(t) for t in gmu([x_v, x_s]))
    wv, ws = gmu.visual_kernel.numpy(), gmu.sound_kernel.numpy()
    assert wv.shape == ws.shape == (5, 3, 3)
    wz, bz = gmu.gate.kernel.numpy(), gmu.gate.bias.numpy()
    z = 1 / (1 + np.exp(-(np.concatenate([x_v, x_s], -1) @ wz + bz)))
    np.testing.assert_allclose(fused, z * np.tanh(wv * x_v) + (1 - z) * np.tanh(ws * x_s), atol=1e-5)
    assert gmu.count_params() == 2 * 5 * 3 * 3 + 6 * 3 + 3
    with pytest.raises(ValueError, match="4 channels"):
        GatedMultimodalUnit(3)([x_v[..., :1].repeat(4, -1), x_s])


def _sequence(b=2, t=6, d=5, seed=1):
    return np.random.default_rng(seed).normal(size=(b, t, d)).astype("float32")


def test_plain_state_lstm_equals_keras_lstm():
    x = _sequence()
    ours = StateAttentionLSTM(4, n_states=3, use_attention=False)
    h, weights = ours(x)
    reference = keras.layers.LSTM(4, return_sequences=True)
    reference.build(x.shape)
    reference.set_weights(ours.cell.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(h), ops.convert_to_numpy(reference(x)), atol=1e-5)
    assert np.all(ops.convert_to_numpy(weights) == 0)


def test_attention_weights_sum_to_one_over_kept_states():
    layer = StateAttentionLSTM(4, n_states=3)
    _, weights = layer(_sequence(t=6))
    w = ops.convert_to_numpy(weights)
    assert w.shape == (2, 6, 3)
    np.testing.assert_allclose(w[:, 0].sum(-1), 0.0)  # no previous state at the first frame
    np.testing.assert_allclose(w[:, 1:].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(w[:, 1, :2], 0.0)  # one kept state: all weight on it
    assert np.all(w >= 0)


def test_attention_context_reaches_the_lstm():
    x = _sequence(t=5, d=5)
    layer = StateAttentionLSTM(4, n_states=2)
    h_with, _ = layer(x)
    kernel = layer.cell.kernel.numpy()
    kernel[5:] = 0.0  # rows fed by the context
    layer.cell.kernel.assign(kernel)
    h_without, _ = layer(x)
    h_with, h_without = ops.convert_to_numpy(h_with), ops.convert_to_numpy(h_without)
    np.testing.assert_allclose(h_with[:, 0], h_without[:, 0], atol=1e-6)  # context is 0 at t = 0
    assert np.abs(h_with[:, 1:] - h_without[:, 1:]).max() > 1e-3


def test_quadrants_and_zq_plane():
    va = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]], "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(quadrant(va)), [0, 1, 2, 3])
    z = np.zeros((4, 2, 2, 3), "float32")
    out = ops.convert_to_numpy(zq(z, quadrant(va)))
    assert out.shape == (4, 2, 2, 4)
    np.testing.assert_array_equal(out[:, :, :, 3], np.arange(4)[:, None, None] * np.ones((4, 2, 2)))


def test_layers_round_trip_config():
    for layer in (GatedMultimodalUnit(3, name="g"), GatedMultimodalUnit(3, "dense"), StateAttentionLSTM(4, 3, False, name="s")):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
