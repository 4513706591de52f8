"""Dataset adapters: each dataset's native layout -> one list of :class:`Recording` entries.

Labels are normalised to [-1, 1] with a mask for missing values; the original scale is kept in
``label_scale``. Splits are by subject (:func:`subject_folds`), never by frame (``docs/data.md`` §1).
Every adapter raises :class:`LayoutError` naming the file when the drop as a whole cannot be
read; a problem with one recording's own files (missing video, bad annotation file) becomes that
recording's ``error`` (:func:`_recording_or_error`), which the job lists while it runs the others.
No adapter decodes video; the Beam job does that per recording (only the frame rate is read).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import pathlib
import re

import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".mpg", ".mpeg", ".webm")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
SPLITS = ("train", "validation", "test", "predict")


class LayoutError(ValueError):
    """A dataset file or folder is missing, unknown or inconsistent (the message names it)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Recording:
    """One manifest entry: what to decode and which labels go with its frames.

    ``valence``/``arousal`` are float32 per-frame arrays on [-1, 1] with ``label_mask`` (1 =
    known), or None with ``utterance_labels`` = (valence, arousal) on [-1, 1] for datasets
    labelled per utterance (OMG), or all None for prediction-only recordings. ``frames`` (image
    paths) and ``landmarks`` (T, 68, 2) pixel coordinates replace ``video`` for AFEW-VA.
    ``start``/``end`` (seconds) cut an utterance out of a longer video. ``label_fps``: the
    labels came from time stamps and sit on a grid at this rate, so a frame takes the grid point
    at its own time stamp (not its index: on variable-frame-rate video the two drift apart).
    ``labels`` names the annotation file, for messages. ``error`` says why the recording cannot
    be processed (the job lists it in its errors and runs the others). ``category`` is the
    expression label of a face-image set (kept in the records beside valence/arousal);
    ``face_crops``: the frames are face images, so a frame where no face is detected keeps the
    whole image as the face (:meth:`affect_tf.media.FacePipeline.process_images`).
    """

    id: str
    video: str | None
    audio: str | None
    subject: str
    split: str
    fps: float | None
    valence: np.ndarray | None = None
    arousal: np.ndarray | None = None
    label_mask: np.ndarray | None = None
    utterance_labels: tuple[float, float] | None = None
    label_scale: str = "-1..1"
    frames: tuple[str, ...] | None = None
    landmarks: np.ndarray | None = None
    start: float | None = None
    end: float | None = None
    label_fps: float | None = None
    labels: str | None = None
    error: str | None = None
    category: str | None = None
    face_crops: bool = False

    @property
    def n_labels(self) -> int:
        return 0 if self.valence is None else len(self.valence)

    def replace(self, **changes) -> "Recording":
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------- splits


def subject_folds(subjects, n_folds: int = 5, seed: int = 0) -> dict[str, int]:
    """Subject -> fold in ``range(n_folds)``: a seeded, reproducible partition of the subjects.

    The order depends only on the subject names and the seed (a hash, not Python's ``hash``),
    so adding a subject never moves the others.
    """
    subjects = sorted(set(subjects))
    if n_folds < 2 or n_folds > len(subjects):
        raise ValueError(f"n_folds={n_folds} needs 2 <= n_folds <= number of subjects ({len(subjects)})")
    key = lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest()
    return {s: i % n_folds for i, s in enumerate(sorted(subjects, key=key))}


def assign_subject_splits(recordings, n_folds: int = 5, fold: int = 0, seed: int = 0,
                          held_out: str = "validation"):
    """Recordings with ``split`` = ``held_out`` for subjects in ``fold``, "train" for the rest."""
    folds = subject_folds([r.subject for r in recordings], n_folds, seed)
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold={fold} is outside 0..{n_folds - 1}")
    return [r.replace(split=held_out if folds[r.subject] == fold else "train") for r in recordings]


