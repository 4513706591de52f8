"""Pretrained face-CNN weights: ``affect-tf pretrain`` -> ``affect-tf train --backbone-weights``,
refusals of files for another backbone, full-size presets, converted VGG-Face files (issue 23)."""
import json

import numpy as np
import pytest

from affect_tf import presets
from affect_tf.models.cnn_rnn import backbones
from affect_tf.models.cnn_rnn.cnn_rnn import CnnRnnConfig
from affect_tf.models.cnn_rnn.fusion import ModelLevelFusionConfig
from affect_tf.training import TrainConfig
from affect_tf.training import backbone_weights as bw
from affect_tf.training.pretrain import FrameCnn, backbone_file_name

TINY = CnnRnnConfig(taps=("fc",), rnn="none", vgg_filters=(2, 2, 4, 4, 4), fc_units=8)


def _built(config):
    return config.built_model()


def _saved_frame_cnn(config, path):
    cnn = FrameCnn(config, 3)
    cnn(np.zeros((1, config.crop_size, config.crop_size, 3), "float32"))
    return bw.save_backbone_weights(cnn.backbone, bw.backbone_shape(config), path), cnn.backbone.get_weights()


def test_backbone_file_loads_into_every_face_cnn_and_refuses_others(tmp_path):
    path, weights = _saved_frame_cnn(TINY, tmp_path / "tiny.npz")
    model = _built(TINY)
    assert bw.load_backbone_weights(model, path) == len(weights) == 26  # 13 convs x (kernel, bias)
    for loaded, stored in zip(model.backbone.get_weights(), weights):
        np.testing.assert_array_equal(loaded, stored)
    fusion = _built(ModelLevelFusionConfig(members=(TINY, TINY.replace(rnn="single", taps=("pool2", "fc"))),
                                           fusion="fc", units=4))
    bw.load_backbone_weights(fusion, path)
    for member in fusion.members:
        np.testing.assert_array_equal(member.backbone.get_layer("conv3_1").kernel.numpy(), weights[8])
    wider = _built(TINY.replace(vgg_filters=(4, 4, 4, 4, 4)))
    with pytest.raises(ValueError) as error:
        bw.load_backbone_weights(wider, path)
    assert str(error.value) == (f"{path}: weights for backbone vgg_face(2,2,4,4,4) do not fit this preset's "
                                "backbone vgg_face(4,4,4,4,4)")
    adversarial = _built(presets.small_config(presets.get_preset("anclaf").config))
    with pytest.raises(ValueError, match="has no face CNN backbone"):
        bw.load_backbone_weights(adversarial, path)
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match="broken.npz: not a backbone weights file"):
        bw.load_backbone_weights(model, tmp_path / "broken.npz")
    with pytest.raises(FileNotFoundError, match="nowhere.npz: backbone weights file not found"):
        bw.load_backbone_weights(model, tmp_path / "nowhere.npz")
    # a TFX/Kubeflow run gets it through the TrainConfig JSON
    config = TrainConfig(preset="vgg_face_cnn", backbone_weights=str(path))
    assert presets.load_config(config.to_json()).backbone_weights == str(path)


def test_converted_vgg_face_file_loads_by_layer_name(tmp_path):
    rng = np.random.default_rng(0)
    widths = [w for w, n in zip(TINY.vgg_filters, backbones.VGG_BLOCKS) for _ in range(n)]
    arrays, previous = {}, 3
    for name, width in zip(backbones.VGG_CONV_NAMES, widths):  # tools/convert_vgg_face.py's layout
        arrays[f"{name}/kernel"] = rng.standard_normal((3, 3, previous, width)).astype("float32")
        arrays[f"{name}/bias"] = rng.standard_normal(width).astype("float32")
        previous = width
    np.savez(tmp_path / "vgg_face_convs.npz", **arrays)
    model = _built(TINY)
    bw.load_backbone_weights(model, tmp_path / "vgg_face_convs.npz")
    np.testing.assert_array_equal(model.backbone.get_layer("conv5_3").kernel.numpy(), arrays["conv5_3/kernel"])
    with pytest.raises(ValueError, match=r"weights for backbone vgg_face\(2,2,4,4,4\) do not fit this preset's "
                                         r"backbone vgg_face\(8,16,32,64,64\)"):
        bw.load_backbone_weights(_built(presets.small_config(presets.get_preset("vgg_face_cnn").config)),
                                 tmp_path / "vgg_face_convs.npz")


