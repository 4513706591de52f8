"""Whole-set evaluation of valence/arousal predictions, the report, the plot and the blessing rule.

What the TFX evaluator (``components/evaluator.py``) calls, kept free of TFX so it is testable
and usable on its own.

* Per-frame metrics: CCC, PCC, RMSE and ICC for valence and arousal over every labelled frame of
  the evaluation set, accumulated with :func:`affect_tf.metrics.sufficient_statistics` (a corpus
  value, never an average of per-batch values).
* Post-processing as in ``004`` §6.3: an optional median filter over each recording's per-frame
  predictions, with one window per dimension (the paper used 81 frames for valence, 3 for arousal).
* Per-utterance metrics (``004`` §5, OMG-Emotion): each recording (utterance) gets the mean or
  median of its per-frame predictions and the mean of its labelled frames; the metrics are then
  computed across utterances.
* Blessing: a candidate is blessed when its score (mean of valence and arousal of the chosen
  metric and level) reaches an absolute floor and beats the current blessed model, evaluated on
  the same held-out data, by at least ``margin``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from typing import Callable, Iterable, Mapping

import numpy as np

from affect_tf import features as F
from affect_tf import metrics
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
class Recording:
    """Per-frame predictions and labels of one recording (utterance), in frame order.

    ``predictions``, ``labels`` and ``label_mask`` are float arrays of shape (N, 2) holding
    (valence, arousal); ``label_mask`` is 1 where the label is known.
    """

    recording_id: str
    predictions: np.ndarray
    labels: np.ndarray
    label_mask: np.ndarray


def median_filter(values: np.ndarray, window: int) -> np.ndarray:
    """Running median along axis 0 with a centred odd ``window``; edges repeat the end values."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values.copy()
    half = window // 2
    padded = np.concatenate([np.repeat(values[:1], half, 0), values, np.repeat(values[-1:], half, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    return np.median(windows, axis=-1)


def postprocess(recording: Recording, config: EvaluationConfig) -> Recording:
    """The recording with each dimension's predictions median-filtered (``004`` §6.3)."""
    filtered = np.stack(
        [median_filter(recording.predictions[:, d], int(config.median_window[d])) for d in range(2)],
        axis=-1,
    )
    return dataclasses.replace(recording, predictions=filtered)


def _metric_values(stats) -> dict:
    return {kind: float(metrics.from_statistics(kind, stats)) for kind in METRIC_KINDS}


def _accumulate(total, stats):
    stats = [np.asarray(s, dtype=np.float64) for s in stats]
    return stats if total is None else [t + s for t, s in zip(total, stats)]


def frame_metrics(recordings: Iterable[Recording]) -> dict:
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


def utterance_values(recording: Recording, aggregate: str = "median") -> tuple[np.ndarray, np.ndarray]:
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


def utterance_metrics(recordings: Iterable[Recording], aggregate: str = "median") -> dict:
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


def evaluate_recordings(recordings: Iterable[Recording], config: EvaluationConfig) -> dict:
    """The report: per-frame and per-utterance metrics after post-processing, plus the score."""
    processed = [postprocess(r, config) for r in recordings]
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

def collect_predictions(predict: Callable[[dict], np.ndarray], batches: Iterable) -> list[Recording]:
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
        recordings.append(Recording(
            rid,
            np.stack([r[0] / r[1] for r in rows]),
            np.stack([r[2] for r in rows]),
            np.stack([r[3] for r in rows]),
        ))
    return recordings


# --- outputs ----------------------------------------------------------------------------------

def write_json(data, path: str) -> str:
    """Write ``data`` as JSON atomically (temp file in the same folder, then rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return path


def plot_predictions(recordings: list[Recording], path: str, title: str = "", max_curves: int = 3) -> str:
    """PNG: predictions against labels (scatter per dimension) and the curves over time of the
    first recordings. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    n_curves = min(max_curves, len(recordings))
    fig, axes = plt.subplots(1 + n_curves, 2, figsize=(10, 3.2 * (1 + n_curves)), squeeze=False)
    for d, name in enumerate(metrics.DIMENSIONS):
        ax = axes[0, d]
        for rec in recordings:
            known = rec.label_mask[:, d] > 0
            ax.scatter(rec.labels[known, d], rec.predictions[known, d], s=4, alpha=0.4)
        ax.plot([-1, 1], [-1, 1], "k--", lw=0.8)
        ax.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), xlabel=f"label {name}",
               ylabel=f"prediction {name}", title=f"{name}: prediction vs label")
        for i, rec in enumerate(recordings[:n_curves]):
            ax = axes[1 + i, d]
            labels = np.where(rec.label_mask[:, d] > 0, rec.labels[:, d], np.nan)
            ax.plot(labels, label="label", lw=1.2)
            ax.plot(rec.predictions[:, d], label="prediction", lw=1.0)
            ax.set(ylim=(-1.05, 1.05), xlabel="frame", ylabel=name, title=rec.recording_id)
            ax.legend(loc="upper right", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)
    return path


# --- exported models on records (TensorFlow from here on) ---------------------------------------

SERIALIZED = "serialized_examples"  # key of the raw records in the batches of record_batches


def find_saved_model(path: str) -> str:
    """The SavedModel folder at ``path``: itself, or its highest integer version sub-folder
    (TF Serving's layout, as :func:`affect_tf.export.export_for_serving` writes it)."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((int(d) for d in os.listdir(path) if d.isdigit()
                       and os.path.isfile(os.path.join(path, d, "saved_model.pb"))), reverse=True) \
        if os.path.isdir(path) else []
    if not versions:
        raise FileNotFoundError(f"no SavedModel (saved_model.pb) in {path} or its version folders")
    return os.path.join(path, str(versions[0]))


def record_batches(files: list[str], batch_size: int = 8):
    """Batches ``(features, labels, meta)`` of whole records in file order, padded to the longest
    record of the batch, with the serialized records under ``features[SERIALIZED]``."""
    import tensorflow as tf

    from affect_tf.data import schema

    if not files:
        raise ValueError("no record files to evaluate")
    compression = "GZIP" if files[0].endswith(".gz") else ""
    rows = []

    def pack(rows):
        t = max(len(r[1]) for r in rows)

        def pad(a):
            return np.pad(a, [(0, t - len(a))] + [(0, 0)] * (a.ndim - 1))

        return (
            {SERIALIZED: [r[0] for r in rows], F.FRAME_MASK: np.stack([pad(r[1]) for r in rows])},
            {F.TARGETS: np.stack([pad(r[2]) for r in rows]), F.LABEL_MASK: np.stack([pad(r[3]) for r in rows])},
            {F.RECORDING_ID: np.array([r[4] for r in rows]), F.FRAME_INDEX: np.stack([pad(r[5]) for r in rows])},
        )

    for serialized in tf.data.TFRecordDataset(files, compression_type=compression):
        feats, labels, meta = schema.parse_sequence_example(serialized, decode_face=False)
        rows.append((serialized.numpy(), feats[F.FRAME_MASK].numpy(), labels[F.TARGETS].numpy(),
                     labels[F.LABEL_MASK].numpy(), meta[F.RECORDING_ID].numpy(), meta[F.FRAME_INDEX].numpy()))
        if len(rows) == batch_size:
            yield pack(rows)
            rows = []
    if rows:
        yield pack(rows)


def saved_model_predictor(model_dir: str):
    """``predict(features) -> (B, T, 2)`` calling an export's serialized-SequenceExample signature."""
    import tensorflow as tf

    from affect_tf import export

    path = find_saved_model(model_dir)
    loaded = tf.saved_model.load(path)
    if export.SEQUENCE_EXAMPLE_SIGNATURE not in loaded.signatures:
        raise ValueError(f"{path} has no {export.SEQUENCE_EXAMPLE_SIGNATURE!r} signature "
                         f"(it has {sorted(loaded.signatures)})")
    signature = loaded.signatures[export.SEQUENCE_EXAMPLE_SIGNATURE]

    def predict(features):
        out = signature(examples=tf.constant(features[SERIALIZED]))
        pred = np.stack([out[export.OUTPUT_VALENCE].numpy(), out[export.OUTPUT_AROUSAL].numpy()], -1)
        t = features[F.FRAME_MASK].shape[1]
        return pred[:, :t]

    predict.model = loaded  # keep the loaded model alive with the function
    return predict


def evaluate_saved_model(model_dir: str, files: list[str], config: EvaluationConfig,
                         batch_size: int = 8) -> tuple[dict, list[Recording]]:
    """Report (and the recordings, for plotting) of an exported model on record files."""
    recordings = collect_predictions(saved_model_predictor(model_dir), record_batches(files, batch_size))
    report = evaluate_recordings(recordings, config)
    report["model"] = find_saved_model(model_dir)
    return report, [postprocess(r, config) for r in recordings]
