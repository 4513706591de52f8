"""A user's own data as a CSV manifest -> recordings."""
from __future__ import annotations

import csv
import pathlib

import numpy as np

from affect_tf.data.recordings import (
    SPLITS, LayoutError, Recording, column_floats, mask_and_clip, read_rows, recording_or_error, video_fps)
from affect_tf.data.timed_labels import TIME_NAMES, pick_column, read_timed_labels, resample_to_frames

CSV_REQUIRED = ("recording", "video", "subject")
CSV_OPTIONAL = ("audio", "labels", "split", "fps")
SPEECH_FPS = 25.0  # default frame rate of a speech-only recording's label/feature grid


def load_csv_manifest(path) -> list[Recording]:
    """A user's own data: a CSV with columns ``recording,video,subject`` and optional
    ``audio,labels,split,fps`` (paths relative to the manifest). A row with an empty ``video``
    and an ``audio`` file (anything PyAV decodes: wav, flac, mp3, m4a, ogg ...) is speech only:
    its frames are a grid at ``fps`` (default 25) over the audio, without faces. ``labels``
    names a per-frame file with header ``valence,arousal`` (values on [-1, 1], empty or NaN =
    unknown) or a time-stamped file (a ``time`` column, resampled to the video's or the grid's
    frame rate). Rows without labels give prediction-only records (split ``predict`` unless
    given)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: manifest CSV not found")
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise LayoutError(f"{path}: cannot read the manifest ({err})") from err
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise LayoutError(f"{path}: missing column(s) {missing}; required {list(CSV_REQUIRED)}")
    recordings, seen = [], set()
    for line, row in enumerate(rows, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k}  # short rows read as None
        rid = row["recording"]
        if not rid or rid in seen:
            raise LayoutError(f"{path}: line {line}: recording id {rid!r} is empty or repeated")
        seen.add(rid)
        split = row.get("split") if row.get("split") in SPLITS else "predict"
        recordings.append(recording_or_error(lambda: _csv_row(path, line, rid, row), rid, row["subject"],
                                              split, context=f"{path}: line {line}"))
    return recordings


def _csv_row(path, line, rid, row) -> Recording:
    base = path.parent
    video = (base / row["video"]) if row["video"] else None
    if video is not None and not video.exists():
        raise LayoutError(f"{path}: line {line}: video {video} not found")
    audio = (base / row["audio"].strip()) if row.get("audio") else None
    if audio is not None and not audio.exists():
        raise LayoutError(f"{path}: line {line}: audio {audio} not found")
    if video is None and audio is None:
        raise LayoutError(f"{path}: line {line}: neither a video nor an audio file")
    fps = None
    if video is None:
        try:
            fps = float(row.get("fps") or SPEECH_FPS)
        except ValueError:
            fps = 0.0
        if not fps > 0:
            raise LayoutError(f"{path}: line {line}: fps {row['fps']!r} is not a positive number")
    labels = row.get("labels")
    fields = {}
    if labels:
        label_path = base / labels
        if not label_path.exists():
            raise LayoutError(f"{path}: line {line}: labels {label_path} not found")
        fields = read_frame_labels(label_path, video, fps)
    split = row.get("split") or ("train" if labels else "predict")
    if split not in SPLITS:
        raise LayoutError(f"{path}: line {line}: split {split!r} is not one of {SPLITS}")
    return Recording(
        id=rid, video=str(video) if video else None, audio=str(audio) if audio else None,
        subject=row["subject"] or rid, split=split, fps=fps, label_scale="csv:-1..1",
        labels=str(base / labels) if labels else None, **fields)


def read_frame_labels(path, video, fps: float | None) -> dict:
    """Per-frame or time-stamped labels; time stamps resample at ``fps`` (else the video's)."""
    rows = read_rows(path)
    header = [c.lower() for c in rows[0]]
    if any(h in TIME_NAMES for h in header):
        times, numeric = read_timed_labels(path)
        fps = fps or video_fps(video)
        timed = {"label_fps": fps}
        v, vi = resample_to_frames(times, pick_column(numeric, path, ("valence",)), fps)
        a, ai = resample_to_frames(times, pick_column(numeric, path, ("arousal",)), fps)
    elif header[:2] == ["valence", "arousal"]:
        body = [[c if c != "" else "nan" for c in r] + ["nan"] * (2 - len(r)) for r in rows[1:]]
        values = column_floats(path, body, [0, 1])
        v, a = values[:, 0], values[:, 1]
        vi = ai = np.ones(len(v), np.float32)
        timed = {}
    else:
        raise LayoutError(f"{path}: labels need a header 'valence,arousal' or a time column, got {rows[0]}")
    v, vm = mask_and_clip(v, path)
    a, am = mask_and_clip(a, path)
    return dict(valence=v, arousal=a, label_mask=np.stack([vm * vi, am * ai], -1), **timed)
