"""``train_and_evaluate(train_config, workdir)``: the one training entry point (flax style).

The CLI (``affect-tf train``), the TFX ``run_fn`` and the tests all call it.

Contract for models and trainers
--------------------------------
1. The model is built from ``train_config.model_config()`` (a preset's
   :class:`~affect_tf.config.ModelConfig`) inside the distribution strategy's scope and called once
   on zero inputs of ``model_config.input_shapes()`` so its weights exist.
2. If a trainer is registered for the config's class
   (:func:`affect_tf.training.registry.register_trainer`; :func:`affect_tf.training.fitting.fit_stage` runs this), the trainer does::

       trainer = Class(model, train_config)        # a keras.Model with its own train_step
       trainer(dummy_inputs)                       # only if not built: call(x) -> model outputs
       trainer.compile_for(train_config)          # if it has that method, else:
       trainer.compile(optimizer=make_optimizer(train_config))
       trainer.optimizer.build(trainer.trainable_variables)  # so the train step traces once
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
import json
import pathlib

from affect_tf.files import atomic_path, write_text_atomic
from affect_tf.training import recipes
from affect_tf.training.config import TrainConfig
from affect_tf.training.distribute import writable_workdir
from affect_tf.training.fitting import TrainResult


def train_and_evaluate(
    train_config: TrainConfig, workdir, train_data=None, val_data=None, verbose: int = 0
) -> TrainResult:
    """Run the model's training recipe (:mod:`affect_tf.training.recipes`: one stage for most
    presets, the papers' stages for the adversarial sequence models) on ``train_data``, picking
    the best epoch of each stage on ``val_data``; save the final model as ``workdir/model.keras``.

    See the module docstring for the contract with models and trainers.
    """
    from affect_tf.data import record_checks

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
