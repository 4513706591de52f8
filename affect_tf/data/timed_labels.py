"""Time-stamped annotation files and the layout SEWA, SEMAINE and RECOLA exports share
(one layout, three datasets: one module)."""
from __future__ import annotations

import csv
import pathlib

import numpy as np

from affect_tf.data.recordings import (
    VIDEO_EXTENSIONS, LayoutError, Recording, index_files, mask_and_clip, read_rows, read_text,
    recording_or_error, split_from_path, video_fps)

TIME_NAMES = ("time", "timestamp", "frametime", "frame_time", "seconds", "t")


def read_timed_labels(path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A time-stamped annotation file -> (times in s, {column: values}).

    Accepts a header naming a time column (``time``, ``timestamp``, ``frameTime`` ...) and value
    columns, or ARFF (``@attribute``/``@data``, as RECOLA's gold standard), or no header with
    the columns ``time, valence, arousal``.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() == ".arff":
        lines = [ln.strip() for ln in read_text(path).splitlines() if ln.strip() and not ln.startswith("%")]
        header = [ln.split()[1].strip("'\"") for ln in lines if ln.lower().startswith("@attribute")]
        at = next((i for i, ln in enumerate(lines) if ln.lower().startswith("@data")), None)
        if at is None or not header:
            raise LayoutError(f"{path}: ARFF without @attribute/@data sections")
        try:
            body = [[c.strip() for c in row] for row in csv.reader(lines[at + 1:])]
        except csv.Error as err:
            raise LayoutError(f"{path}: ARFF @data is not comma-separated ({err})") from err
    else:
        rows = read_rows(path)
        if any(c.lower() in TIME_NAMES for c in rows[0]):
            header, body = rows[0], rows[1:]
        else:
            header, body = ["time", "valence", "arousal"], rows
    lower = [h.lower() for h in header]
    time_col = next((i for i, h in enumerate(lower) if h in TIME_NAMES), None)
    if time_col is None:
        raise LayoutError(f"{path}: no time column among {header}")
    numeric = {}
    for i, name in enumerate(header):
        try:
            numeric[name.lower()] = np.array([float(r[i]) for r in body], np.float32)
        except (ValueError, IndexError):
            continue
    if lower[time_col] not in numeric:
        raise LayoutError(f"{path}: time column {header[time_col]!r} is not all numbers")
    times = numeric.pop(lower[time_col])
    if len(times) < 2 or np.any(np.diff(times) <= 0):
        raise LayoutError(f"{path}: time stamps must increase (at least 2 rows)")
    return times, numeric


def resample_to_frames(times, values, fps: float, n_frames: int | None = None):
    """Linear interpolation of annotations at frame times ``i / fps``; frames outside the
    annotated span are masked. Returns (values, mask) of length ``n_frames``."""
    if n_frames is None:
        n_frames = int(np.floor(float(times[-1]) * fps + 1e-4)) + 1
    frame_times = np.arange(n_frames) / fps
    inside = (frame_times >= times[0] - 1e-6) & (frame_times <= times[-1] + 1e-6)
    out = np.interp(frame_times, times, values).astype(np.float32)
    return np.where(inside, out, 0.0).astype(np.float32), inside.astype(np.float32)


def pick_column(numeric, path, names):
    for name in names:
        if name in numeric:
            return numeric[name]
    raise LayoutError(f"{path}: none of the columns {names} found (have {sorted(numeric)})")


def _timed_dataset(root, name, scale, value_scale=1.0) -> list[Recording]:
    """Shared layout of SEWA, SEMAINE and RECOLA exports: videos anywhere under ``root`` and,
    per video, either one CSV ``<video>.csv`` with time + valence + arousal columns, or one
    file per dimension under folders named ``valence``/``arousal`` (``<video>.csv|.arff``).
    Annotation rates are resampled to the video's frame rate. The split is read from the file
    or folder name (Train/Devel/Test); the subject from ``subjects.csv`` or the video name.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: {name} root is not a folder")
    videos = index_files(root, VIDEO_EXTENSIONS)
    if not videos:
        raise LayoutError(f"{root}: no videos ({', '.join(VIDEO_EXTENSIONS)}) for {name}")
    subjects = {}
    if (root / "subjects.csv").exists():
        subjects = {r[0]: r[1] for r in read_rows(root / "subjects.csv")[1:]}
    annotations = [p for p in sorted(root.rglob("*")) if p.suffix.lower() in (".csv", ".arff")
                   and p.name != "subjects.csv"]
    by_stem = {}  # stem -> {"joint"|"valence"|"arousal": first file}
    for path in annotations:
        kind = path.parent.name.lower() if path.parent.name.lower() in ("valence", "arousal") else "joint"
        by_stem.setdefault(path.stem, {}).setdefault(kind, path)
    recordings = []
    for stem, files in sorted(by_stem.items()):
        if stem not in videos and "joint" in files and not _is_timed_labels(files["joint"]):
            continue  # a CSV of something else, beside the drop
        source = files.get("joint", files.get("valence", files.get("arousal")))
        split = split_from_path(source, root) or "train"
        recordings.append(recording_or_error(
            lambda: _timed_recording(stem, files, videos.get(stem), root, subjects.get(stem, stem), split,
                                     scale, value_scale),
            stem, subjects.get(stem, stem), split))
    if not recordings:
        raise LayoutError(f"{root}: no {name} annotation files matching a video name")
    return recordings


def _is_timed_labels(path) -> bool:
    try:
        read_timed_labels(path)
    except LayoutError:
        return False
    return True


def _timed_recording(stem, files, video, root, subject, split, scale, value_scale) -> Recording:
    if "joint" in files:
        source = files["joint"]
        tv, numeric = read_timed_labels(source)
        ta = tv
        v = pick_column(numeric, source, ("valence", "v", "goldstandard_valence"))
        a = pick_column(numeric, source, ("arousal", "a", "goldstandard_arousal"))
    else:
        for dim in ("valence", "arousal"):
            if dim not in files:
                other = files["arousal" if dim == "valence" else "valence"]
                raise LayoutError(f"{other}: no {dim}/{stem}.csv|.arff beside it")
        source = files["valence"]
        tv, nv = read_timed_labels(files["valence"])
        ta, na = read_timed_labels(files["arousal"])
        v = pick_column(nv, files["valence"], ("valence", "goldstandard", "value"))
        a = pick_column(na, files["arousal"], ("arousal", "goldstandard", "value"))
    if video is None:
        raise LayoutError(f"{source}: no video named {stem}.* under {root}")
    fps = video_fps(video)
    n = int(np.floor(float(max(tv[-1], ta[-1])) * fps + 1e-4)) + 1
    valence, v_in = resample_to_frames(tv, v / value_scale, fps, n)
    arousal, a_in = resample_to_frames(ta, a / value_scale, fps, n)
    valence, v_mask = mask_and_clip(valence, source)
    arousal, a_mask = mask_and_clip(arousal, source)
    return Recording(
        id=stem, video=str(video), audio=None, subject=subject, split=split,
        fps=fps, valence=valence, arousal=arousal, label_fps=fps, labels=str(source),
        label_mask=np.stack([v_mask * v_in, a_mask * a_in], -1), label_scale=scale,
    )


def load_sewa(root):
    """SEWA: per-video time-stamped valence/arousal CSVs on [-1, 1] (AVEC 2017 export)."""
    return _timed_dataset(root, "SEWA", "sewa:-1..1")


def load_semaine(root):
    """SEMAINE: per-video time-stamped valence/arousal traces on [-1, 1]."""
    return _timed_dataset(root, "SEMAINE", "semaine:-1..1")


def load_recola(root):
    """RECOLA: 40 ms gold-standard valence/arousal (CSV or ARFF, per dimension) on [-1, 1]."""
    return _timed_dataset(root, "RECOLA", "recola:-1..1")
