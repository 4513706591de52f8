"""Fitting one training stage: the optimizer, the data, warm starts, callbacks and
:func:`fit_stage`. ``train_and_evaluate`` (:mod:`affect_tf.training.trainer`) and the training
recipes (:mod:`affect_tf.training.recipes`) both fit their stages here; the contract between
models, trainers and this loop is in :mod:`affect_tf.training.trainer`'s docstring.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import pathlib
import warnings
from typing import Any

import keras
import tensorflow as tf

from affect_tf import features
from affect_tf.data import reader
from affect_tf.data.feature_statistics import prepare_inputs
from affect_tf.models import load_model
from affect_tf.training import adversarial, registry  # noqa: F401  (adversarial registers its trainers)
from affect_tf.training.config import TrainConfig
from affect_tf.training.distribute import backup_and_restore, even_batches, make_strategy
from affect_tf.training.optimizers import make_optimizer

MASK_KEYS = (features.FACE_MASK, features.AUDIO_MASK, features.FRAME_MASK)


@dataclasses.dataclass
class TrainResult:
    """What a training run produced."""

    model: Any  # the trained model built from the model config
    trainer: Any  # the keras.Model that was fitted (the model itself or its registered trainer)
    metrics: dict  # final validation metrics (training metrics when there is no validation data)
    history: dict
    checkpoint_path: str | None
    keras_path: str
    workdir: str
    stages: dict = dataclasses.field(default_factory=dict)  # stage folder -> its metrics (recipes)


def select_inputs(dataset, input_names):
    """Keep only the features the model takes (plus the masks), so no unused tensor is fed."""
    keep = set(input_names) | set(MASK_KEYS)

    def select(feats, labels, *rest):
        return ({k: v for k, v in feats.items() if k in keep}, labels)

    return dataset.map(select)


def count_batches(patterns, train_config: TrainConfig) -> int | None:
    """Batches in one pass over records (landmarks only are parsed: the windows, hence the
    count, do not depend on the inputs). Keras needs the count: on a dataset of unknown length
    it ends the first epoch on the end of the data and warns that the input ran out."""
    light = reader.make_dataset(patterns, window=train_config.window, batch_size=train_config.batch_size,
                                modalities=(features.LANDMARKS,), shuffle=False)
    try:
        return int(light.reduce(0, lambda n, _: n + 1))
    except tf.errors.DataLossError:
        return None  # a broken record file: training reads it and names it (record_checks)


def make_data(data, train_config: TrainConfig, model_config, training: bool):
    """A ``tf.data`` dataset of ``(features, labels)`` from a dataset or a record file pattern."""
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike, list, tuple)):
        patterns = [str(p) for p in data] if isinstance(data, (list, tuple)) else str(data)
        shapes = model_config.input_shapes()
        modalities = tuple(k for k in shapes if k in reader.MODALITIES)
        face = shapes.get(features.FACE)
        data = reader.make_dataset(
            patterns,
            window=train_config.window,
            batch_size=train_config.batch_size,
            modalities=modalities,
            shuffle=train_config.shuffle and training,
            seed=train_config.seed,
            crop_size=face[1] if face else None,
            # fixed steps per epoch need an endless stream; a full pass does not
            repeat=training and train_config.steps_per_epoch is not None,
        )
        batches = count_batches(patterns, train_config) if train_config.steps_per_epoch is None or not training else None
        if batches is not None:
            data = data.apply(tf.data.experimental.assert_cardinality(batches))
    data = select_inputs(data, model_config.input_shapes())
    if train_config.strategy == "multi_worker_mirrored":
        data = even_batches(data, train_config.batch_size)
    return data


def warm_start(model, path: str):
    """Load ``path`` (a ``.keras`` model of the same or a compatible preset, or a ``.weights.h5``
    file of the same model) into the built ``model``."""
    path = str(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"warm_start file not found: {path}")
    if path.endswith(".keras"):
        copy_weights(load_model(path), model, path)
    else:
        model.load_weights(path)


def copy_weights(source, model, path: str):
    """Every weight of ``source`` into the weight of ``model`` with the same path below the model
    (a saved serving model, e.g. implicit fusion's main branch, warm-starts the training model;
    weights only the training model has keep their initial values)."""
    if [tuple(v.shape) for v in source.weights] == [tuple(v.shape) for v in model.weights]:
        model.set_weights(source.get_weights())  # the same model: auto-generated names may differ
        return

    def by_path(m):  # paths below the model (some Keras versions start them with its name)
        return {v.path.removeprefix(f"{m.name}/"): v for v in m.weights}

    targets, sources = by_path(model), by_path(source)
    misfits = [name for name, v in sources.items()
               if name not in targets or tuple(targets[name].shape) != tuple(v.shape)]
    if misfits:
        raise ValueError(f"warm start {path}: {len(misfits)} of its {len(sources)} weights have no "
                         f"counterpart in {type(model).__name__} (e.g. {misfits[0]}): another preset?")
    for name, v in sources.items():
        targets[name].assign(v)


EPOCH_LOG_PREFIX = "Training progress: "  # affect-tf run's bar shows these lines (absl INFO)


class EpochLog(keras.callbacks.Callback):
    """One INFO line per epoch on the absl logger (stage, epoch, monitored value), which the main
    job's progress bar shows while the TFX Trainer runs; elsewhere absl INFO is not shown."""

    def __init__(self, stage: str, epochs: int, monitor: str):
        super().__init__()
        self.stage, self.epochs, self.monitor = stage, epochs, monitor

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        shown = f", {self.monitor} {float(value):.3f}" if value is not None else ""
        logging.getLogger("absl").info(f"{EPOCH_LOG_PREFIX}{self.stage} epoch {epoch + 1}/{self.epochs}{shown}")


