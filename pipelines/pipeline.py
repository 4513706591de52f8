"""The affect-tf TFX pipeline: drops -> records -> statistics/validation -> training (warm-started
from the blessed model) -> evaluation on held-out subjects with blessing -> push to TF Serving.

One ``create_pipeline``; the local and Kubeflow runners differ only in what they pass. Every
drop gets its own example-gen/statistics/validator (ids ``..._0``, ``..._1``, ...), so adding a
new drop (a new release, new subjects) re-runs only the new drop's steps and reuses the cached
ones of the drops already seen; the trainer reads the records of all drops.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Sequence

from tfx import v1 as tfx
from tfx.types import channel_utils

from affect_tf.components.evaluator import AffectEvaluator
from affect_tf.components.example_gen import DropExampleGen, drop_fingerprint
from affect_tf.components.pusher import ServingPusher
from affect_tf.components.record_statistics import RecordStatisticsGen, RecordValidator
from affect_tf.pipelines import configs

RUN_FN = "affect_tf.training.tfx_run_fn.run_fn"


@dataclasses.dataclass(frozen=True)
class Drop:
    """One dataset drop: adapter name and root (a folder or manifest; local or a remote URL)."""

    dataset: str
    root: str


def _config_json(config) -> str:
    if config is None:
        return "{}"
    if isinstance(config, str):
        return config
    if hasattr(config, "to_json"):
        return config.to_json(indent=None)
    return json.dumps(config, sort_keys=True)


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    drops: Sequence[Drop],
    train_config,
    serving_dir,
    evaluation_config=None,
    train_steps: int | None = None,
    eval_steps: int | None = None,
    warm_start: bool = True,
    train_split: str = configs.TRAIN_SPLIT,
    eval_split: str = configs.EVAL_SPLIT,
    evaluator_split: str = configs.EVALUATOR_SPLIT,
    fail_on_anomalies: bool = False,
    preprocess_beam_args: Sequence[str] = (),
    beam_pipeline_args: Sequence[str] = (),
    metadata_connection_config=None,
    enable_cache: bool = True,
    fingerprint_drops: bool = True,
) -> tfx.dsl.Pipeline:
    """Build the pipeline.

    ``train_config``: a :class:`affect_tf.training.TrainConfig` (or its JSON/dict).
    ``evaluation_config``: an :class:`affect_tf.evaluation.EvaluationConfig` (or JSON/dict).
    ``serving_dir``: TF Serving's model base path (``<serving_dir>/<version>/``); a str or a
    runtime parameter. ``preprocess_beam_args`` go to the preprocessing Beam job (e.g.
    ``--runner=FlinkRunner``). ``fingerprint_drops``: pass a fingerprint of each local drop's files
    so a changed drop is not served from the cache (drops on remote storage: pass False and give
    each release its own root).
    """
    if not drops:
        raise ValueError("create_pipeline needs at least one drop")
    components = []
    examples = []
    for i, drop in enumerate(drops):
        fingerprint = ""
        if fingerprint_drops and isinstance(drop.root, str):
            fingerprint = drop_fingerprint(drop.root)
        example_gen = DropExampleGen(
            dataset=drop.dataset, root=drop.root, fingerprint=fingerprint,
            beam_args=json.dumps(list(preprocess_beam_args)),
            required_splits=",".join(dict.fromkeys([train_split, eval_split, evaluator_split])),
        ).with_id(f"DropExampleGen_{i}")
        statistics = RecordStatisticsGen(examples=example_gen.outputs["examples"]).with_id(f"RecordStatisticsGen_{i}")
        validator = RecordValidator(
            statistics=statistics.outputs["statistics"], fail_on_anomalies=fail_on_anomalies,
        ).with_id(f"RecordValidator_{i}")
        components += [example_gen, statistics, validator]
        examples.append(example_gen.outputs["examples"])
    all_examples = examples[0] if len(examples) == 1 else channel_utils.union(examples)

    latest_blessed = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")

    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=all_examples,
        base_model=latest_blessed.outputs["model"] if warm_start else None,
        train_args=tfx.proto.TrainArgs(splits=[train_split], num_steps=train_steps),
        eval_args=tfx.proto.EvalArgs(splits=[eval_split], num_steps=eval_steps),
        custom_config={"train_config": _config_json(train_config)},
    )
    evaluator = AffectEvaluator(
        examples=all_examples,
        model=trainer.outputs["model"],
        baseline_model=latest_blessed.outputs["model"],
        eval_split=evaluator_split,
        evaluation_config=_config_json(evaluation_config or configs.EVALUATION),
    )
    pusher = ServingPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        base_directory=serving_dir,
    )
    components += [latest_blessed, trainer, evaluator, pusher]
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )
