"""Feature standardisation inside the model: training-split statistics equal numpy's over the
usable frames, travel with the saved/exported model, and survive warm starts unless refitted."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from affect_tf import export, features as F
from affect_tf.data import schema
from affect_tf.data.feature_statistics import feature_statistics, fit_standardization
from affect_tf.data.reader import make_dataset
from affect_tf.models.implicit_fusion import ImplicitFusionConfig
from affect_tf.training import TrainConfig, train_and_evaluate

NAMES = (F.EGEMAPS, F.LANDMARKS, F.MEL)


def _arrays(n, seed):
    """One recording: features on very different scales, masked frames holding huge values."""
    rng = np.random.default_rng(seed)
    scale = np.geomspace(0.01, 500, F.EGEMAPS_DIM)
    arrays = dict(
        face=np.zeros((n, 8, 8, 3), np.uint8),
        landmarks=rng.normal(0.3, 0.2, (n, 68, 2)).astype(np.float32),
        face_mask=(rng.random(n) > 0.3).astype(np.float32),
        mel=rng.uniform(-80, 0, (n, 128, 128)).astype(np.float32),
        egemaps=(rng.standard_normal((n, F.EGEMAPS_DIM)) * scale + 3 * scale).astype(np.float32),
        audio_mask=(rng.random(n) > 0.3).astype(np.float32),
        valence=rng.uniform(-1, 1, n).astype(np.float32),
        arousal=rng.uniform(-1, 1, n).astype(np.float32),
        label_mask=np.ones((n, 2), np.float32),
    )
    arrays["egemaps"][arrays["audio_mask"] == 0] = 1e6
    arrays["mel"][arrays["audio_mask"] == 0] = 1e6
    arrays["landmarks"][arrays["face_mask"] == 0] = -1e6
    return arrays


def _write_records(path, lengths, seed=0):
    recordings = [_arrays(n, seed + i) for i, n in enumerate(lengths)]
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i, arrays in enumerate(recordings):
            writer.write(schema.encode_recording(recording_id=f"r{i}", subject="s", split="train",
                                                 fps=25, **arrays))
    return recordings


def test_statistics_equal_numpy_over_usable_frames(tmp_path):
    # 7 + 12 frames in windows of 5: the last window of each recording is padded (frame_mask 0).
    recordings = _write_records(tmp_path / "train.tfrecord", [7, 12])
    data = make_dataset(str(tmp_path / "train.tfrecord"), window=5, batch_size=3,
                        modalities=NAMES, shuffle=False)
    stats = feature_statistics(data.as_numpy_iterator(), NAMES)

    audio = np.concatenate([r["audio_mask"] for r in recordings]) > 0
    face = np.concatenate([r["face_mask"] for r in recordings]) > 0
    egemaps = np.concatenate([r["egemaps"] for r in recordings])[audio]
    landmarks = np.concatenate([r["landmarks"] for r in recordings])[face]
    mel = np.concatenate([r["mel"] for r in recordings])[audio]  # (n, bands, stft frames)
    expected = {
        F.EGEMAPS: (egemaps.mean(0), egemaps.std(0)),
        F.LANDMARKS: (landmarks.mean(0), landmarks.std(0)),
        F.MEL: (mel.mean((0, 2))[:, None], mel.std((0, 2))[:, None]),
    }
    for name, (mean, std) in expected.items():
        np.testing.assert_allclose(stats[name][0], mean, rtol=1e-5, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(stats[name][1], std, rtol=1e-4, atol=1e-4, err_msg=name)


def _tiny_config(**kw):
    model = ImplicitFusionConfig(main="audio", alpha=0.5, units=4)
    return TrainConfig(model=model, epochs=1, batch_size=2, window=4, early_stopping_patience=0,
                       tensorboard=False, **kw)


def _raw_egemaps(rng, shape):
    scale = np.geomspace(0.01, 500, F.EGEMAPS_DIM)
    return (rng.standard_normal(shape + (F.EGEMAPS_DIM,)) * scale + 3 * scale).astype(np.float32)


def test_exported_model_takes_raw_features(tmp_path):
    rng = np.random.default_rng(5)
    keras.utils.set_random_seed(0)
    model = ImplicitFusionConfig(main="audio", alpha=0.0, units=4, inference_only=True).build()
    train = {F.EGEMAPS: _raw_egemaps(rng, (4, 6))}
    model(train)
    targets = np.zeros((4, 6, 2), np.float32)
    stats = fit_standardization(model, TrainConfig(), tf.data.Dataset.from_tensors((train, {F.TARGETS: targets})))
    np.testing.assert_allclose(stats[F.EGEMAPS][0], train[F.EGEMAPS].reshape(-1, F.EGEMAPS_DIM).mean(0), rtol=1e-5)

    raw = _raw_egemaps(rng, (2, 5))
    ones = np.ones((2, 5), np.float32)
    reference = keras.ops.convert_to_numpy(model({F.EGEMAPS: raw}, training=False)[F.TARGETS])
    version = export.export_for_serving(model, tmp_path / "export", version=1)
    served = tf.saved_model.load(str(version)).signatures[export.DEFAULT_SIGNATURE](
        egemaps=tf.constant(raw), face_mask=tf.constant(ones), audio_mask=tf.constant(ones))
    np.testing.assert_allclose(served[export.OUTPUT_VALENCE].numpy(), reference[..., 0], atol=1e-5)
    np.testing.assert_allclose(served[export.OUTPUT_AROUSAL].numpy(), reference[..., 1], atol=1e-5)
    # ...and the statistics matter: without them the same weights answer differently.
    model.standardization.set_statistics(F.EGEMAPS, np.zeros(F.EGEMAPS_DIM), np.ones(F.EGEMAPS_DIM))
    unstandardized = keras.ops.convert_to_numpy(model({F.EGEMAPS: raw}, training=False)[F.TARGETS])
    assert np.abs(unstandardized - reference).max() > 1e-3


def _tiny_config(**kw):
    model = ImplicitFusionConfig(main="audio", alpha=0.5, units=4)
    return TrainConfig(model=model, epochs=1, batch_size=2, window=4, early_stopping_patience=0,
                       tensorboard=False, **kw)


@pytest.mark.slow
def test_training_fits_statistics_saves_them_and_warm_starts_keep_them(tmp_path):
    _write_records(tmp_path / "train.tfrecord", [9, 6], seed=0)
    first = train_and_evaluate(_tiny_config(), tmp_path / "run", str(tmp_path / "train.tfrecord"))
    expected = feature_statistics(
        make_dataset(str(tmp_path / "train.tfrecord"), window=4, batch_size=64,
                     modalities=(F.EGEMAPS, F.LANDMARKS), shuffle=False).as_numpy_iterator(),
        (F.EGEMAPS, F.LANDMARKS))
    saved = keras.saving.load_model(first.keras_path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(saved.standardization.statistics[F.EGEMAPS][0]),
                               expected[F.EGEMAPS][0], rtol=1e-6)

    # Warm start on other data keeps the source's statistics; refit takes the new data's. From
    # the saved .keras (implicit fusion's inference model: its branch and the shared layers are
    # carried, the auxiliary branch starts fresh) and from the training checkpoint.
    _write_records(tmp_path / "other.tfrecord", [8], seed=7)
    for refit, source in ((False, first.keras_path), (True, first.checkpoint_path)):
        config = _tiny_config(warm_start=source, refit_standardization=refit, learning_rate=1e-9)
        run = train_and_evaluate(config, tmp_path / f"warm{refit}", str(tmp_path / "other.tfrecord"))
        mean = keras.ops.convert_to_numpy(run.model.standardization.statistics[F.EGEMAPS][0])
        assert np.allclose(mean, expected[F.EGEMAPS][0], rtol=1e-6) != refit, refit
        carried = run.model.specific["audio"][0].get_weights()[0]
        np.testing.assert_allclose(carried, saved.specific["audio"][0].get_weights()[0], atol=1e-6)


def test_fit_standardization_sets_every_layer_of_a_fusion_model():
    """Model-level fusion: each CNN-RNN member standardises its own landmarks input."""
    from affect_tf.models.cnn_rnn import CnnRnnConfig
    from affect_tf.models.cnn_rnn.fusion import ModelLevelFusionConfig

    small = dict(crop_size=32, vgg_filters=(2, 2, 2, 2, 2), fc_units=4, rnn_units=2)
    model = ModelLevelFusionConfig(members=(CnnRnnConfig(rnn="single", **small),), units=2).build()
    rng = np.random.default_rng(0)
    landmarks = rng.normal(2.0, 3.0, (2, 3, 68, 2)).astype(np.float32)
    feats = {F.FACE: np.zeros((2, 3, 32, 32, 3), np.float32), F.LANDMARKS: landmarks}
    model(feats)
    data = tf.data.Dataset.from_tensors((feats, {F.TARGETS: np.zeros((2, 3, 2), np.float32)}))
    fit_standardization(model, TrainConfig(), data)
    layers = [l for l in model._flatten_layers() if type(l).__name__ == "FeatureStandardization"]
    assert len(layers) == 1  # the member's: the fusion model standardises nothing itself
    for layer in layers:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.statistics[F.LANDMARKS][0]),
                                   landmarks.mean((0, 1)), rtol=1e-5)


def test_statistics_of_an_endless_stream_read_one_epoch():
    """``train --steps-per-epoch N`` repeats its records: the statistics pass reads N batches
    (it read 2,000, over 11 minutes, before issue 28), and equals numpy over those batches."""
    from affect_tf.data.feature_statistics import _batches

    rng = np.random.default_rng(3)
    egemaps = rng.normal(2.0, 3.0, (5, 4, 6, F.EGEMAPS_DIM)).astype("float32")  # 5 batches
    ones = np.ones((5, 4, 6), "float32")
    data = tf.data.Dataset.from_tensor_slices(
        ({F.EGEMAPS: egemaps, F.AUDIO_MASK: ones, F.FRAME_MASK: ones}, ones)).repeat()
    batches = list(_batches(data, TrainConfig(steps_per_epoch=3), [F.EGEMAPS]))
    assert len(batches) == 3
    mean, std = feature_statistics(iter(batches), [F.EGEMAPS])[F.EGEMAPS]
    np.testing.assert_allclose(mean, egemaps[:3].reshape(-1, F.EGEMAPS_DIM).mean(0), rtol=1e-5)
    np.testing.assert_allclose(std, egemaps[:3].reshape(-1, F.EGEMAPS_DIM).std(0), rtol=1e-4)
