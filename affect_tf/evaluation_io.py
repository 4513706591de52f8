"""Evaluation I/O: exported models run on record files, the report written as JSON, the plot.

The TensorFlow and matplotlib side of evaluation; the scoring itself is the pure
:mod:`affect_tf.evaluation`. Used by the TFX evaluator (``components/evaluator.py``), the TFX
``run_fn``, ``affect-tf train`` and ``affect-tf fuse`` (choosing the median window on validation
records, ``004`` §6.3) and the tests.
"""
from __future__ import annotations

import json
import os

import numpy as np

from affect_tf import export, metrics
from affect_tf import features as F
from affect_tf.config import config_from_dict
from affect_tf.evaluation import (EvaluationConfig, RecordingPredictions, choose_median_window,
                                  collect_predictions, evaluate_recordings, postprocess_predictions)
from affect_tf.files import atomic_path, find_saved_model, write_text_atomic

def write_json(data, path: str) -> str:
    """Write ``data`` as JSON atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))
    return path


def plot_predictions(recordings: list[RecordingPredictions], path: str, title: str = "",
                     max_curves: int = 3) -> str:
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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path


# --- exported models on records (TensorFlow from here on) ---------------------------------------

SERIALIZED = "serialized_examples"  # key of the raw records in the batches of record_batches


def record_batches(files: list[str], batch_size: int = 8):
    """Batches ``(features, labels, meta)`` of whole records in file order, padded to the longest
    record of the batch, with the serialized records under ``features[SERIALIZED]``. ``files``
    may hold glob patterns (as TFX's ``fn_args.eval_files`` do) and split folders."""
    import tensorflow as tf

    from affect_tf.data import schema

    matches = [m for pattern in files for m in sorted(tf.io.gfile.glob(str(pattern)))]
    files = [f for m in matches  # a split folder stands for its record files
             for f in (sorted(tf.io.gfile.glob(m.rstrip("/") + "/*.tfrecord*")) if tf.io.gfile.isdir(m) else [m])]
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

    path = str(find_saved_model(model_dir))
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
                         batch_size: int = 8) -> tuple[dict, list[RecordingPredictions]]:
    """Report (and the recordings, for plotting) of an exported model on record files."""
    recordings = collect_predictions(saved_model_predictor(model_dir), record_batches(files, batch_size))
    report = evaluate_recordings(recordings, config)
    report["model"] = str(find_saved_model(model_dir))
    return report, [postprocess_predictions(r, config) for r in recordings]


def choose_median_window_on_records(model_dir: str, files: list[str], batch_size: int = 8) -> tuple[int, int]:
    """The median window (valence, arousal) that maximises an export's frame CCC on (validation)
    record files (``004`` §6.3); ``run_fn`` stores it in the export metadata."""
    return choose_median_window(collect_predictions(saved_model_predictor(model_dir),
                                                    record_batches(files, batch_size)))


def store_median_window(version_dir, files: list[str]) -> tuple[int, int]:
    """Choose the median window on (validation) record files with
    :func:`choose_median_window_on_records` and store it as the export metadata's
    ``median_window``, which ``predict`` and the evaluator apply (``run_fn``, ``affect-tf fuse``)."""
    window = choose_median_window_on_records(str(version_dir), files)
    export.update_metadata(version_dir, {"median_window": list(window)})
    return window


def median_window_of_model(model, files: list[str]) -> tuple[int, int]:
    """:func:`choose_median_window_on_records` for a Keras model (``affect-tf train``): the model
    is exported to a temporary folder, so the window is chosen on exactly what will be served."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="median-window-") as tmp:
        version_dir = export.export_for_serving(model, tmp, version=1)
        return choose_median_window_on_records(str(version_dir), files)


POSTPROCESS_FILE = "postprocess.json"  # beside a trained model.keras: what `affect-tf export` ships


def config_with_export_window(raw: dict, model_dir: str) -> EvaluationConfig:
    """The :class:`EvaluationConfig` from ``raw`` (``to_dict()`` form); without a
    ``median_window`` of its own it takes the one chosen at training time (export metadata)."""
    raw = {"type": "EvaluationConfig", **raw}
    if "median_window" not in raw:
        window = export.read_metadata(find_saved_model(model_dir)).get("median_window")
        if window:
            raw["median_window"] = list(window)
    return config_from_dict(raw)
