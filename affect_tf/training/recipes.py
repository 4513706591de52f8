"""Training recipes: the ordered stages a paper trains a model in, run by one call.

:func:`recipe_for` reads the recipe from the model config; :func:`run_recipe` (called by
``train_and_evaluate``, hence by ``affect-tf train``, the TFX ``run_fn`` and the tests) runs it.

* Most presets (CNN-RNN, implicit fusion, AEG-CD-SZ / AEG-CD / Disc of ``000``, the per-frame
  ANCLaF / DiLaST of ``003`` / ``001``) are one stage trained on the run's records.
* The sequence models on ZQ (ANCLaF-S-n / -SA-n, Vi-DeS, Au-DeS, AVi-CaS, AVi-GaS) train as their
  papers do (``003`` §3.4, ``001`` §3.4): one per-frame G/D/P stage per modality
  (``frontend_<modality>``); the ZQ latents of the training and validation sequences cached once
  from those front ends (``latents``); then the sequence curriculum on windows of n frames,
  each length warm-started from the previous one: S-2 -> S-4 -> ... -> S-n and, with attention,
  SA-n from S-n (``003``; the new context rows of the LSTM kernel start at zero), or SA-2 -> SA-4
  -> SA-8 (``001``, ``attention_from_start``). The first sequence stage takes G and D (and, with
  one modality, enc_P) from the front-end stages; the front ends stay frozen from then on.

Each stage writes ``WORKDIR/stages/<nn>_<name>/``: ``model.keras`` (the full training model),
``stage.json`` (its model config, metrics, history and wall-clock seconds; written last, so it
marks the stage as finished), and its ``checkpoints/`` and ``backup/``. A rerun skips finished stages (after checking
that they were trained with the same model config) and resumes the first unfinished one from its
backup. A one-stage recipe keeps the plain layout (everything directly in ``WORKDIR``).

Warm start (``TrainConfig.warm_start``, e.g. the blessed model when the pipeline retrains) loads
every weight of the final model and runs only the final stage, on the records (the front ends
stay frozen, so no latents need caching).
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import time

from affect_tf import presets
from affect_tf.config import ModelConfig
from affect_tf.data.latents import cache_latents, latent_dataset
from affect_tf.files import atomic_path, write_text_atomic
from affect_tf.models.adversarial.adversarial_model import copy_matching_weights
from affect_tf.models.adversarial.sequence import LatentSequenceConfig
from affect_tf.training.config import TrainConfig
from affect_tf.training.fitting import TrainResult, fit_stage, make_data, warm_start

RECORDS = "records"  # the run's (features, labels) data, train_config.window frames per sequence
LATENTS = "latents"  # the cached ZQ latents of the latents stage, cut into n-frame windows


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of a recipe: train ``model`` on a data view (or cache latents), starting from the
    models of the stages named in ``start_from``; ``hands_on`` says what later stages take."""

    name: str
    model: ModelConfig
    data: str = RECORDS
    window: int | None = None  # frames per sequence on the latents view
    start_from: tuple[str, ...] = ()
    hands_on: str = "the final model"
    cache: bool = False  # a latents stage: no training, caches model.latents of the records


def curriculum_lengths(n: int) -> list[int]:
    """2, 4, 8, ... below n, then n (``003`` §3.4: each length starts from half of it)."""
    lengths, k = [], 2
    while k < n:
        lengths.append(k)
        k *= 2
    return lengths + [n]


def recipe_for(train_config: TrainConfig) -> list[Stage]:
    """The stages that train ``train_config``'s model (see the module docstring)."""
    cfg = train_config.model_config()
    if not isinstance(cfg, LatentSequenceConfig) or train_config.warm_start:
        return [Stage("train", cfg)]
    if cfg.n_states > train_config.window:
        raise ValueError(f"the curriculum ends on {cfg.n_states}-frame windows cut from the cached "
                         f"sequences: TrainConfig.window must be >= {cfg.n_states}, got {train_config.window}")
    stages = [Stage(f"frontend_{m}", cfg.frontend_config(m), hands_on=f"G and D of {m}")
              for m in cfg.modalities]
    frontends = tuple(s.name for s in stages)
    stages.append(Stage("latents", cfg, start_from=frontends, cache=True,
                        hands_on="ZQ latents of the training and validation sequences"))
    previous = frontends
    every = cfg.attention and cfg.attention_from_start
    for n in curriculum_lengths(cfg.n_states):
        name = f"{'sa' if every else 's'}_{n}"
        stages.append(Stage(name, cfg.replace(attention=every, n_states=n), LATENTS, n, previous,
                            "weights of every layer"))
        previous = (name,)
    if cfg.attention and not every:
        stages.append(Stage(f"sa_{cfg.n_states}", cfg, LATENTS, cfg.n_states, previous))
    if stages[-1].model != cfg:  # the last stage trains exactly the requested model
        raise AssertionError(f"recipe ends with {stages[-1].model}, not {cfg}")
    return stages[:-1] + [dataclasses.replace(stages[-1], hands_on="the final model")]


def describe(train_config: TrainConfig) -> str:
    """One line per stage: number, name, data view, start, what it hands on."""
    lines = []
    for i, stage in enumerate(recipe_for(train_config), 1):
        view = LATENTS + f" ({stage.window} frames)" if stage.data == LATENTS else f"{RECORDS} ({train_config.window} frames)"
        start = f" from {', '.join(stage.start_from)}" if stage.start_from else ""
        lines.append(f"{i:02d}_{stage.name}: {'cache' if stage.cache else 'train'} on {view}{start} -> {stage.hands_on}")
    return "\n".join(lines)


def _config_record(config: ModelConfig) -> dict:
    return json.loads(config.to_json())  # tuples as lists, as read back from stage.json


