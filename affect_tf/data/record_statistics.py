"""Statistics and anomalies of a split's sequence records: what the pipeline's
RecordStatisticsGen and RecordValidator components store (``components/record_statistics.py``),
computed here so that it runs and is tested without TFX.

The checks that matter are per frame (face found, label known, label range), which TFX's
StatisticsGen cannot see in ``SequenceExample``s with image bytes and mel windows per frame.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from affect_tf import features as F
from affect_tf.data import schema


def _dataset(files):
    compression = "GZIP" if files[0].endswith(".gz") else ""
    return tf.data.TFRecordDataset(files, compression_type=compression)


def compute_record_statistics(files: list[str]) -> dict:
    """Per-split statistics of records (faces are not decoded)."""
    s = {"records": 0, "frames": 0, "face_found": 0.0, "audio_present": 0.0, "non_finite": 0,
         "label_known": [0.0, 0.0], "label_min": [np.inf, np.inf], "label_max": [-np.inf, -np.inf],
         "label_sum": [0.0, 0.0], "label_sq": [0.0, 0.0], "landmark_min": np.inf, "landmark_max": -np.inf,
         "schema_versions": set(), "recordings": set(), "subjects": set()}
    for serialized in _dataset(files) if files else ():
        feats, labels, meta = schema.parse_sequence_example(serialized, decode_face=False)
        frame = feats[F.FRAME_MASK].numpy() > 0
        s["records"] += 1
        s["frames"] += int(frame.sum())
        s["recordings"].add(meta[F.RECORDING_ID].numpy().decode())
        s["subjects"].add(meta["subject"].numpy().decode())
        s["schema_versions"].add(int(meta["schema_version"].numpy()))
        s["face_found"] += float(feats[F.FACE_MASK].numpy()[frame].sum())
        s["audio_present"] += float(feats[F.AUDIO_MASK].numpy()[frame].sum())
        for name in (F.LANDMARKS, F.MEL, F.EGEMAPS):
            s["non_finite"] += int((~np.isfinite(feats[name].numpy()[frame])).sum())
        landmarks = feats[F.LANDMARKS].numpy()[frame & (feats[F.FACE_MASK].numpy() > 0)]
        if landmarks.size:
            s["landmark_min"] = min(s["landmark_min"], float(landmarks.min()))
            s["landmark_max"] = max(s["landmark_max"], float(landmarks.max()))
        targets = labels[F.TARGETS].numpy()[frame]
        known = labels[F.LABEL_MASK].numpy()[frame] > 0
        for d in range(2):
            values = targets[known[:, d], d]
            s["non_finite"] += int((~np.isfinite(values)).sum())
            if values.size:
                s["label_known"][d] += values.size
                s["label_min"][d] = min(s["label_min"][d], float(values.min()))
                s["label_max"][d] = max(s["label_max"][d], float(values.max()))
                s["label_sum"][d] += float(values.sum())
                s["label_sq"][d] += float((values**2).sum())
    frames = max(s["frames"], 1)
    out = {
        "records": s["records"], "frames": s["frames"], "recordings": len(s["recordings"]),
        "subjects": sorted(s["subjects"]), "schema_versions": sorted(s["schema_versions"]),
        "face_found_rate": s["face_found"] / frames, "audio_present_rate": s["audio_present"] / frames,
        "non_finite_values": s["non_finite"],
        "landmark_range": [s["landmark_min"], s["landmark_max"]] if np.isfinite(s["landmark_min"]) else None,
    }
    for d, name in enumerate(("valence", "arousal")):
        n = s["label_known"][d]
        mean = s["label_sum"][d] / n if n else None
        out[name] = {
            "known_frames": int(n),
            "masked_frame_share": 1.0 - n / frames,
            "min": s["label_min"][d] if n else None,
            "max": s["label_max"][d] if n else None,
            "mean": mean,
            "std": float(np.sqrt(max(s["label_sq"][d] / n - mean**2, 0.0))) if n else None,
        }
    return out


def find_anomalies(stats: dict, min_face_rate: float = 0.5, max_masked_share: float = 0.5,
                   label_range: tuple[float, float] = (-1.0, 1.0)) -> list[str]:
    """Human-readable anomalies of one split's statistics (empty when the split looks sound)."""
    found = []
    if stats["records"] == 0:
        return []  # an empty split (e.g. a drop of new training subjects only) is not an anomaly
    unknown = sorted(set(stats["schema_versions"]) - set(schema.READABLE_VERSIONS))
    if unknown:
        found.append(f"schema versions {unknown} not readable (readable: {list(schema.READABLE_VERSIONS)})")
    if stats["non_finite_values"]:
        found.append(f"{stats['non_finite_values']} NaN/inf feature or label values")
    if stats["face_found_rate"] < min_face_rate:
        found.append(f"face found in {stats['face_found_rate']:.1%} of frames (< {min_face_rate:.0%})")
    for name in ("valence", "arousal"):
        d = stats[name]
        if d["masked_frame_share"] > max_masked_share:
            found.append(f"{name}: {d['masked_frame_share']:.1%} of frames unlabelled (> {max_masked_share:.0%})")
        if d["known_frames"] and (d["min"] < label_range[0] or d["max"] > label_range[1]):
            found.append(f"{name}: labels span [{d['min']:.3f}, {d['max']:.3f}] outside {list(label_range)}")
        if d["known_frames"] > 1 and d["std"] == 0.0:
            found.append(f"{name}: constant labels ({d['mean']:.3f})")
    return found