def callbacks_for(train_config: TrainConfig, workdir: pathlib.Path, monitor: str, has_val: bool):
    checkpoint = workdir / "checkpoints" / "best.weights.h5"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        backup_and_restore(workdir / "backup"),  # multi-worker: the chief's backup
        keras.callbacks.ModelCheckpoint(
            str(checkpoint), monitor=monitor, mode="max", save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.TerminateOnNaN(),
        EpochLog(workdir.name if workdir.parent.name == "stages" else "train", train_config.epochs, monitor),
    ]
    if train_config.early_stopping_patience > 0 and has_val:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode="max", patience=train_config.early_stopping_patience,
            )
        )
    if train_config.tensorboard:
        if importlib.util.find_spec("tensorboard") is None:
            warnings.warn("tensorboard is not installed: no TensorBoard logs are written")
        else:
            callbacks.append(keras.callbacks.TensorBoard(str(workdir / "logs")))
    return callbacks, checkpoint


def fit_stage(train_config: TrainConfig, model_config, workdir, train_data, val_data=None,
              verbose: int = 0, init=None, prepare: bool = True) -> TrainResult:
    """Build ``model_config``'s model, ``init(model)`` (warm starts), fit it with its registered
    trainer (or the Keras loop) on ``train_data``, restore the best epoch and evaluate it on
    ``val_data`` (``tf.data`` datasets). Checkpoints and the resume backup go to ``workdir``;
    nothing else is written (``keras_path`` is left empty). ``prepare=False`` skips the input
    checks and statistics (a recipe stage on cached latents keeps its front ends' statistics)."""
    workdir = pathlib.Path(workdir)
    keras.utils.set_random_seed(train_config.seed)
    previous_policy = keras.mixed_precision.global_policy()
    if train_config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        strategy = make_strategy(train_config.strategy)
        with strategy.scope():
            model = model_config.built_model()
            if init is not None:
                init(model)
            if prepare:
                prepare_inputs(model, train_config, train_data)
            trainer_cls = registry.trainer_class(model_config)
            if trainer_cls is not None:
                trainer = trainer_cls(model, train_config)
                if not trainer.built:  # fit's BackupAndRestore needs built weights
                    trainer(model_config.dummy_inputs(), training=False)
            else:
                trainer = model
            if hasattr(trainer, "compile_for"):
                trainer.compile_for(train_config)
            else:
                trainer.compile(
                    optimizer=make_optimizer(train_config), jit_compile=train_config.jit_compile
                )
                # built here, not by the first step: a tf.function that creates variables traces twice
                trainer.optimizer.build(trainer.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    monitor = train_config.monitor if val_data is not None else train_config.monitor.removeprefix("val_")
    callbacks, checkpoint = callbacks_for(train_config, workdir, monitor, val_data is not None)
    history = trainer.fit(
        train_data,
        validation_data=val_data,
        epochs=train_config.epochs,
        steps_per_epoch=train_config.steps_per_epoch,
        validation_steps=train_config.validation_steps,
        callbacks=callbacks,
        verbose=verbose,
    )
    if checkpoint.exists():
        trainer.load_weights(str(checkpoint))
    else:
        checkpoint = None
    if val_data is not None:
        final = trainer.evaluate(
            val_data, steps=train_config.validation_steps, return_dict=True, verbose=0
        )
        final = {f"val_{k}": float(v) for k, v in final.items()}
    else:
        final = {k: float(v[-1]) for k, v in history.history.items()}
    return TrainResult(
        model=model,
        trainer=trainer,
        metrics=final,
        history={k: [float(x) for x in v] for k, v in history.history.items()},
        checkpoint_path=str(checkpoint) if checkpoint else None,
        keras_path="",
        workdir=str(workdir),
    )
