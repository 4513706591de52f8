"""CNN-RNN family (004 §5): presets through the shared harness, parameter counts derived
independently, tap resolution, VGG-Face weight loading, decision-level fusion (eq. 1)."""
import dataclasses

import keras
import numpy as np
import pytest

from affect_tf import features, presets
from affect_tf.models.cnn_rnn import backbones
from affect_tf.models.cnn_rnn import cnn_rnn_presets
from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnnConfig
from affect_tf.models.cnn_rnn.fusion import ModelLevelFusionConfig, decision_level_fusion
from tests.model_harness import check_preset, random_inputs


# ---- independent parameter counts (textbook formulas, no Keras) ---------------------------
def conv(cin, cout, k=3):
    return k * k * cin * cout + cout


def dense(i, o):
    return i * o + o


def gru(i, u):  # Keras GRU, reset_after=True: 3 gates, kernel + recurrent + 2 biases
    return 3 * (i * u + u * u + 2 * u)


def vgg_convs(filters=backbones.VGG_FILTERS):
    total, cin = 0, 3
    for n, width in zip(backbones.VGG_BLOCKS, filters):
        for _ in range(n):
            total, cin = total + conv(cin, width), width
    return total


def vgg_tap_dim(tap, size, filters):
    """Flattened size of a VGG tap at crop ``size``: conv n of block b is at size / 2^(b-1)."""
    ordinal = {"lastconv": 13}
    if tap.startswith("pool") or tap == "lastpool":
        b = 5 if tap == "lastpool" else int(tap[4:])
        return (size // 2**b) ** 2 * filters[b - 1]
    n = ordinal.get(tap) or int(tap[4:])
    block = next(b for b, end in enumerate(np.cumsum(backbones.VGG_BLOCKS), 1) if n <= end)
    return (size // 2 ** (block - 1)) ** 2 * filters[block - 1]


APPLICATION_PARAMS = {"resnet50": (23_587_712, 2048), "densenet121": (7_037_504, 1024)}


def expected_cnn_rnn(cfg: CnnRnnConfig):
    lm = features.N_LANDMARKS * 2 if cfg.use_landmarks else 0
    if cfg.backbone == "vgg_face":
        total = vgg_convs(cfg.vgg_filters)
        pooled = vgg_tap_dim("pool5", cfg.crop_size, cfg.vgg_filters)
    else:
        total, pooled = APPLICATION_PARAMS[cfg.backbone]
    total += dense(pooled + lm, cfg.fc_units) + 2 * lm  # + the landmarks' standardisation mean/std
    dims = [cfg.fc_units if t == "fc" else vgg_tap_dim(t, cfg.crop_size, cfg.vgg_filters)
            for t in cfg.taps]
    u = cfg.rnn_units
    stack = lambda d: gru(d, u) + (cfg.rnn_layers - 1) * gru(u, u)  # noqa: E731
    if cfg.rnn == "none":
        return total + dense(cfg.fc_units, 2)
    if cfg.rnn == "single":
        return total + stack(sum(dims)) + dense(u, 2)
    return total + sum(stack(d) for d in dims) + dense(len(dims) * u, 2)


def expected_fusion(cfg: ModelLevelFusionConfig):
    members = sum(expected_cnn_rnn(m) for m in cfg.members)  # member heads included (unused)
    width = sum(m.rnn_units * (len(m.taps) if m.rnn == "per_tap" else 1) for m in cfg.members)
    fuse = gru(width, cfg.units) if cfg.fusion == "rnn" else dense(width, cfg.units)
    return members + fuse + dense(cfg.units, 2)


def expected(cfg):
    return expected_fusion(cfg) if isinstance(cfg, ModelLevelFusionConfig) else expected_cnn_rnn(cfg)


def test_vgg16_conv_stack_is_14714688():
    assert vgg_convs() == 14_714_688  # the published VGG16 conv-stack size
    net = backbones.vgg_face_backbone(96, ["pool2"])
    assert net.count_params() == 14_714_688


@pytest.mark.slow
def test_default_preset_at_paper_shape(tmp_path):
    """CNN-3RNN-2nd-pool_last-pool_fc at 96x96 through the harness; count from the formulas."""
    name = "cnn_3rnn_2ndpool_lastpool_fc"
    counts = check_preset(name, tmp_path, batch=1, frames=2)
    # the network's 66,251,842 plus the landmarks' standardisation (mean and std of 136 values)
    assert counts[0] == expected(presets.get_preset(name).config) == 66_251_842 + 2 * 136


CNN_RNN_PRESETS = [p.name for p in presets.list_presets()
                   if isinstance(p.config, (CnnRnnConfig, ModelLevelFusionConfig))]


def shrink(cfg):
    small = dict(crop_size=32, vgg_filters=(4, 4, 8, 8, 8), fc_units=16, rnn_units=8)
    if isinstance(cfg, ModelLevelFusionConfig):
        return cfg.replace(members=tuple(m.replace(**small) for m in cfg.members), units=8)
    if cfg.backbone != "vgg_face":
        small.pop("vgg_filters")
    return cfg.replace(**small)


HARNESS_SHRUNK = ["vgg_face_cnn", "cnn_1rnn_2ndpool_lastpool_fc", "cnn_3rnn_3rdconv_7thconv_fc",
                  "cnn_3rnn_fusion_rnn"]


VGG_PRESETS = [n for n in CNN_RNN_PRESETS
               if getattr(presets.get_preset(n).config, "backbone", "vgg_face") == "vgg_face"]


@pytest.mark.slow
@pytest.mark.parametrize("name", VGG_PRESETS)
def test_vgg_preset_at_paper_shape_has_the_formula_count(name):
    """Every VGG-based preset at full size and the paper's 96x96 input, built on symbolic inputs
    with its weights left uninitialised (no forward pass, no gigabytes of random numbers): output
    shape and the parameter count from the independent formulas. A full-size forward and
    save/load run on the default preset above, every structure through the harness below."""
    cfg = presets.get_preset(name).config
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = cfg.build()
            out = model({k: keras.KerasTensor((1, 2, *s[1:])) for k, s in cfg.input_shapes().items()})
        assert out[features.TARGETS].shape == (1, 2, 2)
        assert model.count_params() == expected(cfg)
    finally:
        keras.backend.clear_session()  # also drops Keras's list of uninitialised variables


@pytest.mark.parametrize("name", HARNESS_SHRUNK)
def test_representative_presets_shrunk_through_harness(name, tmp_path, preset_registry):
    """Shapes, config round trip, save/load equality and the independent parameter count."""
    tiny = preset_registry.register_preset(f"{name}__tiny", shrink(presets.get_preset(name).config),
                                           "test", "shrunk copy")
    counts = check_preset(tiny.name, tmp_path, batch=2, frames=3)
    assert counts[0] == expected(tiny.config)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["affwildnet", "densenet_rnn", "resnet50_cnn", "densenet121_cnn"])
def test_application_presets(name, tmp_path, preset_registry):
    """keras.applications backbones (published no-top sizes) at a 32x32 crop (sizes do not depend
    on it after global pooling), through the harness."""
    small = presets.get_preset(name).config.replace(crop_size=32)
    tiny = preset_registry.register_preset(f"{name}__small", small, "test", "small crop")
    counts = check_preset(tiny.name, tmp_path, batch=1, frames=2)
    assert counts[0] == expected(tiny.config) == expected(presets.get_preset(name).config)


def test_paper_names_and_table5_taps():
    names = {p.name for p in presets.list_presets()}
    for name in ["vgg_face_cnn", "affwildnet", "densenet_rnn", "cnn_1rnn_2ndpool_lastpool_fc",
                 "cnn_3rnn_fusion_rnn", "cnn_3rnn_fusion_fc", *cnn_rnn_presets.TABLE5]:
        assert name in names
    # "2nd pool follows the 4th conv"; "n-th conv" counts the 13 convs in order (004 §5.3, Table 5)
    assert backbones.resolve_tap("vgg_face", "conv4") == "conv2_2"
    assert backbones.resolve_tap("vgg_face", "conv8") == "conv4_1"
    assert backbones.resolve_tap("vgg_face", "lastconv") == "conv5_3"
    with pytest.raises(ValueError, match="conv14"):
        backbones.resolve_tap("vgg_face", "conv14")
    with pytest.raises(ValueError, match="rnn"):
        CnnRnnConfig(rnn="lstm")


def test_taps_feed_separate_rnns():
    """CNN-3RNN: changing only the pool2 tap's input to rnn1 changes the output; the GRU of each
    tap sees the tap's flattened size."""
    cfg = shrink(CnnRnnConfig())
    model = cfg.build()
    x = random_inputs(cfg, 1, 3)
    model(x)
    dims = [model.rnns[i].grus[0].cell.kernel.shape[0] for i in range(3)]
    assert dims == [vgg_tap_dim("pool2", 32, cfg.vgg_filters),
                    vgg_tap_dim("pool5", 32, cfg.vgg_filters), cfg.fc_units]


def test_load_vgg_face_weights_by_name(tmp_path):
    net = backbones.vgg_face_backbone(32, ["pool2"], filters=(4, 4, 8, 8, 8))
    stored = {}
    for i, name in enumerate(backbones.VGG_CONV_NAMES):
        kernel, bias = net.get_layer(name).get_weights()
        stored[f"{name}/kernel"] = np.full(kernel.shape, i + 1, "float32")
        stored[f"{name}/bias"] = np.full(bias.shape, -(i + 1), "float32")
    path = tmp_path / "vgg_face.npz"
    np.savez(path, **stored)
    assert backbones.load_vgg_face_weights(net, path) == list(backbones.VGG_CONV_NAMES)
    for i, name in enumerate(backbones.VGG_CONV_NAMES):
        kernel, bias = net.get_layer(name).get_weights()
        assert np.all(kernel == i + 1) and np.all(bias == -(i + 1)), name
    stored["conv3_2/kernel"] = np.zeros((3, 3, 1, 1), "float32")
    np.savez(path, **stored)
    with pytest.raises(ValueError, match="conv3_2/kernel"):
        backbones.load_vgg_face_weights(net, path)


def test_decision_level_fusion_eq1():
    preds = np.array([[[0.2, 0.4]], [[0.6, -0.2]]], "float32")  # 2 members, 1 frame
    cccs = np.array([[0.5, 0.1], [0.25, 0.3]])
    fused = decision_level_fusion(preds, cccs)
    # by hand: valence (0.5*0.2 + 0.25*0.6) / 0.75, arousal (0.1*0.4 + 0.3*-0.2) / 0.4
    np.testing.assert_allclose(fused, [[0.25 / 0.75, -0.02 / 0.4]], rtol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        decision_level_fusion(preds, np.zeros((2, 2)))


def test_gru_dropout_reads_004_as_a_tf1_keep_probability():
    """§6.1's "dropout 0.8" after the first GRU layer is TF1's keep probability: 20 % of the
    activations are dropped in training (rate 0.8, the other reading, stays a config value)."""
    from affect_tf.models.cnn_rnn.cnn_rnn import RNN_DROPOUT_AS_RATE, GruStack

    for name in CNN_RNN_PRESETS:
        cfg = presets.get_preset(name).config
        for member in getattr(cfg, "members", (cfg,)):
            assert member.rnn_dropout == pytest.approx(0.2), name
    for rate in (0.2, RNN_DROPOUT_AS_RATE):
        stack = GruStack(4, 2, rate)
        stack.build((None, None, 3))
        dropped = keras.ops.convert_to_numpy(stack.drop(np.ones((200, 50, 4), "float32"), training=True))
        assert (dropped == 0).mean() == pytest.approx(rate, abs=0.02)


@pytest.mark.parametrize("fusion", ["rnn", "fc", "decision"])
def test_fusion_streams_chunks_as_one_call(fusion):
    """004 §5.4's fusions are causal (member GRUs, then a GRU, an FC or eq. 1's weighted mean):
    chunks continued from the carried states (the export's serving_stream, affect-tf live) give
    one call's outputs."""
    from affect_tf.models.cnn_rnn.fusion import DecisionFusionConfig

    members = (shrink(CnnRnnConfig(rnn="single")), shrink(CnnRnnConfig()))
    cfg = (DecisionFusionConfig(members=members, validation_ccc=((0.5, 0.2), (0.3, 0.4))) if fusion == "decision"
           else ModelLevelFusionConfig(members=members, fusion=fusion, units=5))
    keras.utils.set_random_seed(2)
    model = cfg.build()
    x = random_inputs(cfg, 2, 9, seed=4)
    whole = keras.ops.convert_to_numpy(model(x)[features.TARGETS])
    shapes = model.stream_state_shapes()
    assert len(shapes) == 1 * 2 + 3 * 2 + (fusion == "rnn")  # CNN-1RNN, CNN-3RNN: 2 GRU layers per RNN
    states, parts = None, []
    for start in range(0, 9, 4):
        out, states = model.call_streaming({k: v[:, start:start + 4] for k, v in x.items()}, states)
        parts.append(keras.ops.convert_to_numpy(out[features.TARGETS]))
    assert [tuple(s.shape) for s in states] == [(2, *s) for s in shapes]
    np.testing.assert_allclose(np.concatenate(parts, 1), whole, atol=1e-5)
    cold = np.concatenate([keras.ops.convert_to_numpy(model.call_streaming(
        {k: v[:, s:s + 4] for k, v in x.items()}, None)[0][features.TARGETS]) for s in range(0, 9, 4)], 1)
    assert np.abs(cold - whole).max() > 1e-4  # the states matter
