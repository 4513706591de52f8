"""Expression categories as points on the valence/arousal plane: the one table the face-image
sets (``image_folder``, ``affectnet``) and the benchmarks use.

The points are the circumplex placement of the basic emotions given in
``../shared/data/README.md`` (the same for EmoDB's speech categories). Other names of a category
(``angry``, ``sad``, ``happy``, ``surprised`` ...) are the same point and the same label: a
category is always stored under its canonical name, so sets that spell it differently share one
class. A CSV ``category,valence,arousal`` (:func:`load_table`) adds categories or moves points.
"""
from __future__ import annotations

import csv
import pathlib

import numpy as np

CIRCUMPLEX = {
    "anger": (-0.6, 0.8),
    "boredom": (-0.3, -0.7),
    "contempt": (-0.5, 0.2),
    "disgust": (-0.7, 0.3),
    "fear": (-0.6, 0.6),
    "happiness": (0.8, 0.5),
    "neutral": (0.0, 0.0),
    "sadness": (-0.7, -0.5),
    "surprise": (0.3, 0.8),
}
SYNONYMS = {
    "angry": "anger", "bored": "boredom", "disgusted": "disgust", "fearful": "fear",
    "afraid": "fear", "happy": "happiness", "joy": "happiness", "sad": "sadness",
    "surprised": "surprise", "calm": "neutral", "contemptuous": "contempt",
}


def canonical(name: str) -> str:
    """The canonical category name of ``name`` (case and synonyms folded)."""
    key = name.strip().lower()
    return SYNONYMS.get(key, key)


def load_table(path=None) -> dict[str, tuple[float, float]]:
    """:data:`CIRCUMPLEX`, with the rows of the CSV ``path`` (header ``category,valence,arousal``,
    values on [-1, 1]) added or replacing points; names are folded by :func:`canonical`."""
    table = dict(CIRCUMPLEX)
    if path is None:
        return table
    path = pathlib.Path(path)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: cannot read the circumplex table ({err})") from err
    if not rows or [c.strip().lower() for c in rows[0][:3]] != ["category", "valence", "arousal"]:
        raise ValueError(f"{path}: header must be 'category,valence,arousal'")
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            valence, arousal = float(row[1]), float(row[2])
        except (ValueError, IndexError):
            raise ValueError(f"{path}: line {line}: expected 'category,valence,arousal', got {row}") from None
        if not (-1 <= valence <= 1 and -1 <= arousal <= 1):
            raise ValueError(f"{path}: line {line}: valence {valence}, arousal {arousal} outside [-1, 1]")
        table[canonical(row[0])] = (valence, arousal)
    return table


def point(category: str, table=None, where="") -> tuple[float, float]:
    """(valence, arousal) of a category name (any synonym); an error naming ``where`` when the
    table has no such category."""
    table = CIRCUMPLEX if table is None else table
    name = canonical(category)
    if name not in table:
        raise ValueError(f"{where or category}: category {category!r} is not in the circumplex table "
                         f"(known: {', '.join(sorted(table))}); add it with a circumplex CSV")
    return table[name]


def nearest_category(valence_arousal, categories, table=None) -> np.ndarray:
    """Index into ``categories`` of the point nearest each (valence, arousal) row: how a
    valence/arousal prediction is read as an expression."""
    table = CIRCUMPLEX if table is None else table
    points = np.array([table[canonical(c)] for c in categories], np.float64)
    va = np.asarray(valence_arousal, np.float64).reshape(-1, 2)
    return np.argmin(((va[:, None, :] - points[None]) ** 2).sum(-1), axis=1)
