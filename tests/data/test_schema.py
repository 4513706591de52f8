import numpy as np
import pytest
import tensorflow as tf

from affect_tf import features as F
from affect_tf.data import schema
from tests.data.data_test_utils import random_recording_arrays


def _encode(n=5, crop=16, **extra):
    arrays = random_recording_arrays(n, crop)
    kwargs = dict(recording_id="clip/7", subject="s1", split="train", fps=25.0, **arrays)
    kwargs.update(extra)
    return arrays, schema.encode_recording(**kwargs)


def test_round_trip_restores_every_array_and_the_context():
    arrays, data = _encode(n=6, chunk_start=10, chunk_overlap=2, label_scale="afew_va:-10..10")
    features, labels, meta = schema.parse_sequence_example(tf.constant(data), decode_face_uint8=True)
    np.testing.assert_array_equal(features[F.FACE].numpy(), arrays["face"])  # PNG is lossless
    for key in (F.LANDMARKS, F.FACE_MASK, F.MEL, F.EGEMAPS, F.AUDIO_MASK):
        np.testing.assert_array_equal(features[key].numpy(), arrays[key])
    np.testing.assert_array_equal(labels[F.TARGETS].numpy(), np.stack([arrays["valence"], arrays["arousal"]], -1))
    np.testing.assert_array_equal(labels[F.LABEL_MASK].numpy(), arrays["label_mask"])
    assert meta[F.RECORDING_ID].numpy() == b"clip/7"
    assert meta["subject"].numpy() == b"s1" and meta["split"].numpy() == b"train"
    assert meta["label_scale"].numpy() == b"afew_va:-10..10"
    assert meta["fps"].numpy() == 25.0 and meta["n_frames"].numpy() == 6
    assert meta["schema_version"].numpy() == schema.SCHEMA_VERSION and meta["crop_size"].numpy() == 16
    np.testing.assert_array_equal(meta[F.FRAME_INDEX].numpy(), np.arange(10, 16))
    # the 2 overlap frames are context only
    np.testing.assert_array_equal(features[F.FRAME_MASK].numpy(), [0, 0, 1, 1, 1, 1])


def test_float_faces_are_scaled_to_minus_one_one_and_face_can_be_skipped():
    arrays, data = _encode(n=3)
    features, _, _ = schema.parse_sequence_example(tf.constant(data))
    np.testing.assert_allclose(features[F.FACE].numpy(), arrays["face"] / 127.5 - 1.0, atol=1e-6)
    features, _, _ = schema.parse_sequence_example(tf.constant(data), decode_face=False)
    assert F.FACE not in features and features[F.MEL].shape == (3, 128, 128)


def test_jpeg_faces_are_close_and_bytes_are_deterministic():
    arrays, data = _encode(n=2, crop=32, face_format="jpeg")
    _, again = _encode(n=2, crop=32, face_format="jpeg")
    assert data == again
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (32, 1, 3))
    arrays = random_recording_arrays(1, 32)
    arrays["face"] = smooth[None]
    data = schema.encode_recording(recording_id="r", subject="s", split="train", fps=10, face_format="jpeg", **arrays)
    features, _, _ = schema.parse_sequence_example(tf.constant(data), decode_face_uint8=True)
    assert np.abs(features[F.FACE].numpy().astype(int) - smooth).mean() < 3


def test_bad_arrays_are_refused_with_the_recording_named():
    arrays = random_recording_arrays(4)
    arrays["mel"] = arrays["mel"][:3]
    with pytest.raises(ValueError, match="clip9: mel has shape"):
        schema.encode_recording(recording_id="clip9", subject="s", split="train", fps=1, **arrays)
    arrays = random_recording_arrays(4)
    arrays["valence"][1] = np.nan
    with pytest.raises(ValueError, match="clip9: valence holds NaN"):
        schema.encode_recording(recording_id="clip9", subject="s", split="train", fps=1, **arrays)