def _stage_model(stage: Stage, stage_dir: pathlib.Path):
    """The finished stage's model, rebuilt from its config and loaded from its ``model.keras``."""
    model = stage.model.built_model()
    path = stage_dir / "model.keras"
    try:
        model.load_weights(str(path))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: does not match stage {stage.name} ({type(stage.model).__name__}): {error}") from None
    return model


def _check_finished(stage: Stage, stage_dir: pathlib.Path) -> bool:
    """True when ``stage_dir`` holds the finished stage; an error when it was another model."""
    record = stage_dir / "stage.json"
    if not record.exists():
        return False
    recorded = json.loads(record.read_text())["model"]
    if recorded != _config_record(stage.model):
        raise ValueError(
            f"{stage_dir}: finished with another model ({presets.load_config(recorded)}) than stage "
            f"{stage.name} of this run ({stage.model}); use a new work directory or remove that folder")
    return True


def run_recipe(train_config: TrainConfig, workdir, train_data, val_data=None, verbose: int = 0):
    """Run every unfinished stage of :func:`recipe_for`; returns the final stage's TrainResult
    (its ``stages`` attribute maps stage folders to their validation metrics)."""
    workdir = pathlib.Path(workdir)
    recipe = recipe_for(train_config)
    if len(recipe) == 1:
        cfg = recipe[0].model
        init = (lambda model: warm_start(model, train_config.warm_start)) if train_config.warm_start else None
        return fit_stage(train_config, cfg, workdir,
                         make_data(train_data, train_config, cfg, training=True),
                         make_data(val_data, train_config, cfg, training=False), verbose, init)

    dirs = {s.name: workdir / "stages" / f"{i:02d}_{s.name}" for i, s in enumerate(recipe, 1)}
    by_name = {s.name: s for s in recipe}
    result = None
    for stage in recipe:
        stage_dir = dirs[stage.name]
        if _check_finished(stage, stage_dir) and stage is not recipe[-1]:
            continue

        def init(model, stage=stage):
            for source in stage.start_from:
                earlier = _stage_model(by_name[source], dirs[source])
                if source.startswith("frontend_"):
                    try:
                        model.load_frontend(earlier, by_name[source].model.modality)
                    except ValueError as error:
                        raise ValueError(f"{dirs[source] / 'model.keras'}: {error}") from None
                else:
                    copy_matching_weights(earlier, model)

        started = time.perf_counter()
        if stage.cache:
            counts = _cache_latents(train_config, stage, stage_dir, init, train_data, val_data)
            _finish(stage, stage_dir, {"sequences": counts}, {}, time.perf_counter() - started)
            continue
        if (stage_dir / "stage.json").exists():  # the final stage, finished: load, do not retrain
            result = _finished_result(stage, stage_dir)
            break
        train_ds, val_ds = _stage_data(train_config, stage, dirs, train_data, val_data, by_name)
        result = fit_stage(train_config, stage.model, stage_dir, train_ds, val_ds, verbose, init,
                           prepare=stage.data == RECORDS)
        with atomic_path(stage_dir / "model.keras") as tmp:
            result.model.save(str(tmp))
        _finish(stage, stage_dir, result.metrics, result.history, time.perf_counter() - started)
    stages = {dirs[s.name].name: json.loads((dirs[s.name] / "stage.json").read_text())["metrics"] for s in recipe}
    return dataclasses.replace(result, stages=stages)


def _finish(stage, stage_dir, metrics, history, seconds):
    write_text_atomic(stage_dir / "stage.json", json.dumps(
        {"stage": stage.name, "model": _config_record(stage.model), "metrics": metrics, "history": history,
         "seconds": round(seconds, 3)}, indent=2, sort_keys=True))


def _finished_result(stage, stage_dir):
    record = json.loads((stage_dir / "stage.json").read_text())
    checkpoint = stage_dir / "checkpoints" / "best.weights.h5"
    return TrainResult(model=_stage_model(stage, stage_dir), trainer=None, metrics=record["metrics"],
                       history=record["history"], checkpoint_path=str(checkpoint) if checkpoint.exists() else None,
                       keras_path="", workdir=str(stage_dir))


def _cache_latents(train_config, stage, stage_dir, init, train_data, val_data) -> dict:
    """ZQ latents of every training and validation sequence, in order, one full pass each."""
    model = stage.model.built_model()
    init(model)
    once = train_config.replace(shuffle=False, steps_per_epoch=None)
    counts = {}
    for split, data in (("train", train_data), ("val", val_data)):
        if hasattr(data, "cardinality") and int(data.cardinality()) == -1:  # tf.data.INFINITE_CARDINALITY
            raise ValueError(f"caching the {split} latents needs a finite dataset (one pass), got a repeated one")
        if data is not None:
            counts[split] = cache_latents(model, make_data(data, once, stage.model, training=False),
                                          stage_dir / f"{split}.tfrecord")
    return counts


def _stage_data(train_config, stage, dirs, train_data, val_data, by_name):
    """(train, val) datasets of a stage's data view."""
    if stage.data == RECORDS:
        return (make_data(train_data, train_config, stage.model, training=True),
                make_data(val_data, train_config, stage.model, training=False))
    cache = next(dirs[s] for s in dirs if by_name[s].cache)
    # as many frames per batch as the records view: shorter windows, more of them
    batch = train_config.batch_size * max(1, train_config.window // stage.window)
    modalities = stage.model.modalities
    train = latent_dataset(cache / "train.tfrecord", modalities, batch, shuffle=train_config.shuffle,
                           seed=train_config.seed, window=stage.window,
                           repeat=train_config.steps_per_epoch is not None)
    val = (latent_dataset(cache / "val.tfrecord", modalities, batch, window=stage.window)
           if (cache / "val.tfrecord").exists() else None)
    return train, val
