"""``tf.data`` input pipelines: records -> batches of windows of T frames (``docs/data.md``).

Each record (one recording or chunk) is cut into consecutive, non-overlapping windows of
``window`` frames; the last window is padded and its padding has ``frame_mask`` 0 (as have
the overlap frames a chunk repeats as context). Training shuffles files (i.e. recordings) and
windows with the seed; evaluation keeps a deterministic order (files sorted by name, windows in
time order). ``window`` is an argument so curriculum learning can grow T (2 -> 4 -> 8 ...).
"""
from __future__ import annotations

import tensorflow as tf

from affect_tf import features as F
from affect_tf.data import schema

MODALITIES = (F.FACE, F.LANDMARKS, F.MEL, F.EGEMAPS)
_MASK_OF = {F.FACE: F.FACE_MASK, F.LANDMARKS: F.FACE_MASK, F.MEL: F.AUDIO_MASK, F.EGEMAPS: F.AUDIO_MASK}


def split_pattern(records: str, split: str) -> str | None:
    """The file pattern of one split under ``records``: ``DIR/<split>/*`` or ``DIR/<split>*``."""
    for pattern in (tf.io.gfile.join(records, split, "*"), tf.io.gfile.join(records, f"{split}*")):
        if tf.io.gfile.glob(pattern):
            return pattern
    return None


def list_files(file_pattern) -> list[str]:
    """Sorted files matching one pattern, a list of patterns, or a folder (all record files)."""
    patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    files = []
    for pattern in patterns:
        for match in tf.io.gfile.glob(pattern):
            if tf.io.gfile.isdir(match):  # a split folder of the preprocess output
                files.extend(tf.io.gfile.glob(match.rstrip("/") + "/*.tfrecord*"))
            elif ".tfrecord" in match:
                files.append(match)
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {file_pattern!r}")
    return sorted(set(files))


def _records(files):
    plain = [f for f in files if not f.endswith(".gz")]
    gz = [f for f in files if f.endswith(".gz")]
    parts = []
    if plain:
        parts.append((plain, None))
    if gz:
        parts.append((gz, "GZIP"))
    return parts


def _windows(features, labels, meta, window: int):
    """Per-record tensors (T, ...) -> a dataset of (window, ...) slices, the last one padded."""
    n = tf.shape(features[F.FRAME_MASK])[0]
    n_windows = tf.maximum((n + window - 1) // window, 1)
    pad = n_windows * window - n

    def cut(x, fill=0):
        x = tf.pad(x, [[0, pad]] + [[0, 0]] * (len(x.shape) - 1), constant_values=fill)
        return tf.reshape(x, tf.concat([[n_windows, window], tf.shape(x)[1:]], 0))

    feats = {k: cut(v) for k, v in features.items()}
    labs = {k: cut(v) for k, v in labels.items()}
    ids = {F.RECORDING_ID: tf.fill([n_windows], meta[F.RECORDING_ID]),
           F.FRAME_INDEX: cut(meta[F.FRAME_INDEX], fill=-1)}
    return tf.data.Dataset.from_tensor_slices((feats, labs, ids))


def fit_face_crops(faces, crop_size: int):
    """Face crops (T, S, S, 3) on [-1, 1] resized to ``crop_size`` when stored at another size
    (a 128x128-input model on 96x96 records; the export's record signature does the same)."""
    resized = tf.image.resize(faces, [crop_size, crop_size], antialias=True)
    faces = tf.cond(tf.shape(faces)[1] == crop_size, lambda: faces, lambda: tf.clip_by_value(resized, -1.0, 1.0))
    return tf.ensure_shape(faces, [None, crop_size, crop_size, 3])


def make_dataset(file_pattern, window: int = 8, batch_size: int = 4, modalities=MODALITIES,
                 shuffle: bool = True, seed: int = 0, keep_ids: bool = False,
                 crop_size: int | None = None, shuffle_buffer: int = 256,
                 drop_remainder: bool = False, repeat: bool = False) -> tf.data.Dataset:
    """Batches ``(features, labels)`` (``+ meta`` with ``keep_ids``) as in :mod:`affect_tf.features`.

    ``modalities`` picks the inputs (any of face, landmarks, mel, egemaps); their masks and
    ``frame_mask`` come along. ``crop_size`` resizes stored face crops when it differs.
    """
    unknown = set(modalities) - set(MODALITIES)
    if unknown or not modalities:
        raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {modalities}")
    if window < 1 or batch_size < 1:
        raise ValueError(f"window and batch_size must be >= 1 (got {window}, {batch_size})")
    files = list_files(file_pattern)
    keep = set(modalities) | {_MASK_OF[m] for m in modalities} | {F.FRAME_MASK}
    decode_face = F.FACE in modalities

    def parse(serialized):
        features, labels, meta = schema.parse_sequence_example(serialized, decode_face=decode_face)
        features = {k: v for k, v in features.items() if k in keep}
        if decode_face and crop_size is not None:
            features[F.FACE] = fit_face_crops(features[F.FACE], crop_size)
        return features, labels, meta

    datasets = []
    for group, compression in _records(files):
        files_ds = tf.data.Dataset.from_tensor_slices(group)
        if shuffle:
            files_ds = files_ds.shuffle(len(group), seed=seed, reshuffle_each_iteration=True)
        datasets.append(files_ds.interleave(
            lambda f, c=compression: tf.data.TFRecordDataset(f, compression_type=c),
            cycle_length=1 if not shuffle else 4))  # sequential: deterministic as it is
    ds = datasets[0] if len(datasets) == 1 else datasets[0].concatenate(datasets[1])
    if repeat:
        ds = ds.repeat()
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.flat_map(lambda f, l, m: _windows(f, l, m, window))
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if not keep_ids:
        ds = ds.map(lambda f, l, m: (f, l))
    return ds.prefetch(tf.data.AUTOTUNE)
