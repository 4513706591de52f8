"""OMG-Emotion (utterance-level labels) -> recordings."""
from __future__ import annotations

import pathlib

from affect_tf.data.recordings import (
    VIDEO_EXTENSIONS, LayoutError, Recording, column_floats, index_files, read_rows, recording_or_error,
    split_from_name)

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
    videos = index_files(media_root, VIDEO_EXTENSIONS)
    recordings = []
    for path in files:
        rows = read_rows(path)
        if rows[0][: len(OMG_COLUMNS)] != OMG_COLUMNS:
            raise LayoutError(f"{path}: header {rows[0]} is not the OMG layout {OMG_COLUMNS}")
        split = split_from_name(path.stem) or "train"
        for line, row in enumerate(rows[1:], start=2):
            video = row[3] if len(row) > 4 and row[3] else f"{path.stem}_line{line}"
            rid = f"{video}/{pathlib.Path(row[4]).stem}" if len(row) > 4 and row[4] else video
            recordings.append(recording_or_error(
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
    rows = read_rows(path)
    if [c.lower() for c in rows[0][:3]] != ["arousal", "valence", "emotion"]:
        raise LayoutError(f"{path}: header {rows[0]} is not 'arousal,valence,emotion'")
    values = column_floats(path, rows[1:], [0, 1])
    return [{"arousal": float(a), "valence": float(v), "emotion": row[2]}
            for (a, v), row in zip(values, rows[1:])]
