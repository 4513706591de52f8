"""Aff-Wild2 (ABAW valence-arousal set) -> recordings."""
from __future__ import annotations

import pathlib
import re

import numpy as np

from affect_tf.data.recordings import (
    VIDEO_EXTENSIONS, LayoutError, Recording, column_floats, index_files, mask_and_clip, read_rows,
    recording_or_error, split_from_name)

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
    videos = index_files(root, VIDEO_EXTENSIONS)
    subjects = {}
    subjects_file = root / "subjects.csv"
    if subjects_file.exists():
        rows = read_rows(subjects_file)
        if rows[0][:2] != ["video", "subject"]:
            raise LayoutError(f"{subjects_file}: header must be 'video,subject', got {rows[0]}")
        subjects = {row[0]: row[1] for row in rows[1:]}
    found = []
    for path in sorted(root.rglob("*.txt")):
        split = split_from_name(path.parent.name)
        if split:
            match = _AFFWILD_SIDE.match(path.stem)
            video_name = match["video"] if match else path.stem
            subject = subjects.get(path.stem, subjects.get(video_name, path.stem))
            found.append(recording_or_error(
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
    rows = read_rows(path)
    if [c.lower() for c in rows[0][:2]] != ["valence", "arousal"]:
        return None  # not a VA file (e.g. a README or an expression-set file)
    values = column_floats(path, rows[1:], [0, 1])
    valence, v_mask = mask_and_clip(values[:, 0], path, missing=-5.0)
    arousal, a_mask = mask_and_clip(values[:, 1], path, missing=-5.0)
    if video is None:
        raise LayoutError(f"{path}: no video named {video_name}.* under {root}")
    return Recording(
        id=path.stem, video=str(video), audio=None, subject=subject, split=split, fps=None,
        valence=valence, arousal=arousal, label_mask=np.stack([v_mask, a_mask], -1),
        label_scale="affwild2:-1..1", labels=str(path),
    )