@pytest.mark.parametrize("preset", ["vgg_face_cnn", "affwildnet", "densenet121_cnn"])
def test_full_size_preset_accepts_a_backbone_file_of_its_own_shape(tmp_path, preset):
    """Build only: the full-size backbone's own weights written, scrambled, loaded back."""
    model = _built(presets.get_preset(preset).config)
    path = bw.save_backbone_weights(model.backbone, bw.backbone_shape(model.config), tmp_path / "own.npz")
    variable = model.backbone.weights[0]
    original = variable.numpy().copy()
    variable.assign(np.zeros_like(original))
    assert bw.load_backbone_weights(model, path) == len(model.backbone.weights)
    np.testing.assert_array_equal(variable.numpy(), original)


def _face_records(folder, n_recordings=6, frames=4, crop=96):
    """Random face crops with labels and a category per recording, written as the Beam job does."""
    import tensorflow as tf

    from affect_tf.data import schema
    from tests.data.data_test_utils import random_recording_arrays

    folder.mkdir(parents=True)
    for i in range(n_recordings):
        arrays = random_recording_arrays(frames, crop=crop, seed=i)
        arrays.update(face_mask=np.ones(frames, np.float32), label_mask=np.ones((frames, 2), np.float32))
        data = schema.encode_recording(recording_id=f"r{i}", subject=f"s{i}", split="train", fps=25.0,
                                       category=("happiness", "sadness", "anger")[i % 3], **arrays)
        with tf.io.TFRecordWriter(str(folder / f"r{i}.tfrecord.gz"), "GZIP") as writer:
            writer.write(data)


@pytest.mark.slow
def test_pretrain_then_train_starts_from_the_backbone_file(tmp_path, capsys):
    from affect_tf import cli
    from affect_tf.models import load_model

    _face_records(tmp_path / "records" / "train")
    assert cli.main(["pretrain", "--preset", "vgg_face_cnn", "--small", "--records", str(tmp_path / "records"),
                     "--out", str(tmp_path / "pretrained"), "--epochs", "1", "--batch-size", "8"]) == 0
    small = presets.small_config(presets.get_preset("vgg_face_cnn").config)
    report = json.loads((tmp_path / "pretrained" / "pretrain.json").read_text())
    path = tmp_path / "pretrained" / backbone_file_name(small)
    assert path.name == "vgg_face-8-16-32-64-64.backbone.npz" and report["backbone_weights"] == str(path)
    assert report["categories"] == ["anger", "happiness", "sadness"] and "accuracy" in report["metrics"]
    stored = [np.load(path)[str(i)] for i in range(26)]
    capsys.readouterr()
    # Adam moves each weight by about the learning rate per step: 1e-9 keeps the start visible
    train = ["train", "--preset", "vgg_face_cnn", "--small", "--records", str(tmp_path / "records"), "--epochs", "1",
             "--learning-rate", "1e-9", "--batch-size", "2", "--window", "4"]
    assert cli.main([*train, "--out", str(tmp_path / "run"), "--backbone-weights", str(path)]) == 0
    trained = load_model(str(tmp_path / "run" / "model.keras")).backbone.get_weights()
    for loaded, expected in zip(trained, stored):
        np.testing.assert_allclose(loaded, expected, atol=1e-6)
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())["backbone_weights"] == str(path)
    assert not np.allclose(small.built_model().backbone.get_weights()[0], stored[0], atol=1e-3)  # not a fresh start
    capsys.readouterr()
    # the full-size preset's backbone is another shape: refused in one line, nothing trained
    assert cli.main(["train", "--preset", "vgg_face_cnn", "--records", str(tmp_path / "records"),
                     "--out", str(tmp_path / "full"), "--backbone-weights", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"affect-tf train: {path}: weights for backbone vgg_face(8,16,32,64,64) do not fit this "
                   "preset's backbone vgg_face(64,128,256,512,512)")
    assert not (tmp_path / "full" / "model.keras").exists()
    # --freeze-backbone: at a learning rate that moves every trainable weight, the CNN stays the
    # file's while the layers above it train
    fast = [a if a != "1e-9" else "1e-2" for a in train]
    assert cli.main([*fast, "--out", str(tmp_path / "frozen"), "--backbone-weights", str(path), "--freeze-backbone"]) == 0
    frozen, slow = (load_model(str(tmp_path / run / "model.keras")) for run in ("frozen", "run"))
    for loaded, expected in zip(frozen.backbone.get_weights(), stored):
        np.testing.assert_array_equal(loaded, expected)
    def head(model):
        cnn = {id(v) for v in model.backbone.weights}
        return [v.numpy() for v in model.weights if v.trainable and id(v) not in cnn]
    moved = [np.abs(a - b).max() for a, b in zip(head(frozen), head(slow))]
    assert len(moved) >= 4 and min(moved) > 1e-4, moved  # (without a file: tests/bad_input)