# ---------------------------------------------------------------------------- helpers


def _recording_or_error(make, id: str, subject: str, split: str, context: str = "") -> Recording | None:
    """``make()`` (None: not a recording of this dataset), or when it fails on this recording's own files (a missing video, an annotation
    file that cannot be read or is ill-formed) a :class:`Recording` carrying the error: the job
    lists it and runs the others. ``context`` (e.g. ``manifest.csv: line 3``) prefixes messages
    that do not already start with it."""
    try:
        return make()
    except (ValueError, IndexError) as err:  # LayoutError is a ValueError
        message = " ".join(str(err).split())
        if context and not message.startswith(context):
            message = f"{context}: {message}"
        return Recording(id=id, video=None, audio=None, subject=subject or id,
                         split=split if split in SPLITS else "train", fps=None, error=message)


SPLIT_WORDS = {"train": "train", "training": "train", "valid": "validation", "validation": "validation",
               "val": "validation", "dev": "validation", "devel": "validation",
               "development": "validation", "test": "test", "testing": "test"}


def _split_from_name(name: str) -> str | None:
    """The split a file or folder name spells as a whole word (``Train_Set``, ``omg_TestVideos``,
    ``Devel_03``); words are cut at non-letters and at lower-to-upper case changes, so
    ``constraints`` or ``latest`` name no split."""
    for word in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name):
        if word.lower() in SPLIT_WORDS:
            return SPLIT_WORDS[word.lower()]
    return None


def _split_from_path(path: pathlib.Path, root: pathlib.Path) -> str | None:
    """The split named by the file, else by its nearest folder below the drop ``root`` (never by
    the folders the drop itself sits in)."""
    names = [path.stem, *(p.name for p in path.relative_to(root).parents if p.name)]
    return next((s for s in map(_split_from_name, names) if s), None)


def _index_files(root: pathlib.Path, extensions) -> dict[str, pathlib.Path]:
    index = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in extensions and path.is_file():
            index.setdefault(path.stem, path)
    return index


