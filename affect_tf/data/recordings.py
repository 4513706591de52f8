"""What every dataset adapter shares: the :class:`Recording` a drop becomes, subject-independent
splits, and readers for the text files datasets ship (each error names the file).

Labels are normalised to [-1, 1] with a mask for missing values; the original scale is kept in
``label_scale``. Splits are by subject (:func:`subject_folds`), never by frame (``docs/data.md`` §1).
A problem with one recording's own files (missing video, bad annotation file) becomes that
recording's ``error`` (:func:`recording_or_error`), which the job lists while it runs the others.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
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
    be processed (the job lists it in its errors and runs the others).
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


# ---------------------------------------------------------------------------- readers


def recording_or_error(make, id: str, subject: str, split: str, context: str = "") -> Recording | None:
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


def split_from_name(name: str) -> str | None:
    """The split a file or folder name spells as a whole word (``Train_Set``, ``omg_TestVideos``,
    ``Devel_03``); words are cut at non-letters and at lower-to-upper case changes, so
    ``constraints`` or ``latest`` name no split."""
    for word in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name):
        if word.lower() in SPLIT_WORDS:
            return SPLIT_WORDS[word.lower()]
    return None


def split_from_path(path: pathlib.Path, root: pathlib.Path) -> str | None:
    """The split named by the file, else by its nearest folder below the drop ``root`` (never by
    the folders the drop itself sits in)."""
    names = [path.stem, *(p.name for p in path.relative_to(root).parents if p.name)]
    return next((s for s in map(split_from_name, names) if s), None)


def index_files(root: pathlib.Path, extensions) -> dict[str, pathlib.Path]:
    index = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in extensions and path.is_file():
            index.setdefault(path.stem, path)
    return index


def read_text(path: pathlib.Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise LayoutError(f"{path}: cannot read ({err})") from err


def read_rows(path: pathlib.Path):
    """Rows of a delimited text file (delimiter sniffed among , ; tab space)."""
    lines = [ln for ln in read_text(path).splitlines() if ln.strip()]
    if not lines:
        raise LayoutError(f"{path}: empty file")
    delimiter = next((d for d in (",", ";", "\t") if d in lines[0]), None)
    if delimiter is None:
        return [ln.split() for ln in lines]
    try:
        return [[c.strip() for c in row] for row in csv.reader(lines, delimiter=delimiter)]
    except csv.Error as err:
        raise LayoutError(f"{path}: not a delimited text file ({err})") from err


def column_floats(path, rows, columns):
    try:
        return np.array([[float(row[c]) for c in columns] for row in rows], np.float32)
    except (ValueError, IndexError) as err:
        raise LayoutError(f"{path}: expected numbers in columns {columns} ({err})") from err


def mask_and_clip(values, path, low=-1.0, high=1.0, missing=None):
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
