"""The record layout: one ``tf.train.SequenceExample`` per recording or per chunk of one.

Context (one value per record): ``recording_id``, ``subject``, ``split`` (bytes); ``fps``
(float); ``n_frames`` (frames in this record), ``chunk_start`` (index of its first frame in the
recording), ``chunk_overlap`` (leading frames repeated from the previous chunk, there only as
context), ``crop_size``, ``schema_version`` (int64); ``label_scale`` (bytes: the dataset's
original scale; stored labels are always on [-1, 1]); ``category`` (bytes, optional: the
expression label of a face-image set, e.g. ``happy``; empty when the dataset has none).

Feature lists (one entry per frame): ``face`` (PNG or JPEG bytes of the aligned RGB crop),
``landmarks`` (136 floats: 68 x (x, y) in crop coordinates on [-1, 1]), ``face_mask``,
``audio_mask`` (1 float each), ``mel`` (128 x 128 floats, dB, (mels, STFT frames)), ``egemaps``
(25 floats), ``valence``, ``arousal`` (1 float each) and ``label_mask`` (2 floats: valence,
arousal known); since version 2 also ``face_confidence`` (the face detector's confidence on
[0, 1], 0 without a face) and ``landmarks_fitted`` (1 when the crop is aligned on the 68-point
fit, 0 when on the detector's five points, whose landmarks are then the placed mean shape).
Names and shapes follow :mod:`affect_tf.features`. Version 1 records (without the two) still
parse: their confidence and ``landmarks_fitted`` read as ``face_mask``.
"""
from __future__ import annotations

import io

import numpy as np

from affect_tf import features as F

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
FACE_FORMATS = ("png", "jpeg")

_CONTEXT_BYTES = ("recording_id", "subject", "split", "label_scale")
_CONTEXT_INT = ("n_frames", "chunk_start", "chunk_overlap", "crop_size", "schema_version")
_CONTEXT_FLOAT = ("fps",)


