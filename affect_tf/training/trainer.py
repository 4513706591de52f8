"""``train_and_evaluate(train_config, workdir)``: the one training entry point (flax style).

The CLI (``affect-tf train``), the TFX ``run_fn`` and the tests all call it.

Contract for models and trainers
--------------------------------
1. The model is built from ``train_config.model_config()`` (a preset's
   :class:`~affect_tf.config.ModelConfig`) inside the distribution strategy's scope and called once
   on zero inputs of ``model_config.input_shapes()`` so its weights exist.
2. If a trainer is registered for the config's class
   (:func:`affect_tf.training.registry.register_trainer`), the trainer does::

       trainer = Class(model, train_config)        # a keras.Model with its own train_step
       trainer(dummy_inputs)                       # only if not built: call(x) -> model outputs
       trainer.compile_for(train_config)          # if it has that method, else:
       trainer.compile(optimizer=make_optimizer(train_config))
       trainer.fit(train_data, validation_data=val_data, ...)

   ``Class`` owns its optimizers (from :func:`make_optimizer`, so it honours ``optimizer``,
   ``learning_rate``, ``adam_beta_1``, ``clipnorm``; ``jit_compile`` goes to ``compile``), losses
   and metric trackers. Its ``test_step`` should report the
   corpus-level streaming metrics of :mod:`affect_tf.metrics` (``valence_ccc``, ``arousal_ccc``)
   and ``mean_ccc``, because early stopping and the best checkpoint follow
   ``train_config.monitor`` (default ``val_mean_ccc``, maximised). Under mixed precision wrap
   every optimizer in ``keras.optimizers.LossScaleOptimizer``; under ``MirroredStrategy`` divide
   hand-written losses by the replica count.
3. Otherwise the model itself is compiled (optimizer only) and fitted: its loss comes from its
   ``compute_loss`` override (see :class:`affect_tf.models.AffectModel`: CCC loss
   ``1 - (ccc_v + ccc_a) / 2`` on the labelled frames, ``keras.ops`` only).
4. The data are ``(features, labels)`` batches as in :mod:`affect_tf.features`: a ``tf.data``
   dataset, or a TFRecord file pattern read with ``affect_tf.data.reader.make_dataset``.
   Features the model does not take are dropped before the model sees them.
5. A model trained in stages (:mod:`affect_tf.training.recipes`) runs each stage this way in
   ``workdir/stages/<nn>_<name>/``; what follows describes the final stage.
6. After training the model (``model.inference_model()`` when it has one) is saved as
   ``workdir/model.keras``; the best weights by the monitored value are in
   ``workdir/checkpoints/best.weights.h5`` and restored before the final evaluation.
   ``workdir/backup`` lets an interrupted run resume where it stopped; TensorBoard logs go to
   ``workdir/logs``; ``workdir/train_config.json`` records the run.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pathlib
import warnings
from typing import Any

import keras

from affect_tf import features, presets
from affect_tf.data.feature_statistics import prepare_inputs
from affect_tf.files import atomic_path, write_text_atomic
from affect_tf.training import registry
from affect_tf.training.distribute import backup_and_restore, even_batches, make_strategy, writable_workdir
from affect_tf.training.config import TrainConfig

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


def make_optimizer(train_config: TrainConfig):
    """The optimizer named in the config with its learning rate, Adam beta_1 and clipnorm."""
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    kwargs = {"learning_rate": train_config.learning_rate}
    if train_config.optimizer in ("adam", "adamw"):
        kwargs["beta_1"] = train_config.adam_beta_1
    if train_config.clipnorm:
        kwargs["clipnorm"] = train_config.clipnorm
    return classes[train_config.optimizer](**kwargs)


def _select_inputs(dataset, input_names):
    """Keep only the features the model takes (plus the masks), so no unused tensor is fed."""
    keep = set(input_names) | set(MASK_KEYS)

    def select(feats, labels, *rest):
        return ({k: v for k, v in feats.items() if k in keep}, labels)

    return dataset.map(select)


def make_data(data, train_config: TrainConfig, model_config, training: bool):
    """A ``tf.data`` dataset of ``(features, labels)`` from a dataset or a record file pattern."""
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike, list, tuple)):
        from affect_tf.data import reader
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
    data = _select_inputs(data, model_config.input_shapes())
    if train_config.strategy == "multi_worker_mirrored":
        data = even_batches(data, train_config.batch_size)
    return data


def _warm_start(model, path: str):
    path = str(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"warm_start file not found: {path}")
    if path.endswith(".keras"):
        from affect_tf.models import load_model

        _copy_weights(load_model(path), model, path)
    else:
        model.load_weights(path)


def _copy_weights(source, model, path: str):
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


def _callbacks(train_config: TrainConfig, workdir: pathlib.Path, monitor: str, has_val: bool):
    checkpoint = workdir / "checkpoints" / "best.weights.h5"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        backup_and_restore(workdir / "backup"),  # multi-worker: the chief's backup
        keras.callbacks.ModelCheckpoint(
            str(checkpoint), monitor=monitor, mode="max", save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.TerminateOnNaN(),
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
            model = model_config.build()
            dummy = presets.dummy_inputs(model_config, batch=1, frames=2)
            model(dummy, training=False)
            if init is not None:
                init(model)
            if prepare:
                prepare_inputs(model, train_config, train_data)
            trainer_cls = registry.trainer_class(model_config)
            if trainer_cls is not None:
                trainer = trainer_cls(model, train_config)
                if not trainer.built:  # fit's BackupAndRestore needs built weights
                    trainer(dummy, training=False)
            else:
                trainer = model
            if hasattr(trainer, "compile_for"):
                trainer.compile_for(train_config)
            else:
                trainer.compile(
                    optimizer=make_optimizer(train_config), jit_compile=train_config.jit_compile
                )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    monitor = train_config.monitor if val_data is not None else train_config.monitor.removeprefix("val_")
    callbacks, checkpoint = _callbacks(train_config, workdir, monitor, val_data is not None)
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


def train_and_evaluate(
    train_config: TrainConfig, workdir, train_data=None, val_data=None, verbose: int = 0
) -> TrainResult:
    """Run the model's training recipe (:mod:`affect_tf.training.recipes`: one stage for most
    presets, the papers' stages for the adversarial sequence models) on ``train_data``, picking
    the best epoch of each stage on ``val_data``; save the final model as ``workdir/model.keras``.

    See the module docstring for the contract with models and trainers.
    """
    from affect_tf.data import record_checks
    from affect_tf.training import recipes

    if train_data is None:
        raise ValueError("train_and_evaluate needs train_data (a tf.data dataset or records)")
    workdir = writable_workdir(workdir)  # multi-worker: only the chief writes into workdir
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "train_config.json").write_text(train_config.to_json())

    with record_checks.naming_corrupt_records(train_data, val_data):
        record_checks.require_labels(train_data, "training")
        record_checks.require_labels(val_data, "validation")
        result = recipes.run_recipe(train_config, workdir, train_data, val_data, verbose)
    model = result.model
    serving = model.inference_model() if hasattr(model, "inference_model") else model
    keras_path = workdir / "model.keras"
    with atomic_path(keras_path) as tmp:
        serving.save(str(tmp))
    write_text_atomic(workdir / "metrics.json", json.dumps(result.metrics, indent=2, sort_keys=True))
    return dataclasses.replace(result, keras_path=str(keras_path), workdir=str(workdir))


def search_model_option(
    train_config: TrainConfig, workdir, name: str, values, train_data, val_data, verbose: int = 0
) -> tuple[TrainResult, dict]:
    """Train once per value of the model-config field ``name`` (e.g. implicit fusion's ``alpha``,
    002 §4.2) and keep the run with the best monitored validation value.

    Runs go to ``workdir/<name>=<value>``; ``workdir/search.json`` records every score and the
    choice. Returns ``(best run, {value: score})``.
    """
    if val_data is None:
        raise ValueError(f"searching {name} needs validation data")
    model_config = train_config.model_config()
    if name not in {f.name for f in dataclasses.fields(model_config)}:
        raise ValueError(f"{type(model_config).__name__} has no field {name!r}")
    workdir = pathlib.Path(workdir)
    runs, scores = {}, {}
    for value in values:
        config = train_config.replace(model=model_config.replace(**{name: value}))
        runs[value] = train_and_evaluate(config, workdir / f"{name}={value}", train_data, val_data, verbose)
        scores[value] = runs[value].metrics[train_config.monitor]
    best = max(scores, key=scores.get)  # the monitored value is maximised, as in fit
    (workdir / "search.json").write_text(json.dumps(
        {"option": name, "monitor": train_config.monitor, "scores": {str(v): s for v, s in scores.items()},
         "best": best}, indent=2))
    return runs[best], scores
