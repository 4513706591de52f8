"""Dataset adapters: each dataset's native layout -> one list of :class:`Recording` entries.

One module per dataset (``affwild2``, ``afew_va``, ``omg``, ``timed_labels`` for SEWA/SEMAINE/
RECOLA, ``csv_manifest``); what they share is in :mod:`affect_tf.data.recordings`. Every adapter
raises :class:`LayoutError` naming the file when the drop as a whole cannot be read. No adapter
decodes video; the Beam job does that per recording (only the frame rate is read).
"""
from __future__ import annotations

from affect_tf.data.afew_va import load_afew_va
from affect_tf.data.affwild2 import load_affwild2
from affect_tf.data.csv_manifest import load_csv_manifest
from affect_tf.data.omg import load_omg
from affect_tf.data.recordings import LayoutError, Recording, assign_subject_splits
from affect_tf.data.timed_labels import load_recola, load_semaine, load_sewa

ADAPTERS = {
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
