"""``image_folder``: face images sorted into one folder per expression, ``ROOT/<category>/<image>``
(FER-2013, CK+48, RaF-D and most face-expression sets ship like this).

A category gives (valence, arousal) through the circumplex table of
:mod:`affect_tf.data.circumplex` (``ROOT/circumplex.csv``, when present, adds or moves points)
and is kept as the records' ``category``. Subject, sequence and frame come from the image name
through a regular expression with the named groups ``subject`` and, optionally, ``sequence`` and
``frame``: the CK+ names ``S010_006_00000013.png`` (subject ``S010``, sequence ``S010_006``,
frame 13) are recognised by default; ``ROOT/image_folder.json`` (``{"pattern": "..."}``) sets
another. The images of one sequence become one short recording, frames in order. Images whose
names carry no subject (FER-2013 has no subject ids) are grouped in name order into recordings
of up to ``UNNAMED_GROUP`` images, ``<category>/images<k>``, each its own subject: one record
file per image would cost more than the image, and a split cannot know those people anyway. The
images are face crops: the Beam job detects the face in each image on its own and keeps it even
where the detector finds none (:meth:`affect_tf.media.FacePipeline.process_images`).
"""
from __future__ import annotations

import json
import pathlib
import re

import numpy as np

from affect_tf.data import circumplex
from affect_tf.data.recordings import IMAGE_EXTENSIONS, LayoutError, Recording

FACE_IMAGE_EXTENSIONS = (*IMAGE_EXTENSIONS, ".tif", ".tiff")
CKPLUS_PATTERN = r"^(?P<subject>S\d+)_(?P<sequence>\d+)_(?P<frame>\d+)$"
IMAGE_FPS = 25.0  # nominal: frame i of a sequence sits at i / 25 s
UNNAMED_GROUP = 100


def load_image_folder(root, pattern: str | None = None, table=None) -> list[Recording]:
    """``ROOT/<category>/<image>`` -> one recording per sequence (see the module docstring).

    ``pattern`` (a regular expression on the name without extension) and ``table`` (category ->
    (valence, arousal)) override ``ROOT/image_folder.json`` and ``ROOT/circumplex.csv``.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: image folder root is not a folder")
    options = _options(root)
    try:
        if table is None:
            table = circumplex.load_table(root / "circumplex.csv" if (root / "circumplex.csv").exists() else None)
        points = {folder: circumplex.point(folder.name, table, where=str(folder))
                  for folder in sorted(p for p in root.iterdir() if p.is_dir())
                  if any(f.suffix.lower() in FACE_IMAGE_EXTENSIONS for f in folder.iterdir())}
    except ValueError as err:
        raise LayoutError(str(err)) from None
    try:
        names = re.compile(pattern or options.get("pattern") or CKPLUS_PATTERN)
    except re.error as err:
        raise LayoutError(f"{root}: name pattern {pattern or options.get('pattern')!r} is not a regular "
                          f"expression ({err})") from None
    if "subject" not in names.groupindex:
        raise LayoutError(f"{root}: name pattern {names.pattern!r} has no (?P<subject>...) group")
    recordings = []
    for folder, (valence, arousal) in points.items():
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in FACE_IMAGE_EXTENSIONS and p.is_file())
        category = circumplex.canonical(folder.name)
        for (sequence, subject), frames in sorted(_sequences(images, names).items()):
            n = len(frames)
            recordings.append(Recording(
                id=f"{folder.name}/{sequence}", video=None, audio=None, subject=subject, split="train",
                fps=IMAGE_FPS, valence=np.full(n, valence, np.float32), arousal=np.full(n, arousal, np.float32),
                label_mask=np.ones((n, 2), np.float32), label_scale="image_folder:circumplex",
                frames=tuple(str(p) for p in frames), labels=str(folder), category=category,
                face_crops=True))
    if not recordings:
        raise LayoutError(f"{root}: no images ({', '.join(FACE_IMAGE_EXTENSIONS)}) in <category>/ folders")
    return recordings


def _options(root: pathlib.Path) -> dict:
    path = root / "image_folder.json"
    if not path.exists():
        return {}
    try:
        options = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LayoutError(f"{path}: not a JSON object ({err})") from None
    if not isinstance(options, dict):
        raise LayoutError(f"{path}: not a JSON object")
    return options


def _sequences(images, names) -> dict[tuple[str, str], list[pathlib.Path]]:
    """(sequence, subject) -> its images in frame order; images not matching in groups."""
    found, order, unnamed = {}, {}, []
    for path in images:
        match = names.match(path.stem)
        if match is None:
            unnamed.append(path)
            continue
        subject = match["subject"]
        sequence = path.stem[:match.end("sequence")] if "sequence" in names.groupindex else path.stem
        found.setdefault((sequence, subject), []).append(path)
        frame = match["frame"] if "frame" in names.groupindex else None
        order[path] = (0, int(frame), path.name) if frame and frame.isdigit() else (1, 0, path.name)
    for k in range(0, len(unnamed), UNNAMED_GROUP):
        name = f"images{k // UNNAMED_GROUP:04d}"
        found[(name, f"{images[0].parent.name}/{name}")] = unnamed[k:k + UNNAMED_GROUP]
    return {key: sorted(paths, key=lambda p: order.get(p, (1, 0, p.name))) for key, paths in found.items()}
