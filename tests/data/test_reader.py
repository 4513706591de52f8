import numpy as np
import pytest
import tensorflow as tf

from affect_tf import features as F
from affect_tf.data import reader, schema
from tests.data.data_test_utils import random_recording_arrays


def _write(path, chunks, compression="GZIP"):
    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type=compression)) as w:
        for rid, n, start, overlap, seed in chunks:
            arrays = random_recording_arrays(n, crop=16, seed=seed)
            arrays["valence"] = (start + np.arange(n)).astype(np.float32) / 100  # frame number / 100
            w.write(schema.encode_recording(recording_id=rid, subject="s", split="train", fps=10,
                                            chunk_start=start, chunk_overlap=overlap, **arrays))
    return str(path)


@pytest.fixture()
def records(tmp_path):
    _write(tmp_path / "a.tfrecord.gz", [("a", 10, 0, 0, 1)])
    _write(tmp_path / "b.tfrecord", [("b", 3, 0, 0, 2)], compression="")  # shorter than T
    # c: 12 frames in two chunks of 8 with 4 frames of overlap (starts 0 and 4)
    _write(tmp_path / "c.tfrecord.gz", [("c", 8, 0, 0, 3), ("c", 8, 4, 4, 4)])
    return tmp_path


def _collect(ds):
    out = []
    for features, labels, meta in ds.unbatch().as_numpy_iterator():
        out.append((meta[F.RECORDING_ID].decode(), features, labels, meta))
    return out


def test_windows_masks_and_ids_in_evaluation_order(records):
    ds = reader.make_dataset(str(records / "*"), window=4, batch_size=3, shuffle=False, keep_ids=True)
    features, labels, meta = next(iter(ds))
    assert features[F.FACE].shape == (3, 4, 16, 16, 3) and features[F.FACE].dtype == tf.float32
    assert features[F.MEL].shape == (3, 4, 128, 128) and labels[F.TARGETS].shape == (3, 4, 2)
    windows = _collect(ds)
    ids = [w[0] for w in windows]
    # plain files first, then gzip ones, each sorted by name; windows in time order
    assert ids == ["b"] + ["a"] * 3 + ["c"] * 4
    b = windows[0]
    np.testing.assert_array_equal(b[1][F.FRAME_MASK], [1, 1, 1, 0])  # 3 frames padded to 4
    np.testing.assert_array_equal(b[3][F.FRAME_INDEX], [0, 1, 2, -1])
    np.testing.assert_array_equal(b[2][F.LABEL_MASK][3], [0, 0])
    a = [w for w in windows if w[0] == "a"]
    np.testing.assert_array_equal(np.concatenate([w[3][F.FRAME_INDEX] for w in a]), list(range(10)) + [-1, -1])
    np.testing.assert_allclose(a[1][2][F.TARGETS][:, 0], [0.04, 0.05, 0.06, 0.07], atol=1e-6)
    c = [w for w in windows if w[0] == "c"]
    idx = np.concatenate([w[3][F.FRAME_INDEX] for w in c])
    mask = np.concatenate([w[1][F.FRAME_MASK] for w in c])
    np.testing.assert_array_equal(idx, list(range(8)) + list(range(4, 12)))
    # overlap frames 4..7 of the second chunk are context only: each frame counts once
    assert sorted(idx[mask == 1]) == list(range(12))
    # the stored arrays come back for a real frame
    expected = random_recording_arrays(10, crop=16, seed=1)
    np.testing.assert_allclose(a[0][1][F.EGEMAPS], expected["egemaps"][:4])
    np.testing.assert_allclose(a[0][1][F.FACE_MASK], expected["face_mask"][:4])
    # evaluation order is deterministic
    assert [w[0] for w in _collect(ds)] == ids


def test_modality_selection_and_crop_resize(records):
    ds = reader.make_dataset(str(records), window=2, batch_size=2, modalities=("mel",), shuffle=False)
    features, labels = next(iter(ds))
    assert set(features) == {F.MEL, F.AUDIO_MASK, F.FRAME_MASK}
    ds = reader.make_dataset(str(records / "a.tfrecord.gz"), window=2, batch_size=1,
                             modalities=("face", "landmarks"), shuffle=False, crop_size=32)
    features, _ = next(iter(ds))
    assert set(features) == {F.FACE, F.LANDMARKS, F.FACE_MASK, F.FRAME_MASK}
    assert features[F.FACE].shape == (1, 2, 32, 32, 3)
    assert -1.0 <= float(tf.reduce_min(features[F.FACE])) and float(tf.reduce_max(features[F.FACE])) <= 1.0
    with pytest.raises(ValueError, match="modalities"):
        reader.make_dataset(str(records), modalities=("video",))
    with pytest.raises(FileNotFoundError, match="no TFRecord files"):
        reader.make_dataset(str(records / "nothing*"))


def test_training_shuffles_by_seed_and_keeps_every_window(records):
    def order(seed):
        ds = reader.make_dataset(str(records / "*"), window=2, batch_size=1, shuffle=True, seed=seed, keep_ids=True)
        return [(w[0], int(w[3][F.FRAME_INDEX][0])) for w in _collect(ds)]

    eval_ds = reader.make_dataset(str(records / "*"), window=2, batch_size=1, shuffle=False, keep_ids=True)
    reference = sorted((w[0], int(w[3][F.FRAME_INDEX][0])) for w in _collect(eval_ds))
    first = order(1)
    assert sorted(first) == reference  # same windows, nothing lost or repeated
    assert first == order(1)  # reproducible for a seed
    assert first != order(2) or order(3) != first
