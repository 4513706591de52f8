"""``run_fn`` for TFX's standard ``Trainer`` (``tfx.components.Trainer(module_file=...)``).

Kept free of TFX imports so it is testable without TFX: ``fn_args`` only needs the attributes
read here. ``fn_args.custom_config["train_config"]`` holds a :class:`TrainConfig` (JSON text or a
dict from ``TrainConfig.to_dict()``); ``train_steps``/``eval_steps`` override its step counts.
The full Keras model is also saved as ``<model artifact>/Format-Keras/model.keras``; when TFX
passes ``fn_args.base_model`` (a previous Model's serving dir), training warm-starts from it.
With eval files, the median-filter window per dimension that maximises the export's CCC on them
is stored as the export metadata's ``median_window`` (read by the evaluator and ``predict``).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

from affect_tf.presets import load_config
from affect_tf.evaluation_io import choose_median_window_on_records
from affect_tf.export import export_for_serving, update_metadata
from affect_tf.files import atomic_path
from affect_tf.training.config import TrainConfig
from affect_tf.training.trainer import train_and_evaluate

KERAS_DIR = "Format-Keras"  # sibling of TFX's Format-Serving inside the Model artifact


def train_config_from_fn_args(fn_args) -> TrainConfig:
    custom = dict(getattr(fn_args, "custom_config", None) or {})
    raw = custom.get("train_config", {"type": "TrainConfig"})
    if isinstance(raw, str):
        raw = json.loads(raw)
    cfg = load_config(raw)
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"custom_config['train_config'] is a {type(cfg).__name__}, not TrainConfig")
    changes = {}
    if getattr(fn_args, "train_steps", None):
        changes["steps_per_epoch"] = max(1, int(fn_args.train_steps) // cfg.epochs)
    if getattr(fn_args, "eval_steps", None):
        changes["validation_steps"] = int(fn_args.eval_steps)
    base = warm_start_file(getattr(fn_args, "base_model", None))
    if base and not cfg.warm_start:
        changes["warm_start"] = base
    return cfg.replace(**changes)


def keras_copy_path(serving_model_dir) -> str:
    """Where run_fn keeps the full Keras model beside the serving export (for warm starts)."""
    return os.path.join(os.path.dirname(os.path.abspath(serving_model_dir)), KERAS_DIR, "model.keras")


def warm_start_file(base_model) -> str | None:
    """The Keras copy of a previous run's model, from TFX's ``fn_args.base_model`` (its serving dir)."""
    if not base_model:
        return None
    for candidate in (base_model, os.path.join(base_model, "model.keras"), keras_copy_path(base_model)):
        if str(candidate).endswith(".keras") and os.path.isfile(candidate):
            return str(candidate)
    return None


def run_fn(fn_args):
    """Train on ``fn_args.train_files``, evaluate on ``fn_args.eval_files``, export the model."""
    cfg = train_config_from_fn_args(fn_args)
    workdir = getattr(fn_args, "model_run_dir", None) or os.path.join(
        fn_args.serving_model_dir, os.pardir, "run"
    )
    result = train_and_evaluate(
        cfg, workdir, train_data=list(fn_args.train_files),
        val_data=list(fn_args.eval_files) if getattr(fn_args, "eval_files", None) else None,
    )
    serving = result.model.inference_model() if hasattr(result.model, "inference_model") else result.model
    with atomic_path(keras_copy_path(fn_args.serving_model_dir)) as tmp:
        result.model.save(str(tmp))
    metadata = {"train_config": cfg.to_dict(), "metrics": result.metrics}
    # TFX wants the SavedModel itself in serving_model_dir (the Pusher adds the version),
    # so export as version 1 beside it and move that folder into place.
    target = os.path.abspath(fn_args.serving_model_dir)
    staging = tempfile.mkdtemp(prefix=".export-", dir=os.path.dirname(target))
    try:
        version_dir = export_for_serving(serving, staging, version=1, metadata=metadata)
        if getattr(fn_args, "eval_files", None):  # 004 §6.3: the median window that helps on validation
            window = choose_median_window_on_records(str(version_dir), list(fn_args.eval_files))
            update_metadata(version_dir, {"median_window": list(window)})
        if os.path.isdir(target) and not os.listdir(target):
            os.rmdir(target)
        os.rename(version_dir, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
