"""Record statistics and anomalies (the maths behind the pipeline's RecordStatisticsGen and
RecordValidator) on real TFRecords, checked against numpy over the arrays that were written."""
import numpy as np
import pytest
import tensorflow as tf

from affect_tf.data import record_statistics, schema
from tests.data.data_test_utils import random_recording_arrays


def _write(path, recordings):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for rid, subject, arrays in recordings:
            writer.write(schema.encode_recording(recording_id=rid, subject=subject, split="train", fps=10, **arrays))
    return str(path)


def test_statistics_match_numpy_over_the_written_frames(tmp_path):
    a, b = random_recording_arrays(7, seed=1), random_recording_arrays(5, seed=2)
    b["valence"][2] = 1.5  # out of range, on a labelled frame
    b["label_mask"][2] = 1.0
    path = _write(tmp_path / "r.tfrecord", [("r1", "s1", a), ("r2", "s2", b)])
    stats = record_statistics.compute_record_statistics([path])
    assert (stats["records"], stats["frames"], stats["recordings"], stats["subjects"]) == (2, 12, 2, ["s1", "s2"])
    face = np.concatenate([a["face_mask"], b["face_mask"]])
    assert stats["face_found_rate"] == pytest.approx(face.mean())
    mask = np.concatenate([a["label_mask"], b["label_mask"]])[:, 0] > 0
    valence = np.concatenate([a["valence"], b["valence"]])[mask]
    v = stats["valence"]
    assert v["known_frames"] == mask.sum() and v["masked_frame_share"] == pytest.approx(1 - mask.mean())
    assert (v["min"], v["max"]) == pytest.approx((valence.min(), valence.max()))
    assert (v["mean"], v["std"]) == pytest.approx((valence.mean(), valence.std()), rel=1e-5)
    anomalies = record_statistics.find_anomalies(stats, min_face_rate=0.0)
    assert anomalies == ["valence: labels span [{:.3f}, 1.500] outside [-1.0, 1.0]".format(valence.min())]
    assert record_statistics.find_anomalies(stats, min_face_rate=1.0)[0].startswith("face found in")
    assert record_statistics.find_anomalies(record_statistics.compute_record_statistics([])) == []
