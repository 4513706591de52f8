"""Post-processing of per-frame predictions (``004`` §6.3, §7): median filtering per dimension,
per-utterance aggregation (median per sequence, then the mean over the utterance's sequences), and
choosing the filter only when it raises the validation CCC. The paper's second step, smoothing
the per-utterance values across the consecutive utterances of a video, is not done: our records
are single recordings, without the video they were cut from. NumPy/SciPy only (runs after the model, on any
backend).

This is the one median filter of the project: the evaluator, ``affect_tf.serving.predict`` and
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


def aggregate(predictions, mask=None, how: str = "median", sequence_frames: int | None = None) -> np.ndarray:
    """One value per utterance from its per-frame predictions (axis 0), as ``004`` §1 and §5
    describe it: the utterance is cut into sequences of ``sequence_frames`` consecutive frames,
    each sequence gets the median (or mean, ``how``) of its valid frames, and the utterance value
    is the mean of those (§7: the median per sequence did best). ``sequence_frames=None``: the
    whole utterance is one sequence."""
    predictions = np.asarray(predictions, dtype="float64")
    valid = np.ones(len(predictions), bool) if mask is None else np.asarray(mask).astype(bool)
    if how not in ("median", "mean"):
        raise ValueError(f"how must be 'median' or 'mean', got {how!r}")
    if not valid.any():
        raise ValueError("no valid frame to aggregate")
    reduce = np.median if how == "median" else np.mean
    step = int(sequence_frames) if sequence_frames else len(predictions)
    values = [reduce(predictions[i:i + step][valid[i:i + step]], axis=0)
              for i in range(0, len(predictions), step) if valid[i:i + step].any()]
    return np.mean(values, axis=0)


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
