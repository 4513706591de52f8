"""Whole-set scoring of valence/arousal predictions, the report and the blessing rule.

Arrays in, numbers out: reading exported models and records, and plotting, live in
:mod:`affect_tf.evaluation_io`; the TFX evaluator (``components/evaluator.py``) calls both.

* Per-frame metrics: CCC, PCC, RMSE and ICC for valence and arousal over every labelled frame of
  the evaluation set, accumulated with :func:`affect_tf.metrics.sufficient_statistics` (a corpus
  value, never an average of per-batch values).
* Post-processing as in ``004`` §6.3: an optional median filter (:mod:`affect_tf.postprocess`)
  over each recording's per-frame predictions, with one window per dimension (the paper used 81
  frames for valence, 3 for arousal), chosen on validation data by :func:`choose_median_window`.
* Per-utterance metrics (``004`` §5, OMG-Emotion): each recording (utterance) gets the mean or
  median of its per-frame predictions and the mean of its labelled frames; the metrics are then
  computed across utterances.
* Blessing: a candidate is blessed when its score (mean of valence and arousal of the chosen
  metric and level) reaches an absolute floor and beats the current blessed model, evaluated on
  the same held-out data, by at least ``margin``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable, Mapping

import numpy as np

from affect_tf import features as F
from affect_tf import metrics, postprocess
from affect_tf.config import Config, register_config

METRIC_KINDS = ("ccc", "pcc", "rmse", "icc")
LEVELS = ("frame", "utterance")
HIGHER_IS_BETTER = {"ccc": True, "pcc": True, "icc": True, "rmse": False}


@register_config
@dataclasses.dataclass(frozen=True)
class EvaluationConfig(Config):
    """How candidates are scored and blessed.

    ``median_window``: median-filter lengths (valence, arousal) in frames; 1 = no filtering.
    ``utterance_aggregate``: "mean" or "median" of the per-frame predictions of an utterance.
    ``metric``/``level``: the score used for blessing (mean over valence and arousal).
    ``margin``: how much the candidate must beat the current blessed model by.
    ``floor``: the least score a model must reach to be blessed at all.
    """

    median_window: tuple[int, int] = (1, 1)
    utterance_aggregate: str = "median"
    metric: str = "ccc"
    level: str = "frame"
    margin: float = 0.01
    floor: float = 0.0

    def __post_init__(self):
        if self.metric not in METRIC_KINDS:
            raise ValueError(f"metric must be one of {METRIC_KINDS}, got {self.metric!r}")
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        if self.utterance_aggregate not in ("mean", "median"):
            raise ValueError(f"utterance_aggregate must be mean or median, got {self.utterance_aggregate!r}")
        if len(self.median_window) != 2 or any(int(w) < 1 or int(w) % 2 == 0 for w in self.median_window):
            raise ValueError(f"median_window must be two odd lengths >= 1, got {self.median_window!r}")


@dataclasses.dataclass
class RecordingPredictions:
    """A model's per-frame predictions for one recording (utterance) beside its labels, in frame
    order (not :class:`affect_tf.data.recordings.Recording`, which describes a recording's files).

    ``predictions``, ``labels`` and ``label_mask`` are float arrays of shape (N, 2) holding
    (valence, arousal); ``label_mask`` is 1 where the label is known.
    """

    recording_id: str
    predictions: np.ndarray
    labels: np.ndarray
    label_mask: np.ndarray


def postprocess_predictions(recording: RecordingPredictions,
                            config: EvaluationConfig) -> RecordingPredictions:
    """The recording with each dimension's predictions median-filtered (``004`` §6.3)."""
    filtered = postprocess.median_filter_per_dimension(recording.predictions, config.median_window)
    return dataclasses.replace(recording, predictions=filtered)


def choose_median_window(recordings: Iterable[RecordingPredictions],
                         candidates=postprocess.MEDIAN_WINDOWS) -> tuple[int, int]:
    """Per dimension, the median window that maximises the frame CCC on these (validation)
    recordings: the value for ``EvaluationConfig.median_window`` and the export metadata's
    ``median_window``."""
    recordings = list(recordings)
    return postprocess.choose_median_windows([r.predictions for r in recordings],
                                             [r.labels for r in recordings],
                                             [r.label_mask for r in recordings], candidates)


def _metric_values(stats) -> dict:
    return {kind: float(metrics.from_statistics(kind, stats)) for kind in METRIC_KINDS}


def _accumulate(total, stats):
    stats = [np.asarray(s, dtype=np.float64) for s in stats]
    return stats if total is None else [t + s for t, s in zip(total, stats)]


def frame_metrics(recordings: Iterable[RecordingPredictions]) -> dict:
    """``{"valence": {"ccc": ..., ...}, "arousal": {...}, "frames": [n_valence, n_arousal]}``."""
    total = None
    for rec in recordings:
        stats = metrics.sufficient_statistics(rec.labels, rec.predictions, rec.label_mask, axis=0)
        total = _accumulate(total, [np.asarray(s) for s in stats])
    if total is None:
        raise ValueError("no recordings to evaluate")
    out = {}
    for d, name in enumerate(metrics.DIMENSIONS):
        out[name] = _metric_values([s[d] for s in total])
    out["frames"] = [int(total[0][d]) for d in range(2)]
    return out


def utterance_values(recording: RecordingPredictions,
                     aggregate: str = "median") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction, label, mask) per dimension for one utterance: aggregated over labelled frames."""
    pred = np.zeros(2)
    label = np.zeros(2)
    mask = np.zeros(2)
    reduce = np.median if aggregate == "median" else np.mean
    for d in range(2):
        known = recording.label_mask[:, d] > 0
        if known.any():
            pred[d] = reduce(recording.predictions[known, d])
            label[d] = np.mean(recording.labels[known, d])
            mask[d] = 1.0
    return pred, label, mask


def utterance_metrics(recordings: Iterable[RecordingPredictions], aggregate: str = "median") -> dict:
    """Metrics across utterances (one value per recording), as for OMG-Emotion (``004`` §5)."""
    rows = [utterance_values(rec, aggregate) for rec in recordings]
    if not rows:
        raise ValueError("no recordings to evaluate")
    preds, labels, masks = (np.stack(x) for x in zip(*rows))
    stats = [np.asarray(s, np.float64) for s in metrics.sufficient_statistics(labels, preds, masks, axis=0)]
    out = {name: _metric_values([s[d] for s in stats]) for d, name in enumerate(metrics.DIMENSIONS)}
    out["utterances"] = [int(stats[0][d]) for d in range(2)]
    return out


def score(report: Mapping, metric: str, level: str) -> float:
    """Mean over valence and arousal of one metric at one level of a report."""
    section = report[level]
    return float(np.mean([section[d][metric] for d in metrics.DIMENSIONS]))


def evaluate_recordings(recordings: Iterable[RecordingPredictions], config: EvaluationConfig) -> dict:
    """The report: per-frame and per-utterance metrics after post-processing, plus the score."""
    processed = [postprocess_predictions(r, config) for r in recordings]
    report = {
        "config": config.to_dict(),
        "recordings": len(processed),
        "frame": frame_metrics(processed),
        "utterance": utterance_metrics(processed, config.utterance_aggregate),
    }
    report["score"] = {"metric": config.metric, "level": config.level,
                       "value": score(report, config.metric, config.level)}
    return report


@dataclasses.dataclass(frozen=True)
class Blessing:
    blessed: bool
    candidate: float
    baseline: float | None
    reason: str


def bless(candidate: Mapping, baseline: Mapping | None, config: EvaluationConfig) -> Blessing:
    """Decide whether ``candidate`` replaces ``baseline`` (reports from :func:`evaluate_recordings`
    on the same data). With no baseline only the floor applies. For RMSE lower is better and the
    floor is a ceiling."""
    value = score(candidate, config.metric, config.level)
    base = None if baseline is None else score(baseline, config.metric, config.level)
    sign = 1.0 if HIGHER_IS_BETTER[config.metric] else -1.0
    name = f"{config.level} {config.metric}"
    if not math.isfinite(value):
        return Blessing(False, value, base, f"candidate {name} is not finite")
    if sign * (value - config.floor) < 0:
        return Blessing(False, value, base, f"candidate {name} {value:.4f} misses the floor {config.floor:.4f}")
    if base is None:
        return Blessing(True, value, None, f"candidate {name} {value:.4f} reaches the floor; no blessed model yet")
    gain = sign * (value - base)
    if gain < config.margin:
        return Blessing(False, value, base, f"candidate {name} {value:.4f} does not beat the blessed "
                        f"model's {base:.4f} by the margin {config.margin:.4f}")
    return Blessing(True, value, base, f"candidate {name} {value:.4f} beats the blessed model's "
                    f"{base:.4f} by {gain:.4f} (margin {config.margin:.4f})")


# --- collecting predictions -------------------------------------------------------------------

def collect_predictions(predict: Callable[[dict], np.ndarray], batches: Iterable) -> list[RecordingPredictions]:
    """Run ``predict`` over reader batches ``(features, labels, meta)`` (reader with
    ``keep_ids=True``) and stitch the windows back into whole recordings by frame index.

    ``predict(features) -> (B, T, 2)``. Padding frames (``frame_mask`` 0) are dropped; a frame
    seen in several (overlapping) windows gets the mean of its predictions.
    """
    sums: dict[str, dict[int, list]] = {}
    for features, labels, meta in batches:
        pred = np.asarray(predict(features), np.float64)
        frame_mask = np.asarray(features[F.FRAME_MASK])
        ids = np.asarray(meta[F.RECORDING_ID])
        index = np.asarray(meta[F.FRAME_INDEX])
        targets = np.asarray(labels[F.TARGETS], np.float64)
        label_mask = np.asarray(labels[F.LABEL_MASK], np.float64)
        if pred.shape != targets.shape:
            raise ValueError(f"model returned shape {pred.shape}; expected {targets.shape}")
        for b in range(pred.shape[0]):
            rid = ids[b].decode() if isinstance(ids[b], bytes) else str(ids[b])
            frames = sums.setdefault(rid, {})
            for t in np.flatnonzero(frame_mask[b] > 0):
                entry = frames.setdefault(int(index[b, t]), [np.zeros(2), 0, targets[b, t], label_mask[b, t]])
                entry[0] = entry[0] + pred[b, t]
                entry[1] += 1
    recordings = []
    for rid in sorted(sums):
        order = sorted(sums[rid])
        rows = [sums[rid][i] for i in order]
        recordings.append(RecordingPredictions(
            rid,
            np.stack([r[0] / r[1] for r in rows]),
            np.stack([r[2] for r in rows]),
            np.stack([r[3] for r in rows]),
        ))
    return recordings
