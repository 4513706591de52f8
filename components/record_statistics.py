"""RecordStatisticsGen and RecordValidator: statistics and anomalies of the sequence records.

TFX's StatisticsGen/SchemaGen/ExampleValidator describe flat ``tf.Example`` columns; our records
are ``SequenceExample``s with image bytes and 16k-float mel windows per frame, and the checks that
matter are per frame (face found, label known, label range). So these two components compute
them directly and store them in the standard ``ExampleStatistics`` and ``ExampleAnomalies``
artifact types (``<uri>/Split-<split>/stats.json`` and ``<uri>/anomalies.json``).
"""

import glob
import json
import os

import numpy as np
from tfx import v1 as tfx
from tfx.types import artifact_utils

from affect_tf import features as F
from affect_tf.files import write_text_atomic

Examples = tfx.types.standard_artifacts.Examples
ExampleStatistics = tfx.types.standard_artifacts.ExampleStatistics
ExampleAnomalies = tfx.types.standard_artifacts.ExampleAnomalies


def split_files(examples_uri: str, split: str) -> list:
    """Record files of one split (empty for a split the drop has no recordings in)."""
    folder = os.path.join(examples_uri, f"Split-{split}")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"examples {examples_uri} have no split {split!r}")
    return sorted(glob.glob(os.path.join(folder, "*.tfrecord*")))


def _dataset(files):
    import tensorflow as tf

    compression = "GZIP" if files[0].endswith(".gz") else ""
    return tf.data.TFRecordDataset(files, compression_type=compression)


def compute_record_statistics(files: list[str]) -> dict:
    """Per-split statistics of records (faces are not decoded)."""
    from affect_tf.data import schema

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
    from affect_tf.data import schema

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


@tfx.dsl.components.component
def RecordStatisticsGen(
    examples: tfx.dsl.components.InputArtifact[Examples],
    statistics: tfx.dsl.components.OutputArtifact[ExampleStatistics],
):
    """Per-split record statistics (frames, face-found rate, label coverage and range, ...)."""
    splits = artifact_utils.decode_split_names(examples.split_names)
    for split in splits:
        stats = compute_record_statistics(split_files(examples.uri, split))
        write_text_atomic(os.path.join(statistics.uri, f"Split-{split}", "stats.json"),
                          json.dumps(stats, indent=2, sort_keys=True))
    statistics.split_names = artifact_utils.encode_split_names(splits)
    statistics.span = examples.span


@tfx.dsl.components.component
def RecordValidator(
    statistics: tfx.dsl.components.InputArtifact[ExampleStatistics],
    anomalies: tfx.dsl.components.OutputArtifact[ExampleAnomalies],
    min_face_rate: tfx.dsl.components.Parameter[float] = 0.5,
    max_masked_share: tfx.dsl.components.Parameter[float] = 0.5,
    fail_on_anomalies: tfx.dsl.components.Parameter[bool] = False,
):
    """Check every split's statistics; with ``fail_on_anomalies`` the run stops on any."""
    splits = artifact_utils.decode_split_names(statistics.split_names)
    report = {}
    for split in splits:
        with open(os.path.join(statistics.uri, f"Split-{split}", "stats.json")) as f:
            report[split] = find_anomalies(json.load(f), min_face_rate, max_masked_share)
    write_text_atomic(os.path.join(anomalies.uri, "anomalies.json"), json.dumps(report, indent=2, sort_keys=True))
    anomalies.split_names = artifact_utils.encode_split_names(splits)
    count = sum(len(v) for v in report.values())
    anomalies.set_int_custom_property("anomalies_found", count)
    if count and fail_on_anomalies:
        lines = [f"{split}: {a}" for split, found in report.items() for a in found]
        raise ValueError(f"record anomalies in {statistics.uri}:\n  " + "\n  ".join(lines))