def _encode_image(image: np.ndarray, fmt: str, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    if fmt == "png":
        Image.fromarray(image).save(buf, format="PNG", compress_level=6)
    else:
        Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_recording(
    *,
    recording_id: str,
    subject: str,
    split: str,
    fps: float,
    face: np.ndarray,
    landmarks: np.ndarray,
    face_mask: np.ndarray,
    mel: np.ndarray,
    egemaps: np.ndarray,
    audio_mask: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    label_mask: np.ndarray,
    label_scale: str = "-1..1",
    chunk_start: int = 0,
    chunk_overlap: int = 0,
    face_format: str = "png",
    jpeg_quality: int = 95,
    face_confidence: np.ndarray | None = None,
    landmarks_fitted: np.ndarray | None = None,
    category: str | None = None,
) -> bytes:
    """Serialize T frames of one recording to a ``SequenceExample`` (deterministic bytes).

    ``face`` is uint8 (T, S, S, 3); ``label_mask`` is (T, 2) (or (T,) for both dimensions);
    the other arrays follow :mod:`affect_tf.features` with a leading T axis.
    ``face_confidence`` and ``landmarks_fitted`` (T,) default to ``face_mask``.
    """
    import tensorflow as tf

    if face_format not in FACE_FORMATS:
        raise ValueError(f"face_format must be one of {FACE_FORMATS}, got {face_format!r}")
    face = np.asarray(face)
    n = face.shape[0]
    if face.dtype != np.uint8 or face.ndim != 4 or face.shape[1] != face.shape[2]:
        raise ValueError(f"{recording_id}: face must be uint8 (T, S, S, 3), got {face.dtype} {face.shape}")
    label_mask = np.asarray(label_mask, np.float32)
    if label_mask.ndim == 1:
        label_mask = np.stack([label_mask, label_mask], axis=-1)
    per_frame = {
        "landmarks": (landmarks, (F.N_LANDMARKS, 2)),
        "face_mask": (face_mask, ()),
        "mel": (mel, (F.N_MELS, F.MEL_FRAMES)),
        "egemaps": (egemaps, (F.EGEMAPS_DIM,)),
        "audio_mask": (audio_mask, ()),
        "valence": (valence, ()),
        "arousal": (arousal, ()),
        "label_mask": (label_mask, (2,)),
        F.FACE_CONFIDENCE: (face_mask if face_confidence is None else face_confidence, ()),
        F.LANDMARKS_FITTED: (face_mask if landmarks_fitted is None else landmarks_fitted, ()),
    }
    floats = {}
    for name, (value, shape) in per_frame.items():
        value = np.asarray(value, np.float32)
        if value.shape != (n, *shape):
            raise ValueError(f"{recording_id}: {name} has shape {value.shape}, expected {(n, *shape)}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{recording_id}: {name} holds NaN or infinite values")
        floats[name] = value.reshape(n, -1)

    example = tf.train.SequenceExample()
    ctx = example.context.feature
    for key, value in (("recording_id", recording_id), ("subject", subject), ("split", split),
                       ("label_scale", label_scale)):
        ctx[key].bytes_list.value.append(str(value).encode("utf-8"))
    if category:
        ctx["category"].bytes_list.value.append(category.encode("utf-8"))
    for key, value in (("n_frames", n), ("chunk_start", chunk_start), ("chunk_overlap", chunk_overlap),
                       ("crop_size", face.shape[1]), ("schema_version", SCHEMA_VERSION)):
        ctx[key].int64_list.value.append(int(value))
    ctx["fps"].float_list.value.append(float(fps))

    lists = example.feature_lists.feature_list
    face_list = lists["face"].feature
    for image in face:
        face_list.add().bytes_list.value.append(_encode_image(image, face_format, jpeg_quality))
    for name, value in floats.items():
        target = lists[name].feature
        for row in value:
            target.add().float_list.value.extend(row.tolist())
    return example.SerializeToString(deterministic=True)


def _sequence_spec():
    import tensorflow as tf

    context = {k: tf.io.FixedLenFeature([], tf.string) for k in _CONTEXT_BYTES}
    context.update({k: tf.io.FixedLenFeature([], tf.int64) for k in _CONTEXT_INT})
    context.update({k: tf.io.FixedLenFeature([], tf.float32) for k in _CONTEXT_FLOAT})
    context["category"] = tf.io.FixedLenFeature([], tf.string, default_value="")
    sizes = {"landmarks": F.N_LANDMARKS * 2, "face_mask": 1, "mel": F.N_MELS * F.MEL_FRAMES,
             "egemaps": F.EGEMAPS_DIM, "audio_mask": 1, "valence": 1, "arousal": 1,
             "label_mask": 2}
    sequence = {k: tf.io.FixedLenSequenceFeature([size], tf.float32) for k, size in sizes.items()}
    for name in (F.FACE_CONFIDENCE, F.LANDMARKS_FITTED):  # absent from version 1 records
        sequence[name] = tf.io.FixedLenSequenceFeature([1], tf.float32, allow_missing=True)
    sequence["face"] = tf.io.FixedLenSequenceFeature([], tf.string)
    return context, sequence


def decode_faces(encoded, crop_size=None):
    """uint8 (T, S, S, 3) from a vector of PNG/JPEG strings (S = ``crop_size`` when known)."""
    import tensorflow as tf

    faces = tf.map_fn(
        lambda s: tf.io.decode_image(s, channels=3, expand_animations=False),
        encoded, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )
    if crop_size is not None:
        faces = tf.ensure_shape(faces, [None, crop_size, crop_size, 3])
    return faces


def parse_sequence_example(serialized, decode_face: bool = True, decode_face_uint8: bool = False,
                           crop_size: int | None = None):
    """``(features, labels, meta)`` tensors with a leading T axis for ONE serialized record.

    ``features[FACE]`` is float32 on [-1, 1] (uint8 when ``decode_face_uint8``, as the serving
    signature takes; left out when ``decode_face`` is False). ``features[FRAME_MASK]`` is 0 on
    the ``chunk_overlap`` leading frames, which a chunk repeats only as context, so every frame
    of a recording counts once. ``meta`` holds the context plus ``frame_index`` (T,).
    """
    import tensorflow as tf

    context_spec, sequence_spec = _sequence_spec()
    if not decode_face:
        sequence_spec.pop("face")
    context, seq = tf.io.parse_single_sequence_example(
        serialized, context_features=context_spec, sequence_features=sequence_spec)
    n = tf.shape(seq["valence"])[0]
    features = {
        F.LANDMARKS: tf.reshape(seq["landmarks"], [-1, F.N_LANDMARKS, 2]),
        F.FACE_MASK: seq["face_mask"][:, 0],
        F.MEL: tf.reshape(seq["mel"], [-1, F.N_MELS, F.MEL_FRAMES]),
        F.EGEMAPS: seq["egemaps"],
        F.AUDIO_MASK: seq["audio_mask"][:, 0],
        F.FRAME_MASK: tf.cast(tf.range(n) >= tf.cast(context["chunk_overlap"], tf.int32), tf.float32),
    }
    for name in (F.FACE_CONFIDENCE, F.LANDMARKS_FITTED):
        stored = seq[name][:, 0]
        features[name] = tf.cond(tf.shape(stored)[0] == n, lambda: stored, lambda: features[F.FACE_MASK])
    if decode_face:
        faces = decode_faces(seq["face"], crop_size)
        features[F.FACE] = faces if decode_face_uint8 else tf.cast(faces, tf.float32) / 127.5 - 1.0
    labels = {
        F.TARGETS: tf.concat([seq["valence"], seq["arousal"]], axis=-1),
        F.LABEL_MASK: seq["label_mask"],
    }
    meta = dict(context)
    meta[F.RECORDING_ID] = context["recording_id"]
    meta[F.FRAME_INDEX] = tf.cast(context["chunk_start"], tf.int32) + tf.range(n, dtype=tf.int32)
    return features, labels, meta