def _read_text(path: pathlib.Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise LayoutError(f"{path}: cannot read ({err})") from err


def _read_rows(path: pathlib.Path):
    """Rows of a delimited text file (delimiter sniffed among , ; tab space)."""
    lines = [ln for ln in _read_text(path).splitlines() if ln.strip()]
    if not lines:
        raise LayoutError(f"{path}: empty file")
    delimiter = next((d for d in (",", ";", "\t") if d in lines[0]), None)
    if delimiter is None:
        return [ln.split() for ln in lines]
    try:
        return [[c.strip() for c in row] for row in csv.reader(lines, delimiter=delimiter)]
    except csv.Error as err:
        raise LayoutError(f"{path}: not a delimited text file ({err})") from err


def _floats(path, rows, columns):
    try:
        return np.array([[float(row[c]) for c in columns] for row in rows], np.float32)
    except (ValueError, IndexError) as err:
        raise LayoutError(f"{path}: expected numbers in columns {columns} ({err})") from err


def _mask_and_clip(values, path, low=-1.0, high=1.0, missing=None):
    """Labels -> (values with missing set to 0, mask). NaN and ``missing`` marks are unknown."""
    values = np.asarray(values, np.float32)
    mask = np.isfinite(values)
    if missing is not None:
        mask &= ~np.isclose(values, missing)
    bad = mask & ((values < low - 1e-4) | (values > high + 1e-4))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise LayoutError(f"{path}: label {values[bad][0]} at row {row + 1} is outside [{low}, {high}]")
    return np.where(mask, values, 0.0).astype(np.float32), mask.astype(np.float32)


def video_fps(path) -> float:
    """Average frame rate read from the container (PyAV)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            return float(rate)
    except (av.error.FFmpegError, IndexError, OSError) as err:
        raise LayoutError(f"{path}: cannot read the frame rate ({err})") from err


# ---------------------------------------------------------------------------- Aff-Wild2


_AFFWILD_SIDE = re.compile(r"^(?P<video>.+?)_(?P<side>left|right)$")


def load_affwild2(root) -> list[Recording]:
    """Aff-Wild2 (ABAW VA set): per-video text files, header ``valence,arousal``, one line per
    frame, -5 = unannotated, values on [-1, 1]. The split is the annotation folder's name
    (``Train_Set``, ``Validation_Set``); ``NAME_left.txt``/``NAME_right.txt`` label two persons
    of ``NAME.mp4``. Videos are found anywhere under ``root`` by name. A ``subjects.csv``
    (``video,subject``) at the root, optional, names subjects shared by several videos;
    otherwise each annotated person is its own subject.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: Aff-Wild2 root is not a folder")
    videos = _index_files(root, VIDEO_EXTENSIONS)
    subjects = {}
    subjects_file = root / "subjects.csv"
    if subjects_file.exists():
        rows = _read_rows(subjects_file)
        if rows[0][:2] != ["video", "subject"]:
            raise LayoutError(f"{subjects_file}: header must be 'video,subject', got {rows[0]}")
        subjects = {row[0]: row[1] for row in rows[1:]}
    found = []
    for path in sorted(root.rglob("*.txt")):
        split = _split_from_name(path.parent.name)
        if split:
            match = _AFFWILD_SIDE.match(path.stem)
            video_name = match["video"] if match else path.stem
            subject = subjects.get(path.stem, subjects.get(video_name, path.stem))
            found.append(_recording_or_error(
                lambda: _affwild2_recording(path, videos.get(video_name), video_name, root, subject, split),
                path.stem, subject, split))
    found = [r for r in found if r is not None]
    good = {r.id for r in found if not r.error}
    # one error per id, and none beside a good file of that name (an empty EXPR_Set file, say)
    errors = {r.id: r for r in found if r.error and r.id not in good}
    recordings = [r for r in found if not r.error] + list(errors.values())
    if not recordings:
        raise LayoutError(f"{root}: no Aff-Wild2 'valence,arousal' files in Train_Set/Validation_Set folders")
    return recordings


def _affwild2_recording(path, video, video_name, root, subject, split) -> Recording | None:
    rows = _read_rows(path)
    if [c.lower() for c in rows[0][:2]] != ["valence", "arousal"]:
        return None  # not a VA file (e.g. a README or an expression-set file)
    values = _floats(path, rows[1:], [0, 1])
    valence, v_mask = _mask_and_clip(values[:, 0], path, missing=-5.0)
    arousal, a_mask = _mask_and_clip(values[:, 1], path, missing=-5.0)
    if video is None:
        raise LayoutError(f"{path}: no video named {video_name}.* under {root}")
    return Recording(
        id=path.stem, video=str(video), audio=None, subject=subject, split=split, fps=None,
        valence=valence, arousal=arousal, label_mask=np.stack([v_mask, a_mask], -1),
        label_scale="affwild2:-1..1", labels=str(path),
    )


# ---------------------------------------------------------------------------- AFEW-VA


def load_afew_va(root) -> list[Recording]:
    """AFEW-VA: one folder per clip holding ``<clip>.json`` (``{actor, video_id, frames:
    {"00000": {valence, arousal, landmarks: 68 x [x, y]}}}``, labels on -10..10) and the frame
    images. ``root`` is either one clip folder or a folder of clips. AFEW clips run at 25 fps.
    """
    root = pathlib.Path(root)
    candidates = [root] if (root / f"{root.name}.json").exists() else sorted(p for p in root.iterdir() if p.is_dir())
    recordings = [_recording_or_error(lambda: _afew_clip(clip), clip.name, clip.name, "train")
                  for clip in candidates]
    if not recordings:
        raise LayoutError(f"{root}: no AFEW-VA clip folders")
    return recordings


def _afew_clip(clip: pathlib.Path) -> Recording:
    path = clip / f"{clip.name}.json"
    if not path.exists():
        raise LayoutError(f"{path}: missing (AFEW-VA clip folders hold <clip>.json)")
    try:
        data = json.loads(path.read_text())
        keys = sorted(data["frames"], key=int)
        frames = [data["frames"][k] for k in keys]
        values = np.array([[f["valence"], f["arousal"]] for f in frames], np.float32)
        landmarks = np.array([f["landmarks"] for f in frames], np.float32)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise LayoutError(f"{path}: not an AFEW-VA annotation ({type(err).__name__}: {err})") from err
    if landmarks.shape[1:] != (68, 2):
        raise LayoutError(f"{path}: landmarks have shape {landmarks.shape[1:]}, expected (68, 2)")
    images = []
    for key in keys:
        found = [clip / f"{key}{ext}" for ext in IMAGE_EXTENSIONS if (clip / f"{key}{ext}").exists()]
        if not found:
            raise LayoutError(f"{path}: frame {key} has no image {clip / key}.png|.jpg")
        images.append(str(found[0]))
    valence, v_mask = _mask_and_clip(values[:, 0] / 10.0, path)
    arousal, a_mask = _mask_and_clip(values[:, 1] / 10.0, path)
    return Recording(
        id=str(data.get("video_id", clip.name)), video=None, audio=None,
        subject=str(data.get("actor", clip.name)), split="train", fps=25.0,
        valence=valence, arousal=arousal, label_mask=np.stack([v_mask, a_mask], -1),
        label_scale="afew_va:-10..10", frames=tuple(images), landmarks=landmarks, labels=str(path),
    )


# ---------------------------------------------------------------------------- OMG-Emotion

OMG_COLUMNS = ["link", "start", "end", "video", "utterance", "arousal", "valence", "EmotionMaxVote"]


def load_omg(root) -> list[Recording]:
    """OMG-Emotion: ``omg_*Videos*.csv`` lists (``link,start,end,video,utterance,arousal,
    valence,EmotionMaxVote``; arousal 0..1, valence -1..1, one label per utterance). Media is
    looked for as the cut utterance ``<root>/**/<video>/<utterance>``, else the whole
    ``<video>.*`` cut by start/end. The split comes from the CSV name; the subject is the video.
    ``root`` may be a folder or one CSV.
    """
    root = pathlib.Path(root)
    files = [root] if root.is_file() else sorted(root.glob("omg_*.csv"))
    if not files:
        raise LayoutError(f"{root}: no omg_*.csv utterance lists")
    media_root = root.parent if root.is_file() else root
    videos = _index_files(media_root, VIDEO_EXTENSIONS)
    recordings = []
    for path in files:
        rows = _read_rows(path)
        if rows[0][: len(OMG_COLUMNS)] != OMG_COLUMNS:
            raise LayoutError(f"{path}: header {rows[0]} is not the OMG layout {OMG_COLUMNS}")
        split = _split_from_name(path.stem) or "train"
        for line, row in enumerate(rows[1:], start=2):
            video = row[3] if len(row) > 4 and row[3] else f"{path.stem}_line{line}"
            rid = f"{video}/{pathlib.Path(row[4]).stem}" if len(row) > 4 and row[4] else video
            recordings.append(_recording_or_error(
                lambda: _omg_row(path, line, row, rid, split, media_root, videos), rid, video, split))
    return recordings


def _omg_row(path, line, row, rid, split, media_root, videos) -> Recording:
    try:
        start, end, arousal, valence = (float(row[i]) for i in (1, 2, 5, 6))
    except (ValueError, IndexError) as err:
        raise LayoutError(f"{path}: line {line} is malformed ({err})") from err
    if not (0 <= arousal <= 1 and -1 <= valence <= 1 and end > start):
        raise LayoutError(f"{path}: line {line} has arousal {arousal}, valence {valence}, "
                          f"start {start}, end {end} outside the OMG ranges")
    video, utterance = row[3], row[4]
    cut = media_root / video / utterance
    if cut.exists():
        media, start_s, end_s = cut, None, None
    else:  # a missing video fails in the job, where the media is read
        media, start_s, end_s = videos.get(video, media_root / f"{video}.mp4"), start, end
    return Recording(
        id=rid, video=str(media), audio=None, subject=video, split=split, fps=None,
        utterance_labels=(valence, 2.0 * arousal - 1.0),
        label_scale="omg:arousal 0..1,valence -1..1", start=start_s, end=end_s, labels=str(path),
    )


def read_omg_annotator_file(path) -> list[dict]:
    """Per-annotator OMG file ``arousal,valence,emotion`` -> rows as dicts (values as written)."""
    path = pathlib.Path(path)
    rows = _read_rows(path)
    if [c.lower() for c in rows[0][:3]] != ["arousal", "valence", "emotion"]:
        raise LayoutError(f"{path}: header {rows[0]} is not 'arousal,valence,emotion'")
    values = _floats(path, rows[1:], [0, 1])
    return [{"arousal": float(a), "valence": float(v), "emotion": row[2]}
            for (a, v), row in zip(values, rows[1:])]


# ---------------------------------------------------------------------------- time-stamped CSVs

_TIME_NAMES = ("time", "timestamp", "frametime", "frame_time", "seconds", "t")


def read_timed_labels(path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A time-stamped annotation file -> (times in s, {column: values}).

    Accepts a header naming a time column (``time``, ``timestamp``, ``frameTime`` ...) and value
    columns, or ARFF (``@attribute``/``@data``, as RECOLA's gold standard), or no header with
    the columns ``time, valence, arousal``.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() == ".arff":
        lines = [ln.strip() for ln in _read_text(path).splitlines() if ln.strip() and not ln.startswith("%")]
        header = [ln.split()[1].strip("'\"") for ln in lines if ln.lower().startswith("@attribute")]
        at = next((i for i, ln in enumerate(lines) if ln.lower().startswith("@data")), None)
        if at is None or not header:
            raise LayoutError(f"{path}: ARFF without @attribute/@data sections")
        try:
            body = [[c.strip() for c in row] for row in csv.reader(lines[at + 1:])]
        except csv.Error as err:
            raise LayoutError(f"{path}: ARFF @data is not comma-separated ({err})") from err
    else:
        rows = _read_rows(path)
        if any(c.lower() in _TIME_NAMES for c in rows[0]):
            header, body = rows[0], rows[1:]
        else:
            header, body = ["time", "valence", "arousal"], rows
    lower = [h.lower() for h in header]
    time_col = next((i for i, h in enumerate(lower) if h in _TIME_NAMES), None)
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


def _pick(numeric, path, names):
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
    videos = _index_files(root, VIDEO_EXTENSIONS)
    if not videos:
        raise LayoutError(f"{root}: no videos ({', '.join(VIDEO_EXTENSIONS)}) for {name}")
    subjects = {}
    if (root / "subjects.csv").exists():
        subjects = {r[0]: r[1] for r in _read_rows(root / "subjects.csv")[1:]}
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
        split = _split_from_path(source, root) or "train"
        recordings.append(_recording_or_error(
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
        v = _pick(numeric, source, ("valence", "v", "goldstandard_valence"))
        a = _pick(numeric, source, ("arousal", "a", "goldstandard_arousal"))
    else:
        for dim in ("valence", "arousal"):
            if dim not in files:
                other = files["arousal" if dim == "valence" else "valence"]
                raise LayoutError(f"{other}: no {dim}/{stem}.csv|.arff beside it")
        source = files["valence"]
        tv, nv = read_timed_labels(files["valence"])
        ta, na = read_timed_labels(files["arousal"])
        v = _pick(nv, files["valence"], ("valence", "goldstandard", "value"))
        a = _pick(na, files["arousal"], ("arousal", "goldstandard", "value"))
    if video is None:
        raise LayoutError(f"{source}: no video named {stem}.* under {root}")
    fps = video_fps(video)
    n = int(np.floor(float(max(tv[-1], ta[-1])) * fps + 1e-4)) + 1
    valence, v_in = resample_to_frames(tv, v / value_scale, fps, n)
    arousal, a_in = resample_to_frames(ta, a / value_scale, fps, n)
    valence, v_mask = _mask_and_clip(valence, source)
    arousal, a_mask = _mask_and_clip(arousal, source)
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


# ---------------------------------------------------------------------------- generic CSV

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
        recordings.append(_recording_or_error(lambda: _csv_row(path, line, rid, row), rid, row["subject"],
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
        fields = _read_frame_labels(label_path, video, fps)
    split = row.get("split") or ("train" if labels else "predict")
    if split not in SPLITS:
        raise LayoutError(f"{path}: line {line}: split {split!r} is not one of {SPLITS}")
    return Recording(
        id=rid, video=str(video) if video else None, audio=str(audio) if audio else None,
        subject=row["subject"] or rid, split=split, fps=fps, label_scale="csv:-1..1",
        labels=str(base / labels) if labels else None, **fields)


def _read_frame_labels(path, video, fps: float | None) -> dict:
    """Per-frame or time-stamped labels; time stamps resample at ``fps`` (else the video's)."""
    rows = _read_rows(path)
    header = [c.lower() for c in rows[0]]
    if any(h in _TIME_NAMES for h in header):
        times, numeric = read_timed_labels(path)
        fps = fps or video_fps(video)
        timed = {"label_fps": fps}
        v, vi = resample_to_frames(times, _pick(numeric, path, ("valence",)), fps)
        a, ai = resample_to_frames(times, _pick(numeric, path, ("arousal",)), fps)
    elif header[:2] == ["valence", "arousal"]:
        body = [[c if c != "" else "nan" for c in r] + ["nan"] * (2 - len(r)) for r in rows[1:]]
        values = _floats(path, body, [0, 1])
        v, a = values[:, 0], values[:, 1]
        vi = ai = np.ones(len(v), np.float32)
        timed = {}
    else:
        raise LayoutError(f"{path}: labels need a header 'valence,arousal' or a time column, got {rows[0]}")
    v, vm = _mask_and_clip(v, path)
    a, am = _mask_and_clip(a, path)
    return dict(valence=v, arousal=a, label_mask=np.stack([vm * vi, am * ai], -1), **timed)


# ---------------------------------------------------------------------------- entry point

from affect_tf.data.affectnet import load_affectnet  # noqa: E402 (they import the names above)
from affect_tf.data.image_folder import load_image_folder  # noqa: E402

ADAPTERS = {
    "affectnet": load_affectnet,
    "image_folder": load_image_folder,
    "omg": load_omg,
    "affwild2": load_affwild2,
    "afew_va": load_afew_va,
    "sewa": load_sewa,
    "semaine": load_semaine,
    "recola": load_recola,
    "csv": load_csv_manifest,
}


def load_manifest(dataset: str, root, n_folds: int | None = None, fold: int = 0,
                  seed: int = 0) -> list[Recording]:
    """The manifest of one dataset drop, sorted by id. With ``n_folds``, splits are replaced by
    a subject-independent k-fold assignment (``fold`` held out as validation)."""
    if dataset not in ADAPTERS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(ADAPTERS)}")
    recordings = sorted(ADAPTERS[dataset](root), key=lambda r: r.id)
    ids = [r.id for r in recordings]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise LayoutError(f"{root}: recording ids repeat in the {dataset} drop: {dup}")
    if n_folds:
        recordings = assign_subject_splits(recordings, n_folds, fold, seed)
    return recordings
