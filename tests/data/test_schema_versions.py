"""Schema version 2 (per-frame face confidence, landmarks fitted) and reading version 1 records."""
import numpy as np
import tensorflow as tf

from affect_tf import features as F
from affect_tf.data import schema
from tests.data.data_test_utils import random_recording_arrays


def _encode(**extra):
    arrays = random_recording_arrays(5, 16)
    return arrays, schema.encode_recording(recording_id="r", subject="s", split="train", fps=25.0,
                                           **arrays, **extra)


def as_version_1(serialized: bytes) -> bytes:
    """The same record as version 1 wrote it: no confidence or landmarks_fitted lists."""
    example = tf.train.SequenceExample.FromString(serialized)
    del example.feature_lists.feature_list[F.FACE_CONFIDENCE]
    del example.feature_lists.feature_list[F.LANDMARKS_FITTED]
    example.context.feature["schema_version"].int64_list.value[:] = [1]
    return example.SerializeToString(deterministic=True)


def test_version_2_stores_confidence_and_fit_per_frame():
    confidence = np.array([0.9, 0.0, 0.55, 1.0, 0.31], np.float32)
    fitted = np.array([1, 0, 0, 1, 1], np.float32)
    _, data = _encode(face_confidence=confidence, landmarks_fitted=fitted)
    features, _, meta = schema.parse_sequence_example(tf.constant(data), decode_face=False)
    assert meta["schema_version"].numpy() == 2
    np.testing.assert_array_equal(features[F.FACE_CONFIDENCE].numpy(), confidence)
    np.testing.assert_array_equal(features[F.LANDMARKS_FITTED].numpy(), fitted)


def test_version_1_record_still_reads_with_confidence_from_the_face_mask():
    arrays, data = _encode(face_confidence=np.full(5, 0.7, np.float32))
    old = as_version_1(data)
    assert b"face_confidence" not in old
    features, labels, meta = schema.parse_sequence_example(tf.constant(old), decode_face_uint8=True)
    assert meta["schema_version"].numpy() == 1
    np.testing.assert_array_equal(features[F.FACE].numpy(), arrays["face"])
    np.testing.assert_array_equal(features[F.MEL].numpy(), arrays[F.MEL])
    np.testing.assert_array_equal(labels[F.LABEL_MASK].numpy(), arrays["label_mask"])
    for name in (F.FACE_CONFIDENCE, F.LANDMARKS_FITTED):
        np.testing.assert_array_equal(features[name].numpy(), arrays[F.FACE_MASK])
