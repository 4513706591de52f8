"""Post-processing of per-frame predictions (``004`` §6.3, §7): median filtering per dimension,
smoothing of per-utterance predictions, per-utterance mean/median aggregation, and choosing each
step only when it raises the validation CCC. NumPy only (runs after the model, on any backend).
"""
from __future__ import annotations

import numpy as np

from affect_tf import metrics


def median_filter(values, window: int) -> np.ndarray:
    """Running median over axis 0 with zero padding at the ends (as ``scipy.signal.medfilt``)."""
    values = np.asarray(values, dtype="float64")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"median window must be a positive odd number, got {window}")
    if window == 1:
        return values.copy()
    half = window // 2
    padded = np.pad(values, [(half, half)] + [(0, 0)] * (values.ndim - 1))
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    return np.median(windows, axis=-1)


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


def _ccc(pred, label):
    return float(metrics.ccc(label, pred))


def choose_median_windows(predictions, labels, candidates=(1, 3, 5, 9, 17, 33, 81)):
    """Per dimension, the window (1 = none) that maximises the validation CCC over all sequences.

    ``predictions`` and ``labels``: lists of (T_i, 2) arrays, one per validation sequence.
    A step is kept only when it helps (004 §6.3): window 1 wins ties.
    """
    chosen = []
    for d in range(2):
        label = np.concatenate([np.asarray(l)[:, d] for l in labels])
        best = (None, -np.inf)
        for window in candidates:
            pred = np.concatenate([median_filter(np.asarray(p)[:, d], window) for p in predictions])
            score = _ccc(pred, label)
            if score > best[1] + 1e-9:
                best = (window, score)
        chosen.append(best[0])
    return tuple(chosen)
