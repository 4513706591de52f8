"""``affectnet``: AffectNet's annotation CSVs and images.

Each CSV (``training.csv``, ``validation.csv``: the split comes from the name) has the columns
``subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks, expression,
valence, arousal``; images are found under the root by ``subDirectory_filePath`` (directly, or in
one folder below it such as ``Manually_Annotated_Images/``). Valence and arousal are on [-1, 1]
as given; the 68 landmarks (``x1;y1;x2;y2;...`` in image pixels) align the face, so no detector
runs; the expression code is kept as the records' ``category``.

As the AffectNet manual says: valence/arousal -2 marks an image without a face (also expression
code 10, No-Face): such rows are skipped. Codes 8 (None) and 9 (Uncertain) keep their
valence/arousal where given and have no category. Skipped and category-less rows are counted
in a warning naming the CSV. AffectNet has no subject ids: every image is its own recording and
its own subject.
"""
from __future__ import annotations

import pathlib
import warnings

import numpy as np

from affect_tf import features
from affect_tf.data.recordings import LayoutError, Recording, read_table, split_from_name

EXPRESSIONS = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")
NONE, UNCERTAIN, NO_FACE = 8, 9, 10
NO_FACE_VALUE = -2.0
COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
           "facial_landmarks", "expression", "valence", "arousal")


def load_affectnet(root) -> list[Recording]:
    """The recordings of every AffectNet CSV at ``root`` (or of the one CSV ``root``)."""
    root = pathlib.Path(root)
    files = [root] if root.is_file() else sorted(root.glob("*.csv"))
    if not files:
        raise LayoutError(f"{root}: no AffectNet annotation CSVs (training.csv, validation.csv)")
    image_root = root.parent if root.is_file() else root
    search = [image_root, *sorted(p for p in image_root.iterdir() if p.is_dir())]
    recordings = []
    for path in files:
        recordings.extend(_read_csv(path, search))
    return recordings


def _read_csv(path: pathlib.Path, search) -> list[Recording]:
    rows = read_table(path, ("subDirectory_filePath", "expression", "valence", "arousal"), "AffectNet CSV", COLUMNS)
    split = split_from_name(path.stem) or "train"
    recordings, no_face, no_category = [], 0, 0
    for line, row in enumerate(rows, start=2):
        where = f"{path}: line {line}"
        try:
            code = int(float(row["expression"]))
            valence, arousal = float(row["valence"]), float(row["arousal"])
        except (TypeError, ValueError):
            raise LayoutError(f"{where}: expression, valence and arousal must be numbers, got "
                              f"{row.get('expression')!r}, {row.get('valence')!r}, {row.get('arousal')!r}") from None
        if code == NO_FACE or NO_FACE_VALUE in (valence, arousal):
            no_face += 1
            continue
        if not (-1 <= valence <= 1 and -1 <= arousal <= 1):
            raise LayoutError(f"{where}: valence {valence}, arousal {arousal} outside [-1, 1]")
        if not 0 <= code <= UNCERTAIN:
            raise LayoutError(f"{where}: unknown expression code {code} (0-7 expressions, 8 None, "
                              f"9 Uncertain, 10 No-Face)")
        category = EXPRESSIONS[code] if code < len(EXPRESSIONS) else None
        no_category += category is None
        landmarks = _landmarks(row.get("facial_landmarks"), where)
        relative = row["subDirectory_filePath"].strip()
        image = next((folder / relative for folder in search if (folder / relative).is_file()), None)
        rid = relative.rsplit(".", 1)[0]
        if image is None:
            recordings.append(Recording(id=rid, video=None, audio=None, subject=rid, split=split, fps=None,
                                        error=f"{where}: image {relative} not found under {search[0]}"))
            continue
        recordings.append(Recording(
            id=rid, video=None, audio=None, subject=rid, split=split, fps=1.0,
            valence=np.array([valence], np.float32), arousal=np.array([arousal], np.float32),
            label_mask=np.ones((1, 2), np.float32), label_scale="affectnet:-1..1",
            frames=(str(image),), landmarks=landmarks,
            labels=str(path), category=category, face_crops=True))
    if no_face or no_category:
        warnings.warn(f"{path}: {no_face} rows without a face (valence/arousal -2 or expression 10) "
                      f"skipped; {no_category} rows of expression None/Uncertain kept without a category",
                      stacklevel=2)
    return recordings


def _landmarks(text, where) -> np.ndarray | None:
    """(1, 68, 2) image-pixel landmarks from ``x1;y1;...``, or None when the row has none."""
    if not text or not text.strip():
        return None
    try:
        values = np.array([float(v) for v in text.replace(",", ";").split(";") if v.strip()], np.float32)
    except ValueError:
        raise LayoutError(f"{where}: facial_landmarks is not a list of numbers") from None
    if values.size != features.N_LANDMARKS * 2:
        raise LayoutError(f"{where}: facial_landmarks has {values.size} numbers, expected "
                          f"{features.N_LANDMARKS * 2} (68 x;y pairs)")
    return values.reshape(1, features.N_LANDMARKS, 2)
