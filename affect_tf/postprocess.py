"""Post-processing of per-frame predictions (``004`` §6.3, §7): median filtering per dimension,
smoothing of per-utterance predictions, per-utterance mean/median aggregation, and choosing each
step only when it raises the validation CCC. NumPy/SciPy only (runs after the model, on any
backend).

This is the one median filter of the project: the evaluator, ``serving.predict`` and
:func:`choose_median_windows` all call :func:`median_filter`, so a window chosen here means the
same everywhere it is applied.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from affect_tf import metrics

MEDIAN_WINDOWS = (1, 3, 5, 9, 17, 33, 81)  # 004 §7 reports 81 (valence) and 3 (arousal)


def median_filter(values, window: int) -> np.ndarray:
    """Running median over axis 0 with a centred odd ``window``. The ends repeat the first and
    last values (``mode="nearest"``): zero padding would pull the ends of a trace towards
    neutral (0), a bias the labels do not have."""
    values = np.asarray(values, dtype="float64")
    window = int(window)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"median window must be a positive odd number, got {window}")
    if window == 1 or len(values) == 0:
        return values.copy()
    return ndimage.median_filter(values, size=(window,) + (1,) * (values.ndim - 1), mode="nearest")


def median_filter_per_dimension(predictions, windows=(81, 3)) -> np.ndarray:
    """(T, 2) predictions filtered with one window per dimension (004 §7: 81 valence, 3 arousal)."""
    predictions = np.asarray(predictions, dtype="float64")
    return np.stack([median_filter(predictions[:, d], w) for d, w in enumerate(windows)], axis=-1)


def smooth_utterances(values, window: int = 3) -> np.ndarray:
    """Centred moving average over consecutive utterances of one video (axis 0); the ends average
    the neighbours that exist."""
    values = np.asarray(values, dtype="float64")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing window must be a positive odd number, got {window}")
    half = window // 2
    out = np.empty_like(values)
    for i in range(len(values)):
        out[i] = values[max(0, i - half): i + half + 1].mean(axis=0)
    return out


def aggregate(predictions, mask=None, how: str = "median") -> np.ndarray:
    """One (valence, arousal) per utterance from its (T, 2) per-frame predictions (004 §5.1)."""
    predictions = np.asarray(predictions, dtype="float64")
    if mask is not None:
        predictions = predictions[np.asarray(mask).astype(bool)]
    if len(predictions) == 0:
        raise ValueError("no valid frame to aggregate")
    if how == "median":
        return np.median(predictions, axis=0)
    if how == "mean":
        return predictions.mean(axis=0)
    raise ValueError(f"how must be 'median' or 'mean', got {how!r}")


def choose_median_windows(predictions, labels, label_masks=None, candidates=MEDIAN_WINDOWS):
    """Per dimension, the window (1 = none) that maximises the validation CCC over all labelled
    frames of all sequences.

    ``predictions``, ``labels`` (and ``label_masks``, 1 where a label is known): lists of (T_i, 2)
    arrays, one per validation sequence. A step is kept only when it helps (004 §6.3): the
    smaller window wins ties.
    """
    if label_masks is None:
        label_masks = [np.ones(np.shape(l)) for l in labels]
    chosen = []
    for d in range(2):
        label = np.concatenate([np.asarray(l, "float64")[:, d] for l in labels])
        mask = np.concatenate([np.asarray(m, "float64")[:, d] for m in label_masks])
        best = (None, -np.inf)
        for window in sorted(candidates):
            pred = np.concatenate([median_filter(np.asarray(p)[:, d], window) for p in predictions])
            score = float(metrics.ccc(label, pred, mask))
            if score > best[1] + 1e-9:
                best = (window, score)
        chosen.append(best[0])
    return tuple(chosen)
